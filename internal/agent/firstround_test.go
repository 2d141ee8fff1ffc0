//go:build linux

package agent_test

// The first seconds tell the truth: the agent binary runs its first round
// of checks before it opens its health listener and agent-check port, so
// the very first answer a load balancer gets is a verdict, never "not yet
// checked"; and a hung database delays the listener by no more than the
// check's timeout (plus a little), while the admin socket is served from
// the start.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// firstRoundAgent writes an agent configuration with one PostgreSQL check
// against pg and the given timeout (interval twice that), with its admin
// socket, health listener and agent-check port on fresh addresses, starts
// the binary and returns the health and agent-check addresses and the
// admin socket's path. The socket lives in a short directory of its own:
// a unix socket path must stay under 108 bytes.
func firstRoundAgent(t *testing.T, pg *testenv.Postgres, timeout time.Duration) (health, agentCheck, socket string) {
	t.Helper()
	bin := buildVitals(t)
	sockDir, err := os.MkdirTemp("", "vfr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket = filepath.Join(sockDir, "agent.sock")
	health = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	agentCheck = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen: %s
admin_socket: %s
state_file: "off"
shutdown_delay: 0s
agent_check:
  listen: %s
checks:
  - name: pg
    type: postgres
    address: %s
    user: %s
    password: %q
    database: %s
    query: SELECT 1
    interval: %s
    timeout: %s
`, health, socket, agentCheck, pg.Addr, pg.User, pg.Password, pg.Database, 2*timeout, timeout))
	testenv.StartVitals(t, "agent", bin, dir, "agent", "--config", cfg)
	return health, agentCheck, socket
}

// dialUntil polls a connect to addr every 5 ms until one succeeds, and
// returns the connection; it fails the test after limit.
func dialUntil(t *testing.T, network, addr string, limit time.Duration) net.Conn {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing accepted on %s %s within %s: %v", network, addr, limit, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// firstAnswer sends one HTTP/1.1 GET /health on c, the first connection
// that got through, and returns the status line and body.
func firstAnswer(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /health?verbose HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

func TestFirstAnswerIsAVerdict(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	// A timeout that leaves a login on a busy machine room to pass.
	health, agentCheck, _ := firstRoundAgent(t, pg, 2*time.Second)

	// The very first connection the port accepts gets 200: the check ran
	// before the listener opened. (Before that change, the listener
	// opened at once and answered 503 "not yet checked" until the
	// check's first run, which came after a jitter of up to a second.)
	ans := firstAnswer(t, dialUntil(t, "tcp", health, 30*time.Second))
	if !strings.HasPrefix(ans, "HTTP/1.1 200 ") {
		t.Fatalf("first answer of a healthy agent:\n%s\nwant 200", ans)
	}
	// The agent-check port opens after the health listener, so it has a
	// verdict too: its first line is "up".
	c := dialUntil(t, "tcp", agentCheck, 10*time.Second)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "up") {
		t.Fatalf("first agent-check line %q (%v), want up", line, err)
	}
}

func TestFirstRoundBoundedByTimeout(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	pg.Pause(t) // SIGSTOP: TCP connects complete, every login hangs
	t.Cleanup(func() { pg.Resume(t) })
	// A long timeout, so the listener's wait is plain to see: the admin
	// socket answers at once, the health port only after the timeout.
	const timeout = 3 * time.Second
	health, _, socket := firstRoundAgent(t, pg, timeout)

	dialUntil(t, "unix", socket, 30*time.Second).Close()
	adminUp := time.Now()
	if c, err := net.DialTimeout("tcp", health, time.Second); err == nil {
		c.Close()
		t.Fatalf("the health port accepted while the first check of a hung database was still running (the admin socket had just opened)")
	}
	// The listener opens anyway once the timeout has passed: the check
	// ends within its timeout, and the agent waits at most that plus
	// half a second. margin covers a loaded machine.
	c := dialUntil(t, "tcp", health, timeout+500*time.Millisecond+margin)
	waited := time.Since(adminUp)
	ans := firstAnswer(t, c)
	if !strings.HasPrefix(ans, "HTTP/1.1 503 ") {
		t.Fatalf("first answer with a hung database:\n%s\nwant 503", ans)
	}
	t.Logf("health port opened %s after the admin socket; first answer:\n%s", waited.Round(time.Millisecond), ans)
}
