package agent

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/adminhttp"
	"vitals/internal/probe"
	"vitals/internal/statuspage"
)

// The read-only status page: GET /status serves the page shared with
// vitals lb (internal/statuspage), GET /status/events its snapshots: one
// row per endpoint with its current answer, and its checks with their
// latest result and history. Not served when hide_details is true, or
// when an endpoint is configured at /status.

type pageState struct {
	once   sync.Once
	events *statuspage.Broadcaster // /status/events
}

// The event streams' series, in the agent's registry:
//
//	vitals_agent_event_subscribers                 open /status/events streams
//	vitals_agent_event_subscribers_dropped_total   streams dropped because a message's write timed out
func (a *Agent) statusEvents() *statuspage.Broadcaster {
	a.page.once.Do(func() {
		opt := statuspage.Options{
			Subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vitals_agent_event_subscribers", Help: "Open /status/events streams of the status page."}),
			Dropped:     prometheus.NewCounter(prometheus.CounterOpts{Name: "vitals_agent_event_subscribers_dropped_total", Help: "/status/events streams dropped because a message was not taken within the write timeout."}),
		}
		a.metrics.reg.MustRegister(opt.Subscribers, opt.Dropped)
		a.page.events = statuspage.NewBroadcaster(func(string) statuspage.Page { return a.statusSnapshot() }, opt)
	})
	return a.page.events
}

// serveStatusPage answers /status and /status/events; false: not ours.
func (a *Agent) serveStatusPage(w http.ResponseWriter, req *http.Request, rt *applied) bool {
	if req.URL.Path != "/status" && req.URL.Path != "/status/events" {
		return false
	}
	if _, taken := rt.routes[req.URL.Path]; taken || rt.cfg.HideDetails {
		return false
	}
	if req.Method != http.MethodGet {
		return false
	}
	if req.URL.Path == "/status" {
		statuspage.ServeHTML(w, "/status/events", false)
		return true
	}
	adminhttp.Stream(w) // a stream outlives the server's read and write timeouts
	ev := a.statusEvents()
	ev.SetMaxSubscribers(rt.cfg.EventSubscribers()) // max_event_subscribers, as reloaded
	ev.ServeHTTP(w, req, "")
	return true
}

func (a *Agent) statusSnapshot() statuspage.Page {
	rt := a.rt.Load()
	admin := "enabled"
	switch st := a.State(); {
	case st.Maintenance:
		admin = "maintenance"
	case st.Drain:
		admin = "drain"
	}
	out := statuspage.Page{Kind: "agent", Name: rt.cfg.Listen, Time: time.Now()}
	out.CheckerErrors = statuspage.CheckerErrorsNotice(a.errs.snapshot())
	for _, ep := range rt.cfg.Endpoints {
		r := rt.routes[ep.Path]
		if r == nil || r.liveness {
			continue
		}
		code, rep := a.answer(rt, r, nil)
		st := "ONLINE"
		switch {
		case code == r.warn && code != r.pass:
			st = "DEGRADED"
		case code != r.pass:
			st = "ERROR"
		}
		if out.Status == "" {
			out.Status = st
		}
		p := statuspage.Pool{Name: ep.Path, Status: st, Monitor: fmt.Sprintf("answers HTTP %d now", code), Members: []statuspage.Member{}}
		for _, v := range rep.Checks {
			m := statuspage.Member{Name: v.Name, Address: v.Type, Status: viewStatus(v), Since: v.Since, AdminState: admin,
				Progress: statuspage.ProgressOf(v.Progress)}
			if !v.Time.IsZero() {
				m.Last = &statuspage.Check{Status: strings.ToUpper(v.Status.String()), LatencyMS: float64(v.Latency.Microseconds()) / 1000, Reason: v.Reason, Time: v.Time}
			}
			if e := v.LastCheckerError; !e.Start.IsZero() {
				// The latest run could not be attempted: the check keeps
				// its result, and the page says why.
				m.Last = &statuspage.Check{Status: statuspage.CheckLocal, LatencyMS: float64(e.Latency.Microseconds()) / 1000, Reason: e.Reason, Time: e.Start}
			}
			m.History = []statuspage.Check{}
			if c := rt.byName[v.Name]; c != nil {
				m.History = statuspage.HistoryChecks(c.historyEntries())
			}
			p.Members = append(p.Members, m)
		}
		out.Pools = append(out.Pools, p)
	}
	return out
}

func viewStatus(v View) string {
	switch v.Status {
	case probe.Pass:
		return "ONLINE"
	case probe.Warn:
		return "DEGRADED"
	}
	return "ERROR"
}
