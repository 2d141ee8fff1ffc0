//go:build linux

package agent_test

// The agent's acceptance criteria, against real private databases started by
// internal/testenv, the real agent on a real loopback listener and a real
// HTTP client. Each test starts with testenv.Need, so it skips (or fails
// with CI=true) when a server is not installed.
//
//	criterion                                                   test
//	1 healthy: 200 for GET, HEAD, OPTIONS over HTTP/1.0 and 1.1   TestAgent{Postgres,MariaDB}/healthy
//	2 paused: 503 while TCP still connects; resumed: 200          TestAgent{Postgres,MariaDB}/paused
//	3 killed: 503 "connection refused"; restarted: 200            TestAgent{Postgres,MariaDB}/killed
//	4 every non-reserved slot taken: 503; freed: 200              TestAgent{Postgres,MariaDB}/saturated
//	5 check query blocked by a lock: 503, agent responsive        TestAgent{Postgres,MariaDB}/locked
//	7 1,000 concurrent probes: answered from the cache, one
//	  database connection per check run                           TestAgentProbeStorm
//	8 the binary: --ini end to end, --check-config, --once        TestAgentBinary
//	9 slowloris: 200 stalled connections do not delay a probe     TestAgentPostgres/slowloris
//
// Criterion 6 (roles) waits for the role option.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vitals/internal/agent"
	"vitals/internal/testenv"
)

// margin is added to every bound derived from interval, rise, fall and
// timeout: the bounds are about correctness, not speed, and the tests run
// under -race on small machines.
const margin = 3 * time.Second

// TestAgentPostgres runs the criteria that need one PostgreSQL server in
// turn: healthy, slowloris, saturated, locked, paused and killed. The
// check logs in as the non-superuser health and reads table t.
func TestAgentPostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	// 5 slots for non-superusers, 3 reserved for superusers.
	pg := testenv.StartPostgres(t, testenv.WithMaxConnections(8), testenv.WithReservedConnections(3))
	// A PostgreSQL login costs a fork and a SCRAM exchange, which a busy
	// machine under -race can stretch to hundreds of milliseconds: the
	// timeout leaves room for that, or "healthy" would flap.
	const (
		interval = time.Second
		timeout  = time.Second
		rise     = 2
		fall     = 2
	)
	base := startAgent(t, checkYAML("pg", "postgres", pg.Addr, pg.User, pg.Password, pg.Database,
		"query: SELECT count(*) FROM t", schedule(interval, timeout, rise, fall)))
	health, verbose := base+"/health", base+"/health?verbose"
	downWithin := interval*fall + timeout + margin
	upWithin := interval*rise + timeout + margin
	waitStatus(t, health, 200, interval+timeout+margin)

	t.Run("healthy", func(t *testing.T) {
		checkMethods(t, base)
	})

	t.Run("slowloris", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		slowloris(t, base)
	})

	t.Run("saturated", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		// Take every slot a non-superuser may use, as the check's own role,
		// retrying while the agent's check briefly holds one.
		var conns []*pgx.Conn
		closeAll := func() {
			for _, c := range conns {
				c.Close(context.Background())
			}
			conns = nil
		}
		t.Cleanup(closeAll)
		const slots = 8 - 3
		deadline := time.Now().Add(10 * time.Second)
		for len(conns) < slots {
			c, err := pgConnect(t, pg.ConnString())
			switch {
			case err == nil:
				conns = append(conns, c)
				continue
			case !isPgCode(err, "53300") || time.Now().After(deadline):
				t.Fatalf("connection %d of %d as %s: %v", len(conns)+1, slots, pg.User, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var super bool
		if err := conns[0].QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
			t.Fatalf("%s: rolsuper = %v, %v; the check role must not be a superuser", pg.User, super, err)
		}
		if c, err := pgConnect(t, pg.ConnString()); err == nil {
			c.Close(context.Background())
			t.Fatalf("connection %d as %s succeeded; the server is not saturated", slots+1, pg.User)
		} else if !isPgCode(err, "53300") {
			t.Fatalf("connection %d as %s: %v, want SQLSTATE 53300", slots+1, pg.User, err)
		}
		waitStatus(t, verbose, 503, downWithin, "too many connections")
		closeAll()
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("locked", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		conn := pg.SuperConn(t)
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		if _, err := tx.Exec(t.Context(), "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		whileLocked(t, verbose, timeout, downWithin, 5*interval, func() int {
			var n int
			if err := pg.SuperConn(t).QueryRow(t.Context(),
				"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vitals' AND wait_event_type = 'Lock'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		})
		if err := tx.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("paused", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		pg.Pause(t)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				pg.Resume(t)
			}
		})
		waitStatus(t, verbose, 503, downWithin, "timeout after "+timeout.String())
		// The failure mode this agent exists for: a plain TCP check passes.
		tcpConnect(t, pg.Addr)
		pg.Resume(t)
		resumed = true
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("killed", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		pg.Kill(t)
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				pg.Restart(t)
			}
		})
		waitStatus(t, verbose, 503, downWithin, "connection refused")
		pg.Restart(t)
		restarted = true
		waitStatus(t, health, 200, upWithin)
	})
}

// TestAgentMariaDB runs the same criteria against MariaDB: healthy,
// saturated, paused and killed.
func TestAgentMariaDB(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	const maxConns = 10 // MariaDB's minimum
	m := testenv.StartMariaDB(t, testenv.WithMariaDBMaxConnections(maxConns))
	const (
		interval = 500 * time.Millisecond
		timeout  = 400 * time.Millisecond
		rise     = 2
		fall     = 2
	)
	base := startAgent(t, checkYAML("db", "mysql", m.Addr, m.User, m.Password, m.Database,
		"query: SELECT COUNT(*) FROM t", schedule(interval, timeout, rise, fall)))
	health, verbose := base+"/health", base+"/health?verbose"
	downWithin := interval*fall + timeout + margin
	upWithin := interval*rise + timeout + margin
	waitStatus(t, health, 200, interval+timeout+margin)

	t.Run("healthy", func(t *testing.T) {
		checkMethods(t, base)
	})

	t.Run("saturated", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		// MariaDB admits one connection beyond max_connections for SUPER or
		// CONNECTION ADMIN; the check's user must have neither, or a full
		// server would still pass.
		var conns []io.Closer
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for len(conns) < maxConns {
			c, err := mysqlLogin(m.Addr, m.User, m.Password)
			switch {
			case err == nil:
				conns = append(conns, c)
				continue
			case !isMySQLError(err, 1040) || time.Now().After(deadline):
				t.Fatalf("connection %d of %d as %s: %v", len(conns)+1, maxConns, m.User, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if c, err := mysqlLogin(m.Addr, m.User, m.Password); err == nil {
			c.Close()
			t.Fatalf("connection %d as %s succeeded: it has SUPER or CONNECTION ADMIN, or the server is not full", maxConns+1, m.User)
		} else if !isMySQLError(err, 1040) {
			t.Fatalf("connection %d as %s: %v, want error 1040 (too many connections)", maxConns+1, m.User, err)
		}
		waitStatus(t, verbose, 503, downWithin, "too many connections")
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("locked", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		root, err := sql.Open("mysql", m.RootDSN()+m.Database)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		conn, err := root.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "LOCK TABLES t WRITE"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.ExecContext(context.Background(), "UNLOCK TABLES") })
		whileLocked(t, verbose, timeout, downWithin, 5*interval, func() int {
			var n int
			if err := root.QueryRowContext(t.Context(),
				"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE LIKE 'Waiting for%lock%'", m.User).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		})
		if _, err := conn.ExecContext(t.Context(), "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("paused", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		m.Pause(t)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				m.Resume(t)
			}
		})
		waitStatus(t, verbose, 503, downWithin, "timeout after "+timeout.String())
		tcpConnect(t, m.Addr)
		m.Resume(t)
		resumed = true
		waitStatus(t, health, 200, upWithin)
	})

	t.Run("killed", func(t *testing.T) {
		waitStatus(t, health, 200, upWithin)
		m.Kill(t)
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				m.Restart(t)
			}
		})
		waitStatus(t, verbose, 503, downWithin, "connection refused")
		m.Restart(t)
		restarted = true
		waitStatus(t, health, 200, upWithin)
	})
}

// TestAgentProbeStorm: however hard load balancers probe, every answer
// comes from the cache at once, and the database sees one connection per
// check run. A counting relay between the check and the server counts the
// connections.
func TestAgentProbeStorm(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	relay := startRelay(t, pg.Addr)
	// A probe that waited on the check in flight would be answered only
	// when that run ends, so a burst answered entirely while no run ended
	// (vitals_agent_check_runs_total unchanged) was answered from the cache.
	const (
		interval = 3 * time.Second
		timeout  = 3 * time.Second
		requests = 1000
	)
	base := startAgent(t, checkYAML("pg", "postgres", relay.addr, pg.User, pg.Password, pg.Database,
		schedule(interval, timeout, 1, 1)))
	health, metrics := base+"/health", base+"/metrics"
	waitStatus(t, health, 200, interval+timeout+margin)

	// storm sends bursts of 1,000 concurrent GETs and then keeps probing
	// until two intervals have passed since it began. The first burst opens
	// a connection per request; the next ones reuse them. When cached is
	// set, bursts on open connections repeat (up to 5) until one is
	// answered entirely while no check run ended, which shows that no probe
	// waited on the check in flight. Every answer must have one of the
	// codes in want, and the database must see at most one connection per
	// check run meanwhile: no probe opens one.
	storm := func(t *testing.T, cached bool, want ...int) {
		t.Helper()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: requests, MaxIdleConnsPerHost: requests,
		}}
		defer client.CloseIdleConnections()
		before := relay.accepted.Load()
		start := time.Now()
		sent, clean := 0, false
		for round := range 6 {
			runs := checkRuns(t, metrics)
			answers := burst(client, health, requests)
			clean = checkRuns(t, metrics) == runs
			sent += requests
			var (
				bad     []string
				slowest time.Duration
			)
			for i, a := range answers {
				slowest = max(slowest, a.d)
				if a.err != nil || !slices.Contains(want, a.code) {
					bad = append(bad, fmt.Sprintf("#%d: %d in %s (err %v)", i, a.code, a.d.Round(time.Millisecond), a.err))
				}
			}
			what := "on new connections"
			if round > 0 {
				what = "on open connections"
			}
			if len(bad) > 0 {
				t.Errorf("%d of %d concurrent GETs %s were not %v; first: %s",
					len(bad), requests, what, want, strings.Join(bad[:min(len(bad), 5)], "; "))
			}
			t.Logf("%d concurrent GETs %s: slowest %s; a check run ended meanwhile: %v", requests, what, slowest.Round(time.Millisecond), !clean)
			if round > 0 && (clean || !cached) {
				break
			}
		}
		if cached && !clean {
			t.Errorf("in 5 bursts of %d GETs on open connections a check run ended during every one; the probes must be answered from the cache, not wait for the check in flight", requests)
		}
		for time.Since(start) < 2*interval {
			if code, _, err := fetch(client, health); err != nil || !slices.Contains(want, code) {
				t.Fatalf("GET %s: %d, %v; want %v", health, code, err, want)
			}
			sent++
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		conns := relay.accepted.Load() - before
		allowed := int64(elapsed/interval) + 1
		t.Logf("%d probes in %s; the database saw %d connections (at most %d allowed)", sent, elapsed.Round(time.Millisecond), conns, allowed)
		if conns > allowed {
			t.Errorf("the database saw %d connections in %s with interval %s, want at most %d (one per check run, whatever the probe rate)",
				conns, elapsed.Round(time.Millisecond), interval, allowed)
		}
	}

	// The check runs in this process beside the 2,000 goroutines of the
	// storm, so on a busy machine it may miss its timeout now and then, and
	// the storm itself may queue for the CPUs: the healthy phase is about
	// counting connections, and takes either answer at any speed.
	t.Run("healthy", func(t *testing.T) {
		waitStatus(t, health, 200, interval+timeout+margin)
		storm(t, false, 200, 503)
	})

	t.Run("hung", func(t *testing.T) {
		waitStatus(t, health, 200, interval+timeout+margin)
		pg.Pause(t)
		t.Cleanup(func() { pg.Resume(t) })
		// From the first run that hangs on the paused server on, no run
		// can pass.
		waitStatus(t, base+"/health?verbose", 503, interval+timeout+margin, "timeout after "+timeout.String())
		storm(t, true, 503)
	})
}

// TestAgentBinary runs the real binary: the seed's INI file end to end,
// --check-config and --once.
func TestAgentBinary(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	bin := buildVitals(t)
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()

	t.Run("ini", func(t *testing.T) {
		port := testenv.FreePort(t)
		ini := filepath.Join(dir, "seed.ini")
		writeFile(t, ini, fmt.Sprintf(`# The seed script's format: defaults interval 2s, timeout 1s.
[db]
Name = %s
Username = %s
Password = %s
Type = postgresql
Query = SELECT 1
Host = 127.0.0.1
DBPort = %d

[server]
IP = 127.0.0.1
Port = %d
`, pg.Database, pg.User, pg.Password, pg.Port, port))
		logPath := filepath.Join(dir, "agent.log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(bin, "agent", "--ini", ini, "--admin-socket", "off", "--state-file", "off")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				cmd.Process.Kill()
				<-exited
			}
		})
		logTail := func() string { b, _ := os.ReadFile(logPath); return string(b) }

		// Any path answers, as the seed's script did.
		url := fmt.Sprintf("http://127.0.0.1:%d/any/path", port)
		const interval, timeout = 2 * time.Second, time.Second // the INI defaults
		if !pollStatus(url, 200, interval+timeout+margin) {
			t.Fatalf("vitals agent --ini: GET %s not 200 within %s\n--- agent log:\n%s", url, interval+timeout+margin, logTail())
		}
		pg.Pause(t)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				pg.Resume(t)
			}
		})
		if !pollStatus(url, 503, interval+timeout+margin) {
			t.Fatalf("vitals agent --ini: GET %s not 503 within %s of pausing the database\n--- agent log:\n%s", url, interval+timeout+margin, logTail())
		}
		pg.Resume(t)
		resumed = true

		// SIGTERM is a clean stop.
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			stopped = true
			if err != nil {
				t.Errorf("vitals agent after SIGTERM: %v, want exit 0\n--- agent log:\n%s", err, logTail())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("vitals agent still running 10s after SIGTERM\n--- agent log:\n%s", logTail())
		}
	})

	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, checkYAML("db", "postgres", pg.Addr, pg.User, pg.Password, pg.Database, "timeout: 2s"))

	t.Run("check-config", func(t *testing.T) {
		for _, tc := range []struct {
			name, yaml string
			line       int
			want       []string // besides file:line
		}{
			{"negative timeout", `listen: 127.0.0.1:8081
checks:
  - name: db
    type: postgres
    address: 127.0.0.1:5432
    user: health
    timeout: -1s
`, 7, []string{"checks[0] (db).timeout", "must be positive", "e.g. timeout: 1s"}},
			{"misspelt field", `listen: 127.0.0.1:8081
checks:
  - name: db
    type: postgres
    address: 127.0.0.1:5432
    user: health
    intreval: 2s
`, 7, []string{`"intreval"`, "check the spelling"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bad := filepath.Join(t.TempDir(), "bad.yaml")
				writeFile(t, bad, tc.yaml)
				code, stdout, stderr := runVitals(t, bin, "agent", "--check-config", "--config", bad)
				if code != 2 {
					t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
				}
				for _, w := range append([]string{bad + ":" + strconv.Itoa(tc.line) + ":"}, tc.want...) {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr %q does not contain %q", stderr, w)
					}
				}
			})
		}
		code, stdout, stderr := runVitals(t, bin, "agent", "--check-config", "--config", good)
		if code != 0 || !strings.Contains(stdout, "configuration ok") {
			t.Errorf("--check-config on a good file: exit %d, stdout %q, stderr %q; want 0 and \"configuration ok\"", code, stdout, stderr)
		}
	})

	t.Run("once", func(t *testing.T) {
		code, stdout, stderr := runVitals(t, bin, "agent", "--once", "--config", good)
		if code != 0 || !hasLine(stdout, "PASS db ") {
			t.Errorf("--once against a healthy database: exit %d, stdout %q, stderr %q; want 0 and a line \"PASS db ...\"", code, stdout, stderr)
		}
		pg.Kill(t)
		code, stdout, stderr = runVitals(t, bin, "agent", "--once", "--config", good)
		if code != 1 || !hasLine(stdout, "FAIL db ") || !strings.Contains(stdout, "connection refused") {
			t.Errorf("--once against a killed database: exit %d, stdout %q, stderr %q; want 1 and a line \"FAIL db ... connection refused\"", code, stdout, stderr)
		}
	})
}

// whileLocked probes verbose while the check's query is blocked by a lock
// that the caller holds. Every probe must be answered from the cache, not
// by waiting on the check in flight: probes answered while no check run
// completed (vitals_agent_check_runs_total unchanged from before the GET to
// after the answer) must make up most of them, where a probe that waited
// for a run would see the count rise every time. The endpoint must turn 503 with a
// timeout during the query within downWithin and stay 503 with a timeout
// for hold. Then waiting, which counts the check's sessions blocked on the
// lock on the server, must be at most 3: the run in flight and up to two
// that just timed out and are still being torn down. A check that left
// each timed-out query waiting on the server would have one per run there
// (hold spans 5 runs), use up the connection slots, and see its reason turn
// into "too many connections".
func whileLocked(t *testing.T, verbose string, timeout, downWithin, hold time.Duration, waiting func() int) {
	t.Helper()
	metrics := strings.TrimSuffix(verbose, "/health?verbose") + "/metrics"
	reason := "timeout after " + timeout.String() + " during query"
	start := time.Now()
	var failedAt time.Time
	probes, cached := 0, 0
	for {
		runs := checkRuns(t, metrics)
		code, body, _, err := timedGet(verbose)
		if err != nil {
			t.Fatalf("GET %s: %v", verbose, err)
		}
		probes++
		if checkRuns(t, metrics) == runs {
			cached++
		}
		if failedAt.IsZero() {
			if code == 503 && strings.Contains(body, reason) {
				failedAt = time.Now()
			} else if time.Since(start) > downWithin {
				t.Fatalf("not 503 with %q within %s of locking the table; last answer %d %q", reason, downWithin, code, body)
			}
		} else {
			// Later runs may time out during login on a busy machine.
			if code != 503 || !strings.Contains(body, "timeout after "+timeout.String()) {
				t.Fatalf("%s after the check first timed out on the lock: %d %q, want 503 with a timeout",
					time.Since(failedAt).Round(time.Millisecond), code, body)
			}
			if time.Since(failedAt) > hold {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d of %d probes answered while no check run ended", cached, probes)
	if cached < probes/2 || cached < 5 {
		t.Errorf("only %d of %d probes were answered while no check run ended; probes must be answered from the cache, not wait for the check in flight", cached, probes)
	}
	if n := waiting(); n > 3 {
		t.Errorf("%d sessions of the check are waiting on the lock after %s; a timed-out query must be stopped on the server, not left waiting to use up connection slots",
			n, hold)
	}
}

// checkMethods asserts 200 for GET, HEAD and OPTIONS /health over HTTP/1.1
// (the Go client) and HTTP/1.0 (a raw socket, as HAProxy's option httpchk
// sends it), with a body only for GET.
func checkMethods(t *testing.T, base string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		wantBody := ""
		if method == "GET" {
			wantBody = "ok\n"
		}
		req, err := http.NewRequestWithContext(t.Context(), method, base+"/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("%s /health HTTP/1.1: %v", method, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || string(b) != wantBody {
			t.Errorf("%s /health HTTP/1.1: %s %s %q (%v), want HTTP/1.1 200 %q", method, resp.Proto, resp.Status, b, err, wantBody)
		}

		status, body, err := rawRequest(addr, method+" /health HTTP/1.0\r\n\r\n")
		if err != nil {
			t.Fatalf("%s /health HTTP/1.0: %v", method, err)
		}
		if !strings.HasPrefix(status, "HTTP/1.0 200 ") || body != wantBody {
			t.Errorf("%s /health HTTP/1.0: %q %q, want \"HTTP/1.0 200 OK\" %q", method, status, body, wantBody)
		}
	}
}

// slowloris opens 200 connections that send part of a request header and
// then nothing, and checks that a normal probe is still answered at once
// and that the agent drops the slow connections.
func slowloris(t *testing.T, base string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 200 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("GET /health HTTP/1.1\r\nHost: agent\r\nUser-Agent: slow")); err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
	}
	opened := time.Now()
	code, body, d, err := timedGet(base + "/health")
	if err != nil || code != 200 || body != "ok\n" {
		t.Errorf("GET /health with 200 slow connections open: %d %q in %s (%v), want 200 \"ok\\n\"", code, body, d, err)
	}
	// Answered while the slow connections were all still held, not after
	// the agent dropped them: the first one opened is still open.
	conns[0].SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := conns[0].Read(make([]byte, 1)); !isTimeout(err) {
		t.Errorf("GET /health was answered %s after the slow connections stalled, when the first was already dropped (%v); want an answer while all 200 are held", d, err)
	}
	// The agent must not keep them forever: its header timeout (2s) closes
	// them, so they cannot pile up and exhaust its file descriptors.
	deadline := opened.Add(2*time.Second + margin)
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow connection %d still open %s after it stalled: %v", i, time.Since(opened).Round(time.Millisecond), err)
		}
	}
}

// checkRuns returns how many check runs have ended in the agent whose
// metrics endpoint is url: the sum of vitals_agent_check_runs_total.
func checkRuns(t *testing.T, url string) float64 {
	t.Helper()
	code, body, err := fetch(httpClient, url)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	var sum float64
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "vitals_agent_check_runs_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("GET %s: %q: %v", url, line, err)
		}
		sum += v
	}
	return sum
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// answer is one GET's outcome and how long it took.
type answer struct {
	code int
	d    time.Duration
	err  error
}

// burst sends n GETs to url at once, each from its own goroutine released
// by one gate, and returns their answers.
func burst(client *http.Client, url string, n int) []answer {
	answers := make([]answer, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range answers {
		wg.Go(func() {
			<-gate
			t0 := time.Now()
			code, _, err := fetch(client, url)
			answers[i] = answer{code, time.Since(t0), err}
		})
	}
	close(gate)
	wg.Wait()
	return answers
}

// startAgent builds an agent from YAML and serves it on a fresh loopback
// listener until the test ends. It returns the base URL.
func startAgent(t *testing.T, yml string) string {
	t.Helper()
	cfg, err := agent.Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
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
		case err := <-done:
			if err != nil {
				t.Errorf("agent Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("agent Serve still running 10s after its context ended")
		}
	})
	return "http://" + ln.Addr().String()
}

// schedule is the YAML lines of a check's schedule.
func schedule(interval, timeout time.Duration, rise, fall int) string {
	return fmt.Sprintf("interval: %s\n    timeout: %s\n    rise: %d\n    fall: %d", interval, timeout, rise, fall)
}

// checkYAML is an agent configuration with one database check; extra
// lines (e.g. "interval: 500ms") are added to the check. It keeps the agent
// away from the machine's admin socket and state file, and lets it stop at
// once.
func checkYAML(name, kind, addr, user, password, database string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nshutdown_delay: 0s\nchecks:\n  - name: %s\n    type: %s\n    address: %s\n    user: %s\n    password: %q\n    database: %s\n",
		name, kind, addr, user, password, database)
	for _, e := range extra {
		b.WriteString("    " + e + "\n")
	}
	return b.String()
}

// httpClient is the probing client: short timeouts, so a hung agent fails
// the test rather than hanging it.
var httpClient = &http.Client{Timeout: 2 * time.Second}

// fetch GETs url and returns the status code and body.
func fetch(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// timedGet is fetch with the time the whole exchange took.
func timedGet(url string) (int, string, time.Duration, error) {
	start := time.Now()
	code, body, err := fetch(httpClient, url)
	return code, body, time.Since(start), err
}

// waitStatus polls url every 50ms until it answers code with a body holding
// every string in contains, and fails the test with the last answer if that
// does not happen within the bound.
func waitStatus(t *testing.T, url string, code int, within time.Duration, contains ...string) string {
	t.Helper()
	start := time.Now()
	var last string
	for {
		got, body, err := fetch(httpClient, url)
		if err == nil && got == code && containsAll(body, contains) {
			return body
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %q", got, body)
		}
		if time.Since(start) > within {
			t.Fatalf("GET %s: not %d %q within %s; last answer: %s", url, code, contains, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pollStatus is waitStatus that reports instead of failing.
func pollStatus(url string, code int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got, _, err := fetch(httpClient, url); err == nil && got == code {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// rawRequest writes req on a new connection and reads the response until
// the server closes the connection, as it must after an HTTP/1.0 exchange.
// It returns the status line and the body.
func rawRequest(addr, req string) (status, body string, err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", "", err
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		return "", "", fmt.Errorf("read until the server closes (got %q): %w", resp, err)
	}
	head, body, ok := strings.Cut(string(resp), "\r\n\r\n")
	if !ok {
		return "", "", fmt.Errorf("no end of headers in %q", resp)
	}
	status, _, _ = strings.Cut(head, "\r\n")
	return status, body, nil
}

// tcpConnect asserts that a plain TCP connect to addr succeeds.
func tcpConnect(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("plain TCP connect to %s failed: %v; it should succeed, which is why a TCP check is not enough", addr, err)
	}
	c.Close()
}

func pgConnect(t *testing.T, connString string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return pgx.Connect(ctx, connString)
}

func isPgCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// mysqlLogin logs in with the driver the check uses and keeps the
// connection open until Close.
func mysqlLogin(addr, user, password string) (io.Closer, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", addr, user, password
	cfg.Timeout = 5 * time.Second
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	return mysqlConn{db, conn}, nil
}

type mysqlConn struct {
	db   *sql.DB
	conn *sql.Conn
}

func (c mysqlConn) Close() error { return errors.Join(c.conn.Close(), c.db.Close()) }

func isMySQLError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

// relay is a loopback TCP relay to a target that counts the connections
// it accepts: the database's view of how often the check connects.
type relay struct {
	addr     string
	accepted atomic.Int64

	mu    sync.Mutex // guards conns
	conns map[net.Conn]bool
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			wg.Go(func() { r.pipe(c, target) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.conns = nil
		r.mu.Unlock()
		wg.Wait()
	})
	return r
}

// track records c for cleanup; it reports false once the relay is closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[c] = true
	return true
}

// pipe copies both ways and closes both sides when either ends.
func (r *relay) pipe(c net.Conn, target string) {
	defer c.Close()
	if !r.track(c) {
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

// vitalsBin is cmd/vitals, built at most once per test binary by
// buildVitals and removed by TestMain.
var vitalsBin struct {
	once sync.Once
	dir  string // the temp dir holding the binary; "" until built
	path string
	out  string // go build's output when it failed
	err  error
}

// TestMain removes the binary buildVitals built. It is the only TestMain
// of this package (internal and external tests share one test binary).
func TestMain(m *testing.M) {
	code := m.Run()
	if vitalsBin.dir != "" {
		os.RemoveAll(vitalsBin.dir)
	}
	os.Exit(code)
}

// buildVitals returns the path of cmd/vitals, built once for all tests.
func buildVitals(t *testing.T) string {
	t.Helper()
	vitalsBin.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			vitalsBin.err = fmt.Errorf("go not found in PATH; it builds cmd/vitals for these tests: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "vitals-bin-")
		if err != nil {
			vitalsBin.err = err
			return
		}
		vitalsBin.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		path := filepath.Join(dir, "vitals")
		start := time.Now()
		out, err := exec.CommandContext(ctx, goBin, "build", "-buildvcs=false", "-o", path, "vitals/cmd/vitals").CombinedOutput()
		if err != nil {
			vitalsBin.out, vitalsBin.err = string(out), fmt.Errorf("go build vitals/cmd/vitals: %w", err)
			return
		}
		vitalsBin.path = path
		t.Logf("built %s in %s", path, time.Since(start).Round(time.Millisecond))
	})
	if vitalsBin.err != nil {
		t.Fatalf("%v\n%s", vitalsBin.err, vitalsBin.out)
	}
	return vitalsBin.path
}

// runVitals runs the binary to completion (at most 30 s) and returns its
// exit code, stdout and stderr.
func runVitals(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("vitals %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	return 0, "", ""
}

func hasLine(s, prefix string) bool {
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
