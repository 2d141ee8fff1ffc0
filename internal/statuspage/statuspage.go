// Package statuspage holds the live status page shared by vitals lb (at /
// on its admin endpoint) and vitals agent (at /status): one embedded HTML
// file with vanilla JavaScript (fetch and EventSource, no external
// assets), fed JSON snapshots by server-sent events (events.go).
package statuspage

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"vitals/internal/buildinfo"
	"vitals/internal/health"
)

//go:embed status.html
var page string

// Page is the page's data. Pools hold members; the agent shows one
// "pool" per endpoint with its checks as members.
type Page struct {
	Kind      string     `json:"kind"` // "lb" or "agent"
	Name      string     `json:"name"`
	Status    string     `json:"operating_status"`
	Time      time.Time  `json:"time"` // when built; a new Time alone is no change (events.go)
	Listeners []Listener `json:"listeners,omitempty"`
	Pools     []Pool     `json:"pools"`
	// Admin is what the page may change: "" read-only, "local" (the unix
	// socket: no token needed) or "token" (an admin token must be sent in
	// X-Auth-Token). Members' admin_state_up is the one change.
	Admin string `json:"admin,omitempty"`
	// CheckerErrors is a notice of the checks that could not run for a
	// reason of the process's own (CheckerErrorsNotice); "" when none.
	CheckerErrors string `json:"checker_errors,omitempty"`
	// Store is a notice that the shared configuration store is
	// unreachable (vitals lb --db postgres://…); "" when it answers.
	Store string `json:"store_notice,omitempty"`
}

// Listener is one listener with its counters.
type Listener struct {
	Name     string  `json:"name"`
	Address  string  `json:"address"`
	Pool     string  `json:"default_pool"`
	Active   float64 `json:"active_connections"`
	Sessions float64 `json:"sessions"`
}

// Pool is one pool (or agent endpoint).
type Pool struct {
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name"`
	Status  string   `json:"operating_status"`
	Monitor string   `json:"monitor"`
	Members []Member `json:"members"`
}

// Member is one member (or agent check).
type Member struct {
	ID           string `json:"id,omitempty"`
	AdminStateUp *bool  `json:"admin_state_up,omitempty"`
	// AdminState is the operator's state as the process knows it:
	// "enabled", "disabled" (admin_state_up false) or "drain" (weight 0)
	// for an lb member; "enabled", "drain" or "maintenance" for the
	// agent's checks (the agent's state).
	AdminState string `json:"admin_state,omitempty"`
	// Weight and Backup are an lb member's; nil for the agent.
	Weight  *int   `json:"weight,omitempty"`
	Backup  *bool  `json:"backup,omitempty"`
	Name    string `json:"name"`
	Address string `json:"address"`
	Target  string `json:"target,omitempty"`
	Status  string `json:"operating_status"`
	// Since is when the member entered Status: its last transition.
	Since time.Time `json:"since"`
	// Progress is how far the member is toward its next transition; nil
	// when it is not checked or not yet checked.
	Progress *Progress `json:"progress,omitempty"`
	Last     *Check    `json:"last,omitempty"`
	// History is every recent check, oldest first (HistoryChecks).
	History  []Check  `json:"history"`
	Active   *float64 `json:"active_connections,omitempty"`
	Sessions *float64 `json:"sessions,omitempty"`
	// BytesIn and BytesOut are an lb member's bytes from clients and to
	// clients; nil for the agent.
	BytesIn  *float64 `json:"bytes_in,omitempty"`
	BytesOut *float64 `json:"bytes_out,omitempty"`
}

// Progress is how far a member is toward its next transition.
type Progress struct {
	// Toward is the status it changes to: ERROR (counting failures) or
	// ONLINE (counting passes).
	Toward string `json:"toward"`
	Count  int    `json:"count"`
	Need   int    `json:"need"`
	// Text says it for a human: "2 of 3 failures", "1 of 2 passes".
	Text string `json:"text"`
}

// ProgressOf is p for the page; nil before the first result.
func ProgressOf(p health.Progress) *Progress {
	toward := "ONLINE"
	switch p.Toward {
	case health.Unknown:
		return nil
	case health.Down:
		toward = "ERROR"
	}
	return &Progress{Toward: toward, Count: p.Count, Need: p.Need, Text: p.String()}
}

// Check is one check result.
type Check struct {
	Status    string    `json:"status"` // PASS, WARN, FAIL, or CheckLocal
	LatencyMS float64   `json:"latency_ms"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
}

// HistoryChecks is a member's history for the page, oldest first: every
// check the checking process recorded (health.History), each with its
// status (PASS, WARN, FAIL, or CheckLocal for a checker error), start and
// latency; reasons are kept only for the latest check (Member.Last).
func HistoryChecks(es []health.HistoryEntry) []Check {
	out := make([]Check, len(es))
	for i, e := range es {
		st := CheckLocal
		switch e.Outcome {
		case health.OutcomePass:
			st = "PASS"
		case health.OutcomeWarn:
			st = "WARN"
		case health.OutcomeFail:
			st = "FAIL"
		}
		out[i] = Check{Status: st, LatencyMS: float64(e.Latency.Microseconds()) / 1000, Time: e.Start}
	}
	return out
}

// ServeHTML serves the page; events is the URL of its event stream and
// controls says whether to look for the demo's backend buttons.
func ServeHTML(w http.ResponseWriter, events string, controls bool) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
	b, _ := json.Marshal(events)
	attrs := `data-src=` + string(b)
	if !controls {
		attrs += ` data-nodemo="1"`
	}
	html := strings.Replace(page, `<div id="pools">`, `<div id="pools" `+attrs+`>`, 1)
	html = strings.Replace(html, "{{version}}", template.HTMLEscapeString(buildinfo.Version()), 1)
	w.Write([]byte(html))
}
