//go:build linux

package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/testenv"
)

// haproxyRolesRecipe is the README's recipe for a write pool and a read
// pool over the same nodes.
const haproxyRolesRecipe = "../../deploy/haproxy/postgres-roles.cfg"

// TestInteropHAProxyRoles runs HAProxy with deploy/haproxy/postgres-roles.cfg
// in front of a real primary and standby, each with an agent beside it
// (one check, no role): the write pool has the primary UP and the standby
// DOWN, the read pool the reverse, logins through each frontend land on
// the right node, and a standby whose replay falls more than 16MB behind
// leaves the read pool.
func TestInteropHAProxyRoles(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "pg_basebackup", "haproxy")
	primary := testenv.StartPostgres(t)
	standby := testenv.StartPostgresStandby(t, primary)
	onPrimary := startAgent(t, oneCheckYAML("postgres", primary.Addr, primary.User, primary.Password, primary.Database))
	onStandby := startAgent(t, oneCheckYAML("postgres", standby.Addr, standby.User, standby.Password, standby.Database))
	within := 2*time.Second + margin
	waitStatus(t, onPrimary+"/primary", 200, within)
	waitStatus(t, onStandby+"/replica", 200, within)

	recipe, err := os.ReadFile(haproxyRolesRecipe)
	if err != nil {
		t.Fatal(err)
	}
	port := func(base string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		return u.Port()
	}
	rwPort, roPort := testenv.FreePort(t), testenv.FreePort(t)
	// Both agents listen on 127.0.0.1 here, so each server line gets its
	// agent's port, which overrides the recipe's "check port 8081".
	cfg := string(recipe)
	for _, r := range []struct {
		old, new string
		n        int
	}{
		{"bind :5432", fmt.Sprintf("bind 127.0.0.1:%d", rwPort), 1},
		{"bind :5433", fmt.Sprintf("bind 127.0.0.1:%d", roPort), 1},
		{"server db1 192.0.2.11:5432\n", fmt.Sprintf("server db1 %s port %s\n", primary.Addr, port(onPrimary)), 2},
		{"server db2 192.0.2.12:5432\n", fmt.Sprintf("server db2 %s port %s\n", standby.Addr, port(onStandby)), 2},
		{"check port 8081 ", "check port 8081 ", 2},
	} {
		if got := strings.Count(cfg, r.old); got != r.n {
			t.Fatalf("%s: %q occurs %d times, want %d (the test substitutes it)", haproxyRolesRecipe, r.old, got, r.n)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	h := haproxyHandle{testenv.StartHAProxy(t, cfg)}
	// fall or rise 2 checks 1s apart, each up to "timeout check" 2s, after
	// the agent's own view changed (interval 1s, timeout 1s).
	haWithin := 2*time.Second + 2*(time.Second+2*time.Second) + margin

	waitServers(t, h, haWithin, func(s haproxyStat) error {
		return s.want(map[string]string{
			"postgres_primary/db1": "UP", "postgres_primary/db2": "DOWN",
			"postgres_replicas/db1": "DOWN", "postgres_replicas/db2": "UP",
		})
	})

	// Logins through each frontend reach the node of its pool.
	for _, fe := range []struct {
		port     int
		recovery bool
	}{{rwPort, false}, {roPort, true}} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", primary.User, primary.Password, fe.port, primary.Database))
		if err != nil {
			cancel()
			t.Fatalf("login through 127.0.0.1:%d: %v", fe.port, err)
		}
		var recovery bool
		err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery)
		c.Close(context.Background())
		cancel()
		if err != nil || recovery != fe.recovery {
			t.Errorf("through 127.0.0.1:%d: pg_is_in_recovery() = %v (%v), want %v", fe.port, recovery, err, fe.recovery)
		}
	}

	// Replay paused on the standby and 20MB of WAL from the primary: the
	// standby is more than 16MB behind and leaves the read pool; it is
	// still no primary.
	standby.PauseReplay(t)
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			standby.ResumeReplay(t)
		}
	})
	primary.Exec(t, "SELECT pg_logical_emit_message(false, 'vitals-test', repeat('x', 20000000))")
	st := waitServers(t, h, haWithin, func(s haproxyStat) error {
		db2 := s.row("postgres_replicas/db2")
		return errors.Join(s.want(map[string]string{
			"postgres_primary/db1": "UP", "postgres_primary/db2": "DOWN", "postgres_replicas/db2": "DOWN",
		}), func() error {
			if db2["check_code"] != "503" {
				return fmt.Errorf("postgres_replicas/db2 check code %s, want the agent's 503", db2["check_code"])
			}
			return nil
		}())
	})
	t.Logf("standby 20MB behind: postgres_replicas/db2 %q (%s %s)", st.row("postgres_replicas/db2")["status"],
		st.row("postgres_replicas/db2")["check_status"], st.row("postgres_replicas/db2")["check_code"])

	standby.ResumeReplay(t)
	resumed = true
	standby.WaitReplicated(t, primary)
	waitServers(t, h, haWithin, func(s haproxyStat) error {
		return s.want(map[string]string{"postgres_replicas/db2": "UP", "postgres_primary/db2": "DOWN"})
	})
}
