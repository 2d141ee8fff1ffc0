package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vitals/internal/testenv"
)

func TestPostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	spec := func(mod func(*Spec)) Spec {
		s := Spec{Address: pg.Addr, Timeout: passTimeout, User: pg.User, Password: Secret(pg.Password), Database: pg.Database}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "postgres", s), s.Timeout)
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
			{"expect", "SELECT note FROM public.t WHERE id = 1", "vitals", Pass, `query returned "vitals"`},
			{"text form", "SELECT pg_is_in_recovery()", "f", Pass, `query returned "f"`},
			{"first column", "SELECT 2, 'x'", "2", Pass, `query returned "2"`},
			{"null", "SELECT NULL", "", Pass, "query returned NULL"},
			{"wrong expect", "SELECT 0", "1", Fail, `query returned "0", want "1"`},
			{"no rows", "SELECT 1 WHERE false", "", Fail, "query returned no rows"},
			{"query error", "SELECT * FROM nope", "", Fail, `query: relation "nope" does not exist (SQLSTATE 42P01)`},
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
			Fail, `login as "health": password authentication failed`)
		wantResult(t, run(t, spec(func(s *Spec) { s.User = "nobody" })),
			Fail, `login as "nobody": password authentication failed`)
		wantResult(t, run(t, spec(func(s *Spec) { s.Database = "nope" })),
			Fail, `database "nope" does not exist`)
		// No database: the server's default, the user's name.
		wantResult(t, run(t, spec(func(s *Spec) { s.Database = "" })),
			Fail, `database "health" does not exist`)
		pg.Exec(t, "CREATE DATABASE private")
		pg.Exec(t, "REVOKE CONNECT ON DATABASE private FROM PUBLIC")
		wantResult(t, run(t, spec(func(s *Spec) { s.Database = "private" })),
			Fail, `login as "health": permission denied for database "private" (SQLSTATE 42501)`)
	})

	t.Run("password_file", func(t *testing.T) {
		r := run(t, spec(func(s *Spec) { s.Password, s.PasswordFile = "", passwordFile(t, pg.Password) }))
		wantResult(t, r, Pass, `query returned "1"`)
	})

	t.Run("password_env", func(t *testing.T) {
		t.Setenv("VITALS_TEST_PG_PASSWORD", pg.Password)
		r := run(t, spec(func(s *Spec) { s.Password, s.PasswordEnv = "", "VITALS_TEST_PG_PASSWORD" }))
		wantResult(t, r, Pass, `query returned "1"`)
	})

	t.Run("sslmode", func(t *testing.T) {
		// The private server has no TLS: prefer and allow fall back to
		// plain TCP, require fails.
		for _, mode := range []string{"disable", "allow", "prefer"} {
			wantResult(t, run(t, spec(func(s *Spec) { s.SSLMode = mode })), Pass, `query returned "1"`)
		}
		wantResult(t, run(t, spec(func(s *Spec) { s.SSLMode = "require" })),
			Fail, "login: tls error: server refused TLS connection")
		_, err := New("postgres", spec(func(s *Spec) { s.SSLMode = "on" }))
		if fe, ok := err.(*FieldError); !ok || fe.Field != "sslmode" {
			t.Errorf("sslmode on: got %v, want a FieldError for sslmode", err)
		}
	})

	t.Run("environment does not redirect", func(t *testing.T) {
		// libpq variables in the agent's environment must not send the
		// check elsewhere or change its login.
		t.Setenv("PGHOST", "192.0.2.1")
		t.Setenv("PGPORT", "1")
		t.Setenv("PGDATABASE", "nope")
		t.Setenv("PGPASSWORD", "wrong")
		t.Setenv("PGSSLMODE", "require")
		t.Setenv("PGTARGETSESSIONATTRS", "standby")
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("clean close", func(t *testing.T) {
		// Terminate before closing: the server logs nothing about the
		// client going away.
		before := fileSize(t, pg.LogFile)
		for range 5 {
			wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
		}
		if log := readFrom(t, pg.LogFile, before); strings.Contains(log, "unexpected EOF") || strings.Contains(log, "could not receive data") {
			t.Errorf("server log after passing checks:\n%s", log)
		}
	})

	t.Run("too many connections", func(t *testing.T) {
		held := fillPostgres(t, pg)
		wantResult(t, run(t, spec(nil)), Fail, "too many connections")
		for _, c := range held {
			c.Close(t.Context())
		}
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("password never in reasons", func(t *testing.T) {
		wrong := "Wr0ng-" + pg.Password
		var reasons []string
		for _, s := range []Spec{
			spec(func(s *Spec) { s.Password = Secret(wrong) }),
			spec(func(s *Spec) { s.Database = "nope" }),
			spec(func(s *Spec) { s.Query = "SELECT * FROM nope" }),
			spec(func(s *Spec) { s.Query, s.Expect = "SELECT 0", "1" }),
			spec(func(s *Spec) { s.SSLMode = "require" }),
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
		wantNoSecret(t, reasons, pg.Password, wrong)
	})

	t.Run("query blocked by a lock", func(t *testing.T) {
		ctx := t.Context()
		locker := pg.SuperConn(t)
		tx, err := locker.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		// The login must fit in the timeout, so that it runs out in the
		// query, even on a loaded machine.
		s := spec(func(s *Spec) { s.Query, s.Timeout = "SELECT count(*) FROM public.t", 2*dbTimeout })
		wantTimeout(t, run(t, s), s.Timeout, "query")
		// The abandoned query does not keep waiting on the server: pgx
		// sends a cancel request as it drops the connection. (Watch from
		// another session: within the locker's transaction
		// pg_stat_activity is a snapshot.)
		watcher := pg.SuperConn(t)
		waitFor(t, 5*time.Second, "the probe's backend to leave", func() bool {
			var n int
			err := watcher.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'health'").Scan(&n)
			return err == nil && n == 0
		})
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		s.Timeout = passTimeout
		wantResult(t, run(t, s), Pass, `query returned "1"`)
	})

	t.Run("paused", func(t *testing.T) {
		pg.Pause(t)
		resumed := false
		defer func() {
			if !resumed {
				pg.Resume(t)
			}
		}()
		wantTimeout(t, run(t, spec(func(s *Spec) { s.Timeout = dbTimeout })), dbTimeout, "login")
		wantTCPPasses(t, pg.Addr)
		pg.Resume(t)
		resumed = true
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})

	t.Run("killed", func(t *testing.T) {
		pg.Kill(t)
		wantResult(t, run(t, spec(nil)), Fail, "connect "+pg.Addr+": connection refused")
		pg.Restart(t)
		wantResult(t, run(t, spec(nil)), Pass, `query returned "1"`)
	})
}

func TestPostgresHungPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	base := runtime.NumGoroutine()
	for _, mode := range []string{"disable", "prefer"} {
		t.Run(mode, func(t *testing.T) {
			s := Spec{Address: hungPeer(t), Timeout: timeout, User: "health", Password: "pw", SSLMode: mode}
			wantTimeout(t, runBounded(t, mustProbe(t, "postgres", s), timeout), timeout, "login")
		})
	}
	wantGoroutinesBack(t, base)
	s := Spec{Address: refusedAddr(t), Timeout: timeout, User: "health"}
	wantResult(t, runBounded(t, mustProbe(t, "postgres", s), timeout), Fail, "connect "+s.Address+": connection refused")
}

// fillPostgres logs in as the health user until the server refuses with
// too_many_connections, and returns the connections it holds, which are
// closed at cleanup.
func fillPostgres(t *testing.T, pg *testenv.Postgres) []*pgx.Conn {
	t.Helper()
	var held []*pgx.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close(context.Background())
		}
	})
	for range 100 {
		c, err := pgx.Connect(t.Context(), pg.ConnString())
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "53300" {
			return held
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	t.Fatal("the server took 100 connections without refusing one")
	return nil
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// readFrom returns the file at path from offset on.
func readFrom(t *testing.T, path string, offset int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[min(offset, int64(len(b))):])
}

// TestPostgresPreferOpensOneConnectionPerRun: with the default
// sslmode=prefer against a server without TLS, pgx asks for TLS, is
// refused and dials again for plain text. After the first refusal the
// check goes straight to plain text: one connection per run.
func TestPostgresPreferOpensOneConnectionPerRun(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	var accepted atomic.Int32
	relay := countingRelay(t, pg.Addr, &accepted)
	p := mustProbe(t, "postgres", Spec{Address: relay, Timeout: 5 * time.Second, User: pg.User, Password: Secret(pg.Password), Database: pg.Database})
	defer Close(p)
	for i := range 4 {
		if r := p.Probe(t.Context()); r.Status != Pass {
			t.Fatalf("run %d: %s %s", i, r.Status, r.Reason)
		}
	}
	if n := accepted.Load(); n > 5 {
		t.Errorf("4 runs opened %d connections; want at most 5 (2 for the first run's refused TLS, then 1 each)", n)
	}
}

// countingRelay forwards loopback connections to target and counts them.
func countingRelay(t *testing.T, target string, n *atomic.Int32) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		n.Add(1)
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		done := make(chan struct{})
		go func() { io.Copy(up, c); up.Close(); close(done) }()
		io.Copy(c, up)
		c.Close()
		<-done
	})
}
