package lb

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"vitals/internal/testenv"
)

// shortPark sets parkAfter to d for the test.
func shortPark(t *testing.T, d time.Duration) {
	old := parkAfter
	parkAfter = d
	t.Cleanup(func() { parkAfter = old })
}

// openIdle opens n sessions through addr, each sending one byte and
// reading its echo.
func openIdle(t *testing.T, addr string, n int) []*net.TCPConn {
	t.Helper()
	conns := make([]*net.TCPConn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		exchange(t, c, []byte("i"))
		conns = append(conns, c.(*net.TCPConn))
	}
	return conns
}

// exchange writes msg to c and fails unless the same bytes come back.
func exchange(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() { // a large message comes back while it is written
		_, err := c.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo of %d bytes: %v", len(msg), err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("the echo of %d bytes differs", len(msg))
	}
}

// waitParked waits until lb has n directions parked.
func waitParked(t *testing.T, lb *testLB, n int64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d directions parked (now %d)", n, lb.srv.parkedNow()), func() bool { return lb.srv.parkedNow() == n })
}

// parkedMetric reads vitals_lb_parked_directions from the data plane's
// collector, as /metrics does.
func parkedMetric(t *testing.T, lb *testLB) float64 {
	t.Helper()
	if n := testutil.CollectAndCount(lb.srv.Collector(), "vitals_lb_parked_directions"); n != 1 {
		t.Fatalf("the collector has %d vitals_lb_parked_directions series, want 1", n)
	}
	return testutil.ToFloat64(lb.srv.met.parked)
}

// parkers counts the parker goroutines.
func parkers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("lb.(*parker).serve("))
}

// TestParkedSessionsWake: sessions idle for parkAfter give up their
// goroutines, and wake for data each way, byte-exact, in messages small
// and large (a large one turns the copy to splice), round after round;
// when they close, every accounting returns to zero.
func TestParkedSessionsWake(t *testing.T) {
	const n = 20
	lb, m, conns, before := parkedEcho(t, n)
	if c := copiers(); c != before {
		t.Errorf("%d copy goroutines with every session parked, want %d as before the sessions", c, before)
	}
	if got := parkedMetric(t, lb); got != 2*n {
		t.Errorf("vitals_lb_parked_directions = %v with every session parked; want %d", got, 2*n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round, size := range []int{1, 1000, 300 << 10, 5, 64 << 10, 1} {
		for _, c := range conns {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			exchange(t, c, msg)
		}
		t.Logf("round %d: %d bytes each way on %d sessions after parking", round, size, n)
		waitParked(t, lb, 2*n)
	}
	for _, c := range conns {
		c.Close()
	}
	waitNoSessions(t, lb, 5*time.Second)
	if p := lb.srv.parkedNow(); p != 0 {
		t.Errorf("%d directions still parked", p)
	}
	if a := m.active.Load(); a != 0 {
		t.Errorf("member active %d after every session ended", a)
	}
	waitFor(t, 5*time.Second, "the copy goroutines to end", func() bool { return copiers() == before })
}

// TestParkedIdleTimeout: a parked session still ends on its idle timeout,
// measured from the last byte, with the same reason as one that waits.
func TestParkedIdleTimeout(t *testing.T) {
	shortPark(t, 100*time.Millisecond)
	const timeout = 3 * time.Second
	for _, tc := range []struct {
		name, client, member string
		want                 endReason
	}{
		{"client", "3s", "0", endClientData},
		{"member", "0", "3s", endMemberData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			echo := startBackendOn(t, "e", "127.0.0.1:0", true)
			lb := startLB(t, lbYAML(testenv.FreePort(t), timeoutsYAML(tc.client, tc.member), "      lb_algorithm: ROUND_ROBIN\n", memberLine(echo, "")))
			c := openIdle(t, lb.addr, 1)[0]
			last := time.Now()
			waitFor(t, timeout-time.Second, "both directions to park", func() bool { return lb.srv.parkedNow() == 2 })
			ended := waitClosed(t, c, timeout+5*time.Second)
			checkIdleEnd(t, tc.name, last, ended, timeout)
			waitNoSessions(t, lb, 5*time.Second)
			if got := closedCount(lb, tc.want); got != 1 {
				t.Errorf("%s closed count %v, want 1", tc.want, got)
			}
			if p := lb.srv.parkedNow(); p != 0 {
				t.Errorf("%d directions still parked", p)
			}
		})
	}
}

// TestParkedSessionEnds: a half-close, a reset or a member's close while
// both directions are parked ends the session as it would unparked: the
// same connection log reason, the data after a half-close still
// delivered.
func TestParkedSessionEnds(t *testing.T) {
	shortPark(t, 100*time.Millisecond)
	closeMember := make(chan struct{})
	member := startMember(t, "m", 0, func(c net.Conn) {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		c.Write(b[:])
		if b[0] == 'c' { // the member closes first, once told
			<-closeMember
			return
		}
		io.Copy(c, c) // then echo until the client's FIN
		c.(*net.TCPConn).CloseWrite()
	})
	port := testenv.FreePort(t)
	srv, logs := startLoggingLB(t, lbYAML(port, "      connection_log: true\n", "      lb_algorithm: ROUND_ROBIN\n", memberLine(member, "")))
	lb := &testLB{srv: srv, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	open := func(first string) *net.TCPConn {
		c, err := net.DialTimeout("tcp", lb.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		exchange(t, c, []byte(first))
		waitParked(t, lb, 2)
		return c.(*net.TCPConn)
	}
	lastReason := func(want string) {
		t.Helper()
		waitNoSessions(t, lb, 5*time.Second)
		lines := connLines(t, logs)
		if len(lines) == 0 || lines[len(lines)-1].Reason != want {
			t.Fatalf("connection log %+v, want the last reason %s", lines, want)
		}
		if p := lb.srv.parkedNow(); p != 0 {
			t.Errorf("%d directions still parked", p)
		}
	}

	c := open("h")
	exchange(t, c, []byte("after the park"))
	waitParked(t, lb, 2)
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after the client's FIN: %q, %v; want EOF", rest, err)
	}
	c.Close()
	lastReason("client_closed")

	c = open("r")
	c.SetLinger(0)
	c.Close() // a reset
	lastReason("client_error")

	c = open("c")
	close(closeMember)
	waitClosed(t, c, 5*time.Second)
	c.Close()
	lastReason("member_closed")
}

// TestParkedSessionsClosed: a member's shutdown_sessions and the Server's
// shutdown close parked sessions, and every accounting returns to zero:
// sessions, the member's active count, parked directions, the copy
// goroutines and the parker's own goroutine.
func TestParkedSessionsClosed(t *testing.T) {
	const n = 10
	lb, m, conns, before := parkedEcho(t, n)
	if got := m.closeSessions(); got != n {
		t.Fatalf("closed %d sessions, want %d", got, n)
	}
	for _, c := range conns {
		waitClosed(t, c, 5*time.Second)
	}
	waitNoSessions(t, lb, 5*time.Second)
	if a := m.active.Load(); a != 0 {
		t.Errorf("member active %d after shutdown_sessions", a)
	}
	if p := lb.srv.parkedNow(); p != 0 {
		t.Errorf("%d directions still parked after shutdown_sessions", p)
	}

	conns = openIdle(t, lb.addr, n)
	waitParked(t, lb, 2*n)
	if parkers() != 1 {
		t.Fatalf("%d parker goroutines, want 1", parkers())
	}
	lb.srv.Shutdown(0)
	for _, c := range conns {
		waitClosed(t, c, 5*time.Second)
	}
	if s := len(sessionsOf(lb)); s != 0 {
		t.Errorf("%d sessions after Shutdown", s)
	}
	if a := m.active.Load(); a != 0 {
		t.Errorf("member active %d after Shutdown", a)
	}
	if c, p := copiers(), parkers(); c != before || p != 0 {
		t.Errorf("after Shutdown: %d copy goroutines (want %d), %d parker goroutines (want 0)", c, before, p)
	}
}

// TestParkerDueHeap: the idle deadlines of parked directions stay a
// min-heap whose entries know their index, through random adds and
// removals from anywhere (a wake by data) and from the top (expiry).
func TestParkerDueHeap(t *testing.T) {
	p := &parker{byID: map[uint64]parkEntry{}}
	rng := rand.New(rand.NewPCG(3, 4))
	var live []uint64
	check := func() {
		t.Helper()
		for i, x := range p.due {
			if e := p.byID[x.id]; e.hi != i {
				t.Fatalf("entry %d at index %d says %d", x.id, i, e.hi)
			}
			if i > 0 && p.due[(i-1)/2].at > x.at {
				t.Fatalf("heap order broken at %d", i)
			}
		}
		if len(p.due) != len(live) {
			t.Fatalf("%d deadlines for %d parked", len(p.due), len(live))
		}
	}
	for step := range 5000 {
		switch op := rng.IntN(3); {
		case op < 2 || len(live) == 0:
			id := uint64(step + 1)
			p.byID[id] = parkEntry{hi: -1}
			p.push(dueEntry{at: rng.Int64N(1000), id: id})
			live = append(live, id)
		case rng.IntN(2) == 0: // a wake: anywhere
			k := rng.IntN(len(live))
			id := live[k]
			p.removeDue(p.byID[id].hi)
			delete(p.byID, id)
			live = append(live[:k], live[k+1:]...)
		default: // an expiry: the earliest
			top := p.due[0]
			p.removeDue(0)
			delete(p.byID, top.id)
			for k, id := range live {
				if id == top.id {
					live = append(live[:k], live[k+1:]...)
					break
				}
			}
			for _, x := range p.due {
				if x.at < top.at {
					t.Fatalf("expired %d before %d", top.at, x.at)
				}
			}
		}
		check()
	}
}

// TestBusySessionDoesNotPark: a pooled connection's traffic, a small
// request and its answer every 20 ms, never parks (parkAfter is far
// longer than the gap), and parks once it goes quiet.
func TestBusySessionDoesNotPark(t *testing.T) {
	shortPark(t, time.Second)
	echo := startBackendOn(t, "e", "127.0.0.1:0", true)
	lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(echo, "")))
	c := openIdle(t, lb.addr, 1)[0]
	msg := bytes.Repeat([]byte("q"), 100)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		exchange(t, c, msg)
		if p := lb.srv.parkedNow(); p != 0 {
			t.Fatalf("%d directions parked between messages 20 ms apart", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitParked(t, lb, 2)
}

// TestSessionSizeClass: a session, allocated once per connection and
// held while it is idle, fits the 576-byte size class (the comments on
// session.logged and direction's flags count on it).
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 576 {
		t.Errorf("a session is %d bytes, over the 576-byte size class", n)
	}
}

// parkedEcho starts an lb (parkAfter 100 ms) in front of an echo member
// and opens n sessions through it, idle once each sent and got a byte,
// and waits until all their directions parked. It returns the member and
// the client connections, and the copy goroutines before the sessions.
func parkedEcho(t *testing.T, n int) (*testLB, *member, []*net.TCPConn, int) {
	t.Helper()
	shortPark(t, 100*time.Millisecond)
	echo := startBackendOn(t, "e", "127.0.0.1:0", true)
	lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(echo, "")))
	before := copiers()
	conns := openIdle(t, lb.addr, n)
	m := sessionsOf(lb)[0].m
	waitParked(t, lb, int64(2*n))
	return lb, m, conns, before
}
