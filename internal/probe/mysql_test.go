package probe

import (
	"database/sql"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"vitals/internal/testenv"
)

func TestMySQL(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t)
	root := mariadbRoot(t, m)
	spec := func(mod func(*Spec)) Spec {
		s := Spec{Address: m.Addr, Timeout: passTimeout, User: m.User, Password: Secret(m.Password), Database: m.Database}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "mysql", s), s.Timeout)
	}

	t.Run("pass", func(t *testing.T) {
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("results", func(t *testing.T) {
		tests := []struct {
			name          string
			query, expect string
			status        Status
			reason        string
		}{
			{"expect", "SELECT note FROM app.t WHERE id = 1", "vitals", Pass, `query returned "vitals"`},
			{"text form", "SELECT @@global.read_only", "0", Pass, `query returned "0"`},
			{"first column", "SELECT 2, 'x'", "2", Pass, `query returned "2"`},
			{"empty string", "SELECT ''", "", Pass, `query returned ""`},
			{"null", "SELECT NULL", "", Pass, "query returned NULL"},
			{"wrong expect", "SELECT 0", "1", Fail, `query returned "0", want "1"`},
			{"no rows", "SELECT 1 FROM app.t WHERE id = 0", "", Fail, "query returned no rows"},
			{"query error", "SELECT * FROM nope", "", Fail, "query: Table 'app.nope' doesn't exist (error 1146)"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := run(t, spec(func(s *Spec) { s.Query, s.Expect = tt.query, tt.expect }))
				wantResult(t, r, tt.status, tt.reason)
			})
		}
	})

	t.Run("login", func(t *testing.T) {
		wantResult(t, run(t, spec(func(s *Spec) { s.Password = "wrong-" + s.Password })),
			Fail, `login as "health": access denied`)
		wantResult(t, run(t, spec(func(s *Spec) { s.User = "nobody" })),
			Fail, `login as "nobody": access denied`)
		// A user without rights on a database is not told whether it exists.
		wantResult(t, run(t, spec(func(s *Spec) { s.Database = "nope" })),
			Fail, `login as "health": access denied to database "nope"`)
		m.Exec(t, "CREATE USER reader IDENTIFIED BY 'reader-pw'; GRANT SELECT ON *.* TO reader")
		wantResult(t, run(t, spec(func(s *Spec) { s.User, s.Password, s.Database = "reader", "reader-pw", "nope" })),
			Fail, `database "nope" does not exist`)
		// No database is fine: the query names its tables.
		wantResult(t, run(t, spec(func(s *Spec) { s.Database = "" })), Pass, `query returned "1"`)
	})

	t.Run("password_file", func(t *testing.T) {
		r := run(t, spec(func(s *Spec) { s.Password, s.PasswordFile = "", passwordFile(t, m.Password) }))
		wantResult(t, r, Pass, `query returned "1"`)
	})

	t.Run("password_env", func(t *testing.T) {
		t.Setenv("VITALS_TEST_MYSQL_PASSWORD", m.Password)
		r := run(t, spec(func(s *Spec) { s.Password, s.PasswordEnv = "", "VITALS_TEST_MYSQL_PASSWORD" }))
		wantResult(t, r, Pass, `query returned "1"`)
	})

	t.Run("clean close", func(t *testing.T) {
		// COM_QUIT before closing: the server counts neither an aborted
		// connect nor an aborted client, so the checker's host never
		// nears max_connect_errors.
		before := mariadbAborted(t, root)
		for range 5 {
			wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
		}
		if after := mariadbAborted(t, root); after != before {
			t.Errorf("Aborted_connects, Aborted_clients went from %v to %v over 5 passing checks", before, after)
		}
	})

	t.Run("too many connections", func(t *testing.T) {
		held := fillConnections(t, m)
		wantResult(t, run(t, spec(nil)), Fail, "too many connections")
		for _, c := range held {
			c.Close()
		}
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("password never in reasons", func(t *testing.T) {
		wrong := "Wr0ng-" + m.Password
		var reasons []string
		for _, s := range []Spec{
			spec(func(s *Spec) { s.Password = Secret(wrong) }),
			spec(func(s *Spec) { s.Database = "nope" }),
			spec(func(s *Spec) { s.Query = "SELECT * FROM nope" }),
			spec(func(s *Spec) { s.Query, s.Expect = "SELECT 0", "1" }),
			spec(func(s *Spec) { s.Address, s.Timeout = hungPeer(t), 300*time.Millisecond }),
			spec(func(s *Spec) { s.Address = refusedAddr(t) }),
		} {
			r := run(t, s)
			if r.Status != Fail {
				t.Errorf("%+v: got %s %q, want fail", s, r.Status, r.Reason)
			}
			reasons = append(reasons, r.Reason)
		}
		t.Logf("reasons: %q", reasons)
		wantNoSecret(t, reasons, m.Password, wrong)
	})

	t.Run("query blocked by a lock", func(t *testing.T) {
		ctx := t.Context()
		locker, err := root.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Close()
		if _, err := locker.ExecContext(ctx, "LOCK TABLES app.t WRITE"); err != nil {
			t.Fatal(err)
		}
		// The login must fit in the timeout, so that it runs out in the
		// query, even on a loaded machine.
		s := spec(func(s *Spec) { s.Query, s.Timeout = "SELECT COUNT(*) FROM app.t", 2*dbTimeout })
		wantTimeout(t, run(t, s), s.Timeout, "query")
		// The server notices the probe has gone and ends the waiting
		// query, so abandoned checks do not pile up behind the lock.
		waitFor(t, 5*time.Second, "the probe's session to leave", func() bool {
			var n int
			err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'health'").Scan(&n)
			return err == nil && n == 0
		})
		if _, err := locker.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			t.Fatal(err)
		}
		s.Timeout = passTimeout
		wantResult(t, run(t, s), Pass, `query returned "1"`)
	})

	t.Run("paused", func(t *testing.T) {
		m.Pause(t)
		resumed := false
		defer func() {
			if !resumed {
				m.Resume(t)
			}
		}()
		wantTimeout(t, run(t, spec(func(s *Spec) { s.Timeout = dbTimeout })), dbTimeout, "login")
		wantTCPPasses(t, m.Addr)
		m.Resume(t)
		resumed = true
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("killed", func(t *testing.T) {
		m.Kill(t)
		wantResult(t, run(t, spec(nil)), Fail, "connect "+m.Addr+": connection refused")
		m.Restart(t)
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})
}

func TestMySQLHungPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	base := runtime.NumGoroutine()
	t.Run("hung", func(t *testing.T) {
		s := Spec{Address: hungPeer(t), Timeout: timeout, User: "health", Password: "pw"}
		wantTimeout(t, runBounded(t, mustProbe(t, "mysql", s), timeout), timeout, "login")
	})
	wantGoroutinesBack(t, base)
	s := Spec{Address: refusedAddr(t), Timeout: timeout, User: "health"}
	wantResult(t, runBounded(t, mustProbe(t, "mysql", s), timeout), Fail, "connect "+s.Address+": connection refused")
}

// mariadbRoot opens a pool for root over the unix socket, closed at cleanup.
func mariadbRoot(t *testing.T, m *testenv.MariaDB) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.RootDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.Logger = &mysql.NopLogger{} // after Kill, closing the pool fails noisily
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// mariadbAborted reads the server's Aborted_connects and Aborted_clients.
func mariadbAborted(t *testing.T, root *sql.DB) [2]int {
	t.Helper()
	var got [2]int
	for i, name := range []string{"Aborted_connects", "Aborted_clients"} {
		var n, v string
		if err := root.QueryRowContext(t.Context(), "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		var err error
		if got[i], err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s = %q: %v", name, v, err)
		}
	}
	return got
}

// fillConnections logs in as the health user until the server refuses with
// "too many connections", and returns the connections it holds.
func fillConnections(t *testing.T, m *testenv.MariaDB) []*sql.Conn {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = &mysql.NopLogger{}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	var held []*sql.Conn
	for range 100 {
		conn, err := db.Conn(t.Context())
		if me, ok := errors.AsType[*mysql.MySQLError](err); ok && me.Number == 1040 {
			return held
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	t.Fatal("the server took 100 connections without refusing one")
	return nil
}
