package lb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/probe"
	"vitals/internal/statuspage"
	"vitals/internal/yamlconf"
)

// Octavia's values and limits for the fields vitals validates.
var (
	// Algorithms are Octavia's lb_algorithm values, as the model
	// declares them.
	Algorithms = octavia.AlgorithmNames()
	// octaviaProtocols are the listener and pool protocols Octavia knows,
	// so that the ones vitals does not support get a clear refusal.
	octaviaProtocols = []string{"HTTP", "HTTPS", "TERMINATED_HTTPS", "PROXY", "PROXYV2", "SCTP", "PROMETHEUS", "TCP", "UDP"}
)

const (
	maxName    = 255
	maxWeight  = 256
	maxTimeout = 24 * time.Hour // the longest shutdown_grace
	// maxSocketPath is the longest unix socket path Linux accepts.
	maxSocketPath = 107
	// maxConcurrent bounds monitor.max_concurrent_checks.
	maxConcurrent = 1 << 20
)

// Listener timeout defaults, as Octavia's.
const (
	DefaultTimeoutClientData    = 50 * time.Second
	DefaultTimeoutMemberConnect = 5 * time.Second
	DefaultTimeoutMemberData    = 50 * time.Second
	// DefaultTimeoutWriteStall is vitals' own: see Listener.TimeoutWriteStall.
	DefaultTimeoutWriteStall = 5 * time.Minute
)

// ConfigError is a problem in a configuration file. It names the file,
// the line when known, the object and field, and what is wrong, as in
//
//	lb.yaml:14: healthmonitor of pool "pg": http_method is not allowed for type TCP
type ConfigError struct {
	File   string
	Line   int
	Object string // e.g. `healthmonitor of pool "pg"`; "" at the top level
	Field  string // e.g. "http_method"; "" when the message names none
	Msg    string // follows the field, e.g. "is not allowed for type TCP"
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Object != "" {
		b.WriteString(e.Object + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + " ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadFile reads, decodes strictly, defaults and validates a config file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read: %v", yamlconf.UnwrapPath(err))}
	}
	return Parse(path, data)
}

// Parse decodes a YAML config strictly (unknown fields are errors),
// applies defaults and validates it; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	if err := loadBalancersIsList(name, &root); err != nil {
		return nil, err
	}
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: name, Msg: "is empty; it needs at least a loadbalancer: with pools"}
		}
		return nil, yamlError(name, err)
	}
	if line, ok := yamlconf.SecondDocument(dec); ok {
		return nil, &ConfigError{File: name, Line: line, Msg: "holds a second YAML document; put everything in one"}
	}
	c.File, c.Loaded = name, time.Now()
	v := &validator{file: name, root: &root}
	if err := v.config(c); err != nil {
		return nil, err
	}
	return c, nil
}

// loadBalancersIsList refuses a loadbalancers: that is not a list, in
// words: a mapping there is one load balancer written under the list's
// key.
func loadBalancersIsList(name string, root *yaml.Node) error {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := root.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if k, v := top[i], top[i+1]; k.Value == "loadbalancers" && v.Kind != yaml.SequenceNode && v.Tag != "!!null" {
			return &ConfigError{File: name, Line: k.Line, Field: "loadbalancers", Msg: "must be a list of load balancers (- name: lb1 ...); write one load balancer under loadbalancer:"}
		}
	}
	return nil
}

// lbTypes names the config's Go types in words, for error messages.
var lbTypes = map[string]string{
	"lb.Config": "the top level", "lb.AdminConfig": "admin", "lb.APISettings": "api_settings",
	"lb.MonitorConfig": "monitor", "lb.LoadBalancer": "loadbalancer", "lb.Listener": "a listener",
	"lb.Pool": "a pool", "lb.Member": "a member", "lb.HealthMonitor": "a healthmonitor",
}

// yamlError turns a yaml.v3 error into a ConfigError with a line number
// and plain words. A second healthmonitor in a pool reads as Octavia's 409.
func yamlError(name string, err error) error {
	line, msg := yamlconf.Explain(err, lbTypes, "Octavia's field names are used")
	if first, ok := strings.CutPrefix(msg, "healthmonitor is given twice (first at line "); ok {
		msg = "a pool can have only one healthmonitor; another is at line " + strings.TrimSuffix(first, ")") + " (Octavia answers 409 Conflict)"
	}
	return &ConfigError{File: name, Line: line, Msg: msg}
}

// validator applies defaults and validates, with line numbers from root.
type validator struct {
	file string
	root *yaml.Node
	// paths are the YAML paths of the load balancers, by index in
	// Config.LoadBalancers: ["loadbalancer"] or ["loadbalancers", i].
	paths [][]any
}

// bad returns a ConfigError at the line of the node at path (mapping keys
// and sequence indexes below the document root).
func (v *validator) bad(path []any, object, field, format string, a ...any) error {
	return &ConfigError{File: v.file, Line: yamlconf.LineOf(v.root, path...), Object: object, Field: field, Msg: fmt.Sprintf(format, a...)}
}

func at(path []any, more ...any) []any { return append(slices.Clip(path), more...) }

func (v *validator) config(c *Config) error {
	if err := v.settings(c); err != nil {
		return err
	}
	switch {
	case c.LoadBalancer != nil && c.LoadBalancers != nil:
		return v.bad([]any{"loadbalancers"}, "", "loadbalancers", "cannot be given with loadbalancer: write one load balancer under loadbalancer:, or all of them as a list under loadbalancers:")
	case c.LoadBalancer != nil:
		c.LoadBalancers, c.LoadBalancer = []*LoadBalancer{c.LoadBalancer}, nil
		v.paths = [][]any{{"loadbalancer"}}
	case c.LoadBalancers != nil && len(c.LoadBalancers) == 0:
		return v.bad([]any{"loadbalancers"}, "", "loadbalancers", "is empty: list at least one load balancer with its listeners and pools")
	case c.LoadBalancers == nil:
		return v.bad([]any{}, "", "loadbalancer", "is required: the load balancer with its listeners and pools")
	default:
		names := map[string]int{}
		for i, lb := range c.LoadBalancers {
			p := []any{"loadbalancers", i}
			v.paths = append(v.paths, p)
			if lb == nil {
				return v.bad(p, fmt.Sprintf("loadbalancer %d", i+1), "", "is empty: give its name, listeners and pools")
			}
			if lb.Name == "" {
				return v.bad(p, fmt.Sprintf("loadbalancer %d", i+1), "name", "is required in loadbalancers: it tells the load balancers apart (and derives their IDs)")
			}
			if j, ok := names[lb.Name]; ok {
				return v.bad(append(p, "name"), fmt.Sprintf("loadbalancer %q", lb.Name), "name", "is used by loadbalancer %d; names must be unique", j+1)
			}
			names[lb.Name] = i
		}
	}
	binds := map[string]boundListener{}
	var all []boundListener
	for i := range c.LoadBalancers {
		if err := v.loadBalancer(c, i, binds, &all); err != nil {
			return err
		}
	}
	return nil
}

// boundListener is a validated listener with its load balancer, for the
// checks across load balancers.
type boundListener struct {
	lb *LoadBalancer
	l  *Listener
	j  int // index in its load balancer
}

// label names the listener in messages about another one: with its load
// balancer when there are several.
func (b boundListener) label(c *Config) string {
	s := b.l.labelOr(b.j)
	if len(c.LoadBalancers) > 1 {
		s += fmt.Sprintf(" of loadbalancer %q", b.lb.Name)
	}
	return s
}

// settings applies defaults to and validates the process settings: admin,
// api_settings, monitor and shutdown_grace.
func (v *validator) settings(c *Config) error {
	if err := v.admin(&c.Admin); err != nil {
		return err
	}
	c.Settings = monitor.DefaultSettings()
	if a := c.APISettings.AllowPingHealthMonitors; a != nil {
		c.Settings.AllowPing = *a
	}
	if s := c.APISettings.UDPConnectMinIntervalHealthMonitor; s.Set {
		p := []any{"api_settings", "udp_connect_min_interval_health_monitor"}
		d, err := s.Value()
		switch {
		case err != nil:
			return v.bad(p, "api_settings", "udp_connect_min_interval_health_monitor", "%v", err)
		case d < 0:
			return v.bad(p, "api_settings", "udp_connect_min_interval_health_monitor", "must not be negative, got %s", d)
		}
		c.Settings.UDPConnectMinDelay = d
	}
	switch n := c.Monitor.MaxConcurrentChecks; {
	case n == 0:
		c.Monitor.MaxConcurrentChecks = monitor.DefaultMaxConcurrent
	case n < 1 || n > maxConcurrent:
		return v.bad([]any{"monitor", "max_concurrent_checks"}, "monitor", "max_concurrent_checks", "must be from 1 to %d, got %d", maxConcurrent, n)
	}
	c.Grace = DefaultShutdownGrace
	if g := c.ShutdownGrace; g.Set {
		d, err := g.Value()
		switch {
		case err != nil:
			return v.bad([]any{"shutdown_grace"}, "", "shutdown_grace", "%v", err)
		case d < 0 || d > maxTimeout:
			return v.bad([]any{"shutdown_grace"}, "", "shutdown_grace", "must be from 0 to 24h, got %s", d)
		}
		c.Grace = d
	}
	return nil
}

func (v *validator) admin(a *AdminConfig) error {
	if a.Socket == "" {
		a.Socket = DefaultAdminSocket
	}
	p := []any{"admin", "socket"}
	switch {
	case !filepath.IsAbs(a.Socket):
		return v.bad(p, "admin", "socket", "%q must be an absolute path", a.Socket)
	case len(a.Socket) > maxSocketPath:
		return v.bad(p, "admin", "socket", "is %d bytes long; a unix socket path may have at most %d", len(a.Socket), maxSocketPath)
	}
	if a.Listen != "" {
		host, port, err := net.SplitHostPort(a.Listen)
		n, perr := strconv.Atoi(port)
		ip, ipErr := netip.ParseAddr(host)
		p := []any{"admin", "listen"}
		switch {
		case err != nil || perr != nil || n < 1 || n > 65535:
			return v.bad(p, "admin", "listen", "%q is not host:port (e.g. listen: 127.0.0.1:9180)", a.Listen)
		case host != "localhost" && (ipErr != nil || !ip.IsLoopback()):
			return v.bad(p, "admin", "listen", "%q is not a loopback address: the admin endpoint has no authentication (use 127.0.0.1 or ::1)", a.Listen)
		}
	}
	a.EventSubscribers = statuspage.DefaultMaxSubscribers
	if n := a.MaxEventSubscribers; n != nil {
		if *n < 1 || *n > statuspage.MaxSubscribersLimit {
			return v.bad([]any{"admin", "max_event_subscribers"}, "admin", "max_event_subscribers", "must be from 1 to %d, got %d (default %d)", statuspage.MaxSubscribersLimit, *n, statuspage.DefaultMaxSubscribers)
		}
		a.EventSubscribers = *n
	}
	if a.TokenFile != "" {
		p := []any{"admin", "token_file"}
		if a.Listen == "" {
			return v.bad(p, "admin", "token_file", "is set but listen is not: the token guards changes over the TCP listen address (the unix socket needs none)")
		}
		b, err := probe.ReadSecretFile(a.TokenFile)
		if err != nil {
			return v.bad(p, "admin", "token_file", "%s cannot be read: %v", a.TokenFile, err)
		}
		a.token = strings.TrimSpace(string(b))
		if len(a.token) < minTokenLen {
			return v.bad(p, "admin", "token_file", "%s holds a token shorter than %d characters; make a longer one (e.g. openssl rand -hex 16 > %s)", a.TokenFile, minTokenLen, a.TokenFile)
		}
	}
	return nil
}

// minTokenLen is the shortest admin token accepted.
const minTokenLen = 16

func (v *validator) loadBalancer(c *Config, li int, binds map[string]boundListener, all *[]boundListener) error {
	lb := c.LoadBalancers[li]
	p := v.paths[li]
	obj := "loadbalancer"
	if lb.Name != "" {
		obj = fmt.Sprintf("loadbalancer %q", lb.Name)
	}
	if len(lb.Name) > maxName {
		return v.bad(at(p, "name"), obj, "name", "is %d characters long; the limit is %d", len(lb.Name), maxName)
	}
	lb.ID = DeriveID("loadbalancer", lb.Name)
	if lb.VIPAddress == "" {
		lb.VIPAddress = "0.0.0.0"
	}
	if _, err := netip.ParseAddr(lb.VIPAddress); err != nil {
		return v.bad(at(p, "vip_address"), obj, "vip_address", "%q is not an IP address", lb.VIPAddress)
	}
	if len(lb.Pools) == 0 {
		return v.bad(p, obj, "pools", "are required: at least one pool with members")
	}
	pools := map[string]int{}
	for i := range lb.Pools {
		if err := v.pool(c, li, i, pools); err != nil {
			return err
		}
	}
	names := map[string]int{}
	for i := range lb.Listeners {
		if err := v.listener(c, li, i, names, binds, all); err != nil {
			return err
		}
	}
	return nil
}

// listener validates listener i of load balancer li; names maps the
// names of its load balancer's earlier listeners to their index, binds
// and all hold the earlier listeners of every load balancer.
func (v *validator) listener(c *Config, li, i int, names map[string]int, binds map[string]boundListener, all *[]boundListener) error {
	lb := c.LoadBalancers[li]
	l := &lb.Listeners[i]
	p := at(v.paths[li], "listeners", i)
	obj := fmt.Sprintf("listener %d", i+1)
	switch {
	case l.Name != "":
		obj = fmt.Sprintf("listener %q", l.Name)
	case l.ProtocolPort != 0:
		obj = fmt.Sprintf("listener :%d", l.ProtocolPort)
	}
	if len(c.LoadBalancers) > 1 {
		obj += fmt.Sprintf(" of loadbalancer %q", lb.Name)
	}
	if len(l.Name) > maxName {
		return v.bad(at(p, "name"), obj, "name", "is %d characters long; the limit is %d", len(l.Name), maxName)
	}
	if j, ok := names[l.Name]; ok && l.Name != "" {
		return v.bad(at(p, "name"), obj, "name", "%q is used by listener %d; names must be unique", l.Name, j+1)
	}
	names[l.Name] = i
	if err := v.protocol(at(p, "protocol"), obj, l.Protocol, "listener", []string{"TCP"}); err != nil {
		return err
	}
	switch {
	case l.ProtocolPort == 0:
		return v.bad(p, obj, "protocol_port", "is required: the port to listen on, 1 to 65535")
	case l.ProtocolPort < 1 || l.ProtocolPort > 65535:
		return v.bad(at(p, "protocol_port"), obj, "protocol_port", "must be from 1 to 65535, got %d", l.ProtocolPort)
	}
	if l.Address == "" {
		l.Address = lb.VIPAddress
	}
	if a, err := netip.ParseAddr(l.Address); err != nil || a.Zone() != "" {
		return v.bad(at(p, "address"), obj, "address", "%q is not an IP address to bind", l.Address)
	}
	if o, ok := binds[l.BindAddress()]; ok {
		return v.bad(at(p, "protocol_port"), obj, "protocol_port", "%d is used by %s; a port can have only one listener (Octavia answers 409 Conflict)", l.ProtocolPort, o.label(c))
	}
	for _, o := range *all {
		if o.l.ProtocolPort == l.ProtocolPort && bindsOverlap(o.l.Address, l.Address) {
			return v.bad(at(p, "address"), obj, "address", "%s overlaps %s on %s: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)", l.BindAddress(), o.label(c), o.l.BindAddress())
		}
	}
	me := boundListener{lb: lb, l: l, j: i}
	binds[l.BindAddress()] = me
	*all = append(*all, me)
	if l.ConnectionLimit == nil {
		l.ConnectionLimit = new(int)
		*l.ConnectionLimit = -1
	}
	if *l.ConnectionLimit < -1 {
		return v.bad(at(p, "connection_limit"), obj, "connection_limit", "must be -1 (unlimited) or more, got %d", *l.ConnectionLimit)
	}
	if l.DefaultPool != "" {
		pool := lb.Pool(l.DefaultPool)
		switch {
		case pool == nil:
			return v.bad(at(p, "default_pool"), obj, "default_pool", "%q is not a pool of this load balancer", l.DefaultPool)
		case pool.Protocol == monitor.ProtocolUDP:
			return v.bad(at(p, "default_pool"), obj, "default_pool", "%q has protocol %s; a TCP listener needs a TCP pool", l.DefaultPool, pool.Protocol)
		}
	}
	for _, t := range []struct {
		field string
		raw   monitor.Milliseconds
		def   time.Duration
		out   *time.Duration
	}{
		{"timeout_client_data", l.TimeoutClientData, DefaultTimeoutClientData, &l.ClientData},
		{"timeout_member_connect", l.TimeoutMemberConnect, DefaultTimeoutMemberConnect, &l.MemberConnect},
		{"timeout_member_data", l.TimeoutMemberData, DefaultTimeoutMemberData, &l.MemberData},
		{"timeout_write_stall", l.TimeoutWriteStall, DefaultTimeoutWriteStall, &l.WriteStall},
	} {
		*t.out = t.def
		if !t.raw.Set {
			continue
		}
		d, err := t.raw.Value()
		switch {
		case err != nil:
			return v.bad(at(p, t.field), obj, t.field, "%v", err)
		case d < 0 || d > octavia.MaxTimeout:
			return v.bad(at(p, t.field), obj, t.field, "must be from 0 to 24 days (%d ms, Octavia's limit for listener timeouts), got %s", octavia.Millis(octavia.MaxTimeout), d)
		case d%time.Millisecond != 0:
			return v.bad(at(p, t.field), obj, t.field, "must be a whole number of milliseconds, got %s; Octavia's listener timeouts are integer milliseconds", d)
		}
		*t.out = d
	}
	l.ID = DeriveID("listener", lb.Name, l.Label())
	return nil
}

// bindsOverlap reports whether two different addresses bound on the same
// port collide (octavia.BindsCollide). Both are valid IP addresses.
func bindsOverlap(a, b string) bool {
	return a != b && octavia.BindsCollide(a, b)
}

// monitorProtocol is the protocol the pool's monitor checks: a PROXY
// pool's members speak TCP.
func (p *Pool) monitorProtocol() string {
	if p.Protocol == ProtocolProxy || p.Protocol == ProtocolProxyV2 {
		return monitor.ProtocolTCP
	}
	return p.Protocol
}

// labelOr names listener j for messages.
func (l *Listener) labelOr(j int) string {
	if l.Name != "" {
		return fmt.Sprintf("listener %q", l.Name)
	}
	return fmt.Sprintf("listener %d", j+1)
}

// protocol checks a listener's or pool's protocol against what vitals
// supports; kind is "listener" or "pool".
func (v *validator) protocol(p []any, obj, proto, kind string, supported []string) error {
	want := supported[0]
	if n := len(supported); n > 1 {
		want = strings.Join(supported[:n-1], ", ") + " or " + supported[n-1]
	}
	switch {
	case proto == "":
		return v.bad(p[:len(p)-1], obj, "protocol", "is required (%s)", want)
	case slices.Contains(supported, proto):
		return nil
	case slices.Contains(supported, strings.ToUpper(proto)):
		return v.bad(p, obj, "protocol", "%q must be upper case: write %q", proto, strings.ToUpper(proto))
	case slices.Contains(octaviaProtocols, proto):
		return v.bad(p, obj, "protocol", "%s is not supported for a %s: vitals balances TCP (want %s)", proto, kind, want)
	}
	return v.bad(p, obj, "protocol", "%q is not a protocol (want %s)", proto, want)
}

func (v *validator) pool(c *Config, li, i int, names map[string]int) error {
	lb := c.LoadBalancers[li]
	pl := &lb.Pools[i]
	p := at(v.paths[li], "pools", i)
	obj := fmt.Sprintf("pool %d", i+1)
	if pl.Name == "" {
		return v.bad(p, obj, "name", "is required: listeners refer to pools by name")
	}
	obj = fmt.Sprintf("pool %q", pl.Name)
	if len(pl.Name) > maxName {
		return v.bad(at(p, "name"), obj, "name", "is %d characters long; the limit is %d", len(pl.Name), maxName)
	}
	if j, ok := names[pl.Name]; ok {
		return v.bad(at(p, "name"), obj, "name", "is used by pool %d; names must be unique", j+1)
	}
	names[pl.Name] = i
	pl.ID = DeriveID("pool", lb.Name, pl.Name)
	if pl.Protocol == "" {
		pl.Protocol = monitor.ProtocolTCP
	}
	if err := v.protocol(at(p, "protocol"), obj, pl.Protocol, "pool", []string{monitor.ProtocolTCP, ProtocolProxy, ProtocolProxyV2, monitor.ProtocolUDP}); err != nil {
		return err
	}
	switch pl.OnMemberDown {
	case "":
		pl.OnMemberDown = ShutdownSessions
	case ShutdownSessions, KeepSessions:
	default:
		return v.bad(at(p, "on_member_down"), obj, "on_member_down", "%q is not supported (want shutdown_sessions or none)", pl.OnMemberDown)
	}
	if pl.FailOpen && pl.Protocol == monitor.ProtocolUDP {
		return v.bad(at(p, "fail_open"), obj, "fail_open", "is not supported on a UDP pool: vitals proxies TCP only")
	}
	switch {
	case pl.LBAlgorithm == "":
		return v.bad(p, obj, "lb_algorithm", "is required (one of %s)", strings.Join(Algorithms, ", "))
	case slices.Contains(Algorithms, pl.LBAlgorithm):
	case slices.Contains(Algorithms, strings.ToUpper(pl.LBAlgorithm)):
		return v.bad(at(p, "lb_algorithm"), obj, "lb_algorithm", "%q must be upper case: write %q", pl.LBAlgorithm, strings.ToUpper(pl.LBAlgorithm))
	default:
		return v.bad(at(p, "lb_algorithm"), obj, "lb_algorithm", "%q is not supported (want one of %s)", pl.LBAlgorithm, strings.Join(Algorithms, ", "))
	}
	if h := pl.HealthMonitor; h != nil {
		hp := at(p, "healthmonitor")
		hobj := fmt.Sprintf("healthmonitor of pool %q", pl.Name)
		hm, err := h.Model(pl.ID)
		var m *monitor.Monitor
		if err == nil {
			m, err = monitor.NewMonitor(hm, pl.monitorProtocol(), c.Settings)
		}
		if err != nil {
			var fe *probe.FieldError
			if errors.As(err, &fe) {
				return v.bad(at(hp, fe.Field), hobj, fe.Field, "%s", fe.Msg)
			}
			return v.bad(hp, hobj, "", "%v", err)
		}
		m.ID = DeriveID("healthmonitor", lb.Name, pl.Name)
		pl.Monitor = m
	}
	seen := map[netip.AddrPort]int{}
	names2 := map[string]int{}
	for j := range pl.Members {
		if err := v.member(c, li, i, j, seen, names2); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) member(c *Config, li, pi, i int, seen map[netip.AddrPort]int, names map[string]int) error {
	lb := c.LoadBalancers[li]
	pl := &lb.Pools[pi]
	m := &pl.Members[i]
	p := at(v.paths[li], "pools", pi, "members", i)
	label := fmt.Sprintf("%d", i+1)
	switch {
	case m.Name != "":
		label = strconv.Quote(m.Name)
	case m.Address != "" && m.ProtocolPort != 0:
		label = net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
	}
	obj := fmt.Sprintf("member %s of pool %q", label, pl.Name)
	if len(m.Name) > maxName {
		return v.bad(at(p, "name"), obj, "name", "is %d characters long; the limit is %d", len(m.Name), maxName)
	}
	if j, ok := names[m.Name]; ok && m.Name != "" {
		return v.bad(at(p, "name"), obj, "name", "is used by member %d of the pool; names must be unique in a pool", j+1)
	}
	names[m.Name] = i
	if m.Address == "" {
		return v.bad(p, obj, "address", "is required: the member's IP address")
	}
	addr, err := netip.ParseAddr(m.Address)
	if err != nil || addr.Zone() != "" {
		return v.bad(at(p, "address"), obj, "address", "%q is not an IP address", m.Address)
	}
	switch {
	case m.ProtocolPort == 0:
		return v.bad(p, obj, "protocol_port", "is required: the member's port, 1 to 65535")
	case m.ProtocolPort < 1 || m.ProtocolPort > 65535:
		return v.bad(at(p, "protocol_port"), obj, "protocol_port", "must be from 1 to 65535, got %d", m.ProtocolPort)
	}
	ap := netip.AddrPortFrom(addr.Unmap(), uint16(m.ProtocolPort))
	if j, ok := seen[ap]; ok {
		return v.bad(at(p, "protocol_port"), obj, "", "address %s and protocol_port %d are already used by member %d of the pool (Octavia answers 409 Conflict)", m.Address, m.ProtocolPort, j+1)
	}
	seen[ap] = i
	if m.Weight != nil && (*m.Weight < 0 || *m.Weight > maxWeight) {
		return v.bad(at(p, "weight"), obj, "weight", "must be from 0 to %d, got %d", maxWeight, *m.Weight)
	}
	if m.MonitorAddress != "" {
		if a, err := netip.ParseAddr(m.MonitorAddress); err != nil || a.Zone() != "" {
			return v.bad(at(p, "monitor_address"), obj, "monitor_address", "%q is not an IP address", m.MonitorAddress)
		}
	}
	if m.MonitorPort != nil && (*m.MonitorPort < 1 || *m.MonitorPort > 65535) {
		return v.bad(at(p, "monitor_port"), obj, "monitor_port", "must be from 1 to 65535, got %d", *m.MonitorPort)
	}
	m.ID = DeriveID("member", lb.Name, pl.Name, ap.String())
	return nil
}
