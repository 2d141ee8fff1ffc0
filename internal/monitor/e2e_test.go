package monitor

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"vitals/internal/octavia"

	"vitals/internal/health"
	"vitals/internal/testenv"
)

// The end-to-end tests (issue item 2) check real loopback backends of
// every type. Each backend is scripted by check number: after check k the
// engine's OnCheck hook asks the test goroutine to make the backend pass or
// fail check k+1, and the engine schedules check k+1 only once that is
// done, so every run is deterministic. With max_retries 2 and
// max_retries_down 3, the script below predicts three transitions.
const (
	e2eScript = "ppffffppp"
	e2eWant   = "1:OFFLINE>ONLINE 5:ONLINE>ERROR 8:ERROR>ONLINE"
)

// scripted is one member's backend.
type scripted struct {
	hm       octavia.HealthMonitor // the type and its fields; delay, timeout and retries default below
	protocol string                // the pool's protocol; default TCP
	address  string                // the member's address; default 127.0.0.1
	port     int                   // the member's protocol_port
	// set makes the backend pass or fail the next check. It runs on the
	// test goroutine, so it may call t.Fatal.
	set func(pass bool)
}

// runScript runs the member through script and checks the transitions
// against want ("check:OLD>NEW …").
func runScript(t *testing.T, sc scripted, script, want string) {
	t.Helper()
	h := sc.hm
	if h.Delay == 0 {
		h.Delay, h.Timeout = 200*time.Millisecond, 150*time.Millisecond
	}
	rise, fall := 2, 3
	h.MaxRetries, h.MaxRetriesDown = rise, fall
	proto := sc.protocol
	if proto == "" {
		proto = ProtocolTCP
	}
	settings := DefaultSettings()
	settings.UDPConnectMinDelay = 0 // api_settings.udp_connect_min_interval_health_monitor: 0
	h.AdminStateUp = true
	m, err := NewMonitor(h, proto, settings)
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	addr := sc.address
	if addr == "" {
		addr = "127.0.0.1"
	}

	type request struct {
		pass bool
		ack  chan struct{}
	}
	requests := make(chan request)
	finished := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	onCheck := func(c CheckDone) {
		k := int(c.Check)
		if k >= len(script) {
			once.Do(func() { close(finished) })
			return
		}
		r := request{pass: script[k] == 'p', ack: make(chan struct{})}
		select {
		case requests <- r:
			select {
			case <-r.ack:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}
	var log bytes.Buffer
	var logMu sync.Mutex
	e := New(Options{Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return log.Write(p)
	}), nil)), OnCheck: onCheck})
	rec := &recorder{}
	e.Subscribe(rec)
	sc.set(script[0] == 'p')
	err = e.Update([]Pool{{ID: "pool", Name: "pool", AdminStateUp: true, Monitor: m, Members: []Member{{
		ID: "m", Name: "m", Address: addr, ProtocolPort: sc.port, Weight: 1, AdminStateUp: true,
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.NewTimer(time.Duration(len(script)+10) * 2 * m.Delay)
	defer deadline.Stop()
loop:
	for {
		select {
		case r := <-requests:
			sc.set(r.pass)
			close(r.ack)
		case <-finished:
			break loop
		case <-deadline.C:
			cancel()
			<-done
			t.Fatalf("%d checks did not finish in time; transitions so far %s", len(script), transitions(rec.all()))
		}
	}
	cancel()
	<-done
	if got := transitions(rec.all()); got != want {
		logMu.Lock()
		t.Errorf("%s: transitions\n got %s\nwant %s\nlog:\n%s", m.Type, got, want, log.String())
		logMu.Unlock()
	}
	for _, ev := range rec.all() {
		if ev.New == health.Error && ev.Result.Reason == "" {
			t.Errorf("ERROR transition without a reason: %+v", ev)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// passFlag is a backend switch for HTTP-style handlers.
type passFlag struct{ atomic.Bool }

func (p *passFlag) handler(w http.ResponseWriter, r *http.Request) {
	if p.Load() {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
}

func serverPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}

func TestE2EHTTP(t *testing.T) {
	t.Parallel()
	var pass passFlag
	srv := httptest.NewServer(http.HandlerFunc(pass.handler))
	t.Cleanup(srv.Close)
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypeHTTP, URLPath: "/health"}, port: serverPort(t, srv.Listener.Addr().String()), set: pass.Store}, e2eScript, e2eWant)
}

func TestE2EHTTPS(t *testing.T) {
	t.Parallel()
	var pass passFlag
	srv := httptest.NewTLSServer(http.HandlerFunc(pass.handler))
	t.Cleanup(srv.Close)
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypeHTTPS, ExpectedCodes: "200-204"}, port: serverPort(t, srv.Listener.Addr().String()), set: pass.Store}, e2eScript, e2eWant)
}

// TestE2ETLSHello: a passing backend completes the TLS handshake; a
// failing one closes the connection without a ServerHello.
func TestE2ETLSHello(t *testing.T) {
	t.Parallel()
	cert := testCertificate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var pass passFlag
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !pass.Load() {
				c.Close()
				continue
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			tc.SetDeadline(time.Now().Add(time.Second))
			tc.Handshake()
			tc.Close()
		}
	})
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypeTLSHello}, port: serverPort(t, ln.Addr().String()), set: pass.Store}, e2eScript, e2eWant)
}

// testCertificate borrows httptest's self-signed certificate.
func testCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	defer s.Close()
	return s.TLS.Certificates[0]
}

// toggledListener is a TCP port that is open (accepting and closing) while
// passing and closed (refusing) while failing.
type toggledListener struct {
	t    *testing.T
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func newToggledListener(t *testing.T) *toggledListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &toggledListener{t: t, addr: ln.Addr().String()}
	ln.Close()
	t.Cleanup(func() { tl.set(false) })
	return tl
}

func (tl *toggledListener) set(pass bool) {
	switch {
	case pass && tl.ln == nil:
		ln, err := net.Listen("tcp", tl.addr)
		if err != nil {
			tl.t.Fatalf("reopen %s: %v", tl.addr, err)
		}
		tl.ln = ln
		tl.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	case !pass && tl.ln != nil:
		tl.ln.Close()
		tl.wg.Wait()
		tl.ln = nil
	}
}

func TestE2ETCP(t *testing.T) {
	t.Parallel()
	tl := newToggledListener(t)
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypeTCP}, port: serverPort(t, tl.addr), set: tl.set}, e2eScript, e2eWant)
}

// TestE2EUDPConnect: a bound UDP port passes (silence); a closed one
// answers with ICMP port unreachable and fails.
func TestE2EUDPConnect(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	var open net.PacketConn
	set := func(pass bool) {
		switch {
		case pass && open == nil:
			if open, err = net.ListenPacket("udp", addr); err != nil {
				t.Fatalf("reopen %s: %v", addr, err)
			}
		case !pass && open != nil:
			open.Close()
			open = nil
		}
	}
	t.Cleanup(func() { set(false) })
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypeUDPConnect}, protocol: ProtocolUDP, port: serverPort(t, addr), set: set}, e2eScript, e2eWant)
}

// TestE2EPing pings 127.0.0.1 for real. Failing needs 127.0.0.1 to stop
// answering, which only a private network namespace allows without
// touching the machine: the test re-runs itself in one (as root) and
// toggles that namespace's net.ipv4.icmp_echo_ignore_all.
func TestE2EPing(t *testing.T) {
	t.Parallel()
	if !testenv.InPrivateNetwork(t) {
		return
	}
	// In the private namespace (lo is up): script the echo replies.
	const sysctl = "/proc/sys/net/ipv4/icmp_echo_ignore_all"
	set := func(pass bool) {
		v := "1"
		if pass {
			v = "0"
		}
		if err := os.WriteFile(sysctl, []byte(v), 0o644); err != nil {
			t.Fatalf("write %s: %v", sysctl, err)
		}
	}
	runScript(t, scripted{hm: octavia.HealthMonitor{Type: TypePing}, port: 80, set: set}, e2eScript, e2eWant)
}

// TestE2EMySQL logs in to a private MariaDB and runs a query. Failing
// checks find the server paused (SIGSTOP): the kernel still accepts the
// TCP connection, but the login hangs until the check's timeout, the
// failure a plain TCP check misses.
func TestE2EMySQL(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	pwFile := filepath.Join(t.TempDir(), "mysql.pass")
	if err := os.WriteFile(pwFile, []byte(db.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	paused := false
	set := func(pass bool) {
		switch {
		case pass && paused:
			db.Resume(t)
		case !pass && !paused:
			db.Pause(t)
		}
		paused = !pass
	}
	t.Cleanup(func() { set(true) })
	hm := octavia.HealthMonitor{Type: TypeMySQL, User: db.User, PasswordFile: pwFile, Database: db.Database, Query: "SELECT COUNT(*) FROM t",
		Delay: 400 * time.Millisecond, Timeout: 300 * time.Millisecond}
	runScript(t, scripted{hm: hm, port: db.Port, set: set}, e2eScript, e2eWant)
}

// TestE2EPgSQL is TestE2EMySQL for PostgreSQL, with the password from the
// environment.
func TestE2EPgSQL(t *testing.T) {
	t.Parallel()
	db := testenv.StartPostgres(t)
	// Not t.Setenv, which forbids t.Parallel: no other test reads this
	// variable.
	os.Setenv("VITALS_TEST_PG_PASSWORD", db.Password)
	t.Cleanup(func() { os.Unsetenv("VITALS_TEST_PG_PASSWORD") })
	paused := false
	set := func(pass bool) {
		switch {
		case pass && paused:
			db.Resume(t)
		case !pass && !paused:
			db.Pause(t)
		}
		paused = !pass
	}
	t.Cleanup(func() { set(true) })
	hm := octavia.HealthMonitor{Type: TypePgSQL, User: db.User, PasswordEnv: "VITALS_TEST_PG_PASSWORD", Database: db.Database,
		Delay: 400 * time.Millisecond, Timeout: 300 * time.Millisecond}
	runScript(t, scripted{hm: hm, port: db.Port, set: set}, e2eScript, e2eWant)
}

// TestMonitorPortAgentSays503 is issue item 3: the member's service port is
// open, but its agent on monitor_port answers 503, so the member goes
// ERROR; a member whose agent answers 200 is ONLINE, so the pool is
// DEGRADED. Checks go only to the agents, at monitor_address when set.
func TestMonitorPortAgentSays503(t *testing.T) {
	t.Parallel()
	var serviceConns atomic.Int64
	service, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { service.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := service.Accept()
			if err != nil {
				return
			}
			serviceConns.Add(1)
			c.Close()
		}
	})
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "replication lag 42s", http.StatusServiceUnavailable)
	}))
	t.Cleanup(sick.Close)
	// The healthy agent listens on another loopback address, reached
	// through monitor_address.
	well := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	wl, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	well.Listener = wl
	well.Start()
	t.Cleanup(well.Close)

	rise, fall := 2, 3
	h := octavia.HealthMonitor{Type: TypeHTTP, URLPath: "/health", Delay: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, MaxRetries: rise, MaxRetriesDown: fall}
	h.AdminStateUp = true
	m, err := NewMonitor(h, ProtocolTCP, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	svcPort := serverPort(t, service.Addr().String())
	rec := &recorder{}
	e := New(Options{Logger: slog.New(slog.DiscardHandler)})
	e.Subscribe(rec)
	err = e.Update([]Pool{{ID: "pool", Name: "pg", AdminStateUp: true, Monitor: m, Members: []Member{
		{ID: "db1", Name: "db1", Address: "127.0.0.1", ProtocolPort: svcPort, Weight: 1, AdminStateUp: true, MonitorPort: serverPort(t, sick.Listener.Addr().String())},
		{ID: "db2", Name: "db2", Address: "127.0.0.1", ProtocolPort: svcPort, Weight: 1, AdminStateUp: true, MonitorAddress: "127.0.0.2", MonitorPort: serverPort(t, wl.Addr().String())},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var s Snapshot
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s = e.Status()
		if s.Pools[0].Members[0].Checks >= 2 && s.Pools[0].Members[1].Checks >= 2 {
			break
		}
	}
	p := s.Pools[0]
	if p.Members[0].Status != health.Error || p.Members[1].Status != health.Online || p.Status != health.Degraded {
		t.Fatalf("db1 %s (%s), db2 %s (%s), pool %s; want ERROR, ONLINE, DEGRADED",
			p.Members[0].Status, p.Members[0].Last.Reason, p.Members[1].Status, p.Members[1].Last.Reason, p.Status)
	}
	if want := "HTTP 503 not in 200"; p.Members[0].Last.Reason != want {
		t.Errorf("db1 reason %q, want %q", p.Members[0].Last.Reason, want)
	}
	if got := p.Members[1].Target; got != "127.0.0.2:"+strconv.Itoa(serverPort(t, wl.Addr().String())) {
		t.Errorf("db2 checks go to %s, want its monitor_address:monitor_port", got)
	}
	if n := serviceConns.Load(); n != 0 {
		t.Errorf("the service port got %d connections; checks must go to monitor_port only", n)
	}
	if got := transitions(rec.all()); got != "1:OFFLINE>ERROR 1:OFFLINE>ONLINE" && got != "1:OFFLINE>ONLINE 1:OFFLINE>ERROR" {
		t.Errorf("transitions %s", got)
	}
}
