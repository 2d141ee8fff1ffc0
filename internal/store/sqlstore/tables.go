package sqlstore

import (
	"vitals/internal/octavia"
	"vitals/internal/store"
)

// column is one column: its name and the codec (or plain pointer) that
// reads and writes it in an object.
type column[T any] struct {
	name string
	ref  func(*T) any
}

// ref is a foreign key the Tx checks before a write, so that a missing
// parent is a NotFoundError naming it rather than a bare constraint error.
type ref[T any] struct {
	table, resource string
	id              func(*T) string
}

// table describes how one resource is stored.
type table[T any] struct {
	name     string
	resource string
	// parent is the column Listeners(id) and friends filter on; it never
	// changes after creation.
	parent string
	meta   func(*T) *octavia.Meta
	// cols are the columns after id, created_at and updated_at.
	cols []column[T]
	refs []ref[T]
}

func col[T any](name string, ref func(*T) any) column[T] { return column[T]{name, ref} }

// metaCols are the columns every resource has, besides id and times.
func metaCols[T any](m func(*T) *octavia.Meta) []column[T] {
	return []column[T]{
		col("project_id", func(x *T) any { return &m(x).ProjectID }),
		col("name", func(x *T) any { return &m(x).Name }),
		col("admin_state_up", func(x *T) any { return &m(x).AdminStateUp }),
		col("provisioning_status", func(x *T) any { return &m(x).ProvisioningStatus }),
		col("operating_status", func(x *T) any { return &m(x).OperatingStatus }),
		col("tags", func(x *T) any { return jsonList{&m(x).Tags} }),
	}
}

var loadBalancers = table[octavia.LoadBalancer]{
	name:     "load_balancers",
	resource: store.ResourceLoadBalancer,
	meta:     func(x *octavia.LoadBalancer) *octavia.Meta { return &x.Meta },
	cols: append(metaCols(func(x *octavia.LoadBalancer) *octavia.Meta { return &x.Meta }),
		col("description", func(x *octavia.LoadBalancer) any { return &x.Description }),
		col("vip_address", func(x *octavia.LoadBalancer) any { return &x.VIPAddress }),
		col("vip_port_id", func(x *octavia.LoadBalancer) any { return &x.VIPPortID }),
		col("vip_subnet_id", func(x *octavia.LoadBalancer) any { return &x.VIPSubnetID }),
		col("vip_network_id", func(x *octavia.LoadBalancer) any { return &x.VIPNetworkID }),
		col("vip_qos_policy_id", func(x *octavia.LoadBalancer) any { return &x.VIPQoSPolicyID }),
		col("provider", func(x *octavia.LoadBalancer) any { return &x.Provider }),
		col("flavor_id", func(x *octavia.LoadBalancer) any { return &x.FlavorID }),
		col("availability_zone", func(x *octavia.LoadBalancer) any { return &x.AvailabilityZone }),
	),
}

var listeners = table[octavia.Listener]{
	name:     "listeners",
	resource: store.ResourceListener,
	parent:   "load_balancer_id",
	meta:     func(x *octavia.Listener) *octavia.Meta { return &x.Meta },
	cols: append(metaCols(func(x *octavia.Listener) *octavia.Meta { return &x.Meta }),
		col("load_balancer_id", func(x *octavia.Listener) any { return &x.LoadBalancerID }),
		col("description", func(x *octavia.Listener) any { return &x.Description }),
		col("protocol", func(x *octavia.Listener) any { return &x.Protocol }),
		col("protocol_port", func(x *octavia.Listener) any { return &x.ProtocolPort }),
		col("connection_limit", func(x *octavia.Listener) any { return &x.ConnectionLimit }),
		col("default_pool_id", func(x *octavia.Listener) any { return nullID{&x.DefaultPoolID} }),
		col("timeout_client_data_ms", func(x *octavia.Listener) any { return millis{&x.TimeoutClientData} }),
		col("timeout_member_connect_ms", func(x *octavia.Listener) any { return millis{&x.TimeoutMemberConnect} }),
		col("timeout_member_data_ms", func(x *octavia.Listener) any { return millis{&x.TimeoutMemberData} }),
		col("timeout_tcp_inspect_ms", func(x *octavia.Listener) any { return millis{&x.TimeoutTCPInspect} }),
		col("allowed_cidrs", func(x *octavia.Listener) any { return jsonList{&x.AllowedCIDRs} }),
		col("bind_address", func(x *octavia.Listener) any { return &x.BindAddress }),
		col("connection_log", func(x *octavia.Listener) any { return &x.ConnectionLog }),
		col("timeout_write_stall_ms", func(x *octavia.Listener) any { return millis{&x.TimeoutWriteStall} }),
	),
	refs: []ref[octavia.Listener]{
		{"load_balancers", store.ResourceLoadBalancer, func(x *octavia.Listener) string { return x.LoadBalancerID }},
		{"pools", store.ResourcePool, func(x *octavia.Listener) string { return x.DefaultPoolID }},
	},
}

var pools = table[octavia.Pool]{
	name:     "pools",
	resource: store.ResourcePool,
	parent:   "load_balancer_id",
	meta:     func(x *octavia.Pool) *octavia.Meta { return &x.Meta },
	cols: append(metaCols(func(x *octavia.Pool) *octavia.Meta { return &x.Meta }),
		col("load_balancer_id", func(x *octavia.Pool) any { return &x.LoadBalancerID }),
		col("description", func(x *octavia.Pool) any { return &x.Description }),
		col("protocol", func(x *octavia.Pool) any { return &x.Protocol }),
		col("lb_algorithm", func(x *octavia.Pool) any { return &x.LBAlgorithm }),
		col("session_persistence", func(x *octavia.Pool) any { return jsonPtr[octavia.SessionPersistence]{&x.SessionPersistence} }),
		col("fail_open", func(x *octavia.Pool) any { return &x.FailOpen }),
		col("on_member_down", func(x *octavia.Pool) any { return &x.OnMemberDown }),
	),
	refs: []ref[octavia.Pool]{
		{"load_balancers", store.ResourceLoadBalancer, func(x *octavia.Pool) string { return x.LoadBalancerID }},
	},
}

var members = table[octavia.Member]{
	name:     "members",
	resource: store.ResourceMember,
	parent:   "pool_id",
	meta:     func(x *octavia.Member) *octavia.Meta { return &x.Meta },
	cols: append(metaCols(func(x *octavia.Member) *octavia.Meta { return &x.Meta }),
		col("pool_id", func(x *octavia.Member) any { return &x.PoolID }),
		col("address", func(x *octavia.Member) any { return &x.Address }),
		col("protocol_port", func(x *octavia.Member) any { return &x.ProtocolPort }),
		col("weight", func(x *octavia.Member) any { return &x.Weight }),
		col("backup", func(x *octavia.Member) any { return &x.Backup }),
		col("monitor_address", func(x *octavia.Member) any { return &x.MonitorAddress }),
		col("monitor_port", func(x *octavia.Member) any { return &x.MonitorPort }),
		col("subnet_id", func(x *octavia.Member) any { return &x.SubnetID }),
	),
	refs: []ref[octavia.Member]{
		{"pools", store.ResourcePool, func(x *octavia.Member) string { return x.PoolID }},
	},
}

var healthMonitors = table[octavia.HealthMonitor]{
	name:     "health_monitors",
	resource: store.ResourceHealthMonitor,
	parent:   "pool_id",
	meta:     func(x *octavia.HealthMonitor) *octavia.Meta { return &x.Meta },
	cols: append(append(metaCols(func(x *octavia.HealthMonitor) *octavia.Meta { return &x.Meta }),
		col("pool_id", func(x *octavia.HealthMonitor) any { return &x.PoolID }),
		col("type", func(x *octavia.HealthMonitor) any { return &x.Type }),
		col("delay_ms", func(x *octavia.HealthMonitor) any { return millis{&x.Delay} }),
		col("timeout_ms", func(x *octavia.HealthMonitor) any { return millis{&x.Timeout} }),
		col("max_retries", func(x *octavia.HealthMonitor) any { return &x.MaxRetries }),
		col("max_retries_down", func(x *octavia.HealthMonitor) any { return &x.MaxRetriesDown }),
	), monitorFieldCols()...),
	refs: []ref[octavia.HealthMonitor]{
		{"pools", store.ResourcePool, func(x *octavia.HealthMonitor) string { return x.PoolID }},
	},
}

// monitorColumnRenames are the declared monitor fields whose column is
// not their name, because the name is an SQL keyword.
var monitorColumnRenames = map[string]string{"user": "db_user", "database": "db_name", "query": "db_query"}

// monitorFieldCols are the columns of the type-dependent monitor fields,
// one per field of the model's declaration (octavia.MonitorFields); a
// field added there needs its column in a migration.
func monitorFieldCols() []column[octavia.HealthMonitor] {
	var out []column[octavia.HealthMonitor]
	for _, f := range octavia.MonitorFields() {
		name := f.Name
		if r, ok := monitorColumnRenames[name]; ok {
			name = r
		}
		out = append(out, col(name, func(x *octavia.HealthMonitor) any { return f.Ptr(x) }))
	}
	return out
}
