package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"vitals/internal/health"
	"vitals/internal/monitor"
	"vitals/internal/promx"
	"vitals/internal/testenv"
)

// backend is a loopback TCP server: on each connection it says its name
// (unless silent), then echoes, and half-closes when the client does.
type backend struct {
	name   string
	silent bool
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	total  atomic.Int64
	// greeted counts the connections that got the name line.
	greeted atomic.Int64
	// header, when set, receives the first bytes of each connection
	// (a PROXY header) of this length.
	headerLen int
	headers   chan []byte
	// handle, when set, serves each connection instead of the greeting
	// and echo.
	handle func(net.Conn)
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	return startBackendOn(t, name, "127.0.0.1:0", false)
}

func startBackendOn(t *testing.T, name, addr string, silent bool) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, silent: silent, ln: ln, conns: map[net.Conn]bool{}}
	b.wg.Go(b.serve)
	t.Cleanup(b.kill)
	return b
}

func (b *backend) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

func (b *backend) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.total.Add(1)
		b.mu.Lock()
		b.conns[c] = true
		handle := b.handle // set under b.mu (setHandle)
		b.mu.Unlock()
		b.wg.Go(func() {
			defer func() {
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
				c.Close()
			}()
			if b.headerLen > 0 {
				h := make([]byte, b.headerLen)
				if _, err := io.ReadFull(c, h); err != nil {
					return
				}
				b.headers <- h
			}
			if handle != nil {
				handle(c)
				return
			}
			if !b.silent {
				if _, err := io.WriteString(c, b.name+"\n"); err != nil {
					return
				}
				b.greeted.Add(1)
			}
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
		})
	}
}

// kill closes the listener and every connection: the backend is gone.
// setHandle makes the backend run h on each connection it accepts from
// now on, instead of greeting and echoing.
func (b *backend) setHandle(h func(net.Conn)) {
	b.mu.Lock()
	b.handle = h
	b.mu.Unlock()
}

func (b *backend) kill() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *backend) active() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// testLB runs a Server and its engine for the test.
type testLB struct {
	srv  *Server
	eng  *monitor.Engine
	addr string // the first listener's address
}

func startLB(t testing.TB, yml string) *testLB {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, eng, cfg := runLB(t, yml, log)
	l := cfg.LoadBalancers[0].Listeners[0]
	return &testLB{srv: srv, eng: eng, addr: l.BindAddress()}
}

// runLB parses yml, applies it to a Server whose engine logs to log, and
// runs the engine until the test ends.
func runLB(t testing.TB, yml string, log *slog.Logger) (*Server, *monitor.Engine, *Config) {
	t.Helper()
	cfg, err := Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	eng := monitor.New(monitor.Options{Logger: log, Jitter: func(time.Duration) time.Duration { return 0 }})
	srv := NewServer(eng, log)
	if err := srv.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		eng.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		srv.Shutdown(0)
		cancel()
		<-done
	})
	return srv, eng, cfg
}

// lbYAML is a load balancer with one listener on port and one pool; pool
// holds the pool's extra lines (indented 6) and members the member lines.
func lbYAML(port int, listenerExtra, poolExtra string, members ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "loadbalancer:\n  listeners:\n    - name: l\n      protocol: TCP\n      address: 127.0.0.1\n      protocol_port: %d\n      default_pool: p\n%s  pools:\n    - name: p\n%s      members:\n", port, listenerExtra, poolExtra)
	for _, m := range members {
		b.WriteString("        - " + m + "\n")
	}
	return b.String()
}

func memberLine(b *backend, extra string) string {
	s := fmt.Sprintf("{name: %s, address: 127.0.0.1, protocol_port: %d", b.name, b.port())
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

// hello connects through the LB and returns the backend's name line and
// the connection (open).
func hello(addr string) (string, net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", nil, err
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil, fmt.Errorf("read greeting: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	return strings.TrimSpace(line), c, nil
}

// waitStatus polls the engine until the member has status, within d.
func waitStatus(t *testing.T, eng *monitor.Engine, member string, want health.OperatingStatus, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		snap := eng.Status()
		var got health.OperatingStatus
		for _, p := range snap.Pools {
			for _, m := range p.Members {
				if m.Name == member {
					got = m.Status
				}
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s is %s after %s, want %s", member, got, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDistribution is issue item 1: three real loopback backends; the
// connections spread per algorithm and weight, and SOURCE_IP is stable per
// client address.
func TestDistribution(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")
	t.Run("ROUND_ROBIN weighted", func(t *testing.T) {
		lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n",
			memberLine(b1, "weight: 3"), memberLine(b2, "weight: 2"), memberLine(b3, "weight: 1")))
		got := map[string]int{}
		for range 60 {
			name, c, err := hello(lb.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			got[name]++
		}
		if got["b1"] != 30 || got["b2"] != 20 || got["b3"] != 10 {
			t.Errorf("60 connections went %v, want b1:30 b2:20 b3:10", got)
		}
	})
	t.Run("LEAST_CONNECTIONS weighted", func(t *testing.T) {
		lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: LEAST_CONNECTIONS\n",
			memberLine(b1, "weight: 2"), memberLine(b2, "weight: 1"), memberLine(b3, "weight: 1")))
		got := map[string]int{}
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range 40 {
			name, c, err := hello(lb.addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			got[name]++
		}
		if got["b1"] != 20 || got["b2"] != 10 || got["b3"] != 10 {
			t.Errorf("40 held connections went %v, want b1:20 b2:10 b3:10", got)
		}
	})
	t.Run("SOURCE_IP", func(t *testing.T) {
		lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: SOURCE_IP\n",
			memberLine(b1, ""), memberLine(b2, ""), memberLine(b3, "")))
		spread := map[string]int{}
		for i := 1; i <= 30; i++ {
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i))}
			first := ""
			for range 4 {
				d := net.Dialer{LocalAddr: src, Timeout: 2 * time.Second}
				c, err := d.Dial("tcp", lb.addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				if first == "" {
					first = line
					spread[strings.TrimSpace(line)]++
				} else if line != first {
					t.Errorf("client %s went to %q then %q", src.IP, first, line)
				}
			}
		}
		if len(spread) < 3 {
			t.Errorf("30 client addresses spread over %v; want all three members used", spread)
		}
	})
}

// TestKilledBackendRetried is issue item 2: a backend is killed; clients
// see no failed connect, even before the monitor notices (the retry hides
// it), and once the monitor says ERROR no new connection goes to it.
func TestKilledBackendRetried(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")
	lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n      healthmonitor: {type: TCP, delay: 300ms, timeout: 200ms, max_retries: 1, max_retries_down: 3}\n",
		memberLine(b1, ""), memberLine(b2, ""), memberLine(b3, "")))
	for _, m := range []string{"b1", "b2", "b3"} {
		waitStatus(t, lb.eng, m, health.Online, 3*time.Second)
	}
	var failed, served atomic.Int64
	got := map[string]int{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 4
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				name, c, err := hello(lb.addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.Close()
				served.Add(1)
				mu.Lock()
				got[name]++
				mu.Unlock()
			}
		})
	}
	// b2 serves clients when it is killed.
	servedB2 := func() int {
		mu.Lock()
		defer mu.Unlock()
		return got["b2"]
	}
	for deadline := time.Now().Add(10 * time.Second); servedB2() < 10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("b2 served %d sessions in 10s before the kill; want 10", servedB2())
		}
	}
	b2.kill()
	killed := time.Now()
	waitStatus(t, lb.eng, "b2", health.Error, 3*time.Second)
	detected := time.Since(killed)
	sel := float64(lb.srv.met.member("p", "b2").selected.Load())
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	after := float64(lb.srv.met.member("p", "b2").selected.Load())
	retries := testutil.ToFloat64(lb.srv.met.poolRetries.WithLabelValues("p"))
	// A session the load balancer had established with b2 (its kernel
	// completed the handshake) that b2 died before greeting is lost with
	// b2: no retry can hide it without replaying the session. Every other
	// failure would be a connect failure the retry should have hidden.
	// Sessions with b2 whose client got no greeting from b2 died with it;
	// (b2.greeted also counts the monitor's connections, so it is not
	// used). Each client has one session at a time, so at most one per
	// client was in flight when b2 was killed, and none can start after.
	diedWith := int64(lb.srv.met.member("p", "b2").total.Load()) - int64(got["b2"])
	t.Logf("served %d, failed %d, per member %v; b2 ERROR %s after the kill; %v retries; %d sessions died with b2",
		served.Load(), failed.Load(), got, detected, retries, diedWith)
	if diedWith < 0 || diedWith > clients {
		t.Errorf("%d sessions died with b2; want 0 to %d, one per client at most", diedWith, clients)
	}
	if got["b1"] == 0 || got["b3"] == 0 {
		t.Errorf("per member %v: the survivors b1 and b3 served nobody", got)
	}
	if failed.Load() > diedWith {
		t.Errorf("%d client connections failed, %d of them sessions that died with b2; the retry should hide the dead member", failed.Load(), diedWith)
	}
	if after != sel {
		t.Errorf("b2 was chosen %v times after it turned ERROR", after-sel)
	}
	if retries == 0 {
		t.Errorf("no retries counted: the window before detection was not exercised")
	}
}

// TestOnMemberDown is issue item 4: shutdown_sessions closes the
// sessions of a member that turned ERROR; none keeps them; DRAINING
// (weight 0) keeps them and takes no new ones.
func TestOnMemberDown(t *testing.T) {
	for _, tt := range []struct {
		policy   string
		wantOpen bool
	}{{"", false}, {"      on_member_down: none\n", true}} {
		t.Run("policy="+strings.TrimSpace(tt.policy), func(t *testing.T) {
			b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
			health1 := startBackendOn(t, "h1", "127.0.0.1:0", true)
			health2 := startBackendOn(t, "h2", "127.0.0.1:0", true)
			lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n"+tt.policy+"      healthmonitor: {type: TCP, delay: 200ms, timeout: 100ms, max_retries: 1, max_retries_down: 1}\n",
				memberLine(b1, fmt.Sprintf("monitor_port: %d", health1.port())), memberLine(b2, fmt.Sprintf("monitor_port: %d", health2.port()))))
			waitStatus(t, lb.eng, "b1", health.Online, 3*time.Second)
			waitStatus(t, lb.eng, "b2", health.Online, 3*time.Second)
			var toB1 []net.Conn
			for range 4 {
				name, c, err := hello(lb.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if name == "b1" {
					toB1 = append(toB1, c)
				}
			}
			if len(toB1) != 2 {
				t.Fatalf("%d of 4 round-robin sessions went to b1; want 2", len(toB1))
			}
			health1.kill() // b1 serves on, but its monitor fails
			waitStatus(t, lb.eng, "b1", health.Error, 3*time.Second)
			for _, c := range toB1 {
				open := echoes(c)
				if open != tt.wantOpen {
					t.Errorf("session to b1 open=%v after b1 turned ERROR, want %v", open, tt.wantOpen)
				}
			}
		})
	}
	t.Run("draining keeps sessions", func(t *testing.T) {
		b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
		port := testenv.FreePort(t)
		lb := startLB(t, lbYAML(port, "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b1, ""), memberLine(b2, "")))
		var toB1 []net.Conn
		for range 4 {
			name, c, err := hello(lb.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if name == "b1" {
				toB1 = append(toB1, c)
			}
		}
		if len(toB1) != 2 {
			t.Fatalf("%d of 4 round-robin sessions went to b1; want 2", len(toB1))
		}
		cfg, err := Parse("t.yaml", []byte(lbYAML(port, "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b1, "weight: 0"), memberLine(b2, ""))))
		if err != nil {
			t.Fatal(err)
		}
		if err := lb.srv.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, lb.eng, "b1", health.Draining, 5*time.Second)
		for _, c := range toB1 {
			if !echoes(c) {
				t.Error("a session to draining b1 was closed")
			}
		}
		for range 6 {
			name, c, err := hello(lb.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if name != "b2" {
				t.Errorf("a new connection went to draining %s", name)
			}
		}
	})
}

// echoes reports whether a session still echoes.
func echoes(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// TestReloadUnderTraffic is issue item 5: a reload with changed weights
// and an added member under live traffic fails no client session, keeps
// the listener and established sessions, and the new member gets traffic.
func TestReloadUnderTraffic(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1"), startBackend(t, "b2"), startBackend(t, "b3")
	port := testenv.FreePort(t)
	pool := "      lb_algorithm: ROUND_ROBIN\n      healthmonitor: {type: TCP, delay: 200ms, timeout: 100ms, max_retries: 1}\n"
	lb := startLB(t, lbYAML(port, "", pool, memberLine(b1, ""), memberLine(b2, "")))
	waitStatus(t, lb.eng, "b1", health.Online, 3*time.Second)
	waitStatus(t, lb.eng, "b2", health.Online, 3*time.Second)
	_, long, err := hello(lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	var failed, served atomic.Int64
	var mu sync.Mutex
	got := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 4
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				name, c, err := hello(lb.addr)
				if err == nil && !echoes(c) {
					err = errors.New("no echo")
				}
				if c != nil {
					c.Close()
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				served.Add(1)
				mu.Lock()
				got[name]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	for i := range 5 {
		members := []string{memberLine(b1, fmt.Sprintf("weight: %d", 1+i)), memberLine(b2, "weight: 3"), memberLine(b3, "")}
		cfg, err := Parse("t.yaml", []byte(lbYAML(port, "", pool, members...)))
		if err != nil {
			t.Fatal(err)
		}
		if err := lb.srv.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	waitStatus(t, lb.eng, "b3", health.Online, 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("served %d, failed %d: %v", served.Load(), failed.Load(), got)
	if failed.Load() != 0 {
		t.Errorf("%d client sessions failed across reloads", failed.Load())
	}
	if got["b3"] == 0 {
		t.Error("the added member b3 got no traffic")
	}
	if !echoes(long) {
		t.Error("the session established before the reloads was dropped")
	}
}

// TestBadClients is issue item 7: a client that sends nothing is closed
// after timeout_client_data; a half-close is propagated; 5,000 concurrent
// idle connections against connection_limit 1,000 are held to 1,000 with
// bounded goroutines and memory, and other clients are served.
func TestBadClients(t *testing.T) {
	silent := startBackendOn(t, "s", "127.0.0.1:0", true)
	t.Run("idle client closed after timeout", func(t *testing.T) {
		lb := startLB(t, lbYAML(testenv.FreePort(t), "      timeout_client_data: 300ms\n      timeout_member_data: 300ms\n", "      lb_algorithm: ROUND_ROBIN\n", memberLine(silent, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		// Closed by the load balancer (not by this 5s read deadline), and
		// not before its 300ms timeout (less the timer's slack).
		if el := time.Since(start); err == nil || isTimeout(err) || el < 250*time.Millisecond {
			t.Errorf("idle session ended after %s with %v; want closed by the load balancer after its 300ms timeout", el, err)
		}
		// An active session with the same timeouts lives on.
		b := startBackend(t, "echo")
		lb2 := startLB(t, lbYAML(testenv.FreePort(t), "      timeout_client_data: 300ms\n      timeout_member_data: 300ms\n", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b, "")))
		_, ac, err := hello(lb2.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ac.Close()
		for range 10 {
			if !echoes(ac) {
				t.Fatal("an active session was closed by the idle timeout")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("half-close", func(t *testing.T) {
		b := startBackend(t, "echo")
		lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b, "")))
		c, err := net.Dial("tcp", lb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "one\ntwo\n")
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		all, err := io.ReadAll(c)
		if err != nil || string(all) != "echo\none\ntwo\n" {
			t.Errorf("after half-close read %q, %v; want the greeting, the echo and EOF", all, err)
		}
	})
	t.Run("5000 idle against connection_limit 1000", func(t *testing.T) {
		port := testenv.FreePort(t)
		other := startBackend(t, "other")
		otherPort := testenv.FreePort(t)
		yml := lbYAML(port, "      connection_limit: 1000\n", "      lb_algorithm: ROUND_ROBIN\n", memberLine(silent, ""))
		yml = strings.Replace(yml, "  pools:\n", fmt.Sprintf("    - name: o\n      protocol: TCP\n      address: 127.0.0.1\n      protocol_port: %d\n      default_pool: o\n  pools:\n    - name: o\n      lb_algorithm: ROUND_ROBIN\n      members: [%s]\n", otherPort, memberLine(other, "")), 1)
		lb := startLB(t, yml)
		baseG := testenvGoroutines()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		var dialErr error
		dialFailed := 0
		for range 5000 {
			c, err := net.DialTimeout("tcp", lb.addr, 2*time.Second)
			if err != nil {
				dialErr = err
				dialFailed++
				continue // the backlog may overflow; that is a refusal too
			}
			conns = append(conns, c)
		}
		// Over-limit connections are closed at once; the others stay.
		open := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				_, err := c.Read(make([]byte, 1))
				if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
					mu.Lock()
					open++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		active := testutil.ToFloat64(lb.srv.met.listenerActive.WithLabelValues("l"))
		g := testenvGoroutines()
		t.Logf("%d dial errors (last %v)", dialFailed, dialErr)
		t.Logf("%d dialed, %d held open, listener active %v, goroutines %d → %d, backend sessions %d", len(conns), open, active, baseG, g, silent.active())
		if open != 1000 || active != 1000 {
			t.Errorf("%d connections held (%v active); want exactly connection_limit 1000", open, active)
		}
		if g-baseG > 3*1000+200 { // 2 per session in the LB, 1 in the test's backend
			t.Errorf("goroutines grew by %d for 1000 sessions; want about 2 per session", g-baseG)
		}
		name, c, err := hello(fmt.Sprintf("127.0.0.1:%d", otherPort))
		if err != nil || name != "other" {
			t.Errorf("another listener's client: %q %v", name, err)
		} else {
			c.Close()
		}
		// Closing the idle clients frees the slots.
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		deadline := time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(lb.srv.met.listenerActive.WithLabelValues("l")) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		c2, err := net.DialTimeout("tcp", lb.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c2.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
			t.Errorf("after the idle clients left, a new client was refused: %v", err)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// TestShutdownGrace: shutdown closes the listener at once, lets a
// session finish within the grace, and closes it after.
func TestShutdownGrace(t *testing.T) {
	b := startBackend(t, "b")
	lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b, "")))
	_, c, err := hello(lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	const grace = 4 * time.Second
	start := time.Now()
	go func() {
		lb.srv.Shutdown(grace)
		close(done)
	}()
	// The listener closes at once: poll until a dial is refused.
	for {
		c2, err := net.DialTimeout("tcp", lb.addr, time.Second)
		if err != nil {
			break
		}
		c2.Close()
		if time.Since(start) > grace/2 {
			t.Fatal("the listener still accepts during shutdown")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !echoes(c) {
		t.Error("the session was cut before the grace ended")
	}
	if el := time.Since(start); el >= grace {
		t.Fatalf("the echo ended %s after Shutdown, after the %s grace: the check was too late", el, grace)
	}
	select {
	case <-done:
	case <-time.After(grace + 5*time.Second):
		t.Fatal("Shutdown did not return after the grace")
	}
	if echoes(c) {
		t.Error("the session outlived the grace")
	}
}

// TestProxyProtocolThroughLB: a PROXYV2 pool's member receives a v2
// header naming the client first.
func TestProxyProtocolThroughLB(t *testing.T) {
	b := &backend{name: "b", conns: map[net.Conn]bool{}, headerLen: 16 + 12, headers: make(chan []byte, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.ln = ln
	b.wg.Go(b.serve)
	t.Cleanup(b.kill)
	port := testenv.FreePort(t)
	lb := startLB(t, lbYAML(port, "", "      protocol: PROXYV2\n      lb_algorithm: ROUND_ROBIN\n", memberLine(b, "")))
	name, c, err := hello(lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := <-b.headers
	want := proxyHeader(2, c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort())
	if name != "b" || string(h) != string(want) {
		t.Errorf("member got header %x, want %x", h, want)
	}
}

func testenvGoroutines() int { return runtime.NumGoroutine() }

// TestReloadDropsRemovedSeries: after a reload removes a member, a pool
// and a listener, /metrics no longer shows their series; the rest stay.
func TestReloadDropsRemovedSeries(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	port, port2 := testenv.FreePort(t), testenv.FreePort(t)
	both := lbYAML(port, "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b1, ""), memberLine(b2, "")) +
		fmt.Sprintf("    - name: q\n      lb_algorithm: ROUND_ROBIN\n      members:\n        - %s\n", memberLine(b2, ""))
	both = strings.Replace(both, "  pools:\n", fmt.Sprintf("    - {name: l2, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: q}\n  pools:\n", port2), 1)
	lb := startLB(t, both)
	for range 4 {
		if _, c, err := hello(lb.addr); err == nil {
			c.Close()
		}
	}
	series := func() string {
		reg := promx.NewRegistry()
		reg.MustRegister(lb.srv.Collector())
		reg.MustStream(lb.srv.MemberSeries())
		mfs, err := reg.GatherAll(nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				b.WriteString(mf.GetName())
				for _, l := range m.GetLabel() {
					fmt.Fprintf(&b, " %s=%s", l.GetName(), l.GetValue())
				}
				b.WriteString("\n")
			}
		}
		return b.String()
	}
	before := series()
	for _, want := range []string{"vitals_lb_member_connections_total member=b2 pool=p", "vitals_lb_member_connections_total member=b2 pool=q", "vitals_lb_listener_connections_total listener=l2"} {
		if !strings.Contains(before, want+"\n") {
			t.Fatalf("before the reload, no series %q in:\n%s", want, before)
		}
	}
	cfg, err := Parse("test.yaml", []byte(lbYAML(port, "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(b1, ""))))
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.srv.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	after := series()
	for _, gone := range []string{"member=b2", "pool=q", "listener=l2"} {
		if strings.Contains(after, gone) {
			t.Errorf("after the reload, series with %s remain:\n%s", gone, after)
		}
	}
	if !strings.Contains(after, "vitals_lb_member_connections_total member=b1 pool=p\n") || !strings.Contains(after, "vitals_lb_listener_connections_total listener=l\n") {
		t.Errorf("after the reload, the kept member's or listener's series are gone:\n%s", after)
	}
}

// appliedServer makes an engine (not running) and a Server with cfg
// applied, shut down at the end of tb.
func appliedServer(tb testing.TB, cfg *Config) (*monitor.Engine, *Server) {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	eng := monitor.New(monitor.Options{Logger: log})
	srv := NewServer(eng, log)
	if err := srv.Apply(cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Shutdown(0) })
	return eng, srv
}
