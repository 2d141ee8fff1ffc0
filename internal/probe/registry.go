package probe

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Kind describes one kind of check. The registry of kinds both validates
// configurations and builds probers, so the list of kinds lives in one place.
type Kind struct {
	// Name is the kind's name in configs and on the command line.
	Name string
	// Summary is one line for help texts.
	Summary string
	// Target says what Address holds for this kind.
	Target Target
	// DefaultPort is used when a host:port target has no port; 0 means the
	// port is required.
	DefaultPort int
	// Fields are the optional Spec fields (YAML names) the kind accepts
	// beyond address and timeout.
	Fields []string
	// build validates the spec (already checked for foreign fields and
	// timeout) and returns the checker.
	build func(s Spec) (checker, error)
}

// kinds is the registry. It is a plain literal, not filled by init().
var kinds = []Kind{
	{Name: "tcp", Summary: "TCP connect, optionally send bytes and expect a reply", Fields: []string{"send", "expect", "expect_regex"}, build: newTCP},
	{Name: "http", Summary: "HTTP request; pass on an expected status code", DefaultPort: 80, Fields: httpFields, build: newHTTP},
	{Name: "https", Summary: "HTTP request over TLS; pass on an expected status code", DefaultPort: 443, Fields: httpsFields, build: newHTTPS},
	{Name: "tls-hello", Summary: "send a TLS ClientHello; pass when a ServerHello comes back", DefaultPort: 443, Fields: []string{"domain_name", "cert_file", "key_file"}, build: newTLSHello},
	{Name: "ping", Summary: "ICMP echo request; pass on the matching echo reply", Target: TargetHost, build: newPing},
	{Name: "udp-connect", Summary: "UDP datagram; pass unless ICMP port unreachable comes back", Fields: []string{"send", "expect", "expect_regex"}, build: newUDP},
	{Name: "mysql", Summary: "MySQL/MariaDB login and query", DefaultPort: 3306, Fields: append([]string{"galera", "donor_ok"}, dbFields...), build: newMySQL},
	{Name: "postgres", Summary: "PostgreSQL login and query", DefaultPort: 5432, Fields: append([]string{"sslmode"}, dbFields...), build: newPostgres},
	{Name: "redis", Summary: "Redis PING, expecting PONG", DefaultPort: 6379, Fields: []string{"user", "password", "password_file", "password_env", "expect"}, build: newRedis},
	{Name: "file", Summary: "fail while a file exists (a maintenance flag)", Target: TargetNone, Fields: []string{"path"}, build: newFile},
	{Name: "load", Summary: "local load average per CPU, available memory and free disk", Target: TargetNone, Fields: []string{"max_load_per_cpu", "min_memory_available", "min_disk_free", "disk_path"}, build: newLoad},
	{Name: "exec", Summary: "run a command without a shell: exit 0 passes, 1 warns, other fails", Target: TargetNone, Fields: []string{"command"}, build: newExec},
}

// Target is what a kind's Address holds.
type Target uint8

// The kinds of target.
const (
	TargetHostPort Target = iota // "host:port"; DefaultPort fills a missing port
	TargetHost                   // "host"; a port, if given, is dropped
	TargetNone                   // no address: a local check
)

var (
	httpFields  = []string{"http_method", "url_path", "http_version", "domain_name", "expected_codes", "body_regex"}
	httpsFields = append([]string{"ca_file", "cert_file", "key_file"}, httpFields...)
	dbFields    = []string{"user", "password", "password_file", "password_env", "database", "query", "expect",
		"role", "max_replication_lag", "max_connections_used", "reuse_connection"}
)

// Kinds returns the registered kinds in a stable order.
func Kinds() []Kind { return slices.Clone(kinds) }

// KindNames returns the names of the registered kinds, e.g. for a usage line.
func KindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

// Lookup returns the kind with the given name.
func Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return kinds[i], true
}

// New validates s for the named kind and returns a Prober. Errors name the
// field at fault; a *FieldError can be inspected with errors.As.
func New(kind string, s Spec) (Prober, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, &FieldError{Field: "type", Msg: fmt.Sprintf("unknown type %q (want one of %s)", kind, strings.Join(KindNames(), ", "))}
	}
	if err := k.Validate(&s); err != nil {
		return nil, err
	}
	c, err := k.build(s)
	if err != nil {
		return nil, err
	}
	return timed{c: c, timeout: s.Timeout}, nil
}

// Validate checks what every kind shares: no field the kind does not
// accept, a positive timeout, and an address, to which it adds the kind's
// default port when the address has none.
func (k Kind) Validate(s *Spec) error {
	if f := foreignField(*s, k.Fields); f != "" {
		return &FieldError{Field: f, Msg: fmt.Sprintf("is not allowed for type %s", k.Name)}
	}
	if s.Timeout <= 0 {
		return &FieldError{Field: "timeout", Msg: fmt.Sprintf("must be positive, got %s", s.Timeout)}
	}
	addr, err := k.normalizeAddress(s.Address)
	if err != nil {
		return &FieldError{Field: "address", Msg: err.Error()}
	}
	s.Address = addr
	return nil
}

// normalizeAddress checks a target and adds the default port.
func (k Kind) normalizeAddress(a string) (string, error) {
	switch {
	case k.Target == TargetNone && a != "":
		return "", fmt.Errorf("is not used by type %s", k.Name)
	case k.Target == TargetNone:
		return "", nil
	case a == "":
		return "", fmt.Errorf("is required")
	case k.Target == TargetHost:
		host := a
		if h, _, err := net.SplitHostPort(a); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if host == "" || strings.ContainsAny(host, " /") {
			return "", fmt.Errorf("%q is not a host", a)
		}
		return host, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if k.DefaultPort == 0 {
			return "", fmt.Errorf("%q needs a port, as host:port", a)
		}
		host, port = strings.Trim(a, "[]"), strconv.Itoa(k.DefaultPort)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q in %q is not a number from 1 to 65535", port, a)
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("%q has no valid host", a)
	}
	if err == nil && !strings.Contains(host, ":") && len(a) == len(host)+1+len(port) {
		// a is host:port already: keep it rather than hold a copy in
		// every check (10,000 of them in an lb).
		return a, nil
	}
	return net.JoinHostPort(host, port), nil
}

// foreignField returns the YAML name of the first field set in s that is
// neither address, timeout nor in allowed.
func foreignField(s Spec, allowed []string) string {
	v := reflect.ValueOf(s)
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "address" || name == "timeout" || slices.Contains(allowed, name) {
			continue
		}
		if !v.Field(i).IsZero() {
			return name
		}
	}
	return ""
}
