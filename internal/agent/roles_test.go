//go:build linux

package agent_test

import (
	"context"
	"fmt"
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
