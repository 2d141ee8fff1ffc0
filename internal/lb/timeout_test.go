package lb

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"vitals/internal/testenv"
)

// startMember starts a test backend whose connections handle serves;
// rcvbuf, when > 0, is the SO_RCVBUF of its sockets.
func startMember(t *testing.T, name string, rcvbuf int, handle func(net.Conn)) *backend {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf > 0 {
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf) })
		}
		return nil
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln, conns: map[net.Conn]bool{}, handle: handle}
	b.wg.Go(b.serve)
	t.Cleanup(b.kill)
	return b
}

// sink reads and discards, and never answers.
func sink(c net.Conn) { io.Copy(io.Discard, c) }

// timeoutsYAML is a listener's timeout lines.
func timeoutsYAML(client, member string) string {
	return "      timeout_client_data: " + client + "\n      timeout_member_data: " + member + "\n"
}

// waitClosed reads from c until the lb closes it and returns when that
// was; it fails the test if c is still open after limit.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) time.Time {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	at := time.Now()
	if isTimeout(err) {
		t.Fatalf("the session is still open after %s", limit)
	}
	return at
}

// checkIdleEnd fails unless the session ended between timeout and
// timeout*1.1 plus scheduling slack after last, the last byte.
func checkIdleEnd(t *testing.T, what string, last, ended time.Time, timeout time.Duration) {
	t.Helper()
	el := ended.Sub(last)
	hi := timeout + timeout/10 + 300*time.Millisecond
	// last is read by the test after its own write or read returned, so a
	// descheduled test goroutine (2 cores, -race) takes it late: allow 5%
	// below the timeout, which still fails a session ended early.
	lo := timeout - timeout/20
	t.Logf("%s: closed %s after the last byte (timeout %s)", what, el.Round(time.Millisecond), timeout)
	if el < lo || el > hi {
		t.Errorf("%s: the session ended %s after the last byte; want between %s and %s", what, el.Round(time.Millisecond), lo, hi)
	}
}

// TestIdleTimeoutFromLastByte is issue 10 item 3: idle timeouts are
// measured from the last byte in either direction, not from the start of
// a copy window, and a side's timeout counts what is written to it as
// activity (HAProxy's "timeout client" and "timeout server").
func TestIdleTimeoutFromLastByte(t *testing.T) {
	const T = 2 * time.Second
	two := timeoutsYAML("2s", "2s")
	deaf := startMember(t, "sink", 0, sink)
	lbSink := startLB(t, lbYAML(testenv.FreePort(t), two, "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))

	t.Run("nothing sent", func(t *testing.T) {
		c, err := net.Dial("tcp", lbSink.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		checkIdleEnd(t, "silent client and member", start, waitClosed(t, c, 4*T), T)
	})
	t.Run("one line then silence, member never answers", func(t *testing.T) {
		c, err := net.Dial("tcp", lbSink.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(T / 2) // mid-window: a window-based timeout would run to 2×
		if _, err := io.WriteString(c, "SELECT 1;\n"); err != nil {
			t.Fatal(err)
		}
		last := time.Now()
		checkIdleEnd(t, "client sent a line", last, waitClosed(t, c, 4*T), T)
	})
	t.Run("client active past the timeout, then silent", func(t *testing.T) {
		c, err := net.Dial("tcp", lbSink.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var last time.Time
		for range 8 { // 8 × T/4 = 2T of activity: the member only takes data
			if _, err := io.WriteString(c, "ping\n"); err != nil {
				t.Fatalf("an active session was closed: %v", err)
			}
			last = time.Now()
			time.Sleep(T / 4)
		}
		checkIdleEnd(t, "client wrote for 2×timeout", last, waitClosed(t, c, 4*T), T)
	})
	t.Run("member streams to a silent client, then stops", func(t *testing.T) {
		talker := startMember(t, "talker", 0, func(c net.Conn) {
			for range 8 {
				if _, err := io.WriteString(c, "tick\n"); err != nil {
					return
				}
				time.Sleep(T / 4)
			}
			io.Copy(io.Discard, c)
		})
		lb := startLB(t, lbYAML(testenv.FreePort(t), two, "      lb_algorithm: ROUND_ROBIN\n", memberLine(talker, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(4 * T))
		var last time.Time
		for i := range 8 {
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatalf("tick %d: %v; the session was closed while the member was sending", i, err)
			}
			last = time.Now()
		}
		checkIdleEnd(t, "member sent for 2×timeout", last, waitClosed(t, c, 4*T), T)
	})
	t.Run("bulk (splice) then silence", func(t *testing.T) {
		c, err := net.Dial("tcp", lbSink.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, 4<<20)); err != nil {
			t.Fatal(err)
		}
		// The write returns once the data is in the kernel; the sink reads it at once.
		last := time.Now()
		checkIdleEnd(t, "client sent 4 MiB", last, waitClosed(t, c, 4*T), T)
	})
	t.Run("the shorter timeout ends an idle session", func(t *testing.T) {
		lb := startLB(t, lbYAML(testenv.FreePort(t), timeoutsYAML("30s", "2s"), "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "x\n")
		last := time.Now()
		checkIdleEnd(t, "client 30s, member 2s", last, waitClosed(t, c, 4*T), T)
	})
}

// deafMember accepts connections and never reads them; conns delivers
// them to the test.
func deafMember(t *testing.T) (*backend, chan net.Conn) {
	conns := make(chan net.Conn, 4)
	stop := make(chan struct{})
	b := startMember(t, "deaf", 4096, func(c net.Conn) {
		conns <- c
		<-stop
	})
	t.Cleanup(func() { close(stop) }) // runs before the backend's kill
	return b, conns
}

// sessionsOf returns the lb's sessions now.
func sessionsOf(lb *testLB) []*session {
	lb.srv.sessMu.Lock()
	defer lb.srv.sessMu.Unlock()
	var out []*session
	for s := range lb.srv.sessions {
		out = append(out, s)
	}
	return out
}

// waitNoSessions fails unless the listener holds no connection within d.
func waitNoSessions(t *testing.T, lb *testLB, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for testutil.ToFloat64(lb.srv.met.listenerActive.WithLabelValues("l")) > 0 || len(sessionsOf(lb)) > 0 {
		if time.Since(start) > d {
			t.Fatalf("%d sessions still open %s after the client went away", len(sessionsOf(lb)), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// memberClosed fails unless the member's connection m was closed by the
// lb: reading it (all the data the lb had sent) ends within d.
func memberClosed(t *testing.T, m net.Conn, d time.Duration) {
	t.Helper()
	m.SetReadDeadline(time.Now().Add(d))
	n, err := io.Copy(io.Discard, m)
	if isTimeout(err) {
		t.Fatalf("the member's connection is still open (read %d bytes)", n)
	}
	t.Logf("member read %d bytes, then %v", n, err)
}

// outq is the bytes in c's send queue not yet acknowledged.
func outq(c net.Conn) int {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
	return n
}

// inq is the bytes in c's receive queue not yet read.
func inq(c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}

// TestGoneClientEndsSession is issue 10 item 3's leak: with no data
// timeouts, a member that never reads and a client that sent more than it
// takes and went away, the session and the member connection end.
func TestGoneClientEndsSession(t *testing.T) {
	zero := timeoutsYAML("0", "0")
	t.Run("client reset", func(t *testing.T) {
		deaf, conns := deafMember(t)
		lb := startLB(t, lbYAML(testenv.FreePort(t), zero, "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var m net.Conn
		select {
		case m = <-conns:
		case <-time.After(5 * time.Second):
			t.Fatal("the lb did not connect to the member")
		}
		// Write until blocked: every buffer on the way is full.
		buf := make([]byte, 256<<10)
		sent := 0
		for range 1024 {
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Write(buf)
			sent += n
			if isTimeout(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("client sent %d bytes before blocking", sent)
		if len(sessionsOf(lb)) != 1 {
			t.Fatal("want one session while the client is blocked")
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		el := waitNoSessions(t, lb, goneCheck+3*time.Second)
		t.Logf("session ended %s after the client's reset", el.Round(time.Millisecond))
		memberClosed(t, m, 10*time.Second)
	})
	t.Run("client FIN with data stuck", func(t *testing.T) {
		old := finStall
		finStall = 2 * time.Second
		t.Cleanup(func() { finStall = old })
		deaf, conns := deafMember(t)
		lb := startLB(t, lbYAML(testenv.FreePort(t), zero, "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var m net.Conn
		select {
		case m = <-conns:
		case <-time.After(5 * time.Second):
			t.Fatal("the lb did not connect to the member")
		}
		// Send until the lb stops reading the client (data for the member
		// is stuck) while all of it left the client: the FIN would
		// otherwise wait behind data in the client's send queue.
		ss := sessionsOf(lb)
		for deadline := time.Now().Add(5 * time.Second); len(ss) != 1 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // the lb tracks the session just after its dial
			ss = sessionsOf(lb)
		}
		if len(ss) != 1 {
			t.Fatalf("%d sessions; want 1", len(ss))
		}
		ss[0].member.SetWriteBuffer(4096)
		piece := make([]byte, 16<<10)
		stuck := false
		for i := 0; i < 1024 && !stuck; i++ {
			if _, err := c.Write(piece); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(2 * time.Second); outq(c) != 0; {
				if time.Now().After(deadline) {
					t.Fatalf("after %d KiB the client's send queue holds %d bytes before the lb was seen stuck", 16*(i+1), outq(c))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if q := inq(ss[0].client); q > 0 {
				time.Sleep(200 * time.Millisecond)
				stuck = inq(ss[0].client) == q
			}
		}
		if !stuck {
			t.Fatal("the lb kept reading the client after 16 MiB to a member that never reads")
		}
		c.Close()
		closed := time.Now()
		// A client that half-closed may wait for the answer: not cut at once.
		time.Sleep(finStall / 2)
		if len(sessionsOf(lb)) != 1 {
			t.Fatal("the session ended at the client's FIN, before finStall")
		}
		waitNoSessions(t, lb, finStall+goneCheck+5*time.Second)
		el := time.Since(closed)
		t.Logf("session ended %s after the client's FIN (finStall %s)", el.Round(time.Millisecond), finStall)
		memberClosed(t, m, 10*time.Second)
	})
	t.Run("half-closed client gets a slow answer", func(t *testing.T) {
		slow := startMember(t, "slow", 0, func(c net.Conn) {
			all, _ := io.ReadAll(c)
			time.Sleep(2*goneCheck + time.Second)
			io.WriteString(c, strings.ToUpper(string(all)))
		})
		lb := startLB(t, lbYAML(testenv.FreePort(t), zero, "      lb_algorithm: ROUND_ROBIN\n", memberLine(slow, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "question\n")
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "QUESTION\n" {
			t.Errorf("half-closed client read %q, %v; want the member's late answer", got, err)
		}
	})
}

// TestStuckMemberTimesOut: data that waits for a member that takes none
// of it closes the session after timeout_member_data, and the member gets
// a reset instead of the lb's kernel holding the data for it.
func TestStuckMemberTimesOut(t *testing.T) {
	const T = 2 * time.Second
	deaf, conns := deafMember(t)
	lb := startLB(t, lbYAML(testenv.FreePort(t), timeoutsYAML("30s", "2s"), "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
	c, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var m net.Conn
	select {
	case m = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("the lb did not connect to the member")
	}
	ss := sessionsOf(lb)
	for deadline := time.Now().Add(5 * time.Second); len(ss) != 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the lb tracks the session just after its dial
		ss = sessionsOf(lb)
	}
	if len(ss) != 1 {
		t.Fatalf("%d sessions; want 1", len(ss))
	}
	// The last byte the lb wrote toward the member is the last change of
	// the lb's send queue to it or of the member's receive queue (the
	// client's own last write may come earlier: the lb reads what the
	// kernel buffered for it later).
	lbSide, mc := ss[0].member, m.(*net.TCPConn)
	moved := make(chan time.Time, 1)
	go func() {
		last, at := [2]int{outq(lbSide), inq(mc)}, time.Now()
		defer func() { moved <- at }()
		for range 4 * T / (5 * time.Millisecond) {
			time.Sleep(5 * time.Millisecond)
			now := [2]int{outq(lbSide), inq(mc)}
			if now[0] < 0 { // the lb closed it
				return
			}
			if now != last {
				last, at = now, time.Now()
			}
		}
	}()
	// Write until the client is blocked; the lb's copy to the member
	// blocked before that.
	buf := make([]byte, 64<<10)
	for range 4096 {
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	ended := waitClosed(t, c, 4*T)
	el := ended.Sub(<-moved)
	t.Logf("closed %s after the last byte moved toward the member", el.Round(time.Millisecond))
	if el < T-T/20 || el > T+T/10+300*time.Millisecond {
		t.Errorf("the stuck session ended %s after the last byte moved toward the member; want timeout_member_data %s (+10%%)", el, T)
	}
	waitNoSessions(t, lb, 2*time.Second)
	m.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, m)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the member's connection ended with %v; want a reset", err)
	}
}
