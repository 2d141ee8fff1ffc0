//go:build linux

package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/testenv"
)

// roleYAML configures an agent with a plain login check and Patroni-style
// role endpoints: /primary passes only on a primary, /replica only on a
// replica that is no more than maxLag behind.
func roleYAML(kind, addr, user, password, database, maxLag string) string {
	check := func(name, extra string) string {
		return fmt.Sprintf("  - name: %s\n    type: %s\n    address: %s\n    user: %s\n    password: %q\n    database: %s\n    interval: 1s\n    timeout: 1s\n%s",
			name, kind, addr, user, password, database, extra)
	}
	return "listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nshutdown_delay: 0s\nchecks:\n" +
		check("db", "") +
		check("primary", "    role: primary\n") +
		check("replica", "    role: replica\n    max_replication_lag: "+maxLag+"\n") +
		"endpoints:\n  - path: /health\n    checks: [db]\n  - path: /primary\n    checks: [primary]\n  - path: /replica\n    checks: [replica]\n"
}

func TestAgentRolesPostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "pg_basebackup")
	primary := testenv.StartPostgres(t)
	standby := testenv.StartPostgresStandby(t, primary)
	primary.Exec(t, "CREATE TABLE lagtest (x int)")
	standby.WaitReplicated(t, primary)

	onPrimary := startAgent(t, roleYAML("postgres", primary.Addr, primary.User, primary.Password, primary.Database, "2s"))
	onStandby := startAgent(t, roleYAML("postgres", standby.Addr, standby.User, standby.Password, standby.Database, "2s"))
	within := 2*time.Second + margin

	waitStatus(t, onPrimary+"/primary", 200, within)
	waitStatus(t, onPrimary+"/replica", 503, within, "role is primary, want replica")
	waitStatus(t, onStandby+"/replica", 200, within)
	waitStatus(t, onStandby+"/primary", 503, within, "role is replica, want primary")
	waitStatus(t, onStandby+"/health", 200, within)

	// Pause replay on the standby while the primary keeps writing: the
	// standby's lag grows past max_replication_lag and /replica fails,
	// while the standby itself still serves (/health stays 200).
	standby.PauseReplay(t)
	stop := make(chan struct{})
	writes := make(chan error, 1)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				writes <- nil
				return
			case <-tick.C:
				if err := execNoFatal(primary, fmt.Sprintf("INSERT INTO lagtest VALUES (%d)", i)); err != nil {
					writes <- err
					return
				}
			}
		}
	}()
	body := waitStatus(t, onStandby+"/replica?verbose", 503, 2*time.Second+within, "replication lag")
	if !strings.Contains(body, "above 2s") {
		t.Errorf("lag failure body %q, want the limit named", body)
	}
	waitStatus(t, onStandby+"/health", 200, within)
	close(stop)
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	standby.ResumeReplay(t)
	waitStatus(t, onStandby+"/replica", 200, within+5*time.Second)
}

// execNoFatal runs SQL on the primary from a goroutine, where t.Fatal is
// not allowed.
func execNoFatal(pg *testenv.Postgres, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.SuperConnString())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func TestAgentRolesMariaDB(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t)
	base := startAgent(t, roleYAML("mysql", m.Addr, m.User, m.Password, m.Database, "10s"))
	within := 2*time.Second + margin

	waitStatus(t, base+"/primary", 200, within)
	waitStatus(t, base+"/replica", 503, within, "role is primary, want replica")
	m.Exec(t, "SET GLOBAL read_only = 1")
	waitStatus(t, base+"/replica", 200, within)
	waitStatus(t, base+"/primary", 503, within, "role is replica, want primary")
	waitStatus(t, base+"/health", 200, within)
	m.Exec(t, "SET GLOBAL read_only = 0")
	waitStatus(t, base+"/primary", 200, within)
}

// oneCheckYAML configures an agent with one database check and no
// endpoints, so that the built-in role endpoints answer on bare paths.
func oneCheckYAML(kind, addr, user, password, database string) string {
	extra := []string{"interval: 1s", "timeout: 1s"}
	if kind == "postgres" {
		extra = append(extra, "sslmode: disable") // one connection per login
	}
	return checkYAML("db", kind, addr, user, password, database, extra...)
}

// roleJSON GETs url (with ?format=json) and returns the check db's entry.
func roleJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	_, body, err := fetch(httpClient, url)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Checks map[string][]map[string]any `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, body)
	}
	if len(out.Checks["db:responseTime"]) != 1 {
		t.Fatalf("GET %s: no check db in %q", url, body)
	}
	return out.Checks["db:responseTime"][0]
}

// wantCodes GETs each path under base once and compares the status codes.
func wantCodes(t *testing.T, base string, want map[string]int) {
	t.Helper()
	for p, code := range want {
		got, body, err := fetch(httpClient, base+p)
		if err != nil || got != code {
			t.Errorf("GET %s: %d %q (%v), want %d", p, got, body, err, code)
		}
	}
}

// metricValue returns the value of the series line that starts with
// series in the agent's /metrics, or -1 when there is none.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	_, body, err := fetch(httpClient, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// TestAgentRoleEndpointsPostgres runs the built-in role endpoints against a
// real primary and standby: one agent per node, each with one check that
// connects through a counting proxy.
func TestAgentRoleEndpointsPostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "pg_basebackup")
	primary := testenv.StartPostgres(t)
	standby := testenv.StartPostgresStandby(t, primary)
	primary.Exec(t, "CREATE TABLE lagtest (x int)")
	standby.WaitReplicated(t, primary)

	pProxy, sProxy := testenv.StartCountingProxy(t, primary.Addr), testenv.StartCountingProxy(t, standby.Addr)
	onPrimary := startAgent(t, oneCheckYAML("postgres", pProxy.Addr, primary.User, primary.Password, primary.Database))
	onStandby := startAgent(t, oneCheckYAML("postgres", sProxy.Addr, standby.User, standby.Password, standby.Database))
	within := 2*time.Second + margin
	waitStatus(t, onPrimary+"/primary", 200, within)
	waitStatus(t, onStandby+"/replica", 200, within)

	t.Run("roles", func(t *testing.T) {
		wantCodes(t, onPrimary, map[string]int{
			"/primary": 200, "/leader": 200, "/read-write": 200, "/read-only": 200, "/replica": 503,
			"/health/db/primary": 200, "/health/db/replica": 503, "/health": 200,
		})
		wantCodes(t, onStandby, map[string]int{
			"/primary": 503, "/leader": 503, "/read-write": 503, "/read-only": 200, "/replica": 200,
			"/replica?lag=16MB": 200, "/replica?lag=10s": 200, "/health/db/replica": 200, "/health": 200,
		})
		waitStatus(t, onStandby+"/primary", 503, 0, "role is replica, want primary")
		waitStatus(t, onPrimary+"/replica", 503, 0, "role is primary, want replica")
	})

	t.Run("json", func(t *testing.T) {
		for _, p := range []string{"/primary?format=json", "/health/db?format=json"} {
			one := roleJSON(t, onPrimary+p)
			if one["role"] != "primary" || one["replicationLagBytes"] != 0.0 || one["replicationLagSeconds"] != 0.0 {
				t.Errorf("primary %s: %v, want role primary, lag 0 bytes and 0 s as numbers", p, one)
			}
		}
		one := roleJSON(t, onStandby+"/replica?format=json")
		if _, isNum := one["replicationLagBytes"].(float64); one["role"] != "replica" || !isNum {
			t.Errorf("standby: %v, want role replica and the lag in bytes as a number", one)
		}
	})

	t.Run("bad lag", func(t *testing.T) {
		for _, p := range []string{"/replica?lag=", "/replica?lag=abc", "/replica?lag=-1s", "/replica?lag=10%25",
			"/replica?lag=1s&lag=2s", "/read-only?lag=1x", "/primary?lag=1s"} {
			waitStatus(t, onStandby+p, 400, 0, "lag")
		}
	})

	t.Run("one login per interval", func(t *testing.T) {
		// Every endpoint, polled many times over a few intervals, is
		// answered from the cached run: the logins through the proxy
		// follow the runs, not the requests.
		runs := func() float64 {
			return metricValue(t, onStandby, `vitals_agent_check_runs_total{check="db",result="pass"}`)
		}
		paths := []string{"/primary", "/leader", "/replica", "/replica?lag=16MB", "/replica?lag=10s", "/read-write",
			"/read-only", "/read-only?lag=1s", "/health", "/health/db", "/health/db/replica?format=json"}
		runs0, logins0 := runs(), sProxy.Accepted()
		requests := 0
		// Until three more runs, within 15 s.
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && runs()-runs0 < 3; {
			for _, p := range paths {
				if _, _, err := fetch(httpClient, onStandby+p); err != nil {
					t.Fatal(err)
				}
				requests++
			}
			time.Sleep(10 * time.Millisecond)
		}
		runs1, logins1 := runs(), sProxy.Accepted()
		dRuns, dLogins := int64(runs1-runs0), logins1-logins0
		t.Logf("%d requests to %d endpoints: %d runs, %d logins", requests, len(paths), dRuns, dLogins)
		if dRuns < 1 || dLogins > dRuns+1 || dLogins < dRuns-1 {
			t.Errorf("%d requests: %d runs and %d logins; want one login per run", requests, dRuns, dLogins)
		}
		if requests < 10*len(paths) {
			t.Errorf("only %d requests: too few to tell logins from requests", requests)
		}
	})

	t.Run("lag", func(t *testing.T) {
		// Replay paused on the standby while the primary writes: the WAL
		// it received and has not replayed grows past 1MB, and the age of
		// its last replayed commit past 500ms.
		standby.PauseReplay(t)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				standby.ResumeReplay(t)
			}
		})
		primary.Exec(t, "INSERT INTO lagtest SELECT generate_series(1, 100000)")
		within := 2*time.Second + margin
		waitStatus(t, onStandby+"/replica?lag=1MB", 503, within, "replication lag", "bytes above 1MB")
		waitStatus(t, onStandby+"/replica?lag=500ms", 503, within, "replication lag", "above 500ms")
		wantCodes(t, onStandby, map[string]int{
			"/replica": 200, "/replica?lag=1GB": 200, "/replica?lag=1h": 200,
			"/read-only?lag=1MB": 503, "/read-only?lag=1GB": 200, "/health": 200,
		})
		one := roleJSON(t, onStandby+"/replica?format=json")
		t.Logf("paused replay: role %v, %v bytes, %v s behind", one["role"], one["replicationLagBytes"], one["replicationLagSeconds"])
		if b, _ := one["replicationLagBytes"].(float64); b < 1e6 {
			t.Errorf("paused replay: %v, want replicationLagBytes above 1MB", one)
		}
		if s, _ := one["replicationLagSeconds"].(float64); s <= 0.5 {
			t.Errorf("paused replay: %v, want replicationLagSeconds above 0.5", one)
		}
		if v := metricValue(t, onStandby, `vitals_agent_check_replication_lag_bytes{check="db"}`); v < 1e6 {
			t.Errorf("vitals_agent_check_replication_lag_bytes is %g, want above 1MB", v)
		}
		if v := metricValue(t, onStandby, `vitals_agent_check_role{check="db",role="replica"}`); v != 1 {
			t.Errorf(`vitals_agent_check_role{role="replica"} is %g, want 1`, v)
		}

		standby.ResumeReplay(t)
		resumed = true
		standby.WaitReplicated(t, primary)
		waitStatus(t, onStandby+"/replica?lag=1MB", 200, within)
		waitStatus(t, onStandby+"/replica?lag=500ms", 200, within)
	})
}

// TestAgentRoleEndpointsMariaDB runs the role endpoints against a private
// MariaDB whose read_only the test turns on and off.
func TestAgentRoleEndpointsMariaDB(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t)
	base := startAgent(t, oneCheckYAML("mysql", m.Addr, m.User, m.Password, m.Database))
	within := 2*time.Second + margin
	t.Cleanup(func() { m.Exec(t, "SET GLOBAL read_only = 0") })

	waitStatus(t, base+"/primary", 200, within)
	wantCodes(t, base, map[string]int{
		"/primary": 200, "/leader": 200, "/read-write": 200, "/read-only": 200, "/read-only?lag=10s": 200, "/replica": 503,
	})
	one := roleJSON(t, base+"/primary?format=json")
	if _, hasBytes := one["replicationLagBytes"]; one["role"] != "primary" || one["readOnly"] != false || one["replicationLagSeconds"] != 0.0 || hasBytes {
		t.Errorf("read_only off: %v, want role primary, readOnly false, lag 0 s and no lag in bytes", one)
	}
	// MySQL knows lag in seconds only.
	waitStatus(t, base+"/replica?lag=16MB", 400, 0, "seconds only")

	m.Exec(t, "SET GLOBAL read_only = 1")
	waitStatus(t, base+"/replica", 200, within)
	wantCodes(t, base, map[string]int{
		"/primary": 503, "/leader": 503, "/read-write": 503, "/read-only": 200, "/replica": 200,
		// No replication channel: nothing to lag behind.
		"/replica?lag=10s": 200,
	})
	if one := roleJSON(t, base+"/replica?format=json"); one["role"] != "replica" || one["readOnly"] != true {
		t.Errorf("read_only on: %v, want role replica, readOnly true", one)
	}

	// A replica of a port nobody listens on: replication is not running,
	// so its lag is unknown and ?lag= fails, while /replica still passes.
	port := testenv.FreePort(t)
	m.Exec(t, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='x', MASTER_CONNECT_RETRY=1; START SLAVE", port))
	t.Cleanup(func() { m.Exec(t, "STOP SLAVE; RESET SLAVE ALL") })
	waitStatus(t, base+"/replica?lag=10s", 503, within, "replication is not running")
	wantCodes(t, base, map[string]int{"/replica": 200, "/health": 200})

	m.Exec(t, "SET GLOBAL read_only = 0")
	waitStatus(t, base+"/primary", 200, within)
	waitStatus(t, base+"/read-write", 200, 0)
}
