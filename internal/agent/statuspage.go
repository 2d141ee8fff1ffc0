package agent

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

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
	mu   sync.Mutex
	hist statuspage.History
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
	statuspage.ServeEvents(w, req, func() any { return a.statusSnapshot() })
	return true
}

func (a *Agent) statusSnapshot() statuspage.Page {
	rt := a.rt.Load()
	a.page.mu.Lock()
	defer a.page.mu.Unlock()
	if a.page.hist == nil {
		a.page.hist = statuspage.History{}
	}
	out := statuspage.Page{Kind: "agent", Name: rt.cfg.Listen, Time: time.Now()}
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
			m := statuspage.Member{Name: v.Name, Address: v.Type, Status: viewStatus(v), Since: v.Since}
			if !v.Time.IsZero() {
				m.Last = &statuspage.Check{Status: strings.ToUpper(v.Status.String()), LatencyMS: float64(v.Latency.Microseconds()) / 1000, Reason: v.Reason, Time: v.Time}
			}
			m.History = a.page.hist.Add(v.Name, m.Last)
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
