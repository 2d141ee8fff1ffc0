package lb

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/adminhttp"
	"vitals/internal/monitor"
	"vitals/internal/promx"
	"vitals/internal/statuspage"
)

// The status page on the admin endpoint: GET / serves the embedded page
// (internal/statuspage), GET /events streams snapshots as server-sent
// events, GET /status.json is one snapshot. With a control (vitals lb),
// the page offers enable/disable buttons per member that PUT
// admin_state_up through the admin API: over the unix socket, or over TCP
// with the admin token the user types in. `vitals demo` adds its POST
// /demo/backends/{name}/{mode} buttons in front.

type statusPage struct {
	cfg  func() *Config
	eng  *monitor.Engine
	g    *promx.Registry            // nil: no counters
	mode func(*http.Request) string // what the page may change for a request

	events *statuspage.Broadcaster // /events, one stream of snapshots per admin mode
}

// The event streams' series, registered with the admin handler's registry
// when it is one:
//
//	vitals_lb_event_subscribers                 open /events streams
//	vitals_lb_event_subscribers_dropped_total   streams dropped because a message's write timed out
func newStatusPage(cfg func() *Config, eng *monitor.Engine, g *promx.Registry, mode func(*http.Request) string) *statusPage {
	p := &statusPage{cfg: cfg, eng: eng, g: g, mode: mode}
	opt := statuspage.Options{
		Subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vitals_lb_event_subscribers", Help: "Open /events streams of the status page."}),
		Dropped:     prometheus.NewCounter(prometheus.CounterOpts{Name: "vitals_lb_event_subscribers_dropped_total", Help: "/events streams dropped because a message was not taken within the write timeout."}),
	}
	if g != nil {
		opt.Subscribers = registerOrExisting(g, opt.Subscribers)
		opt.Dropped = registerOrExisting(g, opt.Dropped)
	}
	p.events = statuspage.NewBroadcaster(p.snapshot, opt)
	return p
}

// registerOrExisting registers c with reg, or returns the collector
// already registered in its place (a second admin handler on one
// registry).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}

func (p *statusPage) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { statuspage.ServeHTML(w, "/events", true) })
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, p.snapshot(p.mode(r))) })
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		adminhttp.Stream(w) // a stream outlives the server's read and write timeouts
		if c := p.cfg(); c != nil {
			p.events.SetMaxSubscribers(c.Admin.EventSubscribers) // admin.max_event_subscribers, as reloaded
		}
		p.events.ServeHTTP(w, r, p.mode(r))
	})
}

// snapshot builds the page's data. admin is the page's Admin mode. Each
// member's history is the engine's: every check, recorded as it finished.
func (p *statusPage) snapshot(admin string) statuspage.Page {
	var listeners []statuspage.Listener
	cfg := p.cfg()
	snap := p.eng.Status()
	met := p.gather()
	// With several load balancers, each listener and pool is shown as
	// "loadbalancer/name" (Config.MetricName; the engine has the pools so
	// named), and the page's status is theirs when they agree, else
	// DEGRADED.
	var names []string
	status := monitor.BuildTree(monitor.TreeLoadBalancer{AdminStateUp: true}, monitor.Snapshot{}).Statuses.LoadBalancer.OperatingStatus.String()
	for i, lb := range cfg.LoadBalancers {
		names = append(names, lb.Name)
		st := lb.StatusTree(snap).Statuses.LoadBalancer.OperatingStatus.String()
		switch {
		case i == 0:
			status = st
		case st != status:
			status = "DEGRADED"
		}
		for _, l := range lb.Listeners {
			label := cfg.MetricName(lb, l.Label())
			out := statuspage.Listener{
				Name: label, Address: l.BindAddress(),
				Active:   met[metKey{"vitals_lb_listener_connections_active", label, ""}],
				Sessions: met[metKey{"vitals_lb_listener_connections_total", label, ""}],
			}
			if l.DefaultPool != "" {
				out.Pool = cfg.MetricName(lb, l.DefaultPool)
			}
			listeners = append(listeners, out)
		}
	}
	out := statuspage.Page{Kind: "lb", Name: strings.Join(names, ", "), Status: status, Time: time.Now(), Admin: admin, Listeners: listeners}
	out.CheckerErrors = statuspage.CheckerErrorsNotice(snap.CheckerErrors)
	if up, ok := met[metKey{name: "vitals_lb_store_up"}]; ok && up == 0 {
		// A node of a shared store (internal/cluster) that lost it.
		out.Store = fmt.Sprintf("The configuration store is unreachable: serving the last applied configuration (revision %.0f); API writes fail until it returns.",
			met[metKey{name: "vitals_lb_store_applied_revision"}])
	}
	hist := p.eng.History()
	for _, ps := range snap.Pools {
		pp := statuspage.Pool{ID: ps.ID, Name: ps.Name, Status: ps.Status.String(), Members: []statuspage.Member{}}
		if ps.Monitor != nil {
			pp.Monitor = ps.Monitor.Type + " every " + ps.Monitor.Delay.String() + ", timeout " + ps.Monitor.Timeout.String()
		}
		for _, ms := range ps.Members {
			label := ms.Name
			if label == "" {
				label = net.JoinHostPort(ms.Address, strconv.Itoa(ms.ProtocolPort))
			}
			active := met[metKey{"vitals_lb_member_connections_active", ps.Name, label}]
			sessions := met[metKey{"vitals_lb_member_connections_total", ps.Name, label}]
			bytesIn := met[metKey{"vitals_lb_member_bytes_in_total", ps.Name, label}]
			bytesOut := met[metKey{"vitals_lb_member_bytes_out_total", ps.Name, label}]
			up, weight, backup := ms.AdminStateUp, ms.Weight, ms.Backup
			pm := statuspage.Member{
				ID: ms.ID, AdminStateUp: &up, AdminState: adminState(ms.Member), Weight: &weight, Backup: &backup,
				Name: label, Address: net.JoinHostPort(ms.Address, strconv.Itoa(ms.ProtocolPort)), Target: ms.Target,
				Status: ms.Status.String(), Since: ms.Since, Progress: statuspage.ProgressOf(ms.Progress),
				Active: &active, Sessions: &sessions, BytesIn: &bytesIn, BytesOut: &bytesOut,
			}
			if !ms.Last.Start.IsZero() {
				pm.Last = &statuspage.Check{Status: strings.ToUpper(ms.Last.Status.String()), LatencyMS: float64(ms.Last.Latency.Microseconds()) / 1000, Reason: ms.Last.Reason, Time: ms.Last.Start}
			}
			if e := ms.LastCheckerError; !e.Start.IsZero() {
				// The latest attempt could not run: the member keeps its
				// status, and the page says why.
				pm.Last = &statuspage.Check{Status: statuspage.CheckLocal, LatencyMS: float64(e.Latency.Microseconds()) / 1000, Reason: e.Reason, Time: e.Start}
			}
			pm.History = statuspage.HistoryChecks(hist[ms.ID])
			pp.Members = append(pp.Members, pm)
		}
		out.Pools = append(out.Pools, pp)
	}
	return out
}

// adminState is the member's admin state as the load balancer knows it:
// disabled (admin_state_up false), drain (weight 0) or enabled.
func adminState(m monitor.Member) string {
	switch {
	case !m.AdminStateUp:
		return "disabled"
	case m.Weight == 0:
		return "drain"
	}
	return "enabled"
}

type metKey struct{ name, a, b string }

// gather reads the data plane's connection counters.
func (p *statusPage) gather() map[metKey]float64 {
	out := map[metKey]float64{}
	if p.g == nil {
		return out
	}
	mfs, _ := p.g.GatherAll(func(name string) bool {
		switch name {
		case "vitals_lb_listener_connections_active", "vitals_lb_listener_connections_total",
			"vitals_lb_member_connections_active", "vitals_lb_member_connections_total",
			"vitals_lb_member_bytes_in_total", "vitals_lb_member_bytes_out_total",
			"vitals_lb_store_up", "vitals_lb_store_applied_revision":
			return true
		}
		return false
	})
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			k := metKey{name: name}
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "listener", "pool":
					k.a = lp.GetValue()
				case "member":
					k.b = lp.GetValue()
				}
			}
			out[k] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
