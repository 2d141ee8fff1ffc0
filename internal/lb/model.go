// Package lb is vitals' load balancer: its model (load balancer →
// listeners → pools → members, with Octavia's field names), its strict YAML
// configuration, its admin endpoint, and its TCP data plane (listeners,
// member selection and the proxy), which learns of health through
// monitor.Subscriber.
package lb

import (
	"crypto/sha1"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"vitals/internal/monitor"
)

// Config is the whole `vitals lb` configuration file.
type Config struct {
	// Admin is the local admin endpoint that `vitals lb status` talks to.
	Admin AdminConfig `yaml:"admin"`
	// APISettings are operator settings that Octavia keeps in its
	// [api_settings] section.
	APISettings APISettings `yaml:"api_settings"`
	// Monitor tunes the health-check engine.
	Monitor MonitorConfig `yaml:"monitor"`
	// LoadBalancer is the file's load balancer when it has one; the file
	// has either it or LoadBalancers. Parse moves it into LoadBalancers
	// and leaves it nil: it is the decode form only.
	LoadBalancer *LoadBalancer `yaml:"loadbalancer"`
	// LoadBalancers are the load balancers this process runs: the file's
	// loadbalancers: (names required and unique), or its one
	// loadbalancer:. The runtime reads only this.
	LoadBalancers []*LoadBalancer `yaml:"loadbalancers"`
	// ShutdownGrace is how long SIGTERM lets established sessions finish
	// after the listeners close, in milliseconds or a duration such as
	// 30s; then the rest are closed. Default 30s; 0 closes them at once.
	ShutdownGrace monitor.Milliseconds `yaml:"shutdown_grace"`

	// Grace is ShutdownGrace with its default applied.
	Grace time.Duration `yaml:"-"`

	// File is the file the configuration was read from.
	File string `yaml:"-"`
	// Loaded is when it was read; monitors show it as created_at.
	Loaded time.Time `yaml:"-"`
	// Settings are APISettings with defaults applied.
	Settings monitor.Settings `yaml:"-"`
}

// Defaults of the admin endpoint.
const (
	DefaultAdminSocket = "/run/vitals/lb.sock"
)

// AdminConfig is where the admin endpoint listens.
type AdminConfig struct {
	// Socket is the unix socket path, created with mode 0600. Default
	// /run/vitals/lb.sock.
	Socket string `yaml:"socket"`
	// Listen is an optional loopback TCP address (e.g. 127.0.0.1:9180)
	// that serves the same endpoints, for Prometheus and the status page.
	// Reads need no authentication, so only loopback addresses are
	// accepted.
	Listen string `yaml:"listen"`
	// TokenFile holds a token (at least 16 characters) that allows
	// changes over Listen: a request carrying it in X-Auth-Token may set a
	// member's admin_state_up (PUT /v2/lbaas/pools/{pool}/members/{member},
	// or the status page's buttons). Without it Listen is read-only. The
	// unix socket, usable only by its owner, always allows changes.
	TokenFile string `yaml:"token_file"`
	token     string // read from TokenFile
	// MaxEventSubscribers caps the status page's event streams (/events)
	// open at once, over the socket and Listen together; one more is
	// answered 503 with Retry-After. 1 to 1024, default 32. A reload
	// applies to new streams.
	MaxEventSubscribers *int `yaml:"max_event_subscribers"`
	// EventSubscribers is MaxEventSubscribers with its default applied.
	EventSubscribers int `yaml:"-"`
}

// Token returns the admin token read from TokenFile, or "".
func (a AdminConfig) Token() string { return a.token }

// APISettings mirror Octavia's [api_settings] options that shape monitors.
type APISettings struct {
	// AllowPingHealthMonitors permits PING monitors. Default true.
	AllowPingHealthMonitors *bool `yaml:"allow_ping_health_monitors"`
	// UDPConnectMinIntervalHealthMonitor is the shortest delay of an
	// UDP-CONNECT monitor. Default 3 (seconds); 0 allows any.
	UDPConnectMinIntervalHealthMonitor monitor.Seconds `yaml:"udp_connect_min_interval_health_monitor"`
}

// MonitorConfig tunes the engine.
type MonitorConfig struct {
	// MaxConcurrentChecks bounds the checks in flight. Default 4096.
	MaxConcurrentChecks int `yaml:"max_concurrent_checks"`
}

// LoadBalancer is Octavia's load balancer.
type LoadBalancer struct {
	// ID is derived from the name; see DeriveID.
	ID string `yaml:"-"`
	// Name is optional, at most 255 characters.
	Name string `yaml:"name"`
	// AdminStateUp false stops all checks and makes everything OFFLINE.
	// Default true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// VIPAddress is the IP address listeners bind to. Default 0.0.0.0.
	VIPAddress string `yaml:"vip_address"`
	// Listeners accept client connections.
	Listeners []Listener `yaml:"listeners"`
	// Pools are the backends, referred to by name from listeners.
	Pools []Pool `yaml:"pools"`
}

// Listener is Octavia's listener: a TCP port that accepts client
// connections and proxies them to its default pool's members.
type Listener struct {
	// ID is derived from the load balancer and the listener's name or port.
	ID string `yaml:"-"`
	// Name is optional, unique when set, at most 255 characters.
	Name string `yaml:"name"`
	// Protocol must be TCP. Required.
	Protocol string `yaml:"protocol"`
	// ProtocolPort is the port to listen on, 1..65535. Required; unique
	// per address.
	ProtocolPort int `yaml:"protocol_port"`
	// Address is the IP address to bind. Default: the load balancer's
	// vip_address (itself 0.0.0.0 by default).
	Address string `yaml:"address"`
	// ConnectionLimit caps concurrent client connections; -1 (the default)
	// is unlimited. A connection over the limit is accepted and closed at
	// once, so clients fail fast instead of waiting in the kernel backlog.
	ConnectionLimit *int `yaml:"connection_limit"`
	// DefaultPool is the name of the pool that receives connections.
	DefaultPool string `yaml:"default_pool"`
	// AdminStateUp false makes the listener OFFLINE. Default true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// Timeouts: Octavia's integer milliseconds or a duration such as 50s,
	// from 0 to 24 days, whole milliseconds. Defaults 50s, 5s and 50s; 0 turns a data timeout off.
	TimeoutClientData    monitor.Milliseconds `yaml:"timeout_client_data"`
	TimeoutMemberConnect monitor.Milliseconds `yaml:"timeout_member_connect"`
	TimeoutMemberData    monitor.Milliseconds `yaml:"timeout_member_data"`
	// TimeoutWriteStall (beyond Octavia) ends a session in which one side
	// has taken none of the data waiting for it for this long, whatever
	// the data timeouts: it ends a session whose client left with data
	// queued behind a member that never reads. Default 5m; 0 turns it off.
	TimeoutWriteStall monitor.Milliseconds `yaml:"timeout_write_stall"`

	// ClientData, MemberConnect, MemberData and WriteStall are the
	// timeouts with defaults applied.
	ClientData, MemberConnect, MemberData, WriteStall time.Duration `yaml:"-"`

	// ConnectionLog logs one line per client connection when it ends
	// (connlog.go). Default false. Beyond Octavia.
	ConnectionLog bool `yaml:"connection_log"`
}

// Pool is Octavia's pool.
type Pool struct {
	// ID is derived from the load balancer and the pool's name.
	ID string `yaml:"-"`
	// Name identifies the pool; required and unique, at most 255
	// characters.
	Name string `yaml:"name"`
	// Protocol is TCP (the default), PROXY or PROXYV2 (TCP with a PROXY
	// protocol v1 or v2 header sent to the member first), or UDP. A UDP pool
	// is monitored but cannot be a TCP listener's default pool.
	Protocol string `yaml:"protocol"`
	// LBAlgorithm is ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP or
	// SOURCE_IP_PORT. Required.
	LBAlgorithm string `yaml:"lb_algorithm"`
	// AdminStateUp false makes the pool and its members OFFLINE and stops
	// their checks. Default true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// FailOpen, when true, spreads new connections over every admin-up
	// member with weight > 0 while no member is usable, as AWS does.
	// Default false: with nothing usable a new connection is closed at
	// once (fail closed).
	FailOpen bool `yaml:"fail_open"`
	// OnMemberDown is what happens to a member's established sessions when
	// its monitor turns it ERROR: shutdown_sessions (the default) closes
	// them, as HAProxy's "on-marked-down shutdown-sessions"; none keeps
	// them. DRAINING (weight 0) and admin-down members always keep theirs.
	OnMemberDown string `yaml:"on_member_down"`
	// HealthMonitor is the pool's monitor; at most one.
	HealthMonitor *HealthMonitor `yaml:"healthmonitor"`
	// Members are the pool's backends.
	Members []Member `yaml:"members"`

	// Monitor is HealthMonitor validated, nil for none.
	Monitor *monitor.Monitor `yaml:"-"`
}

// Member is Octavia's member.
type Member struct {
	// ID is derived from the pool and the member's address and port.
	ID string `yaml:"-"`
	// Name is optional, unique in its pool when set.
	Name string `yaml:"name"`
	// Address is the member's IP address. Required.
	Address string `yaml:"address"`
	// ProtocolPort is the member's port, 1..65535. Required.
	ProtocolPort int `yaml:"protocol_port"`
	// Weight is 0..256, default 1; 0 drains the member.
	Weight *int `yaml:"weight"`
	// Backup members get traffic only when no other member can take it.
	Backup bool `yaml:"backup"`
	// AdminStateUp false makes the member OFFLINE and unchecked. Default
	// true.
	AdminStateUp *bool `yaml:"admin_state_up"`
	// MonitorAddress and MonitorPort send the member's checks elsewhere,
	// such as to the vitals agent beside a database.
	MonitorAddress string `yaml:"monitor_address"`
	MonitorPort    *int   `yaml:"monitor_port"`
}

// The values of Pool.OnMemberDown.
const (
	ShutdownSessions = "shutdown_sessions"
	KeepSessions     = "none"
)

// Pool protocols that send a PROXY protocol header to members.
const (
	ProtocolProxy   = "PROXY"
	ProtocolProxyV2 = "PROXYV2"
)

// DefaultShutdownGrace is how long SIGTERM waits for sessions by default.
const DefaultShutdownGrace = 30 * time.Second

// up reads an admin_state_up field: unset is true.
func up(b *bool) bool { return b == nil || *b }

// Up reports the load balancer's admin_state_up.
func (l *LoadBalancer) Up() bool { return up(l.AdminStateUp) }

// Up reports the listener's admin_state_up.
func (l *Listener) Up() bool { return up(l.AdminStateUp) }

// Up reports the pool's admin_state_up.
func (p *Pool) Up() bool { return up(p.AdminStateUp) }

// Up reports the member's admin_state_up.
func (m *Member) Up() bool { return up(m.AdminStateUp) }

// Label names the listener in messages: its name, or its port.
func (l *Listener) Label() string {
	if l.Name != "" {
		return l.Name
	}
	return fmt.Sprintf(":%d", l.ProtocolPort)
}

// BindAddress is the address:port the listener binds.
func (l *Listener) BindAddress() string {
	return net.JoinHostPort(l.Address, strconv.Itoa(l.ProtocolPort))
}

// MetricName is how metrics, logs and the status page name a pool or a
// listener (by its Label) of lb: the name itself while one load balancer
// runs, "LB/name" with several (LB is the load balancer's name, or its ID
// when it has none), so that the series of same-named pools or listeners
// of different load balancers stay apart with the same label sets.
func (c *Config) MetricName(lb *LoadBalancer, name string) string {
	if len(c.LoadBalancers) <= 1 {
		return name
	}
	if lb.Name != "" {
		return lb.Name + "/" + name
	}
	return lb.ID + "/" + name
}

// MonitorPools converts the pools of every load balancer for the monitor
// engine, named as MetricName names them. A disabled load balancer
// disables every pool of its own.
func (c *Config) MonitorPools() []monitor.Pool {
	var pools []monitor.Pool
	for _, lb := range c.LoadBalancers {
		for i := range lb.Pools {
			p := &lb.Pools[i]
			mp := monitor.Pool{ID: p.ID, Name: c.MetricName(lb, p.Name), AdminStateUp: p.Up() && lb.Up(), Monitor: p.Monitor, Members: make([]monitor.Member, len(p.Members))}
			for j := range p.Members {
				m := &p.Members[j]
				mm := monitor.Member{
					ID: m.ID, Name: m.Name, Address: m.Address, ProtocolPort: m.ProtocolPort, Weight: 1,
					Backup: m.Backup, AdminStateUp: m.Up(), MonitorAddress: m.MonitorAddress,
				}
				if m.Weight != nil {
					mm.Weight = *m.Weight
				}
				if m.MonitorPort != nil {
					mm.MonitorPort = *m.MonitorPort
				}
				mp.Members[j] = mm
			}
			pools = append(pools, mp)
		}
	}
	return pools
}

// Tree returns the load balancer's shape for monitor.BuildTree.
func (lb *LoadBalancer) Tree() monitor.TreeLoadBalancer {
	t := monitor.TreeLoadBalancer{ID: lb.ID, Name: lb.Name, AdminStateUp: lb.Up()}
	for i := range lb.Listeners {
		l := &lb.Listeners[i]
		tl := monitor.TreeListener{ID: l.ID, Name: l.Name, AdminStateUp: l.Up()}
		if p := lb.Pool(l.DefaultPool); p != nil {
			tl.PoolIDs = []string{p.ID}
		}
		t.Listeners = append(t.Listeners, tl)
	}
	return t
}

// StatusTree is the load balancer's status tree over a snapshot of the
// engine: monitor.BuildTree with only this load balancer's pools.
func (lb *LoadBalancer) StatusTree(s monitor.Snapshot) monitor.StatusTree {
	own := make(map[string]bool, len(lb.Pools))
	for i := range lb.Pools {
		own[lb.Pools[i].ID] = true
	}
	s.Pools = slices.DeleteFunc(slices.Clone(s.Pools), func(p monitor.PoolSnapshot) bool { return !own[p.ID] })
	return monitor.BuildTree(lb.Tree(), s)
}

// Pool returns the load balancer's pool with the given name, or nil.
func (lb *LoadBalancer) Pool(name string) *Pool {
	for i := range lb.Pools {
		if lb.Pools[i].Name == name {
			return &lb.Pools[i]
		}
	}
	return nil
}

// LoadBalancerByID returns the running load balancer with this ID, or nil.
func (c *Config) LoadBalancerByID(id string) *LoadBalancer {
	for _, lb := range c.LoadBalancers {
		if lb.ID == id {
			return lb
		}
	}
	return nil
}

// DeriveID returns a stable UUID (version 5 layout, SHA-1 of the parts)
// for an object, so that IDs stay the same across restarts and reloads as
// long as what identifies the object does.
func DeriveID(parts ...string) string {
	h := sha1.New()
	h.Write([]byte("vitals"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
