package lb

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"vitals/internal/health"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
)

// testPool builds a pool from "label:weight[:b]" specs (b = backup), all
// ONLINE unless status says otherwise.
func testPool(t *testing.T, algorithm string, failOpen bool, specs ...string) *pool {
	t.Helper()
	p := &pool{id: "p", name: "p", srv: &Server{met: newMetrics(func() float64 { return 0 })}}
	c := &Pool{Name: "p", LBAlgorithm: algorithm, FailOpen: failOpen, OnMemberDown: ShutdownSessions, Protocol: "TCP"}
	for i, s := range specs {
		parts := strings.Split(s, ":")
		var w int
		fmt.Sscan(parts[1], &w)
		c.Members = append(c.Members, Member{ID: parts[0], Name: parts[0], Address: "127.0.0.1", ProtocolPort: 1000 + i, Weight: &w, Backup: len(parts) > 2})
	}
	p.apply(c, true)
	for _, m := range p.members {
		p.setStatus(m.id, health.Online, time.Now())
	}
	return p
}

func pickN(p *pool, n int, client netip.AddrPort, hold bool) map[string]int {
	got := map[string]int{}
	for range n {
		m := p.set.Load().pick(client, nil)
		if m == nil {
			got["<none>"]++
			continue
		}
		got[m.label]++
		if !hold {
			m.active.Add(-1)
		}
	}
	return got
}

var anyClient = netip.MustParseAddrPort("192.0.2.1:40000")

// TestRoundRobinWeightedSmooth: weights 5:3:2 give exactly 50:30:20 in 100
// picks, and the heavy member never takes more than its share in a row
// (smooth, as nginx's algorithm).
func TestRoundRobinWeightedSmooth(t *testing.T) {
	p := testPool(t, "ROUND_ROBIN", false, "a:5", "b:3", "c:2")
	if got := pickN(p, 100, anyClient, false); got["a"] != 50 || got["b"] != 30 || got["c"] != 20 {
		t.Errorf("distribution %v, want a:50 b:30 c:20", got)
	}
	var seq []string
	for range 10 {
		m := p.set.Load().pick(anyClient, nil)
		seq = append(seq, m.label)
		m.active.Add(-1)
	}
	run := 0
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			run++
		}
	}
	if run > 2 {
		t.Errorf("sequence %v is not smooth", seq)
	}
}

// TestLeastConnectionsWeighted: held connections spread in proportion to
// weight.
func TestLeastConnectionsWeighted(t *testing.T) {
	p := testPool(t, "LEAST_CONNECTIONS", false, "a:2", "b:1", "c:1")
	if got := pickN(p, 40, anyClient, true); got["a"] != 20 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("distribution %v, want a:20 b:10 c:10", got)
	}
	// Releasing b's connections sends the next ones to b.
	p.byID["b"].active.Store(0)
	if got := pickN(p, 5, anyClient, true); got["b"] != 5 {
		t.Errorf("after b emptied: %v, want all 5 on b", got)
	}
}

// TestSourceIP: one client address always gets the same member while the
// set is unchanged; many clients spread by weight; a member leaving moves
// only its own clients.
func TestSourceIP(t *testing.T) {
	p := testPool(t, "SOURCE_IP", false, "a:1", "b:1", "c:2")
	first := map[netip.Addr]string{}
	counts := map[string]int{}
	for i := range 4000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		got := pickN(p, 3, netip.AddrPortFrom(addr, uint16(1000+i)), false)
		if len(got) != 1 {
			t.Fatalf("client %s got %v: not stable", addr, got)
		}
		for k := range got {
			first[addr] = k
			counts[k]++
		}
	}
	if counts["a"] < 800 || counts["a"] > 1200 || counts["b"] < 800 || counts["b"] > 1200 || counts["c"] < 1700 || counts["c"] > 2300 {
		t.Errorf("4000 clients spread %v, want about 1000:1000:2000", counts)
	}
	p.setStatus("b", health.Error, time.Now())
	moved := 0
	for addr, was := range first {
		got := pickN(p, 1, netip.AddrPortFrom(addr, 1), false)
		if was != "b" && got[was] != 1 {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d clients of a and c moved when b left", moved)
	}
}

// TestBackupFailClosedFailOpen: backups only when no primary is usable;
// nothing usable closes (no member); fail_open spreads over admin-up
// members; DRAINING (weight 0) and ERROR members take no new connections.
func TestBackupFailClosedFailOpen(t *testing.T) {
	p := testPool(t, "ROUND_ROBIN", false, "a:1", "b:0", "c:1:b")
	if got := pickN(p, 10, anyClient, false); got["a"] != 10 {
		t.Errorf("primary a usable, b draining: %v, want all on a", got)
	}
	p.setStatus("a", health.Error, time.Now())
	if got := pickN(p, 10, anyClient, false); got["c"] != 10 {
		t.Errorf("a down: %v, want all on backup c", got)
	}
	p.setStatus("c", health.Error, time.Now())
	if got := pickN(p, 10, anyClient, false); got["<none>"] != 10 {
		t.Errorf("all down, fail closed: %v, want none", got)
	}
	open := testPool(t, "ROUND_ROBIN", true, "a:1", "b:1", "z:0")
	open.setStatus("a", health.Error, time.Now())
	open.setStatus("b", health.Error, time.Now())
	if got := pickN(open, 10, anyClient, false); got["a"] != 5 || got["b"] != 5 {
		t.Errorf("all down, fail_open: %v, want a:5 b:5 (weight-0 z excluded)", got)
	}
	if k := open.set.Load().kind; k != "fail_open" {
		t.Errorf("set kind %q", k)
	}
	// A stale event (older than the status) is ignored.
	open.setStatus("a", health.Online, time.Now().Add(-time.Hour))
	if got := pickN(open, 2, anyClient, false); got["a"] != 1 {
		t.Errorf("stale event applied? %v", got)
	}
}

// TestPickSkipsTried: retries go to distinct members.
func TestPickSkipsTried(t *testing.T) {
	for _, alg := range []string{"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"} {
		p := testPool(t, alg, false, "a:3", "b:1", "c:1")
		s := p.set.Load()
		var tried []*member
		for range 3 {
			m := s.pick(anyClient, tried)
			if m == nil || isTried(m, tried) {
				t.Fatalf("%s: pick %v after %d tried", alg, m, len(tried))
			}
			tried = append(tried, m)
		}
		if m := s.pick(anyClient, tried); m != nil {
			t.Errorf("%s: picked %s with every member tried", alg, m.label)
		}
	}
}

// TestEveryAlgorithmPicks: each algorithm the model declares has its own
// member choice, nothing else has one, and a pool with an algorithm
// outside the declaration is refused by Server.Apply instead of running
// as round robin.
func TestEveryAlgorithmPicks(t *testing.T) {
	for _, name := range octavia.AlgorithmNames() {
		if pickers[name] == nil {
			t.Errorf("algorithm %s has no picker", name)
		}
		p := testPool(t, name, false, "a:1", "b:1")
		if m := p.set.Load().pick(netip.MustParseAddrPort("192.0.2.1:5000"), nil); m == nil {
			t.Errorf("algorithm %s picked nothing from two ONLINE members", name)
		}
	}
	if len(pickers) != len(octavia.AlgorithmNames()) {
		t.Errorf("%d pickers for %d declared algorithms", len(pickers), len(octavia.AlgorithmNames()))
	}
	// SOURCE_IP keeps a client on one member where round robin would
	// alternate: the picker really is the algorithm's.
	p := testPool(t, octavia.AlgorithmSourceIP, false, "a:1", "b:1")
	if got := pickN(p, 20, netip.MustParseAddrPort("192.0.2.7:5000"), false); len(got) != 1 {
		t.Errorf("SOURCE_IP spread one client over %v", got)
	}

	err := checkAlgorithms([]Pool{{Name: "web", LBAlgorithm: "RANDOM"}})
	if err == nil || !strings.Contains(err.Error(), `lb_algorithm "RANDOM" is not one of ROUND_ROBIN`) {
		t.Errorf("unknown algorithm: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	srv := NewServer(monitor.New(monitor.Options{Logger: log}), log)
	cfg := &Config{LoadBalancers: []*LoadBalancer{{Pools: []Pool{{Name: "web", LBAlgorithm: "least_connections"}}}}}
	if err := srv.Apply(cfg); err == nil {
		t.Error("Server.Apply ran a pool with an algorithm outside the declaration")
	}
	srv.Shutdown(0)
}

// TestMemberSize: a data-plane member stays within Go's 128-byte size
// class (the next is 144), as its field order keeps it.
func TestMemberSize(t *testing.T) {
	if n := unsafe.Sizeof(member{}); n > 128 {
		t.Errorf("a member is %d bytes, more than its 128-byte size class", n)
	}
}
