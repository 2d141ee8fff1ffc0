package octavia

import (
	"fmt"
	"io"
	"strings"
)

// WriteReference writes the model's enumerations as Markdown tables, all
// derived from the declarations in registry.go, for the README and help
// texts.
func WriteReference(w io.Writer) error {
	var b strings.Builder
	row := func(cells ...string) { fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | ")) }
	head := func(title string, cols ...string) {
		fmt.Fprintf(&b, "\n### %s\n\n", title)
		row(cols...)
		row(strings.Split(strings.Repeat("---,", len(cols)), ",")[:len(cols)]...)
	}
	or := func(s, empty string) string {
		if s == "" {
			return empty
		}
		return s
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}

	head("Health monitor types", "type", "pool protocols", "own fields", "summary")
	for _, t := range monitorTypes {
		s := t.Summary
		if t.Extension {
			s += " (beyond Octavia)"
		}
		row(t.Name, strings.Join(t.PoolProtocols, ", "), or(strings.Join(t.Fields, ", "), "—"), s)
	}
	head("Health monitor fields of some types", "field", "default", "meaning")
	for _, f := range monitorFields {
		row(f.Name, or(f.Default, "—"), f.Doc)
	}
	head("LB algorithms", "lb_algorithm", "meaning")
	for _, a := range algorithms {
		row(a.Name, a.Summary)
	}
	head("Protocols", "protocol", "listener", "pool", "meaning")
	for _, p := range protocols {
		role := func(octavia, vitals bool) string {
			switch {
			case vitals:
				return "yes"
			case octavia:
				return "refused (not served by vitals)"
			}
			return "no"
		}
		row(p.Name, role(p.OctaviaListener, p.Listener), role(p.OctaviaPool, p.Pool), p.Summary)
	}
	head("Session persistence", "type", "supported", "meaning")
	for _, s := range sessionPersistenceTypes {
		row(s.Name, yes(s.Supported), s.Summary)
	}
	head("Provisioning statuses", "provisioning_status", "meaning")
	for _, s := range provisioningStatuses {
		row(string(s.Value), s.Summary)
	}
	head("Operating statuses", "operating_status", "meaning")
	for _, s := range operatingStatuses {
		row(string(s.Value), s.Summary)
	}
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}
