package agent

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
)

// Report is the answer of one endpoint at one moment.
type Report struct {
	Status probe.Status
	Checks []View
}

// judge aggregates views: a failing critical check fails the report; a
// failing non-critical check, or any warning, makes it warn.
func judge(views []View) Report {
	r := Report{Status: probe.Pass, Checks: views}
	for _, v := range views {
		switch {
		case v.Status == probe.Fail && v.Critical:
			r.Status = probe.Fail
		case v.Status != probe.Pass && r.Status == probe.Pass:
			r.Status = probe.Warn
		}
	}
	return r
}

// text renders the Kubernetes /readyz style body. A passing report without
// verbose is just "ok"; otherwise one line per check, then a verdict line.
func (r Report) text(path string, verbose, hide bool) []byte {
	if r.Status != probe.Fail && !verbose {
		return []byte("ok\n")
	}
	var b strings.Builder
	for _, v := range r.Checks {
		switch {
		case v.Status == probe.Pass:
			b.WriteString("[+]" + v.Name + " ok\n")
		case v.Status == probe.Warn || !v.Critical:
			b.WriteString("[!]" + v.Name + " warn")
			if !hide && v.Reason != "" {
				b.WriteString(": " + v.Reason)
			}
			b.WriteByte('\n')
		default:
			b.WriteString("[-]" + v.Name + " failed")
			if !hide {
				b.WriteString(": " + v.Reason)
			}
			b.WriteByte('\n')
		}
	}
	if r.Status == probe.Fail {
		b.WriteString(path + " check failed\n")
	} else {
		b.WriteString(path + " check passed\n")
	}
	return []byte(b.String())
}

// healthJSON is the application/health+json body
// (draft-inadarei-api-health-check-06).
type healthJSON struct {
	Status  string                     `json:"status"`
	Output  string                     `json:"output,omitempty"`
	Version string                     `json:"version,omitempty"`
	Checks  map[string][]healthJSONOne `json:"checks"`
}

type healthJSONOne struct {
	ComponentID   string   `json:"componentId"`
	ComponentType string   `json:"componentType"`
	ObservedValue *float64 `json:"observedValue,omitempty"`
	ObservedUnit  string   `json:"observedUnit,omitempty"`
	Status        string   `json:"status"`
	Time          string   `json:"time,omitempty"`
	Output        string   `json:"output,omitempty"`
	// The replication state of a mysql or postgres check (probe.DBState),
	// as JSON numbers and booleans; absent when unknown.
	Role                  string   `json:"role,omitempty"`
	ReadOnly              *bool    `json:"readOnly,omitempty"`
	ReplicationLagBytes   *uint64  `json:"replicationLagBytes,omitempty"`
	ReplicationLagSeconds *float64 `json:"replicationLagSeconds,omitempty"`
}

// json renders the report as application/health+json. Each check appears
// as "<name>:responseTime" with the latency of its latest run in ms.
func (r Report) json(hide bool) []byte {
	out := healthJSON{Status: r.Status.String(), Checks: make(map[string][]healthJSONOne, len(r.Checks))}
	for _, v := range r.Checks {
		one := healthJSONOne{
			ComponentID:   v.Name,
			ComponentType: componentType(v.Type),
			Status:        v.Status.String(),
		}
		if !v.Time.IsZero() {
			ms := float64(v.Latency.Microseconds()) / 1000
			one.ObservedValue, one.ObservedUnit = &ms, "ms"
			one.Time = v.Time.UTC().Format(time.RFC3339Nano)
		}
		if !hide && v.Status != probe.Pass {
			one.Output = v.Reason
		}
		if db := v.DB; db != nil && !hide {
			one.Role, one.ReadOnly = db.Role, db.ReadOnly
			one.ReplicationLagBytes, one.ReplicationLagSeconds = db.LagBytes, db.LagSeconds
		}
		out.Checks[v.Name+":responseTime"] = []healthJSONOne{one}
	}
	b, _ := json.Marshal(out)
	return append(b, '\n')
}

func componentType(kind string) string {
	switch kind {
	case "mysql", "postgres", "redis":
		return "datastore"
	case "load", "file", "exec":
		return "system"
	}
	return "component"
}

// Lines renders the report for a terminal: one line per check.
func (r Report) Lines() []string {
	lines := make([]string, len(r.Checks))
	for i, v := range r.Checks {
		lines[i] = v.statusLine()
	}
	return lines
}

// statusLine is one check on one line: status, name, latency, reason.
func (v View) statusLine() string {
	lat := "-"
	if !v.Time.IsZero() {
		lat = probe.FormatMS(v.Latency)
	}
	crit := ""
	if !v.Critical {
		crit = " (non-critical)"
	}
	return strings.ToUpper(v.Status.String()) + " " + v.Name + crit + " " + lat + " " + strconv.Quote(v.Reason)
}
