package lb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"vitals/internal/testenv"
)

// stallYAML is a listener's lines with both data timeouts off and
// timeout_write_stall set.
func stallYAML(stall string) string {
	return timeoutsYAML("0", "0") + "      timeout_write_stall: " + stall + "\n"
}

// copiers counts the goroutines copying a session's direction (a parked
// direction has none).
func copiers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("lb.(*direction).copy("))
}

// tcpSocketsOn returns the states (hex, as /proc/net/tcp writes them) of
// this network namespace's TCP sockets whose local port is port.
func tcpSocketsOn(t *testing.T, port int) []string {
	t.Helper()
	var states []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Scan() // the header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 {
				continue
			}
			local := fields[1]
			i := strings.LastIndexByte(local, ':')
			p, err := strconv.ParseUint(local[i+1:], 16, 16)
			if err == nil && int(p) == port {
				states = append(states, fields[3])
			}
		}
	}
	return states
}

// closedCount is the listener's sessions closed for reason.
func closedCount(lb *testLB, reason endReason) float64 {
	return testutil.ToFloat64(lb.srv.met.listenerClosed.WithLabelValues("l", reason.String()))
}

// TestWriteStallEndsGoneClient is issue 10's must-hold item 3 for
// timeout_*_data: 0, as the issue reproduced it: a member that accepts and
// never reads, a client that writes 9 MB and exits. Its FIN waits behind
// its own unsent data (the lb's receive window is zero), so no FIN or
// reset ever reaches the lb; timeout_write_stall ends the session, and
// both the member's and the client's sockets are closed.
func TestWriteStallEndsGoneClient(t *testing.T) {
	const stall = 2 * time.Second
	deaf, conns := deafMember(t)
	lb := startLB(t, lbYAML(testenv.FreePort(t), stallYAML("2s"), "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
	before := copiers()
	c, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clientPort := c.LocalAddr().(*net.TCPAddr).Port
	var m net.Conn
	select {
	case m = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("the lb did not connect to the member")
	}
	// Write 9 MB, as far as it goes: every buffer on the way fills.
	const total = 9 << 20
	buf := make([]byte, 64<<10)
	sent := 0
	for sent < total {
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
	queued := outq(c)
	t.Logf("client wrote %d bytes; %d still in its send queue", sent, queued)
	if queued <= 0 {
		t.Fatal("the client's send queue is empty: its FIN would reach the lb, which is not the case under test")
	}
	if n := len(sessionsOf(lb)); n != 1 {
		t.Fatalf("%d sessions; want 1 while the client is blocked", n)
	}
	c.Close() // the client exits; its kernel keeps the data and the FIN behind it
	exited := time.Now()

	el := waitNoSessions(t, lb, stall+goneCheck+5*time.Second)
	t.Logf("session ended %s after the client exited (timeout_write_stall %s)", el.Round(time.Millisecond), stall)
	memberClosed(t, m, 10*time.Second)
	if got := closedCount(lb, endWriteStall); got != 1 {
		t.Errorf("sessions closed for timeout_write_stall: %v; want 1", got)
	}
	for r := range endReasons {
		if r := endReason(r); r != endWriteStall && closedCount(lb, r) != 0 {
			t.Errorf("sessions closed for %s: %v; want 0", r, closedCount(lb, r))
		}
	}
	// The client's kernel socket, orphaned by its exit, is closed: gone,
	// or in TIME_WAIT (06) or CLOSE (07), no longer in FIN-WAIT-1 with its
	// data.
	var states []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		states = slices.DeleteFunc(tcpSocketsOn(t, clientPort), func(s string) bool { return s == "06" || s == "07" })
		if len(states) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(states) != 0 {
		t.Errorf("the client's socket (port %d) is still there %s after it exited, in state %v", clientPort, time.Since(exited).Round(time.Millisecond), states)
	}
	for deadline := time.Now().Add(5 * time.Second); copiers() > before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := copiers(); n > before {
		t.Errorf("%d copy goroutines left (before the session: %d)", n, before)
	}
}

// TestWriteStallKeepsSlowSessions: timeout_write_stall ends only a session
// in which a side took nothing at all for that long; a member that reads
// slowly, or pauses for less than the bound, keeps its session, and every
// byte arrives. The same pause longer than the bound ends the session,
// which shows that the lb was held up by the member in this test.
func TestWriteStallKeepsSlowSessions(t *testing.T) {
	// run sends size bytes through the lb (with timeout_write_stall
	// stall) to a member that reads with read and answers with the
	// SHA-256 of what it read. It reports whether the answer came, after
	// checking that the lb closed no session or, when it did not, that
	// it closed it for timeout_write_stall. rcvbuf > 0 makes the member's
	// and the lb's buffers toward it that small.
	run := func(t *testing.T, stall string, size, rcvbuf int, read func(c net.Conn, h io.Writer) error) bool {
		t.Helper()
		m := startMember(t, "m", rcvbuf, func(c net.Conn) {
			h := sha256.New()
			if err := read(c, h); err != nil {
				return
			}
			fmt.Fprintf(c, "%x\n", h.Sum(nil))
		})
		lb := startLB(t, lbYAML(testenv.FreePort(t), stallYAML(stall), "      lb_algorithm: ROUND_ROBIN\n", memberLine(m, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if rcvbuf > 0 {
			ss := sessionsOf(lb)
			for deadline := time.Now().Add(5 * time.Second); len(ss) != 1 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond) // the lb tracks the session just after its dial
				ss = sessionsOf(lb)
			}
			if len(ss) != 1 {
				t.Fatalf("%d sessions; want 1", len(ss))
			}
			ss[0].member.SetWriteBuffer(rcvbuf)
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		start := time.Now()
		_, werr := c.Write(data)
		var got []byte
		if werr == nil {
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, werr = io.ReadAll(c)
		}
		t.Logf("%d bytes in %s: %v", size, time.Since(start).Round(time.Millisecond), werr)
		if want := fmt.Sprintf("%x\n", sha256.Sum256(data)); werr == nil && string(got) != want {
			t.Errorf("answer %q; want the SHA-256 of all %d bytes", got, size)
		}
		waitNoSessions(t, lb, 5*time.Second)
		for r := range endReasons {
			r := endReason(r)
			want := 0.0
			if werr != nil && r == endWriteStall {
				want = 1
			}
			if n := closedCount(lb, r); n != want {
				t.Errorf("sessions closed for %s: %v; want %v", r, n, want)
			}
		}
		return werr == nil
	}
	t.Run("member reads slowly", func(t *testing.T) {
		// 4 KiB every 300 ms for 6 s, then the rest, with small buffers:
		// the lb's write to the member is blocked all along, and moves a
		// little well within the bound each time.
		const slow = 6 * time.Second
		if !run(t, "2s", 2<<20, 4096, func(c net.Conn, h io.Writer) error {
			b := make([]byte, 4<<10)
			for start := time.Now(); time.Since(start) < slow; time.Sleep(300 * time.Millisecond) {
				n, err := c.Read(b)
				h.Write(b[:n])
				if err != nil {
					return err
				}
			}
			_, err := io.Copy(h, c)
			return err
		}) {
			t.Error("a member that reads slowly lost its session")
		}
	})
	// pause makes the member take the first byte, then nothing for d,
	// then the rest: the pause starts when data flows, not when the lb
	// dials (on a loaded machine the client's first write can come
	// hundreds of milliseconds after that).
	pause := func(d time.Duration) func(c net.Conn, h io.Writer) error {
		return func(c net.Conn, h io.Writer) error {
			var one [1]byte
			if _, err := io.ReadFull(c, one[:]); err != nil {
				return err
			}
			h.Write(one[:])
			time.Sleep(d)
			_, err := io.Copy(h, c)
			return err
		}
	}
	t.Run("member pauses for less than the bound", func(t *testing.T) {
		if !run(t, "2s", 16<<20, 0, pause(time.Second)) {
			t.Error("a member that paused for less than timeout_write_stall lost its session")
		}
	})
	t.Run("no bound, member pauses past two client checks", func(t *testing.T) {
		// With timeout_write_stall 0 only the client check (every
		// goneCheck) looks at the blocked copy; it must not keep the copy
		// from writing once the member reads again (it once did: the
		// deadline after the first check was "now", and the copy spun on
		// it without writing).
		if !run(t, "0", 16<<20, 0, func(c net.Conn, h io.Writer) error {
			time.Sleep(2*goneCheck + goneCheck/2)
			_, err := io.Copy(h, c)
			return err
		}) {
			t.Error("a member that paused lost its session with timeout_write_stall off")
		}
	})
	t.Run("member pauses for longer than the bound", func(t *testing.T) {
		// Small buffers toward the member, so that the 16 MB cannot all
		// wait in the kernel and the lb's write does block.
		if run(t, "1s", 16<<20, 64<<10, pause(3*time.Second)) {
			t.Error("a member that took nothing for longer than timeout_write_stall kept its session")
		}
	})
}

// TestWriteStallEndsQueuedAfterEOF: data that fits in the kernel's
// buffers leaves the copy at once, so no write blocks; when its sender
// then finishes (FIN) and the receiver never takes the data, the session
// still ends after timeout_write_stall (the kernel's TCP_USER_TIMEOUT),
// in both directions.
func TestWriteStallEndsQueuedAfterEOF(t *testing.T) {
	const stall = 2 * time.Second
	// armed waits until the lb's only session has a socket with
	// TCP_USER_TIMEOUT for queued data.
	armed := func(t *testing.T, lb *testLB) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if ss := sessionsOf(lb); len(ss) == 1 && ss[0].stallArmed.Load() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no session with queued data held by TCP_USER_TIMEOUT (%d sessions)", len(sessionsOf(lb)))
			}
		}
	}
	t.Run("client sent a request and left, member never reads", func(t *testing.T) {
		deaf, conns := deafMember(t)
		lb := startLB(t, lbYAML(testenv.FreePort(t), stallYAML("2s"), "      lb_algorithm: ROUND_ROBIN\n", memberLine(deaf, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		var m net.Conn
		select {
		case m = <-conns:
		case <-time.After(5 * time.Second):
			t.Fatal("the lb did not connect to the member")
		}
		if _, err := c.Write(make([]byte, 12<<10)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		left := time.Now()
		armed(t, lb)
		waitNoSessions(t, lb, stall+5*time.Second)
		t.Logf("session ended %s after the client left (timeout_write_stall %s)", time.Since(left).Round(time.Millisecond), stall)
		memberClosed(t, m, 5*time.Second)
		if got := closedCount(lb, endWriteStall); got != 1 {
			t.Errorf("sessions closed for timeout_write_stall: %v; want 1", got)
		}
	})
	t.Run("member answered and closed, client never reads", func(t *testing.T) {
		m := startMember(t, "talker", 0, func(c net.Conn) {
			c.Write(make([]byte, 12<<10))
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
		})
		lb := startLB(t, lbYAML(testenv.FreePort(t), stallYAML("2s"), "      lb_algorithm: ROUND_ROBIN\n", memberLine(m, "")))
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
			return nil
		}}
		c, err := d.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		armed(t, lb)
		waitNoSessions(t, lb, stall+5*time.Second)
		t.Logf("session ended %s after it began (timeout_write_stall %s)", time.Since(start).Round(time.Millisecond), stall)
		if got := closedCount(lb, endWriteStall); got != 1 {
			t.Errorf("sessions closed for timeout_write_stall: %v; want 1", got)
		}
	})
}
