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
	ID           string    `json:"id,omitempty"`
	AdminStateUp *bool     `json:"admin_state_up,omitempty"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	Target       string    `json:"target,omitempty"`
	Status       string    `json:"operating_status"`
	Since        time.Time `json:"since"`
	Last         *Check    `json:"last,omitempty"`
	History      []Check   `json:"history"`
	Active       *float64  `json:"active_connections,omitempty"`
	Sessions     *float64  `json:"sessions,omitempty"`
}

// Check is one check result.
type Check struct {
	Status    string    `json:"status"` // PASS, WARN, FAIL, or CheckLocal
	LatencyMS float64   `json:"latency_ms"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
}

// HistoryLen is how many recent checks the page shows per member.
const HistoryLen = 40

// History keeps recent checks per member, fed by snapshots: a check is
// new when its time differs from the last one kept. Not safe for
// concurrent use; callers lock.
type History map[string][]Check

// Add records c for key when it is new, and returns the key's history.
func (h History) Add(key string, c *Check) []Check {
	cur := h[key]
	if c != nil && (len(cur) == 0 || !cur[len(cur)-1].Time.Equal(c.Time)) {
		cur = append(cur, *c)
		if len(cur) > HistoryLen {
			cur = cur[len(cur)-HistoryLen:]
		}
		h[key] = cur
	}
	return append([]Check{}, cur...)
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
