package octavia

import "time"

// Meta is what every resource carries: identity, ownership, statuses and
// timestamps.
type Meta struct {
	// ID is a random (version 4) UUID, fixed at creation; see NewID.
	ID string
	// ProjectID is the owning project, at most 36 characters; "" for none.
	ProjectID string
	// Name is optional, at most 255 characters; it may change without
	// changing ID.
	Name string
	// AdminStateUp false takes the object out of service. Default true.
	AdminStateUp bool
	// ProvisioningStatus is owned by the controller; new objects start
	// PENDING_CREATE.
	ProvisioningStatus ProvisioningStatus
	// OperatingStatus is observed, never configured; new objects start
	// OFFLINE.
	OperatingStatus OperatingStatus
	// Tags are free-form strings, each at most 255 characters.
	Tags []string
	// CreatedAt and UpdatedAt are UTC; zero until stored.
	CreatedAt, UpdatedAt time.Time
}

// LoadBalancer is Octavia's load balancer: a VIP with listeners and pools.
type LoadBalancer struct {
	Meta
	// Description is free text, at most 255 characters.
	Description string
	// VIPAddress is the IP address listeners bind to; "" binds every
	// address (0.0.0.0).
	VIPAddress string
	// VIPPortID, VIPSubnetID, VIPNetworkID and VIPQoSPolicyID are
	// Neutron's UUIDs, kept and shown for clients; "" for none.
	VIPPortID, VIPSubnetID, VIPNetworkID, VIPQoSPolicyID string
	// Provider is the provider name; default "vitals".
	Provider string
	// FlavorID is a UUID or ""; AvailabilityZone a name or "". Kept and
	// shown, without effect.
	FlavorID, AvailabilityZone string
}

// Listener is Octavia's listener: a port that accepts client connections
// and sends them to its default pool.
type Listener struct {
	Meta
	// LoadBalancerID is the owning load balancer. Required.
	LoadBalancerID string
	// Description is free text, at most 255 characters.
	Description string
	// Protocol is a listener protocol (ListenerProtocolNames); vitals
	// serves TCP. Required.
	Protocol string
	// ProtocolPort is the port to listen on, 1..65535. Required; unique
	// per load balancer and protocol.
	ProtocolPort int
	// ConnectionLimit caps concurrent connections; -1 (the default) is
	// unlimited.
	ConnectionLimit int
	// DefaultPoolID is the pool that receives connections; "" for none.
	DefaultPoolID string
	// TimeoutClientData, TimeoutMemberConnect, TimeoutMemberData and
	// TimeoutTCPInspect are the listener's timeouts, 0..24 days, whole
	// milliseconds (the API's unit). Defaults 50s, 5s, 50s and 0.
	TimeoutClientData, TimeoutMemberConnect, TimeoutMemberData, TimeoutTCPInspect time.Duration
	// AllowedCIDRs limits the clients; empty allows all.
	AllowedCIDRs []string
	// BindAddress overrides the load balancer's VIP address for this
	// listener; "" uses it. Beyond Octavia.
	BindAddress string
	// ConnectionLog logs one line per client connection when it ends.
	// Beyond Octavia.
	ConnectionLog bool
	// TimeoutWriteStall ends a session in which one side has taken none
	// of the data waiting for it for this long, whatever the idle
	// timeouts say; 0 turns it off. Whole milliseconds, default 5m.
	// Beyond Octavia.
	TimeoutWriteStall time.Duration
}

// SessionPersistence is a pool's session persistence.
type SessionPersistence struct {
	// Type is a SessionPersistenceTypeNames value.
	Type string
	// CookieName is APP_COOKIE's cookie.
	CookieName string
	// PersistenceTimeout and PersistenceGranularity are kept for clients.
	PersistenceTimeout     int
	PersistenceGranularity string
}

// Pool is Octavia's pool: members behind a balancing algorithm.
type Pool struct {
	Meta
	// LoadBalancerID is the owning load balancer. Required.
	LoadBalancerID string
	// Description is free text, at most 255 characters.
	Description string
	// Protocol is a pool protocol (PoolProtocolNames); vitals serves TCP,
	// PROXY, PROXYV2 and UDP. Required.
	Protocol string
	// LBAlgorithm is one of AlgorithmNames. Required.
	LBAlgorithm string
	// SessionPersistence is nil for none.
	SessionPersistence *SessionPersistence
	// FailOpen spreads new connections over every admin-up member while
	// none is usable. Beyond Octavia; default false.
	FailOpen bool
	// OnMemberDown is what happens to a member's sessions when its
	// monitor turns it ERROR: OnMemberDownShutdown (default) or
	// OnMemberDownKeep. Beyond Octavia.
	OnMemberDown string
}

// The values of Pool.OnMemberDown.
const (
	OnMemberDownShutdown = "shutdown_sessions"
	OnMemberDownKeep     = "none"
)

// Member is Octavia's member: one backend of a pool.
type Member struct {
	Meta
	// PoolID is the owning pool. Required.
	PoolID string
	// Address is the member's IP address. Required.
	Address string
	// ProtocolPort is the member's port, 1..65535. Required; address and
	// port are unique per pool.
	ProtocolPort int
	// Weight is 0..256, default 1; 0 drains the member.
	Weight int
	// Backup members get traffic only when no other member can.
	Backup bool
	// MonitorAddress and MonitorPort send the member's checks elsewhere;
	// "" and 0 use Address and ProtocolPort.
	MonitorAddress string
	MonitorPort    int
	// SubnetID is a Neutron subnet UUID or "", kept for clients.
	SubnetID string
}

// HealthMonitor is Octavia's health monitor; a pool has at most one.
type HealthMonitor struct {
	Meta
	// PoolID is the monitored pool. Required; unique.
	PoolID string
	// Type is one of MonitorTypeNames. Required.
	Type string
	// Delay is the time between the starts of two checks of a member;
	// at least MinDelay, whole milliseconds. The API shows whole seconds.
	Delay time.Duration
	// Timeout bounds one check; positive, at most Delay, whole
	// milliseconds.
	Timeout time.Duration
	// MaxRetries is the number of consecutive passes that bring a member
	// ONLINE (rise), 1..10. Required.
	MaxRetries int
	// MaxRetriesDown is the number of consecutive failures that turn a
	// member ERROR (fall), 1..10. Default 3.
	MaxRetriesDown int
	// HTTPMethod, URLPath and ExpectedCodes apply to HTTP and HTTPS only;
	// defaults GET, "/" and "200".
	HTTPMethod, URLPath, ExpectedCodes string
	// HTTPVersion is "", "1.0" or "1.1"; accepted on every type.
	HTTPVersion string
	// DomainName is the Host header; needs HTTPVersion 1.1.
	DomainName string
	// CAFile (HTTPS) turns on certificate verification. Beyond Octavia.
	CAFile string
	// User, PasswordFile, PasswordEnv, Database and Query are the login
	// and statement of MYSQL and PGSQL monitors; SSLMode is PGSQL's
	// sslmode (default prefer). Beyond Octavia.
	User, PasswordFile, PasswordEnv, Database, Query, SSLMode string
}
