package lb

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/adminhttp"
	"vitals/internal/monitor"
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
	g    prometheus.Gatherer
	mode func(*http.Request) string // what the page may change for a request

	mu   sync.Mutex
	hist statuspage.History // by member ID
}

func newStatusPage(cfg func() *Config, eng *monitor.Engine, g prometheus.Gatherer, mode func(*http.Request) string) *statusPage {
	return &statusPage{cfg: cfg, eng: eng, g: g, mode: mode, hist: statuspage.History{}}
}

func (p *statusPage) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { statuspage.ServeHTML(w, "/events", true) })
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, p.snapshot(p.mode(r))) })
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		mode := p.mode(r)
		adminhttp.Stream(w) // a stream outlives the server's read and write timeouts
		statuspage.ServeEvents(w, r, func() any { return p.snapshot(mode) })
	})
}

// snapshot builds the page's data and records new checks in the history.
// admin is the page's Admin mode.
func (p *statusPage) snapshot(admin string) statuspage.Page {
	cfg := p.cfg()
	snap := p.eng.Status()
	tree := monitor.BuildTree(cfg.Tree(), snap)
	met := p.gather()
	out := statuspage.Page{Kind: "lb", Name: cfg.LoadBalancer.Name, Status: tree.Statuses.LoadBalancer.OperatingStatus.String(), Time: time.Now(), Admin: admin}
	for _, l := range cfg.LoadBalancer.Listeners {
		out.Listeners = append(out.Listeners, statuspage.Listener{
			Name: l.Label(), Address: l.BindAddress(), Pool: l.DefaultPool,
			Active:   met[metKey{"vitals_lb_listener_connections_active", l.Label(), ""}],
			Sessions: met[metKey{"vitals_lb_listener_connections_total", l.Label(), ""}],
		})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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
			up := ms.AdminStateUp
			pm := statuspage.Member{
				ID: ms.ID, AdminStateUp: &up, Name: label, Address: net.JoinHostPort(ms.Address, strconv.Itoa(ms.ProtocolPort)), Target: ms.Target,
				Status: ms.Status.String(), Since: ms.Since, Active: &active, Sessions: &sessions,
			}
			if !ms.Last.Start.IsZero() {
				pm.Last = &statuspage.Check{Status: strings.ToUpper(ms.Last.Status.String()), LatencyMS: float64(ms.Last.Latency.Microseconds()) / 1000, Reason: ms.Last.Reason, Time: ms.Last.Start}
			}
			pm.History = p.hist.Add(ms.ID, pm.Last)
			pp.Members = append(pp.Members, pm)
		}
		out.Pools = append(out.Pools, pp)
	}
	return out
}

type metKey struct{ name, a, b string }

// gather reads the data plane's connection counters.
func (p *statusPage) gather() map[metKey]float64 {
	out := map[metKey]float64{}
	if p.g == nil {
		return out
	}
	mfs, _ := p.g.Gather()
	for _, mf := range mfs {
		name := mf.GetName()
		switch name {
		case "vitals_lb_listener_connections_active", "vitals_lb_listener_connections_total",
			"vitals_lb_member_connections_active", "vitals_lb_member_connections_total":
		default:
			continue
		}
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
