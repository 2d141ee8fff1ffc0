package lb

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/monitor"
	"vitals/internal/promx"
)

// Plane is the running load balancer as RunOptions.Attach sees it: a way
// to apply configurations, the observed statuses and the counters, and the
// lb's own admin handler.
type Plane struct {
	// Admin is the lb's own admin handler (status page, /metrics, the
	// read-only status API, /reload, pprof).
	Admin *http.ServeMux

	apply   func(*Config) error
	current func() *Config
	eng     *monitor.Engine
	g       *promx.Registry
}

// Apply runs cfg as a reload does: unchanged listeners and established
// sessions stay, and the descriptor budget follows the new size. It is
// safe for concurrent use; on an error the running configuration stays.
func (p *Plane) Apply(cfg *Config) error { return p.apply(cfg) }

// Current is the running configuration.
func (p *Plane) Current() *Config { return p.current() }

// IsLocal reports whether r came over the admin unix socket (which only
// its owner can use).
func IsLocal(r *http.Request) bool { return isLocal(r) }

// OperatingStatuses returns the observed operating status of every object
// of the running load balancers by ID: each load balancer, its listeners,
// pools, members and monitors, as the status tree shows them.
func (p *Plane) OperatingStatuses() map[string]string {
	cfg := p.current()
	out := map[string]string{}
	if cfg == nil {
		return out
	}
	snap := p.eng.Status()
	for _, lb := range cfg.LoadBalancers {
		t := lb.StatusTree(snap).Statuses.LoadBalancer
		out[t.ID] = t.OperatingStatus.String()
		for _, l := range t.Listeners {
			out[l.ID] = l.OperatingStatus.String()
		}
		for _, pl := range t.Pools {
			out[pl.ID] = pl.OperatingStatus.String()
			if pl.HealthMonitor.ID != "" {
				out[pl.HealthMonitor.ID] = pl.HealthMonitor.OperatingStatus
			}
			for _, m := range pl.Members {
				out[m.ID] = m.OperatingStatus.String()
			}
		}
	}
	return out
}

// LoadBalancerStats are the counters of the listeners of the running load
// balancer with this ID.
func (p *Plane) LoadBalancerStats(id string) (Stats, bool) {
	cfg := p.current()
	if cfg == nil {
		return Stats{}, false
	}
	lb := cfg.LoadBalancerByID(id)
	if lb == nil {
		return Stats{}, false
	}
	labels := map[string]bool{}
	for _, l := range lb.Listeners {
		labels[cfg.MetricName(lb, l.Label())] = true
	}
	s, err := gatherStats(p.g, labels)
	return s, err == nil
}

// ListenerStats are the counters of the running listener with this ID.
func (p *Plane) ListenerStats(id string) (Stats, bool) {
	cfg := p.current()
	if cfg == nil {
		return Stats{}, false
	}
	for _, lb := range cfg.LoadBalancers {
		for _, l := range lb.Listeners {
			if l.ID == id {
				s, err := gatherStats(p.g, map[string]bool{cfg.MetricName(lb, l.Label()): true})
				return s, err == nil
			}
		}
	}
	return Stats{}, false
}

// Register adds c's series to the admin endpoint's /metrics.
func (p *Plane) Register(c prometheus.Collector) error {
	return p.g.Register(c)
}
