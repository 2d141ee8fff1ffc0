package lb

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/probe"
)

// HealthMonitor is a pool's healthmonitor: section as written in the
// file. The common fields are typed here; the fields whose meaning
// depends on the monitor's type (http_method, url_path, …, sslmode) are
// read by name from the model's one declaration of them
// (octavia.MonitorFields), so adding one there adds it to the file.
type HealthMonitor struct {
	// Name is optional, at most 255 characters.
	Name string `yaml:"name"`
	// Type is a monitor type (octavia.SupportedMonitorTypeNames), in any
	// case: Octavia's client takes --type http. Required.
	Type string `yaml:"type"`
	// Delay is the time between the starts of two checks of a member:
	// Octavia's integer seconds or a duration such as 500ms. Required.
	Delay monitor.Seconds `yaml:"delay"`
	// Timeout bounds a whole check, connect to verdict. Required, and at
	// most Delay.
	Timeout monitor.Seconds `yaml:"timeout"`
	// MaxRetries is the number of consecutive passes that bring a member
	// back ONLINE (HAProxy's rise), 1..10. Required.
	MaxRetries *int `yaml:"max_retries"`
	// MaxRetriesDown is the number of consecutive failures that turn an
	// ONLINE member ERROR (HAProxy's fall), 1..10. Default 3.
	MaxRetriesDown *int `yaml:"max_retries_down"`
	// AdminStateUp false disables the monitor: members are not checked
	// and show NO_MONITOR. Default true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// Tags are free-form strings, each at most 255 characters.
	Tags []string `yaml:"tags"`

	// Fields are the type-dependent fields as written, by their
	// declared names; http_version keeps its scalar as written (1.0
	// stays "1.0").
	Fields map[string]string `yaml:"-"`
}

// healthMonitorCommon decodes the typed fields without UnmarshalYAML.
type healthMonitorCommon HealthMonitor

// UnmarshalYAML reads the mapping strictly: a declared type-dependent
// field goes to Fields, a common one to its typed field, anything else
// is an unknown field (reported as yaml.v3 reports one, so that the
// loader's messages stay the same).
func (h *HealthMonitor) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s `%s` into lb.HealthMonitor", n.Line, n.ShortTag(), n.Value)}}
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	fields := map[string]string{}
	seen := map[string]int{}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, first)}}
		}
		seen[k.Value] = k.Line
		if _, ok := octavia.LookupMonitorField(k.Value); ok {
			switch {
			case v.Kind != yaml.ScalarNode:
				errs = append(errs, fmt.Sprintf("line %d: %s wants a single value, not a %s", v.Line, k.Value, kindWord(v.Kind)))
			case v.Tag == "!!null":
			default:
				fields[k.Value] = v.Value
			}
			continue
		}
		if !commonField(k.Value) {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type lb.HealthMonitor", k.Line, k.Value))
			continue
		}
		common.Content = append(common.Content, k, v)
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	var c healthMonitorCommon
	if err := common.Decode(&c); err != nil {
		return err
	}
	*h = HealthMonitor(c)
	h.Fields = fields
	return nil
}

// commonField reports whether name is one of HealthMonitor's typed
// fields.
func commonField(name string) bool {
	switch name {
	case "name", "type", "delay", "timeout", "max_retries", "max_retries_down", "admin_state_up", "tags":
		return true
	}
	return false
}

func kindWord(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// Model returns the section as the model's health monitor of poolID, or
// a *probe.FieldError for what only the file can get wrong: a required
// field left out, a zero written where the model's zero means "the
// default", a delay that is no duration, an http_version that is neither
// 1.0 nor 1.1. The rest is monitor.NewMonitor's to check.
func (h *HealthMonitor) Model(poolID string) (octavia.HealthMonitor, error) {
	m := octavia.NewHealthMonitor()
	m.PoolID, m.Name, m.Type, m.Tags = poolID, h.Name, strings.ToUpper(h.Type), h.Tags
	m.AdminStateUp = up(h.AdminStateUp)
	var err error
	if m.Delay, err = required("delay", h.Delay); err != nil {
		return m, err
	}
	if m.Timeout, err = required("timeout", h.Timeout); err != nil {
		return m, err
	}
	if h.MaxRetries == nil {
		return m, &probe.FieldError{Field: "max_retries", Msg: fmt.Sprintf("is required: the number of consecutive passes, %d to %d, that bring a member back ONLINE", octavia.MinRetries, octavia.MaxRetries)}
	}
	m.MaxRetries = *h.MaxRetries
	if n := h.MaxRetriesDown; n != nil {
		if *n == 0 {
			return m, &probe.FieldError{Field: "max_retries_down", Msg: fmt.Sprintf("must be from %d to %d, got 0", octavia.MinRetries, octavia.MaxRetries)}
		}
		m.MaxRetriesDown = *n
	}
	for _, f := range octavia.MonitorFields() {
		f.Set(&m, h.Fields[f.Name])
	}
	switch m.HTTPVersion {
	case "1":
		m.HTTPVersion = "1.0"
	case "", "1.0", "1.1":
	default:
		return m, &probe.FieldError{Field: "http_version", Msg: fmt.Sprintf("%s is not supported (want %s)", m.HTTPVersion, strings.Join(octavia.HTTPVersions(), " or "))}
	}
	return m, nil
}

// required reads a required delay or timeout. A zero or negative value
// is left for monitor.NewMonitor to refuse.
func required(field string, v monitor.Seconds) (time.Duration, error) {
	if !v.Set {
		return 0, &probe.FieldError{Field: field, Msg: fmt.Sprintf("is required: seconds, e.g. %s: 5, or a duration such as 500ms", field)}
	}
	d, err := v.Value()
	if err != nil {
		return 0, &probe.FieldError{Field: field, Msg: err.Error()}
	}
	if d == 0 {
		// The model's zero means "not set"; a zero written is refused
		// here with NewMonitor's words.
		return 0, &probe.FieldError{Field: field, Msg: "must be positive, got 0s"}
	}
	return d, nil
}
