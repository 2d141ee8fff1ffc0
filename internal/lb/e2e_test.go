package lb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/agent"
	"vitals/internal/health"
	"vitals/internal/testenv"
)

// startAgent runs an in-process vitals agent with one PostgreSQL check
// and returns its HTTP port.
func startAgent(t *testing.T, pg *testenv.Postgres) int {
	t.Helper()
	yml := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nshutdown_delay: 0s\nchecks:\n  - name: pg\n    type: postgres\n    address: %s\n    user: %s\n    password: %q\n    database: %s\n    interval: 200ms\n    timeout: 200ms\n    rise: 1\n    fall: 1\n",
		pg.Addr, pg.User, pg.Password, pg.Database)
	cfg, err := agent.Parse("agent.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("agent still running 10s after cancel")
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// selectOne opens a fresh session through addr and returns the port of
// the server that answered SELECT 1.
func selectOne(addr string, pg *testenv.Postgres) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	host, port, _ := net.SplitHostPort(addr)
	c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable connect_timeout=2", host, port, pg.User, pg.Password, pg.Database))
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var one, server int
	if err := c.QueryRow(ctx, "SELECT 1, inet_server_port()").Scan(&one, &server); err != nil {
		return 0, err
	}
	return server, nil
}

// TestE2EPostgresHungPrimary is issue item 3, the seed's scenario: two
// private PostgreSQL servers, each with a vitals agent; vitals lb with an
// HTTP monitor to the agents, and a second pool with a TCP-only monitor
// on the same servers. SIGSTOP one postmaster: within delay ×
// max_retries_down + timeout + 1 s every new session through the agent
// pool succeeds on the other server, while the TCP pool still sends some
// into the hung one. SIGCONT: the member comes back after max_retries
// passes.
func TestE2EPostgresHungPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	pg1, pg2 := testenv.StartPostgres(t), testenv.StartPostgres(t)
	pg2.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", pg2.User, pg1.Password))
	pg2.Password = pg1.Password
	a1, a2 := startAgent(t, pg1), startAgent(t, pg2)
	agentPort, tcpPort := testenv.FreePort(t), testenv.FreePort(t)
	const (
		delay          = 500 * time.Millisecond
		timeout        = 400 * time.Millisecond
		maxRetriesDown = 2
		maxRetries     = 2
	)
	yml := fmt.Sprintf(`loadbalancer:
  listeners:
    - {name: agent, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: pg-agent, timeout_member_connect: 1s}
    - {name: tcp, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: pg-tcp, timeout_member_connect: 1s}
  pools:
    - name: pg-agent
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: HTTP, delay: %s, timeout: %s, max_retries: %d, max_retries_down: %d, url_path: /health}
      members:
        - {name: db1, address: 127.0.0.1, protocol_port: %d, monitor_port: %d}
        - {name: db2, address: 127.0.0.1, protocol_port: %d, monitor_port: %d}
    - name: pg-tcp
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: %s, timeout: %s, max_retries: %d, max_retries_down: %d}
      members:
        - {name: tdb1, address: 127.0.0.1, protocol_port: %d}
        - {name: tdb2, address: 127.0.0.1, protocol_port: %d}
`, agentPort, tcpPort, delay, timeout, maxRetries, maxRetriesDown, pg1.Port, a1, pg2.Port, a2,
		delay, timeout, maxRetries, maxRetriesDown, pg1.Port, pg2.Port)
	lb := startLB(t, yml)
	for _, m := range []string{"db1", "db2", "tdb1", "tdb2"} {
		waitStatus(t, lb.eng, m, health.Online, 10*time.Second)
	}
	agentAddr, tcpAddr := fmt.Sprintf("127.0.0.1:%d", agentPort), fmt.Sprintf("127.0.0.1:%d", tcpPort)
	seen := map[int]int{}
	for range 4 {
		port, err := selectOne(agentAddr, pg1)
		if err != nil {
			t.Fatalf("before the pause: %v", err)
		}
		seen[port]++
	}
	if seen[pg1.Port] == 0 || seen[pg2.Port] == 0 {
		t.Fatalf("before the pause sessions went %v; want both servers", seen)
	}

	pg1.Pause(t)
	paused := time.Now()
	bound := delay*maxRetriesDown + timeout + time.Second
	waitStatus(t, lb.eng, "db1", health.Error, bound)
	t.Logf("db1 ERROR %s after SIGSTOP (bound %s)", time.Since(paused).Round(time.Millisecond), bound)
	if wait := bound - time.Since(paused); wait > 0 {
		time.Sleep(wait)
	}
	for i := range 10 {
		port, err := selectOne(agentAddr, pg1)
		if err != nil || port != pg2.Port {
			t.Errorf("session %d through the agent pool: server %d, %v; want pg2 (%d)", i, port, err, pg2.Port)
		}
	}
	hung := 0
	for range 6 {
		if port, err := selectOne(tcpAddr, pg1); err != nil || port != pg2.Port {
			hung++
		}
	}
	if hung == 0 {
		t.Error("the TCP-monitored pool sent no session into the hung server; the contrast is lost")
	}
	t.Logf("TCP pool: %d of 6 sessions hung", hung)

	pg1.Resume(t)
	resumed := time.Now()
	waitStatus(t, lb.eng, "db1", health.Online, delay*(maxRetries+2)+timeout+2*time.Second)
	t.Logf("db1 ONLINE %s after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	// Right after SIGCONT the postmaster still works through the backlog
	// that queued while it was stopped (the TCP pool's abandoned sessions,
	// the agent's checks), so one early session may fail on a loaded
	// machine (seen once: "unexpected EOF"). The claim is that db1 is back
	// in rotation: four sessions must succeed within eight tries and at
	// least one must land on db1.
	seen = map[int]int{}
	ok, tries := 0, 0
	for ; ok < 4 && tries < 8; tries++ {
		port, err := selectOne(agentAddr, pg1)
		if err != nil {
			t.Logf("after resume, session %d: %v", tries, err)
			continue
		}
		ok++
		seen[port]++
	}
	if ok < 4 {
		t.Errorf("after resume only %d of %d sessions succeeded", ok, tries)
	}
	if seen[pg1.Port] == 0 {
		t.Errorf("after resume sessions went %v; want db1 back", seen)
	}
}
