package health

import "fmt"

// OperatingStatus is Octavia's operating_status: what the load balancer
// observes of a member, pool, listener or load balancer. The zero value is
// Offline, so a status that was never computed never reads as healthy.
type OperatingStatus uint8

// The operating statuses, as Octavia names them.
const (
	Offline   OperatingStatus = iota // admin down, or not yet checked: no traffic
	Online                           // checks pass (member), or every member is up (pool)
	Degraded                         // some members are down (pool, listener, load balancer)
	Error                            // checks fail (member), or nothing is usable (pool)
	Draining                         // weight 0: up, but takes no new connections (member)
	NoMonitor                        // no enabled health monitor: assumed up (member)
)

// operatingNames are the statuses' Octavia names, indexed by value.
var operatingNames = [...]string{"OFFLINE", "ONLINE", "DEGRADED", "ERROR", "DRAINING", "NO_MONITOR"}

// OperatingStatuses lists every status in a stable order, e.g. for metrics
// that expose one series per status.
func OperatingStatuses() []OperatingStatus {
	return []OperatingStatus{Offline, Online, Degraded, Error, Draining, NoMonitor}
}

// String returns the Octavia name: ONLINE, ERROR, OFFLINE, DRAINING,
// NO_MONITOR or DEGRADED.
func (s OperatingStatus) String() string {
	if int(s) < len(operatingNames) {
		return operatingNames[s]
	}
	return fmt.Sprintf("OperatingStatus(%d)", s)
}

// MarshalText encodes the status as its Octavia name.
func (s OperatingStatus) MarshalText() ([]byte, error) {
	if int(s) >= len(operatingNames) {
		return nil, fmt.Errorf("invalid operating status %d", s)
	}
	return []byte(operatingNames[s]), nil
}

// UnmarshalText decodes an Octavia name such as "ONLINE".
func (s *OperatingStatus) UnmarshalText(b []byte) error {
	for i, n := range operatingNames {
		if n == string(b) {
			*s = OperatingStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown operating status %q", b)
}

// Usable reports whether a member with this status may take new
// connections: ONLINE, or NO_MONITOR (no monitor says otherwise). A
// DRAINING member keeps its connections but gets no new ones.
func (s OperatingStatus) Usable() bool { return s == Online || s == NoMonitor }

// MemberStatus is a member's operating status, as Octavia reports what
// HAProxy finds:
//
//   - admin_state_up false: OFFLINE (HAProxy "MAINT"), whatever else holds;
//     such a member is not checked.
//   - no enabled monitor: NO_MONITOR ("no check"), or DRAINING at weight 0.
//   - not yet checked (state Unknown): OFFLINE, so it gets no traffic until
//     its first check decides (ARCHITECTURE.md, "First check").
//   - checks failing (Down): ERROR, also at weight 0 (HAProxy reports a
//     drained server that fails its checks as DOWN).
//   - checks passing (Up): DRAINING at weight 0, else ONLINE.
func MemberStatus(adminUp bool, weight int, hasMonitor bool, state State) OperatingStatus {
	switch {
	case !adminUp:
		return Offline
	case !hasMonitor && weight == 0:
		return Draining
	case !hasMonitor:
		return NoMonitor
	case state == Unknown:
		return Offline
	case state == Down:
		return Error
	case weight == 0:
		return Draining
	}
	return Online
}

// StatusCounts counts members by operating status, so that a pool's status
// can be kept up to date in constant time as its members change.
type StatusCounts [len(operatingNames)]int

// Add counts one member with status s.
func (c *StatusCounts) Add(s OperatingStatus) {
	if int(s) < len(c) {
		c[s]++
	}
}

// Remove uncounts one member with status s.
func (c *StatusCounts) Remove(s OperatingStatus) {
	if int(s) < len(c) {
		c[s]--
	}
}

// Total returns the number of members counted.
func (c *StatusCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// PoolStatus is the pool status of the counted members; see PoolStatus.
func (c *StatusCounts) PoolStatus(adminUp bool) OperatingStatus {
	switch {
	case !adminUp:
		return Offline
	case c.Total() == 0:
		return Online // HAProxy: a backend with no servers is UP
	case c[Online]+c[NoMonitor] == 0:
		return Error
	case c[Error] > 0:
		return Degraded
	}
	return Online
}

// PoolStatus is a pool's operating status from its members' statuses, as
// Octavia's health manager derives it from HAProxy's backend and server
// states (REFERENCE.md):
//
//   - admin_state_up false: OFFLINE.
//   - no member is usable (ONLINE or NO_MONITOR), so new connections have
//     nowhere to go: ERROR. A pool with no members at all is ONLINE, as
//     HAProxy reports a backend without servers UP.
//   - some member is ERROR: DEGRADED.
//   - otherwise ONLINE. OFFLINE (admin down, not yet checked) and DRAINING
//     members neither degrade a pool nor make it usable.
func PoolStatus(adminUp bool, members ...OperatingStatus) OperatingStatus {
	var c StatusCounts
	for _, s := range members {
		c.Add(s)
	}
	return c.PoolStatus(adminUp)
}

// LoadBalancerStatus is a load balancer's operating status from its pools'
// statuses, as Octavia derives it:
//
//   - admin_state_up false: OFFLINE.
//   - some pool is ERROR: ERROR.
//   - some pool is DEGRADED: DEGRADED.
//   - otherwise ONLINE. OFFLINE (admin down) pools do not count.
func LoadBalancerStatus(adminUp bool, pools ...OperatingStatus) OperatingStatus {
	if !adminUp {
		return Offline
	}
	worst := Online
	for _, s := range pools {
		switch {
		case s == Error:
			return Error
		case s == Degraded:
			worst = Degraded
		}
	}
	return worst
}

// ListenerStatus is a listener's operating status from the statuses of the
// pools it sends traffic to. It follows LoadBalancerStatus: OFFLINE when
// admin down, else the worst of ERROR, DEGRADED and ONLINE.
func ListenerStatus(adminUp bool, pools ...OperatingStatus) OperatingStatus {
	return LoadBalancerStatus(adminUp, pools...)
}
