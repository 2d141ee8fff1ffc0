package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// poller is a Poller for a test, with the results of its checks by tag.
type poller struct {
	*Poller
	mu      sync.Mutex
	results map[any]Result
}

func newTestPoller(t *testing.T, ctx context.Context) *poller {
	t.Helper()
	p := &poller{results: map[any]Result{}}
	pl, err := NewPoller(ctx, func(tag any, r Result) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, dup := p.results[tag]; dup {
			t.Errorf("check %v ended twice", tag)
		}
		p.results[tag] = r
		p.Wake() // as the engine does; results from goroutines need it
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Poller = pl
	return p
}

func (p *poller) result(tag any) (Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.results[tag]
	return r, ok
}

// run runs pr's check on the poller to its end, polling as its owner.
func (p *poller) run(t *testing.T, pr Prober, tag any) Result {
	t.Helper()
	if !p.Start(pr, tag) {
		t.Fatal("the check does not run on the poller")
	}
	limit := time.Now().Add(10 * time.Second)
	for {
		if r, ok := p.result(tag); ok {
			return r
		}
		if time.Now().After(limit) {
			t.Fatal("the check never ended")
		}
		if err := p.Poll(time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// fullBacklog returns the address of a listener that never accepts and
// whose accept queue is full, so that further connects hang.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 3 {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// TestPollerSameAsProbe runs checks against well and badly behaved peers
// both ways, with Probe and on a Poller, and wants the same status and
// reason from both.
func TestPollerSameAsProbe(t *testing.T) {
	const timeout = 300 * time.Millisecond
	readThen := func(then func(c net.Conn)) func(c net.Conn) {
		return func(c net.Conn) {
			if _, err := httpReadHead(bufio.NewReader(c)); err == nil {
				then(c)
			}
			c.Close()
		}
	}
	reply := func(s string) func(t *testing.T) string {
		return func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) { io.WriteString(c, s) }))
		}
	}
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	for _, tc := range []struct {
		name  string
		kind  string
		addr  func(t *testing.T) string
		codes string
		want  Status
	}{
		{"tcp accept", "tcp", func(t *testing.T) string { return serveTCP(t, hang) }, "", Pass},
		{"tcp accept and close", "tcp", func(t *testing.T) string { return serveTCP(t, func(c net.Conn) { c.Close() }) }, "", Pass},
		{"tcp refused", "tcp", refusedAddr, "", Fail},
		{"tcp connect timeout", "tcp", fullBacklog, "", Fail},
		{"http connect timeout", "http", fullBacklog, "", Fail},
		{"http refused", "http", refusedAddr, "", Fail},
		{"http 200", "http", reply("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "", Pass},
		{"http 200 no length", "http", reply("HTTP/1.0 200 OK\r\n\r\nbody"), "", Pass},
		{"http 500", "http", reply("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"), "", Fail},
		{"http 204 in range", "http", reply("HTTP/1.1 204 No Content\r\n\r\n"), "200-204", Pass},
		{"http chunked", "http", reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), "", Pass},
		{"http interim", "http", reply("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "", Pass},
		{"http interim then stall", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
				hang(c)
			}))
		}, "", Fail},
		{"http bare LF", "http", reply("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), "", Pass},
		{"http long head", "http", reply("HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("x", 3000) + "\r\n\r\n"), "", Pass},
		{"http long head 404", "http", reply("HTTP/1.1 404 Nope\r\nX-Long: " + strings.Repeat("x", 3000) + "\r\n\r\n"), "", Fail},
		{"http endless head", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				line := []byte("X-Junk: " + strings.Repeat("j", 1000) + "\r\n")
				for {
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}))
		}, "", Fail},
		{"http hang", "http", func(t *testing.T) string { return serveTCP(t, hang) }, "", Fail},
		{"http headers then stall", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
				hang(c)
			}))
		}, "", Fail},
		{"http split head", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				for _, s := range []string{"HTTP/1.1 200 OK\r", "\nContent-Length: 0\r\n", "\r", "\n"} {
					io.WriteString(c, s)
					time.Sleep(20 * time.Millisecond)
				}
			}))
		}, "", Pass},
		{"http half-close mid reply", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				c.(*net.TCPConn).CloseWrite()
				hang(c)
			}))
		}, "", Fail},
		{"http close without reply", "http", func(t *testing.T) string { return serveTCP(t, readThen(func(net.Conn) {})) }, "", Fail},
		{"http reset", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) }))
		}, "", Fail},
		{"not http", "http", reply("SSH-2.0-OpenSSH_9.6\r\n"), "", Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			s := Spec{Address: addr, Timeout: timeout, ExpectedCodes: tc.codes}
			p := mustProbe(t, tc.kind, s)
			want := runBounded(t, p, s.Timeout)
			got := pl.run(t, p, tc.name)
			t.Logf("%s %q", got.Status, got.Reason)
			if got.Status != want.Status || got.Reason != want.Reason {
				t.Errorf("on the poller: %s %q; with Probe: %s %q", got.Status, got.Reason, want.Status, want.Reason)
			}
			if got.Status != tc.want {
				t.Errorf("got %s %q, want %s", got.Status, got.Reason, tc.want)
			}
			if got.Latency > s.Timeout+2*time.Second {
				t.Errorf("took %s, more than the timeout %s plus 2s", got.Latency, s.Timeout)
			}
		})
	}
}

// TestPollerDeclines checks that the checks a Poller cannot run are left
// to Probe.
func TestPollerDeclines(t *testing.T) {
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	for _, tc := range []struct {
		kind string
		s    Spec
	}{
		{"tcp", Spec{Address: "127.0.0.1:1", Send: "PING\r\n"}},
		{"tcp", Spec{Address: "127.0.0.1:1", Expect: "+PONG"}},
		{"tcp", Spec{Address: "localhost:1"}},
		{"http", Spec{Address: "localhost:1"}},
		{"http", Spec{Address: "127.0.0.1:1", BodyRegex: "ok"}},
		{"https", Spec{Address: "127.0.0.1:1"}},
		{"udp-connect", Spec{Address: "127.0.0.1:1"}},
	} {
		tc.s.Timeout = time.Second
		if pl.Start(mustProbe(t, tc.kind, tc.s), tc) {
			t.Errorf("%s %+v runs on the poller", tc.kind, tc.s)
		}
	}
	if pl.Start(proberFunc(func(context.Context) Result { return Result{} }), 0) {
		t.Error("a Prober not from New runs on the poller")
	}
}

type proberFunc func(context.Context) Result

func (f proberFunc) Probe(ctx context.Context) Result { return f(ctx) }

// TestPollerWake checks that Wake ends a Poll without limit, in both of
// its ways of sleeping: with no check waiting, and with one.
func TestPollerWake(t *testing.T) {
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	hung := serveTCP(t, hang)
	for _, waiting := range []bool{false, true} {
		if waiting {
			if !pl.Start(mustProbe(t, "http", Spec{Address: hung, Timeout: time.Minute}), "hung") {
				t.Fatal("http check does not run on the poller")
			}
			for range 3 { // whatever events the socket has to report
				pl.Poll(10 * time.Millisecond)
			}
			if len(pl.timers) != 1 {
				t.Fatal("the check does not wait on its socket")
			}
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			pl.Wake()
		}()
		start := time.Now()
		if err := pl.Poll(-1); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("waiting %v: Poll returned %s after Wake", waiting, d)
		}
	}
}

// TestPollerCancel checks that the end of the context ends the checks in
// flight as canceled, those read on a goroutine too, and that Close ends
// and reports every check.
func TestPollerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pl := newTestPoller(t, ctx)
	hung := serveTCP(t, hang)
	interim := serveTCP(t, func(c net.Conn) {
		if _, err := httpReadHead(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n") // read on further, on a goroutine
			hang(c)
		}
	})
	for i, addr := range []string{hung, interim} {
		if !pl.Start(mustProbe(t, "http", Spec{Address: addr, Timeout: time.Minute}), i) {
			t.Fatal("http check does not run on the poller")
		}
	}
	for range 5 {
		pl.Poll(20 * time.Millisecond)
	}
	cancel()
	if err := pl.Poll(-1); err != nil { // at once: the context has ended
		t.Fatal(err)
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r, ok := pl.result(i)
		if !ok {
			t.Fatalf("check %d: Close did not end it", i)
		}
		if r.Status != Fail || r.Reason != "canceled" {
			t.Errorf("check %d: got %s %q, want fail \"canceled\"", i, r.Status, r.Reason)
		}
	}
}

// TestPollerNoLeak runs many checks on a Poller and asserts that neither
// file descriptors nor goroutines pile up.
func TestPollerNoLeak(t *testing.T) {
	ok := serveTCP(t, func(c net.Conn) { c.Close() })
	web := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		c.Close()
	})
	chunked := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
		c.Close()
	})
	hung := serveTCP(t, func(c net.Conn) { hang(c); c.Close() })
	refused := refusedAddr(t)
	probers := []Prober{
		mustProbe(t, "tcp", Spec{Address: ok, Timeout: time.Second}),
		mustProbe(t, "tcp", Spec{Address: refused, Timeout: time.Second}),
		mustProbe(t, "http", Spec{Address: web, Timeout: time.Second}),
		mustProbe(t, "http", Spec{Address: chunked, Timeout: time.Second}),
		mustProbe(t, "http", Spec{Address: hung, Timeout: 5 * time.Millisecond}),
	}
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	n := 0
	run := func(rounds int) {
		for range rounds {
			for _, p := range probers {
				n++
				pl.run(t, p, n)
			}
		}
	}
	run(50)
	runtime.GC()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	run(300)
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		dfd, dg := openFDs(t)-fds, runtime.NumGoroutine()-gs
		if dfd <= 5 && dg <= 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1,500 runs: %+d open file descriptors, %+d goroutines", dfd, dg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPollerEpollWaitFallback runs checks with epoll_wait, as on a kernel
// without epoll_pwait2.
func TestPollerEpollWaitFallback(t *testing.T) {
	noPwait2.Store(true)
	defer noPwait2.Store(false)
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	web := serveTCP(t, func(c net.Conn) {
		if _, err := httpReadHead(bufio.NewReader(c)); err == nil {
			time.Sleep(10 * time.Millisecond) // so that the check waits
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
		c.Close()
	})
	hung := serveTCP(t, hang)
	httpWant(t, pl.run(t, mustProbe(t, "http", httpSpec(web)), 1), Pass, "HTTP 200")
	const timeout = 50 * time.Millisecond
	r := pl.run(t, mustProbe(t, "http", Spec{Address: hung, Timeout: timeout}), 2)
	httpWant(t, r, Fail, "timeout after 50ms during read response")
	if r.Latency < timeout || r.Latency > timeout+2*time.Second {
		t.Errorf("a check with a 50ms timeout took %s", r.Latency)
	}
}

// TestPollerWaitingHoldsNoBuffer: an http check whose request is sent
// and whose reply has not come holds no head buffer (at 10,000 members
// thousands wait at once); once the replies come, the checks pass.
func TestPollerWaitingHoldsNoBuffer(t *testing.T) {
	const n = 20
	var got sync.WaitGroup
	got.Add(n)
	release := make(chan struct{})
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		if _, err := httpReadHead(bufio.NewReader(c)); err != nil {
			return
		}
		got.Done()
		<-release
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	requested := make(chan struct{})
	go func() { got.Wait(); close(requested) }()
	pl := newTestPoller(t, t.Context())
	defer pl.Close()
	pr := mustProbe(t, "http", Spec{Address: addr, Timeout: 10 * time.Second})
	for i := range n {
		if !pl.Start(pr, i) {
			t.Fatal("the check does not run on the poller")
		}
	}
	waiting := func() (reading, holding int) {
		for _, r := range pl.byFd {
			if r != nil && r.reading {
				reading++
				if r.buf != nil {
					holding++
				}
			}
		}
		return
	}
	limit := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-requested:
		default:
			if time.Now().After(limit) {
				t.Fatal("the requests did not all arrive in 10s")
			}
			if err := pl.Poll(10 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	if err := pl.Poll(0); err != nil { // the poller sees every request sent
		t.Fatal(err)
	}
	if reading, holding := waiting(); reading != n || holding != 0 {
		t.Errorf("%d checks wait on their reply, %d of them hold a buffer; want %d and 0", reading, holding, n)
	}
	close(release)
	limit = time.Now().Add(10 * time.Second)
	for i := 0; i < n; {
		if r, ok := pl.result(i); ok {
			if r.Status != Pass {
				t.Errorf("check %d: %v %s, want a pass", i, r.Status, r.Reason)
			}
			i++
			continue
		}
		if time.Now().After(limit) {
			t.Fatalf("check %d did not end in 10s after the replies", i)
		}
		if err := pl.Poll(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}
