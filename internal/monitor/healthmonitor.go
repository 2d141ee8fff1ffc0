// Package monitor runs OpenStack-Octavia-style health monitors over the
// members of load-balancer pools: it validates a monitor as Octavia's API
// does, schedules every member's checks, counts results with HAProxy's
// rise/fall semantics, maps them to Octavia operating statuses and tells
// subscribers of every transition.
//
// The data plane never sees a prober: it learns of health through the
// Subscriber seam (events.go) and the Status snapshot (status.go).
package monitor

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/probe"
)

// The health monitor types, as internal/octavia declares them.
const (
	TypeHTTP       = octavia.MonitorHTTP
	TypeHTTPS      = octavia.MonitorHTTPS
	TypePing       = octavia.MonitorPing
	TypeTCP        = octavia.MonitorTCP
	TypeTLSHello   = octavia.MonitorTLSHello
	TypeUDPConnect = octavia.MonitorUDPConnect
	TypeSCTP       = octavia.MonitorSCTP
	TypeMySQL      = octavia.MonitorMySQL
	TypePgSQL      = octavia.MonitorPgSQL
)

// Pool protocols a monitor's rules depend on.
const (
	ProtocolTCP = octavia.ProtocolTCP
	ProtocolUDP = octavia.ProtocolUDP
)

// Settings are the operator's settings that change what a monitor may be
// (Octavia's [api_settings]).
type Settings = octavia.Settings

// DefaultSettings are Octavia's defaults.
func DefaultSettings() Settings { return octavia.DefaultSettings() }

// Monitor is a validated health monitor with its defaults applied, as the
// engine runs it: the model's monitor (internal/octavia, the one
// declaration of its fields) and the probe kind of its type. It is
// immutable once made; the engine shares it between members.
type Monitor struct {
	octavia.HealthMonitor
	kind string // the probe kind
}

// Kind returns the probe kind that runs this monitor's checks.
func (m *Monitor) Kind() string { return m.kind }

// Spec returns the probe spec for one member's check. target is
// "host:port", or a bare host for PING. The type-dependent fields come
// from the model's declaration, by name.
func (m *Monitor) Spec(target string) probe.Spec {
	s := probe.Spec{Address: target, Timeout: m.Timeout}
	t, _ := octavia.LookupMonitorType(m.Type)
	for _, f := range octavia.MonitorFields() {
		if v := f.Get(&m.HealthMonitor); v != "" && f.UsedBy(t) {
			// Every declared field is a probe.Spec string field
			// (TestSpecCoversEveryField).
			_ = s.SetString(f.Name, v)
		}
	}
	return s
}

// Target returns where a member's checks go: monitor_address (else
// address) and monitor_port (else protocol_port), or just the host for
// PING, which has no port.
func (m *Monitor) Target(address string, port int, monitorAddress string, monitorPort int) string {
	host := address
	if monitorAddress != "" {
		host = monitorAddress
	}
	if m.Type == TypePing {
		return host
	}
	if monitorPort != 0 {
		port = monitorPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// SameCheck reports whether o runs the same check as m, so that results
// gathered under m stay valid under o: the same type, timeout and
// type-dependent fields. Thresholds, delay, names and tags may differ.
func (m *Monitor) SameCheck(o *Monitor) bool {
	if m == nil || o == nil {
		return m == o
	}
	if m.Type != o.Type || m.Timeout != o.Timeout {
		return false
	}
	for _, f := range octavia.MonitorFields() {
		if f.Get(&m.HealthMonitor) != f.Get(&o.HealthMonitor) {
			return false
		}
	}
	return true
}

// fieldErr is a bad value in one field; Msg follows the field's name, as
// in "http_method is not allowed for type TCP".
func fieldErr(field, format string, a ...any) error {
	return &probe.FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// NewMonitor checks h, a model monitor (internal/octavia) of a pool of the given
// protocol, as the engine will run it, and returns it with its defaults
// applied (octavia.HealthMonitor.ApplyDefaults). It is the one gate for
// both the YAML file (internal/lb) and the store (internal/controller):
// Octavia's rules in plain words, then what only this machine can tell
// (a ca_file or password_file that cannot be read, a password_env that is
// not set), then probe.New, which has the final word on every field it
// reads. Errors are *probe.FieldError naming the field; Msg reads after
// the field's name. A zero delay, timeout or max_retries is refused as
// not positive or out of range; a zero max_retries_down is the default.
func NewMonitor(h octavia.HealthMonitor, poolProtocol string, s Settings) (*Monitor, error) {
	if len(h.Name) > octavia.MaxNameLength {
		return nil, fieldErr("name", "is %d characters long; the limit is %d", len(h.Name), octavia.MaxNameLength)
	}
	for i, tag := range h.Tags {
		if len(tag) > octavia.MaxNameLength {
			return nil, fieldErr("tags", "[%d] is %d characters long; the limit is %d", i, len(tag), octavia.MaxNameLength)
		}
	}
	t, err := resolveType(h.Type, poolProtocol, s)
	if err != nil {
		return nil, err
	}
	for _, f := range octavia.MonitorFields() {
		if f.Get(&h) != "" && !f.AcceptedBy(t) {
			return nil, fieldErr(f.Name, "is not allowed for type %s", t.Name)
		}
	}
	if err := positive("delay", h.Delay); err != nil {
		return nil, err
	}
	if h.Delay < probe.MinInterval {
		return nil, fieldErr("delay", "%s is shorter than %s, the shortest delay between checks", h.Delay, probe.MinInterval)
	}
	if err := positive("timeout", h.Timeout); err != nil {
		return nil, err
	}
	// The model (and so the store and the API) holds whole milliseconds.
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"delay", h.Delay}, {"timeout", h.Timeout}} {
		if f.d%time.Millisecond != 0 {
			return nil, fieldErr(f.name, "must be a whole number of milliseconds, got %s", f.d)
		}
	}
	if h.Timeout > h.Delay {
		return nil, fieldErr("timeout", "%s is longer than delay %s; a check must end before the next one is due", h.Timeout, h.Delay)
	}
	if t.Name == TypeUDPConnect && h.Delay < s.UDPConnectMinDelay {
		return nil, fieldErr("delay", "%s is shorter than %s, the minimum for type UDP-CONNECT (api_settings.udp_connect_min_interval_health_monitor)", h.Delay, s.UDPConnectMinDelay)
	}
	if err := retries("max_retries", h.MaxRetries); err != nil {
		return nil, err
	}
	if h.MaxRetriesDown == 0 {
		h.MaxRetriesDown = octavia.DefaultMaxRetriesDown
	}
	if err := retries("max_retries_down", h.MaxRetriesDown); err != nil {
		return nil, err
	}
	// Octavia accepts http_version on every monitor type; on a type that
	// sends no HTTP request it is checked and then ignored.
	if h.HTTPVersion != "" && !slices.Contains(octavia.HTTPVersions(), h.HTTPVersion) {
		return nil, fieldErr("http_version", "%s is not supported (want %s)", h.HTTPVersion, strings.Join(octavia.HTTPVersions(), " or "))
	}
	h.ApplyDefaults()
	for _, name := range t.Required {
		if f, _ := octavia.LookupMonitorField(name); f.Get(&h) == "" {
			return nil, fieldErr(name, "is required for type %s", t.Name)
		}
	}
	if t.HTTP {
		if err := checkHTTP(&h); err != nil {
			return nil, err
		}
	}
	if err := checkFiles(&h); err != nil {
		return nil, err
	}
	// What the type accepts but its check does not read (http_version
	// and domain_name of a PING monitor) is dropped from what runs.
	for _, f := range octavia.MonitorFields() {
		if !f.UsedBy(t) {
			f.Set(&h, "")
		}
	}
	// Statuses and timestamps belong to the store; what runs is
	// observed anew.
	h.ProvisioningStatus, h.OperatingStatus, h.CreatedAt, h.UpdatedAt = "", "", time.Time{}, time.Time{}
	m := &Monitor{HealthMonitor: h, kind: t.Probe}
	// probe.New has the final word on every field it reads.
	target := "127.0.0.1:1"
	if t.Name == TypePing {
		target = "127.0.0.1"
	}
	if _, err := probe.New(m.kind, m.Spec(target)); err != nil {
		if fe, ok := err.(*probe.FieldError); ok {
			return nil, fieldErr(fe.Field, "%s", fe.Msg)
		}
		return nil, err
	}
	return m, nil
}

// resolveType checks the type against the declared ones, the pool's
// protocol and the operator's settings.
func resolveType(name, poolProtocol string, s Settings) (octavia.MonitorType, error) {
	supported := strings.Join(octavia.SupportedMonitorTypeNames(), ", ")
	t, ok := octavia.LookupMonitorType(name)
	switch {
	case name == "":
		return t, fieldErr("type", "is required (one of %s)", supported)
	case name == TypeSCTP:
		return t, fieldErr("type", "SCTP is not supported: vitals balances TCP and has no SCTP check (use TCP, or UDP-CONNECT on a UDP pool)")
	case !ok || !t.Supported:
		return t, fieldErr("type", "%q is not supported (want one of %s)", name, supported)
	case t.Name == TypePing && !s.AllowPing:
		return t, fieldErr("type", "PING is disabled by the operator (api_settings.allow_ping_health_monitors is false)")
	case !slices.Contains(t.PoolProtocols, poolProtocol) && poolProtocol == ProtocolUDP:
		var fit []string
		for _, mt := range octavia.MonitorTypes() {
			if mt.Supported && slices.Contains(mt.PoolProtocols, ProtocolUDP) {
				fit = append(fit, mt.Name)
			}
		}
		return t, fieldErr("type", "%s is not supported on a pool of protocol UDP (want %s)", t.Name, strings.Join(fit, ", "))
	case !slices.Contains(t.PoolProtocols, poolProtocol):
		return t, fieldErr("type", "%s is only supported for pools of protocol %s", t.Name, strings.Join(t.PoolProtocols, ", "))
	}
	return t, nil
}

// positive checks a delay or timeout: positive and at most
// octavia.MaxDelay.
func positive(field string, d time.Duration) error {
	switch {
	case d <= 0:
		return fieldErr(field, "must be positive, got %s", d)
	case d > octavia.MaxDelay:
		return fieldErr(field, "must be at most 24 days (%d seconds), got %s", octavia.MaxDelay/time.Second, d)
	}
	return nil
}

func retries(field string, n int) error {
	if n < octavia.MinRetries || n > octavia.MaxRetries {
		return fieldErr(field, "must be from %d to %d, got %d", octavia.MinRetries, octavia.MaxRetries, n)
	}
	return nil
}

// checkHTTP applies Octavia's http_version and domain_name rules.
func checkHTTP(h *octavia.HealthMonitor) error {
	switch {
	case h.DomainName != "" && h.HTTPVersion == "":
		return fieldErr("domain_name", "needs http_version: 1.1 (Octavia requires http_version when domain_name is set)")
	case h.DomainName != "" && h.HTTPVersion == "1.0":
		return fieldErr("domain_name", "needs http_version 1.1, not 1.0: HTTP/1.0 sends no Host header")
	case len(h.DomainName) > octavia.MaxNameLength:
		return fieldErr("domain_name", "is %d characters long; the limit is %d", len(h.DomainName), octavia.MaxNameLength)
	}
	return nil
}

// checkFiles checks what only this machine can tell: that ca_file and
// password_file can be read and password_env is set.
func checkFiles(h *octavia.HealthMonitor) error {
	if h.CAFile != "" {
		if err := regularFile(h.CAFile); err != nil {
			return fieldErr("ca_file", "%s cannot be read: %v", h.CAFile, err)
		}
	}
	switch {
	case h.PasswordFile != "" && h.PasswordEnv != "":
		return fieldErr("password_file", "and password_env are both set; set one of them")
	case h.PasswordFile != "":
		if _, err := probe.ReadSecretFile(h.PasswordFile); err != nil {
			return fieldErr("password_file", "%s cannot be read: %v", h.PasswordFile, err)
		}
	case h.PasswordEnv != "":
		if _, ok := os.LookupEnv(h.PasswordEnv); !ok {
			return fieldErr("password_env", "names %s, which is not set in the environment", h.PasswordEnv)
		}
	}
	return nil
}

// regularFile checks that path is a regular file that can be opened, so
// that probe.New never reads a device or a directory.
func regularFile(path string) error {
	unwrap := func(err error) error {
		if pe, ok := err.(*os.PathError); ok {
			return pe.Err
		}
		return err
	}
	st, err := os.Stat(path) // before Open, which blocks on a FIFO
	if err != nil {
		return unwrap(err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return unwrap(err)
	}
	return f.Close()
}
