package lb

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/health"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
)

// member is one pool member as the data plane sees it. It is matched by ID
// across reloads, so its active count and its sessions carry over.
type member struct {
	id    string
	label string // name, or address:port
	addr  string // address:port to dial
	hash  uint64 // of id, for SOURCE_IP
	met   *memberMetrics

	// active counts connections being dialed or proxied, for
	// LEAST_CONNECTIONS.
	active atomic.Int64

	// sessMu guards sessions.
	sessMu   sync.Mutex
	sessions map[*session]struct{}

	// The fields below are guarded by the pool's mu.
	weight   int
	statusAt time.Time // when status was entered; older events are ignored
	backup   bool
	adminUp  bool
	status   health.OperatingStatus

	// down is set while the member is ERROR, so that a session
	// established while it turned ERROR is shut down too. It sits with
	// the one-byte fields: a member is 128 bytes, not 144 (Go's size
	// classes).
	down atomic.Bool
}

// eligible reports whether m may take new connections: admin up, weight >
// 0 and ONLINE (or NO_MONITOR). Holds the pool's mu.
func (m *member) eligible() bool { return m.adminUp && m.weight > 0 && m.status.Usable() }

// track and untrack record an established session, so that
// shutdown_sessions can close it.
func (m *member) track(s *session) {
	m.sessMu.Lock()
	if m.sessions == nil {
		m.sessions = map[*session]struct{}{}
	}
	m.sessions[s] = struct{}{}
	m.sessMu.Unlock()
}

func (m *member) untrack(s *session) {
	m.sessMu.Lock()
	delete(m.sessions, s)
	m.sessMu.Unlock()
}

// closeSessions closes every established session of m and returns how
// many it closed.
func (m *member) closeSessions() int {
	m.sessMu.Lock()
	ss := make([]*session, 0, len(m.sessions))
	for s := range m.sessions {
		ss = append(ss, s)
	}
	m.sessMu.Unlock()
	for _, s := range ss {
		s.closeFor(endMemberDown)
	}
	return len(ss)
}

// picker chooses a member of s for a client, skipping those in tried.
type picker func(s *memberSet, client netip.AddrPort, tried []*member) *member

// pickers are the LB algorithms' member choices: one for each algorithm
// the model declares (octavia.Algorithms), and no fallback, so that an
// algorithm without one is refused (checkAlgorithms) rather than run as
// another (TestEveryAlgorithmPicks).
var pickers = map[string]picker{
	octavia.AlgorithmRoundRobin: func(s *memberSet, _ netip.AddrPort, tried []*member) *member { return s.roundRobin(tried) },
	octavia.AlgorithmLeastConnections: func(s *memberSet, _ netip.AddrPort, tried []*member) *member {
		return s.leastConnections(tried)
	},
	octavia.AlgorithmSourceIP: func(s *memberSet, client netip.AddrPort, tried []*member) *member {
		return s.sourceIP(client, false, tried)
	},
	octavia.AlgorithmSourceIPPort: func(s *memberSet, client netip.AddrPort, tried []*member) *member {
		return s.sourceIP(client, true, tried)
	},
}

// checkAlgorithms refuses a pool whose lb_algorithm has no picker.
func checkAlgorithms(pools []Pool) error {
	for i := range pools {
		if _, ok := pickers[pools[i].LBAlgorithm]; !ok {
			return fmt.Errorf("pool %s: lb_algorithm %q is not one of %s", pools[i].Name, pools[i].LBAlgorithm, strings.Join(octavia.AlgorithmNames(), ", "))
		}
	}
	return nil
}

// poolConfig is what the proxy reads of a pool on every connection.
type poolConfig struct {
	algorithm        string
	pick             picker
	failOpen         bool
	shutdownOnDown   bool
	proxyVersion     int // 0 none, 1 PROXY, 2 PROXYV2
	hasMonitor       bool
	protocol         string
	onMemberDownName string
}

// pool is one pool's members and the member set new connections choose
// from.
type pool struct {
	id, name string
	srv      *Server
	// retries and noMember are the pool's series, resolved when the pool
	// is made (newPool) rather than looked up by label per connection.
	retries, noMember prometheus.Counter

	// set is the current choice of members; rebuilt under mu whenever a
	// member's status or the configuration changes. Readers never lock.
	set atomic.Pointer[memberSet]

	// mu guards cfg, members and every member's config and status fields.
	mu      sync.Mutex
	cfg     *poolConfig
	members []*member // in configuration order
	byID    map[string]*member
}

// memberSet is an immutable snapshot of the members that may take new
// connections, with their weights; only the round-robin state mutates.
type memberSet struct {
	cfg     *poolConfig
	members []*member
	weights []int
	total   int
	// kind says which members these are: "primary", "backup", "fail_open"
	// or "" when none is usable.
	kind string

	// rrMu guards current, the smooth weighted round robin's state.
	rrMu    sync.Mutex
	current []int
	// tie rotates LEAST_CONNECTIONS ties.
	tie atomic.Uint64
}

// newPool makes the pool id named name, with its series.
func (s *Server) newPool(id, name string) *pool {
	return &pool{id: id, name: name, srv: s, retries: s.met.poolRetries.WithLabelValues(name), noMember: s.met.poolNoMember.WithLabelValues(name)}
}

// rebuild makes a new member set from the members' statuses and weights:
// the usable primaries; else the usable backups; else, with fail_open,
// every admin-up member with weight > 0; else none (fail closed). Holds
// p.mu.
func (p *pool) rebuild() {
	s := &memberSet{cfg: p.cfg}
	add := func(m *member) {
		s.members = append(s.members, m)
		s.weights = append(s.weights, m.weight)
		s.total += m.weight
	}
	for _, m := range p.members {
		if !m.backup && m.eligible() {
			add(m)
		}
	}
	s.kind = "primary"
	if len(s.members) == 0 {
		s.kind = "backup"
		for _, m := range p.members {
			if m.backup && m.eligible() {
				add(m)
			}
		}
	}
	if len(s.members) == 0 && p.cfg.failOpen {
		s.kind = "fail_open"
		for _, m := range p.members {
			if m.adminUp && m.weight > 0 {
				add(m)
			}
		}
	}
	if len(s.members) == 0 {
		s.kind = ""
	}
	s.current = make([]int, len(s.members))
	p.set.Store(s)
}

// setStatus applies a member status change and reports the member when
// its sessions must be shut down.
func (p *pool) setStatus(id string, st health.OperatingStatus, at time.Time) (shut *member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.byID[id]
	if m == nil || at.Before(m.statusAt) {
		return nil
	}
	old := m.status
	m.status, m.statusAt = st, at
	m.down.Store(st == health.Error)
	if old == st {
		return nil
	}
	p.rebuild()
	if st == health.Error && p.cfg.shutdownOnDown {
		return m
	}
	return nil
}

// apply sets the pool's configuration, reusing members by ID.
func (p *pool) apply(c *Pool, lbUp bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := &poolConfig{
		algorithm: c.LBAlgorithm, pick: pickers[c.LBAlgorithm], failOpen: c.FailOpen, shutdownOnDown: c.OnMemberDown == ShutdownSessions,
		hasMonitor: c.Monitor != nil && c.Monitor.AdminStateUp, protocol: c.Protocol, onMemberDownName: c.OnMemberDown,
	}
	switch c.Protocol {
	case ProtocolProxy:
		pc.proxyVersion = 1
	case ProtocolProxyV2:
		pc.proxyVersion = 2
	}
	p.cfg = pc
	byID := make(map[string]*member, len(c.Members))
	members := make([]*member, 0, len(c.Members))
	for i := range c.Members {
		cm := &c.Members[i]
		m := p.byID[cm.ID]
		if m == nil {
			label := cm.Name
			addr := joinHostPort(cm.Address, cm.ProtocolPort)
			if label == "" {
				label = addr
			}
			m = &member{id: cm.ID, label: label, addr: addr, hash: maphash.String(hashSeed, cm.ID)}
			m.met = p.srv.met.member(p.name, label)
		}
		m.weight = 1
		if cm.Weight != nil {
			m.weight = *cm.Weight
		}
		m.backup, m.adminUp = cm.Backup, cm.Up() && c.Up() && lbUp
		if m.statusAt.IsZero() {
			m.status = health.MemberStatus(m.adminUp, m.weight, pc.hasMonitor, health.Unknown)
		}
		byID[m.id] = m
		members = append(members, m)
	}
	for id, m := range p.byID {
		if byID[id] == nil && !slices.ContainsFunc(members, func(n *member) bool { return n.label == m.label }) {
			p.srv.met.dropMember(p.name, m.label)
		}
	}
	p.members, p.byID = members, byID
	p.rebuild()
}

// sync applies an engine snapshot of the pool, for statuses that did not
// change (so no event came) while the configuration did.
func (p *pool) sync(ps *monitor.PoolSnapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range ps.Members {
		ms := &ps.Members[i]
		if m := p.byID[ms.ID]; m != nil && !ms.Since.Before(m.statusAt) {
			m.status, m.statusAt = ms.Status, ms.Since
			m.down.Store(ms.Status == health.Error)
		}
	}
	p.rebuild()
}

var hashSeed = maphash.MakeSeed()

// pick chooses a member for a client by the pool's algorithm, skipping
// the members in tried, and counts it active. It returns nil when no
// member is left.
func (s *memberSet) pick(client netip.AddrPort, tried []*member) *member {
	n := len(s.members)
	if n == 0 || len(tried) >= n {
		return nil
	}
	m := s.cfg.pick(s, client, tried)
	if m != nil {
		m.active.Add(1)
	}
	return m
}

func isTried(m *member, tried []*member) bool {
	for _, t := range tried {
		if t == m {
			return true
		}
	}
	return false
}

// roundRobin is nginx's smooth weighted round robin: every pick adds each
// member's weight to its current value, takes the largest, and subtracts
// the total from it. Weights 5,1,1 give a a b a c a a, not a a a a a b c.
func (s *memberSet) roundRobin(tried []*member) *member {
	s.rrMu.Lock()
	defer s.rrMu.Unlock()
	for range len(s.members) {
		best := -1
		for i, w := range s.weights {
			s.current[i] += w
			if best < 0 || s.current[i] > s.current[best] {
				best = i
			}
		}
		s.current[best] -= s.total
		if m := s.members[best]; !isTried(m, tried) {
			return m
		}
	}
	for _, m := range s.members {
		if !isTried(m, tried) {
			return m
		}
	}
	return nil
}

// leastConnections picks the member with the fewest active connections
// per unit of weight; ties rotate so that idle members share the load.
func (s *memberSet) leastConnections(tried []*member) *member {
	n := len(s.members)
	start := int(s.tie.Add(1) % uint64(n))
	var best *member
	var bestActive int64
	bestW := 1
	for k := range n {
		i := (start + k) % n
		m := s.members[i]
		if isTried(m, tried) {
			continue
		}
		a, w := m.active.Load(), s.weights[i]
		if best == nil || a*int64(bestW) < bestActive*int64(w) {
			best, bestActive, bestW = m, a, w
		}
	}
	return best
}

// sourceIP is weighted rendezvous hashing of the client address over the
// usable members: a client keeps its member while the member set is
// unchanged, and a member leaving moves only its own clients.
func (s *memberSet) sourceIP(client netip.AddrPort, withPort bool, tried []*member) *member {
	a16 := client.Addr().Unmap().As16()
	h := maphash.Bytes(hashSeed, a16[:])
	if withPort {
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], client.Port())
		h ^= maphash.Bytes(hashSeed, b[:]) * 0x9e3779b97f4a7c15
	}
	var best *member
	bestScore := math.Inf(-1)
	for i, m := range s.members {
		if isTried(m, tried) {
			continue
		}
		x := mix64(h ^ m.hash)
		u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1)
		score := float64(s.weights[i]) / -math.Log(u)
		if score > bestScore {
			best, bestScore = m, score
		}
	}
	return best
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
