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
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/octavia"
	"vitals/internal/probe"
)

// The health monitor types, uppercase as Octavia names them, plus MYSQL and
// PGSQL, which log in and run a query.
const (
	TypeHTTP       = "HTTP"
	TypeHTTPS      = "HTTPS"
	TypePing       = "PING"
	TypeTCP        = "TCP"
	TypeTLSHello   = "TLS-HELLO"
	TypeUDPConnect = "UDP-CONNECT"
	TypeSCTP       = "SCTP"
	TypeMySQL      = "MYSQL"
	TypePgSQL      = "PGSQL"
)

// Pool protocols a monitor's rules depend on.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

// Octavia's limits and defaults (octavia/common/constants.py).
const (
	MinRetries            = 1
	MaxRetries            = 10
	DefaultMaxRetriesDown = 3
	DefaultHTTPMethod     = "GET"
	DefaultURLPath        = "/"
	DefaultExpectedCodes  = "200"
	// DefaultUDPConnectMinDelay is Octavia's
	// [api_settings] udp_connect_min_interval_health_monitor.
	DefaultUDPConnectMinDelay = 3 * time.Second
	// maxName is the longest name or tag Octavia stores.
	maxName = 255
)

// monitorType is one supported type: the probe kind that runs it and the
// type-specific fields it accepts.
type monitorType struct {
	name   string
	kind   string
	fields []string
}

var (
	httpFields = []string{"http_method", "url_path", "expected_codes", "http_version", "domain_name"}
	dbFields   = []string{"user", "password_file", "password_env", "database", "query"}
)

// types is the one list of monitor types: it validates configs and picks
// the probe kind. SCTP is known, so that it gets a clear refusal.
var types = []monitorType{
	{TypeHTTP, "http", httpFields},
	{TypeHTTPS, "https", append([]string{"ca_file"}, httpFields...)},
	{TypePing, "ping", nil},
	{TypeTCP, "tcp", nil},
	{TypeTLSHello, "tls-hello", nil},
	{TypeUDPConnect, "udp-connect", nil},
	{TypeMySQL, "mysql", dbFields},
	{TypePgSQL, "postgres", append([]string{"sslmode"}, dbFields...)},
}

// TypeNames returns the supported types in a stable order.
func TypeNames() []string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.name
	}
	return names
}

// TypeAccepts reports whether the monitor type (upper case, as Octavia
// writes it) takes the type-specific field, e.g. TypeAccepts("PING",
// "http_version") is false.
func TypeAccepts(typeName, field string) bool {
	t, ok := lookupType(typeName)
	return ok && slices.Contains(t.fields, field)
}

func lookupType(name string) (monitorType, bool) {
	i := slices.IndexFunc(types, func(t monitorType) bool { return t.name == name })
	if i < 0 {
		return monitorType{}, false
	}
	return types[i], true
}

// HealthMonitor is a pool's health monitor as written in a config, with
// Octavia's field names. Resolve validates it and applies the defaults.
type HealthMonitor struct {
	// Name is optional, at most 255 characters.
	Name string `yaml:"name"`
	// Type is one of TypeNames(). Required.
	Type string `yaml:"type"`
	// Delay is the time between the starts of two checks of a member:
	// Octavia's integer seconds or a duration such as 500ms. Required.
	Delay Seconds `yaml:"delay"`
	// Timeout bounds a whole check, connect to verdict. Required, and at
	// most Delay.
	Timeout Seconds `yaml:"timeout"`
	// MaxRetries is the number of consecutive passes that bring a member
	// back ONLINE (HAProxy's rise), 1..10. Required.
	MaxRetries *int `yaml:"max_retries"`
	// MaxRetriesDown is the number of consecutive failures that turn an
	// ONLINE member ERROR (HAProxy's fall), 1..10. Default 3.
	MaxRetriesDown *int `yaml:"max_retries_down"`
	// HTTPMethod, URLPath and ExpectedCodes apply to HTTP and HTTPS only.
	// Defaults GET, "/" and "200".
	HTTPMethod    string `yaml:"http_method"`
	URLPath       string `yaml:"url_path"`
	ExpectedCodes string `yaml:"expected_codes"`
	// HTTPVersion is 1.0 or 1.1 (HTTP, HTTPS; accepted and ignored on the
	// other types, as Octavia accepts it on every type). Unset sends HTTP/1.1 with
	// a Host header (ARCHITECTURE.md), and shows as null, as in Octavia.
	HTTPVersion HTTPVersion `yaml:"http_version"`
	// DomainName is the Host header and SNI (HTTP, HTTPS). As in Octavia,
	// it needs http_version 1.1.
	DomainName string `yaml:"domain_name"`
	// CAFile turns on certificate verification for HTTPS.
	CAFile string `yaml:"ca_file"`
	// AdminStateUp false disables the monitor: members are not checked
	// and show NO_MONITOR, as Octavia shows them with a disabled monitor.
	// Default true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// Tags are free-form strings, each at most 255 characters.
	Tags []string `yaml:"tags"`
	// User, PasswordFile, PasswordEnv, Database and Query are the login
	// and statement of MYSQL and PGSQL monitors. The password comes from
	// a file or an environment variable, never from the config itself.
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	Database     string `yaml:"database"`
	Query        string `yaml:"query"`
	// SSLMode is PostgreSQL's sslmode for PGSQL. Default prefer.
	SSLMode string `yaml:"sslmode"`
}

// HTTPVersion is http_version as written: 1.0 or 1.1, as a YAML number or
// string.
type HTTPVersion string

// UnmarshalYAML keeps the scalar as written, so that 1.0 stays "1.0".
func (v *HTTPVersion) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: http_version wants 1.0 or 1.1, not a %s", n.Line, kindName(n.Kind))}}
	}
	if n.Tag == "!!null" {
		*v = ""
		return nil
	}
	*v = HTTPVersion(n.Value)
	return nil
}

// Settings are the operator's settings that Octavia keeps in
// [api_settings] and that change what a monitor may be.
type Settings struct {
	// AllowPing permits PING monitors. Default true.
	AllowPing bool
	// UDPConnectMinDelay is the shortest delay of an UDP-CONNECT monitor.
	// Default 3s; zero allows any.
	UDPConnectMinDelay time.Duration
}

// DefaultSettings are Octavia's defaults.
func DefaultSettings() Settings {
	return Settings{AllowPing: true, UDPConnectMinDelay: DefaultUDPConnectMinDelay}
}

// Monitor is a validated health monitor with its defaults applied. It is
// immutable once made; the engine shares it between members.
type Monitor struct {
	ID, Name       string
	Type           string
	Delay, Timeout time.Duration
	// MaxRetries is rise; MaxRetriesDown is fall.
	MaxRetries, MaxRetriesDown int
	// HTTPMethod, URLPath and ExpectedCodes are set (to their defaults
	// if need be) for HTTP and HTTPS, and empty for other types.
	HTTPMethod, URLPath, ExpectedCodes string
	// HTTPVersion is "", "1.0" or "1.1".
	HTTPVersion  string
	DomainName   string
	CAFile       string
	AdminStateUp bool
	Tags         []string
	User         string
	PasswordFile string
	PasswordEnv  string
	Database     string
	Query        string
	SSLMode      string

	kind string // the probe kind
}

// Kind returns the probe kind that runs this monitor's checks.
func (m *Monitor) Kind() string { return m.kind }

// Spec returns the probe spec for one member's check. target is
// "host:port", or a bare host for PING.
func (m *Monitor) Spec(target string) probe.Spec {
	s := probe.Spec{Address: target, Timeout: m.Timeout}
	switch m.Type {
	case TypeHTTP, TypeHTTPS:
		s.HTTPMethod, s.URLPath, s.ExpectedCodes = m.HTTPMethod, m.URLPath, m.ExpectedCodes
		s.HTTPVersion, s.DomainName, s.CAFile = m.HTTPVersion, m.DomainName, m.CAFile
	case TypeMySQL, TypePgSQL:
		s.User, s.PasswordFile, s.PasswordEnv = m.User, m.PasswordFile, m.PasswordEnv
		s.Database, s.Query, s.SSLMode = m.Database, m.Query, m.SSLMode
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
// gathered under m stay valid under o. Thresholds, delay, names and tags
// may differ.
func (m *Monitor) SameCheck(o *Monitor) bool {
	if m == nil || o == nil {
		return m == o
	}
	return m.Type == o.Type && m.Timeout == o.Timeout &&
		m.HTTPMethod == o.HTTPMethod && m.URLPath == o.URLPath && m.ExpectedCodes == o.ExpectedCodes &&
		m.HTTPVersion == o.HTTPVersion && m.DomainName == o.DomainName && m.CAFile == o.CAFile &&
		m.User == o.User && m.PasswordFile == o.PasswordFile && m.PasswordEnv == o.PasswordEnv &&
		m.Database == o.Database && m.Query == o.Query && m.SSLMode == o.SSLMode
}

// fieldErr is a bad value in one field; Msg follows the field's name, as
// in "http_method is not allowed for type TCP".
func fieldErr(field, format string, a ...any) error {
	return &probe.FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Resolve validates h for a pool of the given protocol (ProtocolTCP or
// ProtocolUDP) as Octavia's API does, and returns the monitor with its
// defaults applied. Errors are *probe.FieldError naming the field; Msg
// reads after the field's name. The final word on the type's own fields
// (url_path, expected_codes, domain_name, credentials, …) is probe.New's.
func (h *HealthMonitor) Resolve(poolProtocol string, s Settings) (*Monitor, error) {
	// Octavia's client takes --type http; the type is stored and shown
	// upper case, as Octavia's API returns it.
	typ := strings.ToUpper(h.Type)
	m := &Monitor{Name: h.Name, Type: typ, AdminStateUp: h.AdminStateUp == nil || *h.AdminStateUp, Tags: h.Tags}
	if len(h.Name) > maxName {
		return nil, fieldErr("name", "is %d characters long; the limit is %d", len(h.Name), maxName)
	}
	for i, tag := range h.Tags {
		if len(tag) > maxName {
			return nil, fieldErr("tags", "[%d] is %d characters long; the limit is %d", i, len(tag), maxName)
		}
	}
	t, err := resolveType(typ, poolProtocol, s)
	if err != nil {
		return nil, err
	}
	m.kind = t.kind
	if f := h.foreignField(t); f != "" {
		return nil, fieldErr(f, "is not allowed for type %s", t.name)
	}
	if m.Delay, err = positive("delay", h.Delay); err != nil {
		return nil, err
	}
	if m.Delay < probe.MinInterval {
		return nil, fieldErr("delay", "%s is shorter than %s, the shortest delay between checks", m.Delay, probe.MinInterval)
	}
	if m.Timeout, err = positive("timeout", h.Timeout); err != nil {
		return nil, err
	}
	// The model (and so the store and the API) holds whole milliseconds.
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"delay", m.Delay}, {"timeout", m.Timeout}} {
		if f.d%time.Millisecond != 0 {
			return nil, fieldErr(f.name, "must be a whole number of milliseconds, got %s", f.d)
		}
	}
	if m.Timeout > m.Delay {
		return nil, fieldErr("timeout", "%s is longer than delay %s; a check must end before the next one is due", m.Timeout, m.Delay)
	}
	if t.name == TypeUDPConnect && m.Delay < s.UDPConnectMinDelay {
		return nil, fieldErr("delay", "%s is shorter than %s, the minimum for type UDP-CONNECT (api_settings.udp_connect_min_interval_health_monitor)", m.Delay, s.UDPConnectMinDelay)
	}
	if h.MaxRetries == nil {
		return nil, fieldErr("max_retries", "is required: the number of consecutive passes, %d to %d, that bring a member back ONLINE", MinRetries, MaxRetries)
	}
	if m.MaxRetries, err = retries("max_retries", *h.MaxRetries); err != nil {
		return nil, err
	}
	m.MaxRetriesDown = DefaultMaxRetriesDown
	if h.MaxRetriesDown != nil {
		if m.MaxRetriesDown, err = retries("max_retries_down", *h.MaxRetriesDown); err != nil {
			return nil, err
		}
	}
	// Octavia accepts http_version on every monitor type; on a type that
	// sends no HTTP request it is checked and then ignored.
	version, err := resolveHTTPVersion(h.HTTPVersion)
	if err != nil {
		return nil, err
	}
	switch t.name {
	case TypeHTTP, TypeHTTPS:
		m.HTTPVersion = version
		if err := h.resolveHTTP(m); err != nil {
			return nil, err
		}
	case TypeMySQL, TypePgSQL:
		if err := h.resolveDB(m); err != nil {
			return nil, err
		}
	}
	// probe.New has the final word on every field it reads.
	target := "127.0.0.1:1"
	if t.name == TypePing {
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

// resolveType checks the type against the supported ones, the pool's
// protocol and the operator's settings.
func resolveType(name, poolProtocol string, s Settings) (monitorType, error) {
	if name == "" {
		return monitorType{}, fieldErr("type", "is required (one of %s)", strings.Join(TypeNames(), ", "))
	}
	if name == TypeSCTP {
		return monitorType{}, fieldErr("type", "SCTP is not supported: vitals balances TCP and has no SCTP check (use TCP, or UDP-CONNECT on a UDP pool)")
	}
	t, ok := lookupType(name)
	if !ok {
		return monitorType{}, fieldErr("type", "%q is not supported (want one of %s)", name, strings.Join(TypeNames(), ", "))
	}
	switch {
	case t.name == TypePing && !s.AllowPing:
		return monitorType{}, fieldErr("type", "PING is disabled by the operator (api_settings.allow_ping_health_monitors is false)")
	case poolProtocol == ProtocolUDP && t.name != TypeUDPConnect && t.name != TypeTCP && t.name != TypeHTTP:
		return monitorType{}, fieldErr("type", "%s is not supported on a pool of protocol UDP (want UDP-CONNECT, TCP or HTTP)", t.name)
	case poolProtocol != ProtocolUDP && t.name == TypeUDPConnect:
		return monitorType{}, fieldErr("type", "UDP-CONNECT is only supported for pools of protocol UDP")
	}
	return t, nil
}

// resolveHTTPVersion reads http_version: "", "1.0" (also written 1) or
// "1.1".
func resolveHTTPVersion(v HTTPVersion) (string, error) {
	switch v {
	case "":
		return "", nil
	case "1", "1.0":
		return "1.0", nil
	case "1.1":
		return "1.1", nil
	}
	return "", fieldErr("http_version", "%s is not supported (want 1.0 or 1.1)", v)
}

// foreignField returns the first type-specific field set that t does not
// accept, in the order fields are documented.
func (h *HealthMonitor) foreignField(t monitorType) string {
	set := []struct {
		name string
		set  bool
	}{
		{"http_method", h.HTTPMethod != ""},
		{"url_path", h.URLPath != ""},
		{"expected_codes", h.ExpectedCodes != ""},
		{"http_version", h.HTTPVersion != ""},
		{"domain_name", h.DomainName != ""},
		{"ca_file", h.CAFile != ""},
		{"user", h.User != ""},
		{"password_file", h.PasswordFile != ""},
		{"password_env", h.PasswordEnv != ""},
		{"database", h.Database != ""},
		{"query", h.Query != ""},
		{"sslmode", h.SSLMode != ""},
	}
	for _, f := range set {
		// http_version is accepted on every type, as Octavia does.
		if f.set && f.name != "http_version" && !slices.Contains(t.fields, f.name) {
			return f.name
		}
	}
	return ""
}

// positive reads a required delay or timeout: positive, at most
// octavia.MaxDelay.
func positive(field string, v Seconds) (time.Duration, error) {
	if !v.Set {
		return 0, fieldErr(field, "is required: seconds, e.g. %s: 5, or a duration such as 500ms", field)
	}
	d, err := v.Value()
	if err != nil {
		return 0, fieldErr(field, "%v", err)
	}
	switch {
	case d <= 0:
		return 0, fieldErr(field, "must be positive, got %s", d)
	case d > octavia.MaxDelay:
		return 0, fieldErr(field, "must be at most 24 days (%d seconds), got %s", octavia.MaxDelay/time.Second, d)
	}
	return d, nil
}

func retries(field string, n int) (int, error) {
	if n < MinRetries || n > MaxRetries {
		return 0, fieldErr(field, "must be from %d to %d, got %d", MinRetries, MaxRetries, n)
	}
	return n, nil
}

// resolveHTTP applies the HTTP defaults and Octavia's http_version and
// domain_name rules.
func (h *HealthMonitor) resolveHTTP(m *Monitor) error {
	m.HTTPMethod, m.URLPath, m.ExpectedCodes = h.HTTPMethod, h.URLPath, h.ExpectedCodes
	if m.HTTPMethod == "" {
		m.HTTPMethod = DefaultHTTPMethod
	}
	if m.URLPath == "" {
		m.URLPath = DefaultURLPath
	}
	if m.ExpectedCodes == "" {
		m.ExpectedCodes = DefaultExpectedCodes
	}
	m.DomainName, m.CAFile = h.DomainName, h.CAFile
	switch {
	case m.DomainName != "" && m.HTTPVersion == "":
		return fieldErr("domain_name", "needs http_version: 1.1 (Octavia requires http_version when domain_name is set)")
	case m.DomainName != "" && m.HTTPVersion == "1.0":
		return fieldErr("domain_name", "needs http_version 1.1, not 1.0: HTTP/1.0 sends no Host header")
	case len(m.DomainName) > maxName:
		return fieldErr("domain_name", "is %d characters long; the limit is %d", len(m.DomainName), maxName)
	}
	if m.CAFile != "" {
		if err := regularFile(m.CAFile); err != nil {
			return fieldErr("ca_file", "%s cannot be read: %v", m.CAFile, err)
		}
	}
	return nil
}

// resolveDB checks the login of MYSQL and PGSQL monitors.
func (h *HealthMonitor) resolveDB(m *Monitor) error {
	m.User, m.PasswordFile, m.PasswordEnv = h.User, h.PasswordFile, h.PasswordEnv
	m.Database, m.Query, m.SSLMode = h.Database, h.Query, h.SSLMode
	switch {
	case m.User == "":
		return fieldErr("user", "is required for type %s", m.Type)
	case m.PasswordFile != "" && m.PasswordEnv != "":
		return fieldErr("password_file", "and password_env are both set; set one of them")
	case m.PasswordFile != "":
		if _, err := probe.ReadSecretFile(m.PasswordFile); err != nil {
			return fieldErr("password_file", "%s cannot be read: %v", m.PasswordFile, err)
		}
	case m.PasswordEnv != "":
		if _, ok := os.LookupEnv(m.PasswordEnv); !ok {
			return fieldErr("password_env", "names %s, which is not set in the environment", m.PasswordEnv)
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

// IDRef is Octavia's {"id": …} reference.
type IDRef struct {
	ID string `json:"id"`
}

// OctaviaHealthMonitor is the body of Octavia's
// GET /v2/lbaas/healthmonitors/{id}, field for field, with the MYSQL and
// PGSQL fields added when they apply. Delay and timeout are integer
// seconds, or a decimal number when the monitor uses sub-second values.
type OctaviaHealthMonitor struct {
	ProjectID          string       `json:"project_id"`
	Name               string       `json:"name"`
	AdminStateUp       bool         `json:"admin_state_up"`
	Pools              []IDRef      `json:"pools"`
	CreatedAt          string       `json:"created_at"`
	ProvisioningStatus string       `json:"provisioning_status"`
	UpdatedAt          *string      `json:"updated_at"`
	Delay              json.Number  `json:"delay"`
	ExpectedCodes      *string      `json:"expected_codes"`
	MaxRetries         int          `json:"max_retries"`
	HTTPMethod         *string      `json:"http_method"`
	Timeout            json.Number  `json:"timeout"`
	MaxRetriesDown     int          `json:"max_retries_down"`
	URLPath            *string      `json:"url_path"`
	Type               string       `json:"type"`
	ID                 string       `json:"id"`
	OperatingStatus    string       `json:"operating_status"`
	HTTPVersion        *json.Number `json:"http_version"`
	DomainName         *string      `json:"domain_name"`
	Tags               []string     `json:"tags"`
	User               string       `json:"user,omitempty"`
	PasswordFile       string       `json:"password_file,omitempty"`
	PasswordEnv        string       `json:"password_env,omitempty"`
	Database           string       `json:"database,omitempty"`
	Query              string       `json:"query,omitempty"`
	SSLMode            string       `json:"sslmode,omitempty"`
}

// OctaviaFields lists OctaviaHealthMonitor's fields in the order
// `openstack loadbalancer healthmonitor show` prints them.
var OctaviaFields = []string{
	"project_id", "name", "admin_state_up", "pools", "created_at", "provisioning_status", "updated_at",
	"delay", "expected_codes", "max_retries", "http_method", "timeout", "max_retries_down", "url_path",
	"type", "id", "operating_status", "http_version", "domain_name", "tags",
	"user", "password_file", "password_env", "database", "query", "sslmode",
}

// Octavia returns the monitor as Octavia's API shows it. poolID is the
// pool it belongs to; created and updated are when the configuration was
// loaded and last changed (zero: never).
func (m *Monitor) Octavia(poolID string, created, updated time.Time, operating string) OctaviaHealthMonitor {
	o := OctaviaHealthMonitor{
		Name: m.Name, AdminStateUp: m.AdminStateUp, Pools: []IDRef{{ID: poolID}},
		CreatedAt: created.UTC().Format("2006-01-02T15:04:05"), ProvisioningStatus: "ACTIVE",
		Delay: seconds(m.Delay), MaxRetries: m.MaxRetries, Timeout: seconds(m.Timeout),
		MaxRetriesDown: m.MaxRetriesDown, Type: m.Type, ID: m.ID, OperatingStatus: operating,
		Tags: m.Tags, User: m.User, PasswordFile: m.PasswordFile, PasswordEnv: m.PasswordEnv,
		Database: m.Database, Query: m.Query, SSLMode: m.SSLMode,
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if !updated.IsZero() {
		u := updated.UTC().Format("2006-01-02T15:04:05")
		o.UpdatedAt = &u
	}
	if m.Type == TypeHTTP || m.Type == TypeHTTPS {
		o.HTTPMethod, o.URLPath, o.ExpectedCodes = &m.HTTPMethod, &m.URLPath, &m.ExpectedCodes
	}
	if m.HTTPVersion != "" {
		v := json.Number(m.HTTPVersion)
		o.HTTPVersion = &v
	}
	if m.DomainName != "" {
		o.DomainName = &m.DomainName
	}
	return o
}

// seconds writes d as Octavia's integer seconds, or as a decimal number of
// seconds when it is not whole.
func seconds(d time.Duration) json.Number {
	if d%time.Second == 0 {
		return json.Number(strconv.FormatInt(int64(d/time.Second), 10))
	}
	return json.Number(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
}
