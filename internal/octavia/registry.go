package octavia

import (
	"slices"
	"time"
)

// This file is the one declaration of every enumeration of the model:
// monitor types with their fields and defaults, LB algorithms, protocols,
// session persistence types, HTTP methods and versions, and statuses.
// Lists, validators and doc strings are derived from these literals.

// MonitorType is one health monitor type.
type MonitorType struct {
	// Name is the type as Octavia spells it, e.g. "HTTP".
	Name string
	// Summary is one line for help texts.
	Summary string
	// Probe is the internal/probe kind that runs the type's checks; ""
	// for a type vitals does not run.
	Probe string
	// Fields are the type-specific fields (see monitorFields) it accepts;
	// the fields marked AllTypes there (http_version, domain_name) and
	// the common ones (delay, timeout, retries, name, tags,
	// admin_state_up) are accepted by every type.
	Fields []string
	// Required are the type-specific fields it cannot run without.
	Required []string
	// HTTP is true for the types that send an HTTP request and so use
	// http_version and domain_name; the other types accept and ignore
	// them, as Octavia does.
	HTTP bool
	// PoolProtocols are the pool protocols it can monitor.
	PoolProtocols []string
	// Supported is false for a type Octavia knows that vitals does not
	// run: it is refused with a clear error rather than as unknown.
	Supported bool
	// Extension marks a type beyond Octavia.
	Extension bool
}

// The health monitor types.
const (
	MonitorHTTP       = "HTTP"
	MonitorHTTPS      = "HTTPS"
	MonitorPing       = "PING"
	MonitorTCP        = "TCP"
	MonitorTLSHello   = "TLS-HELLO"
	MonitorUDPConnect = "UDP-CONNECT"
	MonitorSCTP       = "SCTP"
	MonitorMySQL      = "MYSQL"
	MonitorPgSQL      = "PGSQL"
)

var (
	tcpPools   = []string{ProtocolTCP, ProtocolProxy, ProtocolProxyV2}
	anyPools   = []string{ProtocolTCP, ProtocolProxy, ProtocolProxyV2, ProtocolUDP}
	httpOnly   = []string{"http_method", "url_path", "expected_codes"}
	dbOptions  = []string{"user", "password_file", "password_env", "database", "query"}
	dbRequired = []string{"user"}
)

// monitorTypes is the registry of monitor types. Octavia allows TCP and
// HTTP monitors on UDP pools, and UDP-CONNECT and SCTP only on UDP (and
// SCTP) pools.
var monitorTypes = []MonitorType{
	{Name: MonitorHTTP, Summary: "HTTP request; pass on an expected status code", Probe: "http", Fields: httpOnly, HTTP: true, PoolProtocols: anyPools, Supported: true},
	{Name: MonitorHTTPS, Summary: "HTTP request over TLS; pass on an expected status code", Probe: "https", Fields: append([]string{"ca_file"}, httpOnly...), HTTP: true, PoolProtocols: tcpPools, Supported: true},
	{Name: MonitorPing, Summary: "ICMP echo request to the member's address", Probe: "ping", PoolProtocols: tcpPools, Supported: true},
	{Name: MonitorTCP, Summary: "TCP connect", Probe: "tcp", PoolProtocols: anyPools, Supported: true},
	{Name: MonitorTLSHello, Summary: "TLS ClientHello; pass when a ServerHello comes back", Probe: "tls-hello", PoolProtocols: tcpPools, Supported: true},
	{Name: MonitorUDPConnect, Summary: "UDP datagram; pass unless ICMP port unreachable comes back", Probe: "udp-connect", PoolProtocols: []string{ProtocolUDP}, Supported: true},
	{Name: MonitorSCTP, Summary: "SCTP INIT (not run by vitals)", PoolProtocols: []string{ProtocolUDP}},
	{Name: MonitorMySQL, Summary: "MySQL/MariaDB login and query", Probe: "mysql", Fields: dbOptions, Required: dbRequired, PoolProtocols: tcpPools, Supported: true, Extension: true},
	{Name: MonitorPgSQL, Summary: "PostgreSQL login and query", Probe: "postgres", Fields: append([]string{"sslmode"}, dbOptions...), Required: dbRequired, PoolProtocols: tcpPools, Supported: true, Extension: true},
}

// MonitorField is one string field of a health monitor whose meaning
// depends on its type. This list is the one declaration of those fields:
// the YAML file, the API's requests and views, the store's columns, the
// check's probe spec and the reload comparison are all derived from it.
type MonitorField struct {
	// Name is the API and config name.
	Name string
	// Default is applied by HealthMonitor.ApplyDefaults when the field is
	// empty and the monitor's type accepts the field; "" means none.
	Default string
	// Doc is one line for help texts.
	Doc string
	// Extension marks a field beyond Octavia: the API shows it only when
	// it is set, so that Octavia's clients see Octavia's shape.
	Extension bool
	// Number marks a field Octavia's API carries as a JSON number
	// (http_version, a float); the others are strings.
	Number bool
	// AllTypes marks a field that every type accepts (Octavia accepts
	// http_version and domain_name on every type; only the HTTP types
	// use them). The others are accepted by the types listing them.
	AllTypes bool
	// ptr reaches the field in a HealthMonitor.
	ptr func(*HealthMonitor) *string
}

// Get returns the field's value in h.
func (f MonitorField) Get(h *HealthMonitor) string { return *f.ptr(h) }

// Set sets the field's value in h.
func (f MonitorField) Set(h *HealthMonitor, v string) { *f.ptr(h) = v }

// Ptr returns the address of the field in h.
func (f MonitorField) Ptr(h *HealthMonitor) *string { return f.ptr(h) }

// AcceptedBy reports whether a monitor of type t may set the field.
func (f MonitorField) AcceptedBy(t MonitorType) bool { return f.AllTypes || t.Accepts(f.Name) }

// UsedBy reports whether a check of type t reads the field: the HTTP
// types read http_version and domain_name, which the others only accept.
func (f MonitorField) UsedBy(t MonitorType) bool {
	if f.AllTypes {
		return t.HTTP
	}
	return t.Accepts(f.Name)
}

// monitorFields are the type-specific fields, each with its default.
var monitorFields = []MonitorField{
	{Name: "http_method", Default: "GET", Doc: "the request method", ptr: func(h *HealthMonitor) *string { return &h.HTTPMethod }},
	{Name: "url_path", Default: "/", Doc: "the request path; must start with /", ptr: func(h *HealthMonitor) *string { return &h.URLPath }},
	{Name: "expected_codes", Default: "200", Doc: "passing status codes: 200, 200,202 or 200-204", ptr: func(h *HealthMonitor) *string { return &h.ExpectedCodes }},
	{Name: "http_version", Doc: "1.0 or 1.1; unset sends HTTP/1.1 with a Host header", AllTypes: true, Number: true, ptr: func(h *HealthMonitor) *string { return &h.HTTPVersion }},
	{Name: "domain_name", Doc: "the Host header and TLS SNI; needs http_version 1.1", AllTypes: true, ptr: func(h *HealthMonitor) *string { return &h.DomainName }},
	{Name: "ca_file", Extension: true, Doc: "PEM CA bundle; turns on certificate verification (vitals)", ptr: func(h *HealthMonitor) *string { return &h.CAFile }},
	{Name: "user", Extension: true, Doc: "database user (vitals)", ptr: func(h *HealthMonitor) *string { return &h.User }},
	{Name: "password_file", Extension: true, Doc: "file holding the database password (vitals)", ptr: func(h *HealthMonitor) *string { return &h.PasswordFile }},
	{Name: "password_env", Extension: true, Doc: "environment variable holding the database password (vitals)", ptr: func(h *HealthMonitor) *string { return &h.PasswordEnv }},
	{Name: "database", Extension: true, Doc: "database name (vitals)", ptr: func(h *HealthMonitor) *string { return &h.Database }},
	{Name: "query", Extension: true, Doc: "statement to run (vitals)", ptr: func(h *HealthMonitor) *string { return &h.Query }},
	{Name: "sslmode", Extension: true, Default: "prefer", Doc: "PostgreSQL sslmode (vitals)", ptr: func(h *HealthMonitor) *string { return &h.SSLMode }},
}

// Algorithm is one load balancing algorithm.
type Algorithm struct {
	Name    string
	Summary string
}

// The LB algorithms.
const (
	AlgorithmRoundRobin       = "ROUND_ROBIN"
	AlgorithmLeastConnections = "LEAST_CONNECTIONS"
	AlgorithmSourceIP         = "SOURCE_IP"
	AlgorithmSourceIPPort     = "SOURCE_IP_PORT"
)

var algorithms = []Algorithm{
	{AlgorithmRoundRobin, "members in turn, by weight"},
	{AlgorithmLeastConnections, "the member with the fewest active connections, by weight"},
	{AlgorithmSourceIP, "a hash of the client's address picks the member"},
	{AlgorithmSourceIPPort, "a hash of the client's address and port picks the member"},
}

// Protocol is one Octavia protocol, with where Octavia and vitals accept it.
type Protocol struct {
	Name    string
	Summary string
	// OctaviaListener and OctaviaPool say whether Octavia's API knows the
	// protocol for listeners and pools; another value is unknown.
	OctaviaListener, OctaviaPool bool
	// Listener and Pool say whether vitals serves it there; a protocol
	// Octavia knows but vitals does not serve is refused as unsupported.
	Listener, Pool bool
}

// The protocols.
const (
	ProtocolTCP             = "TCP"
	ProtocolUDP             = "UDP"
	ProtocolProxy           = "PROXY"
	ProtocolProxyV2         = "PROXYV2"
	ProtocolHTTP            = "HTTP"
	ProtocolHTTPS           = "HTTPS"
	ProtocolTerminatedHTTPS = "TERMINATED_HTTPS"
	ProtocolSCTP            = "SCTP"
	ProtocolPrometheus      = "PROMETHEUS"
)

var protocols = []Protocol{
	{Name: ProtocolTCP, Summary: "TCP", OctaviaListener: true, OctaviaPool: true, Listener: true, Pool: true},
	{Name: ProtocolUDP, Summary: "UDP; a UDP pool is monitored but is no TCP listener's default pool", OctaviaListener: true, OctaviaPool: true, Pool: true},
	{Name: ProtocolProxy, Summary: "TCP with a PROXY protocol v1 header sent to the member first", OctaviaPool: true, Pool: true},
	{Name: ProtocolProxyV2, Summary: "TCP with a PROXY protocol v2 header sent to the member first", OctaviaPool: true, Pool: true},
	{Name: ProtocolHTTP, Summary: "HTTP (not served by vitals)", OctaviaListener: true, OctaviaPool: true},
	{Name: ProtocolHTTPS, Summary: "HTTPS passed through (not served by vitals)", OctaviaListener: true, OctaviaPool: true},
	{Name: ProtocolTerminatedHTTPS, Summary: "HTTPS terminated (not served by vitals)", OctaviaListener: true},
	{Name: ProtocolSCTP, Summary: "SCTP (not served by vitals)", OctaviaListener: true, OctaviaPool: true},
	{Name: ProtocolPrometheus, Summary: "Prometheus metrics endpoint (not served by vitals)", OctaviaListener: true},
}

// SessionPersistenceType is one session persistence type.
type SessionPersistenceType struct {
	Name    string
	Summary string
	// Supported is false for a type vitals does not implement.
	Supported bool
}

var sessionPersistenceTypes = []SessionPersistenceType{
	{Name: "SOURCE_IP", Summary: "stick a client's address to a member (not implemented; use lb_algorithm SOURCE_IP)"},
	{Name: "HTTP_COOKIE", Summary: "a cookie set by the load balancer (HTTP only)"},
	{Name: "APP_COOKIE", Summary: "the application's cookie (HTTP only)"},
}

// httpMethods are the methods an HTTP monitor may send.
var httpMethods = []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// httpVersions are the values of http_version; "" is unset.
var httpVersions = []string{"1.0", "1.1"}

// ProvisioningStatus is Octavia's provisioning_status.
type ProvisioningStatus string

// The provisioning statuses.
const (
	ProvisioningActive        ProvisioningStatus = "ACTIVE"
	ProvisioningDeleted       ProvisioningStatus = "DELETED"
	ProvisioningError         ProvisioningStatus = "ERROR"
	ProvisioningPendingCreate ProvisioningStatus = "PENDING_CREATE"
	ProvisioningPendingUpdate ProvisioningStatus = "PENDING_UPDATE"
	ProvisioningPendingDelete ProvisioningStatus = "PENDING_DELETE"
)

// statusDecl is one status value with its meaning.
type statusDecl[S ~string] struct {
	Value   S
	Summary string
}

var provisioningStatuses = []statusDecl[ProvisioningStatus]{
	{ProvisioningActive, "the configuration is applied"},
	{ProvisioningDeleted, "the object is gone"},
	{ProvisioningError, "applying the configuration failed"},
	{ProvisioningPendingCreate, "being created; changes are refused until it settles"},
	{ProvisioningPendingUpdate, "being updated; changes are refused until it settles"},
	{ProvisioningPendingDelete, "being deleted; changes are refused until it settles"},
}

// OperatingStatus is Octavia's operating_status.
type OperatingStatus string

// The operating statuses.
const (
	OperatingOnline    OperatingStatus = "ONLINE"
	OperatingDraining  OperatingStatus = "DRAINING"
	OperatingOffline   OperatingStatus = "OFFLINE"
	OperatingDegraded  OperatingStatus = "DEGRADED"
	OperatingError     OperatingStatus = "ERROR"
	OperatingNoMonitor OperatingStatus = "NO_MONITOR"
)

var operatingStatuses = []statusDecl[OperatingStatus]{
	{OperatingOnline, "checks pass; all members usable"},
	{OperatingDraining, "a member with weight 0: no new connections"},
	{OperatingOffline, "administratively down, or not decided yet"},
	{OperatingDegraded, "some members are down"},
	{OperatingError, "checks fail, or no member is usable"},
	{OperatingNoMonitor, "a member of a pool without a monitor"},
}

// Octavia's limits and defaults (octavia/common/constants.py), and
// vitals' own where it is stricter.
const (
	MinRetries            = 1
	MaxRetries            = 10
	DefaultMaxRetriesDown = 3
	MinPort               = 1
	MaxPort               = 65535
	MinWeight             = 0
	MaxWeight             = 256
	DefaultWeight         = 1
	MinConnectionLimit    = -1
	// DefaultConnectionLimit -1 is unlimited.
	DefaultConnectionLimit = -1
	// MaxTimeout bounds the listener timeouts: 24 days.
	MaxTimeout                  = 24 * 24 * time.Hour
	DefaultTimeoutClientData    = 50 * time.Second
	DefaultTimeoutMemberConnect = 5 * time.Second
	DefaultTimeoutMemberData    = 50 * time.Second
	DefaultTimeoutTCPInspect    = 0
	// DefaultTimeoutWriteStall is vitals' own write-stall bound.
	DefaultTimeoutWriteStall = 5 * time.Minute
	// MinDelay is vitals' shortest monitor delay (probe.MinInterval);
	// Octavia allows 0, which would check without pause.
	MinDelay = 100 * time.Millisecond
	// MaxDelay bounds delay and timeout, as Octavia bounds timeouts.
	MaxDelay = MaxTimeout
	// DefaultUDPConnectMinDelay is Octavia's
	// [api_settings] udp_connect_min_interval_health_monitor.
	DefaultUDPConnectMinDelay = 3 * time.Second
	// MaxNameLength bounds names, descriptions and tags.
	MaxNameLength = 255
	// MaxProjectIDLength bounds project_id.
	MaxProjectIDLength = 36
	// Provider is the provider name vitals reports.
	Provider = "vitals"
)

// MonitorTypes returns the monitor types in a stable order.
func MonitorTypes() []MonitorType { return slices.Clone(monitorTypes) }

// MonitorTypeNames returns the names of the monitor types.
func MonitorTypeNames() []string {
	return names(monitorTypes, func(t MonitorType) string { return t.Name })
}

// LookupMonitorType returns the monitor type with the given name.
func LookupMonitorType(name string) (MonitorType, bool) {
	return lookup(monitorTypes, func(t MonitorType) bool { return t.Name == name })
}

// Accepts reports whether the type lists the type-specific field; see
// also MonitorField.AcceptedBy, which counts the fields every type takes.
func (t MonitorType) Accepts(field string) bool { return slices.Contains(t.Fields, field) }

// SupportedMonitorTypeNames returns the names of the types vitals runs.
func SupportedMonitorTypeNames() []string {
	return filterNames(monitorTypes, func(t MonitorType) (string, bool) { return t.Name, t.Supported })
}

// MonitorFields returns the type-dependent monitor fields.
func MonitorFields() []MonitorField { return slices.Clone(monitorFields) }

// LookupMonitorField returns the monitor field with the given name.
func LookupMonitorField(name string) (MonitorField, bool) {
	return lookup(monitorFields, func(f MonitorField) bool { return f.Name == name })
}

// Algorithms returns the LB algorithms.
func Algorithms() []Algorithm { return slices.Clone(algorithms) }

// AlgorithmNames returns the names of the LB algorithms.
func AlgorithmNames() []string { return names(algorithms, func(a Algorithm) string { return a.Name }) }

// Protocols returns the protocols.
func Protocols() []Protocol { return slices.Clone(protocols) }

// LookupProtocol returns the protocol with the given name.
func LookupProtocol(name string) (Protocol, bool) {
	return lookup(protocols, func(p Protocol) bool { return p.Name == name })
}

// ListenerProtocolNames returns the listener protocols Octavia knows.
func ListenerProtocolNames() []string {
	return filterNames(protocols, func(p Protocol) (string, bool) { return p.Name, p.OctaviaListener })
}

// PoolProtocolNames returns the pool protocols Octavia knows.
func PoolProtocolNames() []string {
	return filterNames(protocols, func(p Protocol) (string, bool) { return p.Name, p.OctaviaPool })
}

// SessionPersistenceTypeNames returns the session persistence types.
func SessionPersistenceTypeNames() []string {
	return names(sessionPersistenceTypes, func(s SessionPersistenceType) string { return s.Name })
}

// HTTPMethods returns the methods an HTTP monitor may send.
func HTTPMethods() []string { return slices.Clone(httpMethods) }

// HTTPVersions returns the values of http_version.
func HTTPVersions() []string { return slices.Clone(httpVersions) }

// ProvisioningStatuses returns every provisioning status.
func ProvisioningStatuses() []ProvisioningStatus {
	return names(provisioningStatuses, func(s statusDecl[ProvisioningStatus]) ProvisioningStatus { return s.Value })
}

// OperatingStatuses returns every operating status.
func OperatingStatuses() []OperatingStatus {
	return names(operatingStatuses, func(s statusDecl[OperatingStatus]) OperatingStatus { return s.Value })
}

// Valid reports whether s is a declared provisioning status.
func (s ProvisioningStatus) Valid() bool { return slices.Contains(ProvisioningStatuses(), s) }

// Pending reports whether s is one of the PENDING_* statuses, during
// which Octavia refuses changes to the object.
func (s ProvisioningStatus) Pending() bool {
	return s == ProvisioningPendingCreate || s == ProvisioningPendingUpdate || s == ProvisioningPendingDelete
}

// Summary is the status' meaning, for help texts.
func (s ProvisioningStatus) Summary() string { return summary(provisioningStatuses, s) }

// Valid reports whether s is a declared operating status.
func (s OperatingStatus) Valid() bool { return slices.Contains(OperatingStatuses(), s) }

// Summary is the status' meaning, for help texts.
func (s OperatingStatus) Summary() string { return summary(operatingStatuses, s) }

func summary[S ~string](decls []statusDecl[S], s S) string {
	if d, ok := lookup(decls, func(d statusDecl[S]) bool { return d.Value == s }); ok {
		return d.Summary
	}
	return ""
}

func names[T any, N any](list []T, name func(T) N) []N {
	out := make([]N, len(list))
	for i, v := range list {
		out[i] = name(v)
	}
	return out
}

func filterNames[T any](list []T, keep func(T) (string, bool)) []string {
	var out []string
	for _, v := range list {
		if n, ok := keep(v); ok {
			out = append(out, n)
		}
	}
	return out
}

func lookup[T any](list []T, match func(T) bool) (T, bool) {
	if i := slices.IndexFunc(list, match); i >= 0 {
		return list[i], true
	}
	var zero T
	return zero, false
}
