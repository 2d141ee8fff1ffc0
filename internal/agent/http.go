package agent

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
)

// route is what one URL path answers.
type route struct {
	path   string // as shown in bodies, e.g. /health
	checks []*check
	// single is set for /health/<check>: the check is judged as critical,
	// since the caller asked for it by name.
	single   bool
	pass     int
	warn     int
	fail     int
	liveness bool // /livez: the agent itself answers; no checks
	// role, when set, is a built-in role endpoint of its one check
	// (roles.go).
	role *roleEndpoint
}

// Server timeouts: a slow or malicious client cannot hold a connection for
// long, so it cannot starve the load balancers' probes.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 5 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
)

// buildRoutes maps every path the agent answers to its route.
func buildRoutes(cfg *Config, checks []*check) map[string]*route {
	byName := make(map[string]*check, len(checks))
	for _, c := range checks {
		byName[c.cfg.Name] = c
	}
	routes := make(map[string]*route)
	critical := func() []*check {
		var cs []*check
		for _, c := range checks {
			if c.cfg.IsCritical() {
				cs = append(cs, c)
			}
		}
		return cs
	}
	for _, ep := range cfg.Endpoints {
		r := &route{path: ep.Path, pass: ep.PassCode, warn: ep.WarnCode, fail: ep.FailCode}
		if len(ep.Checks) == 0 {
			r.checks = critical()
		}
		for _, name := range ep.Checks {
			r.checks = append(r.checks, byName[name])
		}
		routes[ep.Path] = r
	}
	health, ok := routes["/health"]
	if !ok {
		health = &route{path: "/health", checks: critical(), pass: 200, warn: 200, fail: 503}
	}
	for _, alias := range []string{"/readyz", "/"} {
		if _, ok := routes[alias]; !ok {
			r := *health
			r.path = alias
			routes[alias] = &r
		}
	}
	for _, c := range checks {
		p := "/health/" + c.cfg.Name
		routes[p] = &route{path: p, checks: []*check{c}, single: true, pass: 200, warn: 200, fail: 503}
	}
	addRoleRoutes(routes, checks, cfg.AnyPath)
	routes["/livez"] = &route{path: "/livez", liveness: true, pass: 200}
	return routes
}

// ServeHTTP answers a probe from the cached results; it never waits for a
// check to run.
func (a *Agent) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	if a.shuttingDown.Load() {
		// The agent is about to exit: close this connection after the
		// answer, and let the client open a new one for the next probe.
		h.Set("Connection", "close")
	}
	rt := a.rt.Load()
	if req.URL.Path == "/metrics" && rt.cfg.Metrics.Listen == "" && !rt.cfg.Metrics.Disabled {
		a.metrics.handler().ServeHTTP(w, req)
		return
	}
	if a.serveStatusPage(w, req, rt) {
		return
	}
	r, ok := rt.routes[req.URL.Path]
	if !ok && rt.cfg.AnyPath {
		r, ok = rt.routes["/"], true
	}
	if !ok {
		a.metrics.served("other", http.StatusNotFound)
		writeBody(w, req, http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found; try /health\n"))
		return
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		a.metrics.served(r.path, http.StatusMethodNotAllowed)
		writeBody(w, req, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("method not allowed; use GET, HEAD or OPTIONS\n"))
		return
	}
	if r.liveness {
		a.metrics.served(r.path, r.pass)
		writeBody(w, req, r.pass, "text/plain; charset=utf-8", []byte("ok\n"))
		return
	}
	q := req.URL.Query()
	excluded := q["exclude"]
	var lim lagLimit
	if r.role != nil {
		// The one check is the answer: ?exclude= cannot turn a replica's
		// /primary into a pass.
		excluded = nil
		l, err := parseLag(q, r.role, r.checks[0].cfg.Type)
		if err != nil {
			a.metrics.served(r.path, http.StatusBadRequest)
			writeBody(w, req, http.StatusBadRequest, "text/plain; charset=utf-8", []byte(err.Error()+"\n"))
			return
		}
		lim = l
	}
	code, rep := a.answerLag(rt, r, excluded, lim)
	a.metrics.served(r.path, code)
	hide := rt.cfg.HideDetails
	if wantsJSON(req) {
		writeBody(w, req, code, "application/health+json", rep.json(hide))
		return
	}
	_, verbose := q["verbose"]
	writeBody(w, req, code, "text/plain; charset=utf-8", rep.text(r.path, verbose, hide))
}

// answer judges a route now: the operator's state (shutting down,
// maintenance, drain) first, then the checks.
func (a *Agent) answer(rt *applied, r *route, excluded []string) (int, Report) {
	return a.answerLag(rt, r, excluded, lagLimit{})
}

// answerLag is answer with the ?lag= of a role endpoint.
func (a *Agent) answerLag(rt *applied, r *route, excluded []string, lim lagLimit) (int, Report) {
	switch st := a.admin.Load(); {
	case a.shuttingDown.Load():
		return r.fail, operatorReport(probe.Fail, "shutting down")
	case st.Maintenance && st.Reason != "":
		return r.fail, operatorReport(probe.Fail, "maintenance: "+st.Reason)
	case st.Maintenance:
		return r.fail, operatorReport(probe.Fail, "maintenance")
	case st.Drain:
		return rt.cfg.DrainCode, operatorReport(probe.Fail, "draining")
	}
	now := time.Now()
	views := make([]View, 0, len(r.checks))
	for _, c := range r.checks {
		if len(excluded) > 0 && isExcluded(c.cfg.Name, excluded) {
			continue
		}
		v := c.view(now)
		if r.single {
			v.Critical = true
		}
		if r.role != nil {
			v = r.role.judgeRole(v, lim)
		}
		views = append(views, v)
	}
	rep := judge(views)
	switch rep.Status {
	case probe.Warn:
		return r.warn, rep
	case probe.Fail:
		return r.fail, rep
	}
	return r.pass, rep
}

// operatorReport is the answer while the operator's state overrides the
// checks: one pseudo-check named "agent" with the reason.
func operatorReport(s probe.Status, reason string) Report {
	return Report{Status: s, Checks: []View{{Name: "agent", Type: "agent", Critical: true, Status: s, Reason: reason}}}
}

func isExcluded(name string, excluded []string) bool {
	for _, e := range excluded {
		for item := range strings.SplitSeq(e, ",") {
			if item == name {
				return true
			}
		}
	}
	return false
}

func wantsJSON(req *http.Request) bool {
	if f := req.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(req.Header.Get("Accept"), "application/health+json")
}

// writeBody writes status and body with an exact Content-Length. HEAD and
// OPTIONS get the status and headers only.
func writeBody(w http.ResponseWriter, req *http.Request, code int, ctype string, body []byte) {
	h := w.Header()
	if req.Method == http.MethodOptions {
		h.Set("Allow", "GET, HEAD, OPTIONS")
		h.Set("Content-Length", "0")
		w.WriteHeader(code)
		return
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
