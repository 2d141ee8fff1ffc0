package monitor

import (
	"encoding/json"
	"maps"
	"time"

	"vitals/internal/health"
	"vitals/internal/probe"
)

// Snapshot is every pool's and member's status at one moment.
type Snapshot struct {
	Pools []PoolSnapshot
	// Checks is the number of checks completed since the engine started.
	Checks uint64
	// Updated is when the configuration last changed.
	Updated time.Time
	// CheckerErrors counts, by probe.LocalReason label, the checks that
	// could not run for a reason of the engine's own since it started;
	// nil when there were none.
	CheckerErrors map[string]uint64
}

// PoolSnapshot is one pool's status.
type PoolSnapshot struct {
	ID, Name     string
	AdminStateUp bool
	Status       health.OperatingStatus
	// Monitor is the pool's health monitor, nil for none.
	Monitor *Monitor
	// MonitorStatus is the monitor's operating status: ONLINE when it
	// runs, OFFLINE when it or its pool is disabled.
	MonitorStatus health.OperatingStatus
	Members       []MemberSnapshot
}

// MemberSnapshot is one member's status.
type MemberSnapshot struct {
	Member
	Status health.OperatingStatus
	// Since is when the member entered Status.
	Since time.Time
	// Target is where checks go; "" when the member is not checked.
	Target string
	// Checks counts the checks since the member's check last (re)started.
	Checks uint64
	// Passes and Fails are the consecutive passes and failures seen most
	// recently; at most one is non-zero.
	Passes, Fails int
	// Progress is how far the member is toward its next transition, by
	// the monitor's max_retries and max_retries_down; zero when it is not
	// checked or not yet checked.
	Progress health.Progress
	// Last is the latest check; zero before the first.
	Last probe.Result
	// CheckerErrors counts the attempts that were checker errors, which
	// Checks, Passes, Fails and Last leave out. LastCheckerError is the
	// latest attempt when it was one, zero once a check completes again.
	CheckerErrors    uint64
	LastCheckerError probe.Result
}

// Status returns a snapshot of every pool and member, in configuration
// order.
func (e *Engine) Status() Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Snapshot{Pools: make([]PoolSnapshot, len(e.pools)), Checks: e.checks, Updated: e.updated}
	if len(e.checkerErrs) > 0 {
		s.CheckerErrors = maps.Clone(e.checkerErrs)
	}
	for i, p := range e.pools {
		ps := PoolSnapshot{
			ID: p.cfg.ID, Name: p.cfg.Name, AdminStateUp: p.cfg.AdminStateUp, Status: p.status,
			Monitor: p.cfg.Monitor, MonitorStatus: health.Offline,
			Members: make([]MemberSnapshot, len(p.members)),
		}
		if p.cfg.Monitor != nil && p.cfg.Monitor.AdminStateUp && p.cfg.AdminStateUp {
			ps.MonitorStatus = health.Online
		}
		for j, m := range p.members {
			ms := MemberSnapshot{Member: m.cfg, Status: m.status, Since: m.since, Target: m.target, Checks: m.checks, Last: m.lastResult(),
				CheckerErrors: m.checkerErrors}
			if m.lastErr != nil {
				ms.LastCheckerError = *m.lastErr
			}
			if m.tracker != nil {
				ms.Passes, ms.Fails = m.tracker.Counts()
				ms.Progress = m.tracker.Progress()
			}
			ps.Members[j] = ms
		}
		s.Pools[i] = ps
	}
	return s
}

// History returns the recent checks of every member, by member ID, oldest
// first (see health.History): every check, as it finished, not a sample.
func (e *Engine) History() map[string][]health.HistoryEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]health.HistoryEntry, len(e.byID))
	for id, m := range e.byID {
		out[id] = m.history.Entries()
	}
	return out
}

// Pool returns the pool with the given ID or name, or nil.
func (s *Snapshot) Pool(idOrName string) *PoolSnapshot {
	for i := range s.Pools {
		if s.Pools[i].ID == idOrName || s.Pools[i].Name == idOrName {
			return &s.Pools[i]
		}
	}
	return nil
}

// The JSON shape of Octavia's GET /v2/lbaas/loadbalancers/{id}/status
// (api-ref/source/v2/loadbalancer.inc, "Get the Load Balancer status
// tree"): {"statuses": {"loadbalancer": {…, "listeners": [{…, "pools":
// [{…, "healthmonitor": {…}, "members": [{…}]}]}], "pools": […]}}}.
// Every object has provisioning_status ACTIVE: a loaded configuration is
// applied.

// StatusTree is the body of the status call.
type StatusTree struct {
	Statuses Statuses `json:"statuses"`
}

// Statuses holds the load balancer's tree.
type Statuses struct {
	LoadBalancer LoadBalancerStatus `json:"loadbalancer"`
}

// LoadBalancerStatus is the root of the tree.
type LoadBalancerStatus struct {
	ID                 string                 `json:"id"`
	Name               string                 `json:"name"`
	OperatingStatus    health.OperatingStatus `json:"operating_status"`
	ProvisioningStatus string                 `json:"provisioning_status"`
	Listeners          []ListenerStatus       `json:"listeners"`
	// Pools lists every pool of the load balancer, including those no
	// listener uses, as newer Octavia releases do.
	Pools []PoolStatus `json:"pools"`
}

// ListenerStatus is one listener and the pools it sends traffic to.
type ListenerStatus struct {
	ID                 string                 `json:"id"`
	Name               string                 `json:"name"`
	OperatingStatus    health.OperatingStatus `json:"operating_status"`
	ProvisioningStatus string                 `json:"provisioning_status"`
	Pools              []PoolStatus           `json:"pools"`
	// L7Policies is always empty: vitals has no L7 policies.
	L7Policies []struct{} `json:"l7policies"`
}

// PoolStatus is one pool, its monitor and its members.
type PoolStatus struct {
	ID                 string                 `json:"id"`
	Name               string                 `json:"name"`
	OperatingStatus    health.OperatingStatus `json:"operating_status"`
	ProvisioningStatus string                 `json:"provisioning_status"`
	// HealthMonitor is {} when the pool has none, as in Octavia.
	HealthMonitor HealthMonitorStatus `json:"healthmonitor"`
	Members       []MemberStatus      `json:"members"`
}

// HealthMonitorStatus is a pool's monitor in the tree.
type HealthMonitorStatus struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Type               string `json:"type"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
}

// MarshalJSON writes {} for a pool without a monitor, and every field,
// "name": "" included, for a monitor, as Octavia does.
func (h HealthMonitorStatus) MarshalJSON() ([]byte, error) {
	if h == (HealthMonitorStatus{}) {
		return []byte("{}"), nil
	}
	type plain HealthMonitorStatus
	return json.Marshal(plain(h))
}

// MemberStatus is one member in the tree.
type MemberStatus struct {
	ID                 string                 `json:"id"`
	Name               string                 `json:"name"`
	OperatingStatus    health.OperatingStatus `json:"operating_status"`
	ProvisioningStatus string                 `json:"provisioning_status"`
	Address            string                 `json:"address"`
	ProtocolPort       int                    `json:"protocol_port"`
}

// Active is the provisioning status of everything a running vitals serves.
const Active = "ACTIVE"

// TreeLoadBalancer is what BuildTree needs of the load balancer beyond the
// pools the engine knows.
type TreeLoadBalancer struct {
	ID, Name     string
	AdminStateUp bool
	Listeners    []TreeListener
}

// TreeListener is one listener: its identity and the IDs of the pools it
// sends traffic to (its default pool).
type TreeListener struct {
	ID, Name     string
	AdminStateUp bool
	PoolIDs      []string
}

// BuildTree assembles Octavia's status tree from the load balancer's
// shape and a snapshot. The load balancer's status follows from all its
// pools, a listener's from its own (health.LoadBalancerStatus and
// health.ListenerStatus).
func BuildTree(lb TreeLoadBalancer, s Snapshot) StatusTree {
	pools := make([]PoolStatus, len(s.Pools))
	byID := make(map[string]int, len(s.Pools))
	all := make([]health.OperatingStatus, len(s.Pools))
	for i, p := range s.Pools {
		ps := PoolStatus{ID: p.ID, Name: p.Name, OperatingStatus: p.Status, ProvisioningStatus: Active, Members: make([]MemberStatus, len(p.Members))}
		if !lb.AdminStateUp {
			ps.OperatingStatus = health.Offline
		}
		if m := p.Monitor; m != nil {
			ps.HealthMonitor = HealthMonitorStatus{ID: m.ID, Name: m.Name, Type: m.Type, OperatingStatus: p.MonitorStatus.String(), ProvisioningStatus: Active}
		}
		for j, m := range p.Members {
			ps.Members[j] = MemberStatus{ID: m.ID, Name: m.Name, OperatingStatus: m.Status, ProvisioningStatus: Active, Address: m.Address, ProtocolPort: m.ProtocolPort}
		}
		pools[i] = ps
		byID[p.ID] = i
		all[i] = ps.OperatingStatus
	}
	root := LoadBalancerStatus{
		ID: lb.ID, Name: lb.Name, ProvisioningStatus: Active,
		OperatingStatus: health.LoadBalancerStatus(lb.AdminStateUp, all...),
		Listeners:       make([]ListenerStatus, len(lb.Listeners)),
		Pools:           pools,
	}
	for i, l := range lb.Listeners {
		ls := ListenerStatus{ID: l.ID, Name: l.Name, ProvisioningStatus: Active, Pools: []PoolStatus{}, L7Policies: []struct{}{}}
		var st []health.OperatingStatus
		for _, id := range l.PoolIDs {
			if j, ok := byID[id]; ok {
				ls.Pools = append(ls.Pools, pools[j])
				st = append(st, pools[j].OperatingStatus)
			}
		}
		ls.OperatingStatus = health.ListenerStatus(l.AdminStateUp && lb.AdminStateUp, st...)
		root.Listeners[i] = ls
	}
	return StatusTree{Statuses: Statuses{LoadBalancer: root}}
}
