//go:build linux

package agent_test

// The "agent in production" acceptance items, against the real binary run as
// a subprocess (so that SIGTERM, SIGHUP and the admin CLI are the real
// ones), a private PostgreSQL and a private HAProxy 2.6 loading
// deploy/haproxy/postgres-agent.cfg, the README's recipe:
//
//	1 httpchk: DOWN while the database is SIGSTOPped, while a TCP check of
//	  the same database still says UP; UP again after SIGCONT   TestInteropHAProxy/paused
//	2 agent-check: MAINT from `vitals agent maintenance on`; from `drain on`
//	  "DRAIN (agent)" and then NOLB (the 404 of disable-on-404) with the
//	  agent's drain flag set; UP after off; both kept across an agent
//	  restart                                                   TestInteropHAProxy/{maintenance,drain,restart}
//	3 SIGTERM: 503 during shutdown_delay without a transport error, then exit 0
//	                                                            TestSignalTermShutdownDelay
//	4 SIGHUP and `vitals agent reload`: a broken config is rejected and
//	  logged, a good one adds and removes checks in the same process
//	                                                            TestSignalHupReload
//
// The helpers buildVitals, runVitals, writeFile, waitStatus, fetch and
// httpClient come from integration_test.go.

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/testenv"
)

// haproxyRecipe is the README's HAProxy recipe, which the interop test runs.
const haproxyRecipe = "../../deploy/haproxy/postgres-agent.cfg"

// TestInteropHAProxy runs HAProxy with the README's recipe (option httpchk
// plus agent-check) in front of a private PostgreSQL, with the real agent
// binary beside it, and a second backend that checks the same database
// with a plain TCP connect.
func TestInteropHAProxy(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "haproxy")
	t.Parallel()
	bin := buildVitals(t)
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()

	httpPort, acPort, fePort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	pwFile := filepath.Join(dir, "db.pass")
	writeFile(t, pwFile, pg.Password+"\n")
	cfgPath := filepath.Join(dir, "agent.yaml")
	socket := filepath.Join(dir, "agent.sock")
	const (
		interval = 500 * time.Millisecond // the agent's check
		timeout  = 400 * time.Millisecond
	)
	writeFile(t, cfgPath, fmt.Sprintf(`listen: 127.0.0.1:%d
admin_socket: %s
state_file: %s
shutdown_delay: 0s
drain_code: 404
agent_check:
  listen: 127.0.0.1:%d
checks:
  - name: db
    type: postgres
    address: %s
    user: %s
    password_file: %s
    database: %s
    query: SELECT count(*) FROM t
    interval: %s
    timeout: %s
`, httpPort, socket, filepath.Join(dir, "agent.state"), acPort, pg.Addr, pg.User, pwFile, pg.Database, interval, timeout))

	// The recipe, with the documentation addresses and the standard ports
	// replaced by this test's. Each token must be there exactly once, so
	// that the recipe cannot drift away from what is tested here.
	recipe, err := os.ReadFile(haproxyRecipe)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(recipe)
	for _, r := range [][2]string{
		{"bind :5432", fmt.Sprintf("bind 127.0.0.1:%d", fePort)},
		{"192.0.2.11:5432", pg.Addr},
		{"192.0.2.12:5432", pg.Addr},
		{"check port 8081 ", fmt.Sprintf("check port %d ", httpPort)},
		{" agent-port 8082 ", fmt.Sprintf(" agent-port %d ", acPort)},
	} {
		if n := strings.Count(cfg, r[0]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once (the test substitutes it)", haproxyRecipe, r[0], n)
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	// For comparison, with the recipe's timing: the same database behind a
	// plain TCP check, and behind the HTTP check alone (no agent-check, so
	// its DOWN is the HTTP check's own).
	cfg += fmt.Sprintf(`
backend postgres_tcp
    default-server check inter 1s fall 2 rise 2
    server db1 %[1]s

backend postgres_httpchk
    option httpchk GET /health
    http-check expect status 200
    default-server check port %[2]d inter 1s fall 2 rise 2
    server db1 %[1]s
`, pg.Addr, httpPort)

	ag := startAgentProcess(t, bin, "--config", cfgPath)
	health := fmt.Sprintf("http://127.0.0.1:%d/health", httpPort)
	waitStatus(t, health, 200, interval+timeout+margin)
	h := haproxyHandle{testenv.StartHAProxy(t, cfg)}

	// HAProxy's bounds: fall (or rise) checks 1s apart, each up to
	// "timeout check", after the agent's own view changed.
	const (
		inter     = time.Second
		checkTime = 2 * time.Second
		agentView = interval + timeout
	)
	haWithin := agentView + 2*(inter+checkTime) + margin
	upBoth := func(t *testing.T) {
		t.Helper()
		waitServers(t, h, haWithin, func(s haproxyStat) error {
			return s.want(map[string]string{"postgres/db1": "UP", "postgres/db2": "UP", "postgres_tcp/db1": "UP", "postgres_httpchk/db1": "UP"})
		})
	}
	upBoth(t)

	t.Run("traffic", func(t *testing.T) {
		// The recipe's frontend carries logins to the database.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pg.User, pg.Password, fePort, pg.Database))
		if err != nil {
			t.Fatalf("login through the recipe's frontend: %v", err)
		}
		defer c.Close(context.Background())
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatalf("query through the recipe's frontend: %v", err)
		}
	})

	t.Run("paused", func(t *testing.T) {
		upBoth(t)
		pg.Pause(t)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				pg.Resume(t)
			}
		})
		// One "show stat" gives every backend at the same moment: the HTTP
		// checks have seen the agent's 503 and marked the server down (in
		// the recipe's backend the agent-check said down too, so HAProxy
		// shows "DOWN (agent)"), while the TCP check of the same paused
		// database still passes.
		httpDown := func(s haproxyStat, key, status string) error {
			db := s.row(key)
			switch {
			case db["status"] != status:
				return fmt.Errorf("%s is %q, want %q", key, db["status"], status)
			case strings.TrimPrefix(db["check_status"], "* ") != "L7STS" || db["check_code"] != "503":
				return fmt.Errorf("%s HTTP check %s %s, want L7STS 503 (the agent's answer)", key, db["check_status"], db["check_code"])
			}
			return nil
		}
		st := waitServers(t, h, haWithin, func(s haproxyStat) error {
			return errors.Join(httpDown(s, "postgres/db1", "DOWN (agent)"), httpDown(s, "postgres_httpchk/db1", "DOWN"))
		})
		if tcp := st.row("postgres_tcp/db1"); tcp["status"] != "UP" || strings.TrimPrefix(tcp["check_status"], "* ") != "L4OK" {
			t.Errorf("with the database paused, the TCP-checked backend is %q (check %s), want UP (L4OK) in the same snapshot as the HTTP-checked ones DOWN",
				tcp["status"], tcp["check_status"])
		}
		t.Logf("paused: postgres/db1 %q (HTTP check %s %s, agent says %q); postgres_httpchk/db1 %q; postgres_tcp/db1 %q (%s)",
			st.row("postgres/db1")["status"], st.row("postgres/db1")["check_status"], st.row("postgres/db1")["check_code"],
			st.row("postgres/db1")["last_agt"], st.row("postgres_httpchk/db1")["status"],
			st.row("postgres_tcp/db1")["status"], st.row("postgres_tcp/db1")["check_status"])
		pg.Resume(t)
		resumed = true
		upBoth(t)
	})

	// admin runs the real CLI against the agent's admin socket.
	admin := func(t *testing.T, args ...string) string {
		t.Helper()
		code, stdout, stderr := runVitals(t, bin, append([]string{"agent"}, append(args, "--socket", socket)...)...)
		if code != 0 {
			t.Fatalf("vitals agent %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	agentWithin := inter + checkTime + margin // one agent-check
	maint := func(s haproxyStat) error {
		db := s.row("postgres/db1")
		// In MAINT, HAProxy pauses the checks and blanks their columns.
		if db["status"] != "MAINT" {
			return fmt.Errorf("postgres/db1 is %q (agent said %q), want MAINT from the agent's maint", db["status"], db["last_agt"])
		}
		return nil
	}
	// Drain: the agent-check says drain, which sets HAProxy's drain flag
	// (shown as "DRAIN (agent)"), and the HTTP check gets the drain code
	// 404, which with disable-on-404 makes the server NOLB. Either way it
	// takes no new sessions and keeps the ones it has. "show servers state"
	// shows the agent's drain flag (srv_admin_state bit 0x08) whatever the
	// status column says.
	drained := func(s haproxyStat) error {
		db := s.row("postgres/db1")
		// L7OKC: "conditionally passed", the 404 of disable-on-404. (A
		// check in progress shows "* L7OKC" and, for a moment, code 0.)
		if db["status"] != "NOLB" || strings.TrimPrefix(db["check_status"], "* ") != "L7OKC" {
			return fmt.Errorf("postgres/db1 is %q (agent said %q, HTTP check %s %s), want NOLB with the HTTP check L7OKC (404)",
				db["status"], db["last_agt"], db["check_status"], db["check_code"])
		}
		if admin, err := h.serverAdminState("postgres", "db1"); err != nil || admin&srvAdminForcedDrain == 0 {
			return fmt.Errorf("postgres/db1 srv_admin_state %#x (%v), want the forced-drain bit 0x08 set by the agent", admin, err)
		}
		return nil
	}
	up := func(s haproxyStat) error {
		db := s.row("postgres/db1")
		if db["status"] != "UP" || db["last_agt"] != "via agent : up" {
			return fmt.Errorf("postgres/db1 is %q (agent said %q), want UP with the agent saying up", db["status"], db["last_agt"])
		}
		return nil
	}

	t.Run("maintenance", func(t *testing.T) {
		upBoth(t)
		if out := admin(t, "maintenance", "on"); out != `{"maintenance":true,"drain":false}` {
			t.Errorf("maintenance on printed %q", out)
		}
		waitServers(t, h, agentWithin, maint)
		holdServers(t, h, 2*inter, maint)
		waitStatus(t, health, 503, time.Second, "maintenance")
		admin(t, "maintenance", "off")
		waitServers(t, h, haWithin, up)
	})

	t.Run("drain", func(t *testing.T) {
		upBoth(t)
		if out := admin(t, "drain", "on"); out != `{"maintenance":false,"drain":true}` {
			t.Errorf("drain on printed %q", out)
		}
		waitServers(t, h, haWithin, drained)
		// Draining keeps the sessions: the server must not go DOWN (which
		// with on-marked-down shutdown-sessions would cut them).
		holdServers(t, h, 2*inter, drained)
		waitStatus(t, health, 404, time.Second, "draining")
		if tcp := h.stat(t).row("postgres_tcp/db1"); tcp["status"] != "UP" {
			t.Errorf("postgres_tcp/db1 is %q while draining, want UP (it has no agent)", tcp["status"])
		}
		admin(t, "drain", "off")
		waitServers(t, h, haWithin, up)
	})

	t.Run("restart", func(t *testing.T) {
		// The state file keeps maintenance and drain: a restarted agent
		// tells HAProxy the same thing without any new command.
		for _, tc := range []struct {
			verb  string
			judge func(haproxyStat) error
		}{
			{"maintenance", maint},
			{"drain", drained},
		} {
			upBoth(t)
			admin(t, tc.verb, "on")
			waitServers(t, h, haWithin, tc.judge)
			pid := ag.cmd.Process.Pid
			ag.stop(t, syscall.SIGTERM, 0, 10*time.Second)
			ag = startAgentProcess(t, bin, "--config", cfgPath)
			if ag.cmd.Process.Pid == pid {
				t.Fatal("the agent was not restarted")
			}
			want := map[string]string{"maintenance": `{"maintenance":true,"drain":false}`, "drain": `{"maintenance":false,"drain":true}`}[tc.verb]
			deadline := time.Now().Add(5 * time.Second)
			for {
				code, stdout, _ := runVitals(t, bin, "agent", tc.verb, "status", "--socket", socket)
				if code == 0 && strings.TrimSpace(stdout) == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("restarted agent: %s status %q (exit %d), want %s from the state file\n--- agent log:\n%s", tc.verb, stdout, code, want, ag.log())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// A forgetful agent would now say "up ready" and HAProxy would
			// leave MAINT or drain within one agent-inter: hold the state
			// over several agent checks of the new process.
			waitServers(t, h, haWithin, tc.judge)
			holdServers(t, h, 3*inter, tc.judge)
			admin(t, tc.verb, "off")
			waitServers(t, h, haWithin, up)
		}
	})
}

// TestSignalTermShutdownDelay: after SIGTERM the agent answers 503 for
// shutdown_delay on keep-alive and new connections alike, with no reset or
// other transport error, and the agent-check port says down; then it exits
// 0 and the port is closed.
func TestSignalTermShutdownDelay(t *testing.T) {
	t.Parallel()
	bin := buildVitals(t)
	dir := t.TempDir()
	httpPort, acPort := testenv.FreePort(t), testenv.FreePort(t)
	const delay = 2 * time.Second
	cfgPath := filepath.Join(dir, "agent.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: 127.0.0.1:%d
admin_socket: %s
state_file: %s
shutdown_delay: %s
agent_check:
  listen: 127.0.0.1:%d
checks:
  - name: flag
    type: file
    path: %s
    interval: 200ms
    timeout: 100ms
`, httpPort, filepath.Join(dir, "agent.sock"), filepath.Join(dir, "agent.state"), delay, acPort, filepath.Join(dir, "down")))
	ag := startAgentProcess(t, bin, "--config", cfgPath)
	url := fmt.Sprintf("http://127.0.0.1:%d/health", httpPort)
	waitStatus(t, url, 200, 5*time.Second)

	// Keep-alive probers, each with its own connection pool, probing every
	// few milliseconds, so that at SIGTERM some connections sit idle
	// between requests and others carry one.
	const probers = 4
	type probeAnswer struct {
		start time.Time
		code  int
		err   error
	}
	var (
		mu      sync.Mutex
		answers []probeAnswer
		retries atomic.Int64 // requests sent again on a new connection by the client
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for range probers {
		tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
		client := &http.Client{Timeout: 2 * time.Second, Transport: tr}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conns := 0
				trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", url, nil)
				a := probeAnswer{start: time.Now()}
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					a.code = resp.StatusCode
				}
				a.err = err
				if conns > 1 {
					retries.Add(int64(conns - 1))
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				time.Sleep(3 * time.Millisecond)
			}
		})
	}
	// A keep-alive connection that is idle at SIGTERM, as a load
	// balancer's between two probes, and is used again after it: a client
	// that does not retry must get the 503, not a closed connection.
	idle, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleReader := bufio.NewReader(idle)
	probeIdle := func() (*http.Response, error) {
		idle.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(idle, "GET /health HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(idleReader, nil)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, err
	}
	if resp, err := probeIdle(); err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first probe on the keep-alive connection: %v, %v; want 200 kept alive", resp, err)
	}

	time.Sleep(300 * time.Millisecond) // keep-alive connections in use
	sent := time.Now()
	if err := ag.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The agent-check port says down for the whole delay.
	time.Sleep(200 * time.Millisecond)
	if resp, err := probeIdle(); err != nil || resp.StatusCode != 503 || !resp.Close {
		t.Errorf("probe on a keep-alive connection idle at SIGTERM: %v, %v; want 503 with Connection: close", resp, err)
	} else if n, err := idleReader.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after the 503 with Connection: close: read %d, %v; want the agent to close the connection (EOF)", n, err)
	}
	line, err := readAgentCheck(fmt.Sprintf("127.0.0.1:%d", acPort))
	if err != nil || line != "down # shutting down" {
		t.Errorf("agent-check during the shutdown delay: %q, %v; want \"down # shutting down\"", line, err)
	}
	// Probe until shortly before the delay ends; after it, the listener
	// closes and connections are refused, as they must be.
	time.Sleep(time.Until(sent.Add(delay - 300*time.Millisecond)))
	close(stop)
	wg.Wait()

	code, exitedAt := ag.wait(t, delay+margin)
	exitedAfter := exitedAt.Sub(sent)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n--- agent log:\n%s", code, ag.log())
	}
	if exitedAfter < delay {
		t.Errorf("exited %s after SIGTERM, before the %s shutdown delay", exitedAfter.Round(time.Millisecond), delay)
	}
	var before200, during503, errs, other int
	var firstErr error
	for _, a := range answers {
		switch {
		case a.err != nil:
			errs++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s after SIGTERM: %w", a.start.Sub(sent).Round(time.Millisecond), a.err)
			}
		case a.start.Before(sent) && a.code == 200:
			before200++
		case a.start.After(sent.Add(100*time.Millisecond)) && a.code == 503:
			during503++
		case a.start.After(sent.Add(100 * time.Millisecond)):
			other++
		}
	}
	t.Logf("%d probes: %d × 200 before SIGTERM, %d × 503 during the delay, %d other, %d transport errors, %d requests retried by the client; exit %d after %s",
		len(answers), before200, during503, other, errs, retries.Load(), code, exitedAfter.Round(time.Millisecond))
	if errs > 0 {
		t.Errorf("%d probes failed with a transport error during the shutdown delay; first: %v", errs, firstErr)
	}
	if other > 0 {
		t.Errorf("%d probes during the shutdown delay were not 503", other)
	}
	if before200 == 0 || during503 < 50 {
		t.Errorf("too few probes to judge: %d before SIGTERM, %d during the delay", before200, during503)
	}
	if _, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second); err == nil {
		t.Error("the health port still accepts connections after the agent exited")
	}
	if log := ag.log(); !strings.Contains(log, "shutting down") {
		t.Errorf("the agent did not log its shutdown:\n%s", log)
	}
}

// TestSignalHupReload: SIGHUP and `vitals agent reload` re-read the
// configuration in the running process. A broken file is rejected with a
// log line that names the file, line and field, and the old configuration
// keeps serving; a good one adds and removes checks.
func TestSignalHupReload(t *testing.T) {
	t.Parallel()
	bin := buildVitals(t)
	dir := t.TempDir()
	httpPort := testenv.FreePort(t)
	socket := filepath.Join(dir, "agent.sock")
	cfgPath := filepath.Join(dir, "agent.yaml")
	config := func(checks ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:%d\nadmin_socket: %s\nstate_file: %s\nshutdown_delay: 0s\nchecks:\n",
			httpPort, socket, filepath.Join(dir, "agent.state"))
		for _, c := range checks {
			fmt.Fprintf(&b, "  - name: %s\n    type: file\n    path: %s\n    interval: 200ms\n    timeout: 100ms\n", c, filepath.Join(dir, c+".down"))
		}
		return b.String()
	}
	writeFile(t, cfgPath, config("db", "old"))
	ag := startAgentProcess(t, bin, "--config", cfgPath)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitStatus(t, base+"/health/old", 200, 5*time.Second)
	pid := ag.cmd.Process.Pid
	sameProcess := func(t *testing.T) {
		t.Helper()
		if ag.cmd.Process.Pid != pid || ag.exitedYet() {
			t.Fatalf("the agent (pid %d) is no longer running: a reload must not restart it\n--- agent log:\n%s", pid, ag.log())
		}
	}
	// broken adds a check "new" whose timeout exceeds its interval.
	broken, brokenLine := config("db", "old", "new"), 0
	lines := strings.Split(broken, "\n")
	for i, l := range lines {
		if l == "  - name: new" {
			lines[i+4] = "    timeout: 5s"
			brokenLine = i + 5
		}
	}
	broken = strings.Join(lines, "\n")
	wantReason := fmt.Sprintf("%s:%d: checks[2] (new).timeout: 5s is longer than interval 200ms", cfgPath, brokenLine)

	t.Run("sighup-broken", func(t *testing.T) {
		writeFile(t, cfgPath, broken)
		if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		line := ag.waitLog(t, "reload rejected", 5*time.Second)
		if !strings.Contains(line, wantReason) {
			t.Errorf("the rejection logged %q; want it to name the problem, %q", line, wantReason)
		}
		waitStatus(t, base+"/health/old", 200, 5*time.Second)
		if code, _, err := fetch(httpClient, base+"/health/new"); err != nil || code != 404 {
			t.Errorf("/health/new after a rejected reload: %d, %v; want 404", code, err)
		}
		sameProcess(t)
	})

	t.Run("sighup-good", func(t *testing.T) {
		writeFile(t, cfgPath, config("db", "new"))
		if err := ag.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, base+"/health/new", 200, 5*time.Second)
		waitStatus(t, base+"/health/old", 404, 5*time.Second)
		waitStatus(t, base+"/health", 200, 5*time.Second)
		ag.waitLog(t, "configuration reloaded", 5*time.Second)
		sameProcess(t)
	})

	t.Run("admin-reload", func(t *testing.T) {
		writeFile(t, cfgPath, config("db", "third"))
		code, stdout, stderr := runVitals(t, bin, "agent", "reload", "--config", cfgPath)
		if code != 0 || strings.TrimSpace(stdout) != "reloaded" {
			t.Fatalf("vitals agent reload: exit %d, stdout %q, stderr %q; want 0 and \"reloaded\"", code, stdout, stderr)
		}
		waitStatus(t, base+"/health/third", 200, 5*time.Second)
		waitStatus(t, base+"/health/new", 404, 5*time.Second)
		sameProcess(t)

		// A broken file: the agent rejects it and says why, through the
		// socket to the command's stderr, and keeps serving.
		writeFile(t, cfgPath, strings.ReplaceAll(broken, "name: old", "name: third"))
		code, stdout, stderr = runVitals(t, bin, "agent", "reload", "--socket", socket)
		if code != 1 || !strings.Contains(stderr, wantReason) {
			t.Errorf("vitals agent reload of a broken file: exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, wantReason)
		}
		waitStatus(t, base+"/health/third", 200, 5*time.Second)
		sameProcess(t)

		// With --config the command reads the file first: a broken one is
		// a configuration error, exit 2 as everywhere (README, Reload),
		// and the agent is not asked.
		code, stdout, stderr = runVitals(t, bin, "agent", "reload", "--config", cfgPath)
		if code != 2 || stdout != "" || !strings.Contains(stderr, wantReason) {
			t.Errorf("vitals agent reload --config of a broken file: exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, wantReason)
		}
		waitStatus(t, base+"/health/third", 200, 5*time.Second)
		sameProcess(t)
	})
}

// agentProcess is `vitals agent` run as a subprocess until the test ends.
type agentProcess struct {
	cmd    *exec.Cmd
	stderr *testenv.SyncBuffer
	done   chan struct{} // closed when the process has exited
	at     time.Time     // when it exited; set before done is closed
	err    error         // what Wait returned; set before done is closed
}

// startAgentProcess starts the binary with `agent args...`, registers a
// cleanup that kills it if it still runs, and returns at once.
func startAgentProcess(t *testing.T, bin string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"agent"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.at = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exitedYet() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *agentProcess) exitedYet() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *agentProcess) log() string { return p.stderr.String() }

// wait waits up to within for the process to exit and returns its exit
// code and when it exited.
func (p *agentProcess) wait(t *testing.T, within time.Duration) (int, time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("vitals agent still running %s later\n--- agent log:\n%s", within, p.log())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, p.at
	case errors.As(p.err, &ee) && ee.Exited():
		return ee.ExitCode(), p.at
	}
	t.Fatalf("vitals agent: %v\n--- agent log:\n%s", p.err, p.log())
	return 0, time.Time{}
}

// stop sends sig and asserts that the process exits with code within the
// bound.
func (p *agentProcess) stop(t *testing.T, sig syscall.Signal, code int, within time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.wait(t, within); got != code {
		t.Fatalf("vitals agent after %v: exit %d, want %d\n--- agent log:\n%s", sig, got, code, p.log())
	}
}

// waitLog waits until the agent's log has a line containing s, and
// returns that line.
func (p *agentProcess) waitLog(t *testing.T, s string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for line := range strings.Lines(p.log()) {
			if strings.Contains(line, s) {
				return strings.TrimSpace(line)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %s\n--- agent log:\n%s", s, within, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAgentCheck reads the one line an agent-check port answers.
func readAgentCheck(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	line, _, ok := strings.Cut(string(b), "\n")
	if !ok {
		return string(b), fmt.Errorf("no line end in %q (%v)", b, err)
	}
	return line, nil
}

// haproxyStat is one "show stat" snapshot: the columns of each
// "backend/server" row.
type haproxyStat map[string]map[string]string

func (s haproxyStat) row(key string) map[string]string {
	if r, ok := s[key]; ok {
		return r
	}
	return map[string]string{}
}

// want reports the first server whose status differs from the wanted one.
func (s haproxyStat) want(status map[string]string) error {
	for key, want := range status {
		if got := s.row(key)["status"]; got != want {
			r := s.row(key)
			return fmt.Errorf("%s is %q (check %s %s, agent %q), want %q", key, got, r["check_status"], r["check_code"], r["last_agt"], want)
		}
	}
	return nil
}

// stat takes a "show stat" snapshot.
func (h haproxyHandle) stat(t *testing.T) haproxyStat {
	t.Helper()
	s, err := parseShowStat(h.Command(t, "show stat"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// haproxyHandle adds snapshot helpers to testenv.HAProxy.
type haproxyHandle struct{ *testenv.HAProxy }

// srvAdminForcedDrain is SRV_ADMF_FDRAIN in "show servers state"'s
// srv_admin_state: drain forced by the CLI or the agent.
const srvAdminForcedDrain = 0x08

// serverAdminState reads srv_admin_state from "show servers state".
func (h haproxyHandle) serverAdminState(backend, server string) (int, error) {
	out, err := h.commandErr("show servers state " + backend)
	if err != nil {
		return 0, err
	}
	var header []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "#":
			header = f[1:]
		case len(f) > 4 && len(header) > 0 && f[1] == backend && f[3] == server:
			for i, name := range header {
				if name == "srv_admin_state" && i < len(f) {
					return strconv.Atoi(f[i])
				}
			}
			return 0, fmt.Errorf("show servers state: no srv_admin_state column in %q", header)
		}
	}
	return 0, fmt.Errorf("show servers state: no server %s/%s in %q", backend, server, out)
}

// commandErr sends one command to the stats socket and returns the reply.
// Unlike testenv's Command it reports errors instead of failing the test,
// for the judges of waitServers.
func (h haproxyHandle) commandErr(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.StatsSocket, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(c, 16<<20))
	return string(b), err
}

// parseShowStat parses "show stat" CSV, whose header is "# pxname,svname,...".
func parseShowStat(out string) (haproxyStat, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("show stat: %v (reply %q)", err, out)
	}
	header := recs[0]
	if len(header) < 2 || header[0] != "pxname" || header[1] != "svname" {
		return nil, fmt.Errorf("show stat: unexpected header %q", header)
	}
	s := haproxyStat{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, v := range rec {
			if i < len(header) {
				row[header[i]] = v
			}
		}
		if len(rec) > 1 {
			s[rec[0]+"/"+rec[1]] = row
		}
	}
	return s, nil
}

// holdServers asserts that every "show stat" snapshot, taken every 100ms
// for d, satisfies judge.
func holdServers(t *testing.T, h haproxyHandle, d time.Duration, judge func(haproxyStat) error) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if err := judge(h.stat(t)); err != nil {
			t.Fatalf("%s into a state HAProxy should have kept: %v", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitServers polls "show stat" every 100ms until judge accepts a
// snapshot, and returns it; it fails the test with judge's last complaint
// after within. It logs the statuses each server went through.
func waitServers(t *testing.T, h haproxyHandle, within time.Duration, judge func(haproxyStat) error) haproxyStat {
	t.Helper()
	start := time.Now()
	seen := map[string][]string{}
	var keys []string
	for {
		s := h.stat(t)
		for key, row := range s {
			if row["svname"] == "BACKEND" || row["svname"] == "FRONTEND" {
				continue
			}
			st := seen[key]
			if len(st) == 0 {
				keys = append(keys, key)
			}
			if len(st) == 0 || st[len(st)-1] != row["status"] {
				seen[key] = append(st, row["status"])
			}
		}
		err := judge(s)
		if err == nil || time.Since(start) > within {
			var b strings.Builder
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "; %s %s", k, strings.Join(seen[k], " → "))
			}
			if err != nil {
				t.Fatalf("HAProxy not as wanted within %s: %v (statuses seen%s)", within, err, b.String())
			}
			t.Logf("HAProxy as wanted after %s (statuses seen%s)", time.Since(start).Round(time.Millisecond), b.String())
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}
