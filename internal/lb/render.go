package lb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"vitals/internal/monitor"
)

// RenderTree writes a status tree as an indented tree, one object per
// line with its operating status, in the order of
// `openstack loadbalancer status show`: the load balancer, each listener
// with its pools, each pool with its health monitor and members, then the
// pools no listener uses. A provisioning status other than ACTIVE is shown
// beside the operating status.
func RenderTree(w io.Writer, t monitor.StatusTree) error {
	lb := t.Statuses.LoadBalancer
	var b bytes.Buffer
	fmt.Fprintf(&b, "loadbalancer %s %s%s\n", quoteOr(lb.Name, lb.ID), lb.OperatingStatus, prov(lb.ProvisioningStatus))
	used := map[string]bool{}
	var items []func(prefix string, last bool)
	for _, l := range lb.Listeners {
		items = append(items, func(prefix string, last bool) {
			branch(&b, prefix, last, fmt.Sprintf("listener %s %s%s", quoteOr(l.Name, l.ID), l.OperatingStatus, prov(l.ProvisioningStatus)))
			sub := childPrefix(prefix, last)
			for i, p := range l.Pools {
				renderPool(&b, sub, i == len(l.Pools)-1, p)
			}
		})
		for _, p := range l.Pools {
			used[p.ID] = true
		}
	}
	for _, p := range lb.Pools {
		if !used[p.ID] {
			items = append(items, func(prefix string, last bool) { renderPool(&b, prefix, last, p) })
		}
	}
	for i, item := range items {
		item("", i == len(items)-1)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func renderPool(b *bytes.Buffer, prefix string, last bool, p monitor.PoolStatus) {
	branch(b, prefix, last, fmt.Sprintf("pool %s %s%s", quoteOr(p.Name, p.ID), p.OperatingStatus, prov(p.ProvisioningStatus)))
	sub := childPrefix(prefix, last)
	if hm := p.HealthMonitor; hm.ID != "" {
		branch(b, sub, len(p.Members) == 0, fmt.Sprintf("healthmonitor %s %s %s%s", quoteOr(hm.Name, hm.ID), hm.Type, hm.OperatingStatus, prov(hm.ProvisioningStatus)))
	}
	for i, m := range p.Members {
		name := net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
		if m.Name != "" {
			name = strconv.Quote(m.Name) + " " + name
		}
		branch(b, sub, i == len(p.Members)-1, fmt.Sprintf("member %s %s%s", name, m.OperatingStatus, prov(m.ProvisioningStatus)))
	}
}

func branch(b *bytes.Buffer, prefix string, last bool, text string) {
	mark := "├── "
	if last {
		mark = "└── "
	}
	b.WriteString(prefix + mark + text + "\n")
}

func childPrefix(prefix string, last bool) string {
	if last {
		return prefix + "    "
	}
	return prefix + "│   "
}

func quoteOr(name, id string) string {
	if name != "" {
		return strconv.Quote(name)
	}
	return id
}

func prov(s string) string {
	if s == "" || s == monitor.Active {
		return ""
	}
	return " (" + s + ")"
}

// RenderStatusJSON writes the tree as `openstack loadbalancer status show`
// does: the "statuses" object, indented by four spaces.
func RenderStatusJSON(w io.Writer, t monitor.StatusTree) error {
	b, err := json.MarshalIndent(t.Statuses, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// healthMonitorShowFields are the fields `openstack loadbalancer
// healthmonitor show` prints, in its order; the MYSQL and PGSQL fields
// (vitals') follow.
var healthMonitorShowFields = []string{
	"project_id", "name", "admin_state_up", "pools", "created_at", "provisioning_status", "updated_at",
	"delay", "expected_codes", "max_retries", "http_method", "timeout", "max_retries_down", "url_path",
	"type", "id", "operating_status", "http_version", "domain_name", "tags",
	"user", "password_file", "password_env", "database", "query", "sslmode",
}

// HealthMonitorRows returns a health monitor's fields and values in the
// order and format of `openstack loadbalancer healthmonitor show`: True
// and False, None for null, pools as their IDs. delay and timeout are the
// exact values of the API's delay_ms and timeout_ms in seconds (0.2 for a
// 200 ms delay). The MYSQL and PGSQL fields appear only when set.
func HealthMonitorRows(hm HealthMonitorView) ([][2]string, error) {
	exact := map[string]string{"delay": "delay_ms", "timeout": "timeout_ms"}
	var rows [][2]string
	for _, name := range healthMonitorShowFields {
		raw, ok := hm.Fields[name]
		if !ok {
			continue
		}
		if ms, ok := hm.Fields[exact[name]]; ok {
			var n int64
			if err := json.Unmarshal(ms, &n); err == nil {
				rows = append(rows, [2]string{name, strconv.FormatFloat(float64(n)/1000, 'f', -1, 64)})
				continue
			}
		}
		rows = append(rows, [2]string{name, formatValue(name, raw)})
	}
	return rows, nil
}

// formatValue formats a JSON value as the openstack client prints it.
func formatValue(name string, raw json.RawMessage) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return v
	case json.Number:
		return v.String()
	case []any:
		var parts []string
		for _, e := range v {
			if m, ok := e.(map[string]any); ok && name == "pools" {
				parts = append(parts, fmt.Sprint(m["id"]))
				continue
			}
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, "\n")
	}
	return string(raw)
}

// RenderTable writes rows as the openstack client's Field/Value table.
func RenderTable(w io.Writer, rows [][2]string) error {
	fw, vw := len("Field"), len("Value")
	for _, r := range rows {
		fw = max(fw, utf8.RuneCountInString(r[0]))
		for line := range strings.SplitSeq(r[1], "\n") {
			vw = max(vw, utf8.RuneCountInString(line))
		}
	}
	var b bytes.Buffer
	rule := "+" + strings.Repeat("-", fw+2) + "+" + strings.Repeat("-", vw+2) + "+\n"
	row := func(f, v string) {
		b.WriteString("| " + f + strings.Repeat(" ", fw-utf8.RuneCountInString(f)) + " | " + v + strings.Repeat(" ", vw-utf8.RuneCountInString(v)) + " |\n")
	}
	b.WriteString(rule)
	row("Field", "Value")
	b.WriteString(rule)
	for _, r := range rows {
		for i, line := range strings.Split(r[1], "\n") {
			f := ""
			if i == 0 {
				f = r[0]
			}
			row(f, line)
		}
	}
	b.WriteString(rule)
	_, err := w.Write(b.Bytes())
	return err
}
