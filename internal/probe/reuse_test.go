package probe

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestReusePostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)
	rl := startRelay(t, pg.Addr)
	spec := func(mod func(*Spec)) Spec {
		// sslmode prefer would make two connections per login to a
		// server without TLS: one refused TLS, then one in plain.
		s := Spec{Address: rl.addr, Timeout: passTimeout, User: pg.User, Password: Secret(pg.Password), Database: pg.Database, SSLMode: "disable", ReuseConnection: true}
		mod(&s)
		return s
	}
	run := func(t *testing.T, p Prober) Result {
		t.Helper()
		return runBounded(t, p, passTimeout)
	}
	// sessions counts the check's sessions on the server, by the
	// application_name it logs in with.
	watcher := pg.SuperConn(t)
	sessions := func() int {
		var n int
		if err := watcher.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vitals'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("one connection for many runs", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "postgres", spec(func(s *Spec) { s.Role, s.MaxReplicationLag = "primary", 10*time.Second }))
		for range 5 {
			wantResult(t, run(t, p), Pass, `query returned "1"; primary; replication lag 0s`)
		}
		if n := rl.accepted.Load(); n != 1 {
			t.Errorf("5 runs made %d connections, want 1", n)
		}
		if n := sessions(); n != 1 {
			t.Errorf("%d sessions on the server after 5 runs, want 1", n)
		}

		// Close ends the kept session cleanly, with Terminate.
		before := fileSize(t, pg.LogFile)
		if err := Close(p); err != nil {
			t.Errorf("Close: %v", err)
		}
		waitFor(t, 5*time.Second, "the kept connection to close", func() bool { return rl.open.Load() == 0 })
		waitFor(t, 5*time.Second, "the session to leave", func() bool { return sessions() == 0 })
		if log := readFrom(t, pg.LogFile, before); strings.Contains(log, "unexpected EOF") || strings.Contains(log, "could not receive data") {
			t.Errorf("server log after Close:\n%s", log)
		}
		if err := Close(p); err != nil {
			t.Errorf("second Close: %v", err)
		}

		// After Close a run still works, but keeps nothing.
		wantResult(t, run(t, p), Pass, `query returned "1"; primary; replication lag 0s`)
		waitFor(t, 5*time.Second, "the run's connection to close", func() bool { return rl.open.Load() == 0 })
		if n := rl.accepted.Load(); n != 2 {
			t.Errorf("%d connections after a run that followed Close, want 2", n)
		}
	})

	t.Run("a failed run drops the connection", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "postgres", spec(func(s *Spec) { s.Role = "replica" }))
		t.Cleanup(func() { Close(p) })
		for range 3 {
			wantResult(t, run(t, p), Fail, "role is primary, want replica")
		}
		if n := rl.accepted.Load(); n != 3 {
			t.Errorf("3 failed runs made %d connections, want 3", n)
		}
		waitFor(t, 5*time.Second, "no connection to be kept", func() bool { return rl.open.Load() == 0 })
	})

	t.Run("an open transaction is not kept", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "postgres", spec(func(s *Spec) { s.Query = "SELECT 1; BEGIN" }))
		t.Cleanup(func() { Close(p) })
		for range 2 {
			wantResult(t, run(t, p), Pass, `query returned "1"`)
		}
		if n := rl.accepted.Load(); n != 2 {
			t.Errorf("2 runs that left a transaction open made %d connections, want 2", n)
		}
		waitFor(t, 5*time.Second, "no connection to be kept", func() bool { return rl.open.Load() == 0 })
	})

	t.Run("query blocked by a lock", func(t *testing.T) {
		// A kept connection made in an earlier run, whose deadline has
		// passed, still gets its abandoned query cancelled: pgx dials
		// again for the cancel request, bounded by this run's deadline.
		s := spec(func(s *Spec) { s.Query, s.Timeout = "SELECT count(*) FROM public.t", dbTimeout })
		p := mustProbe(t, "postgres", s)
		t.Cleanup(func() { Close(p) })
		wantResult(t, runBounded(t, p, s.Timeout), Pass, `query returned "1"`)
		time.Sleep(s.Timeout + 100*time.Millisecond) // past the first run's deadline

		ctx := t.Context()
		locker := pg.SuperConn(t)
		tx, err := locker.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, "LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		wantTimeout(t, runBounded(t, p, s.Timeout), s.Timeout, "query")
		waitFor(t, 5*time.Second, "the probe's backend to leave", func() bool { return sessions() == 0 })
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		wantResult(t, runBounded(t, p, s.Timeout), Pass, `query returned "1"`)
	})

	t.Run("killed and restarted", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "postgres", spec(func(s *Spec) {}))
		t.Cleanup(func() { Close(p) })
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		pg.Kill(t)
		if r := run(t, p); r.Status != Fail {
			t.Errorf("server killed: got %s %q, want fail", r.Status, r.Reason)
		} else {
			t.Logf("server killed: %q", r.Reason)
		}
		pg.Restart(t)
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		// The failed run may have made a connection of its own, to send
		// a cancel request; the run after the restart logged in anew and
		// keeps that connection.
		n := rl.accepted.Load()
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		if got := rl.accepted.Load(); got != n {
			t.Errorf("the run after the one that reconnected made %d connections, want none", got-n)
		}
	})
}

func TestReuseMySQL(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t)
	root := mariadbRoot(t, m)
	rl := startRelay(t, m.Addr)
	spec := func(mod func(*Spec)) Spec {
		s := Spec{Address: rl.addr, Timeout: passTimeout, User: m.User, Password: Secret(m.Password), Database: m.Database, ReuseConnection: true}
		mod(&s)
		return s
	}
	run := func(t *testing.T, p Prober) Result {
		t.Helper()
		return runBounded(t, p, passTimeout)
	}
	sessionsGone := func(t *testing.T) {
		t.Helper()
		waitFor(t, 5*time.Second, "the check's session to leave", func() bool {
			var n int
			err := root.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'health'").Scan(&n)
			return err == nil && n == 0
		})
	}

	t.Run("one connection for many runs", func(t *testing.T) {
		rl.reset()
		before := mariadbAborted(t, root)
		p := mustProbe(t, "mysql", spec(func(s *Spec) { s.Role, s.MaxConnectionsUsed = "primary", "90%" }))
		for range 5 {
			r := run(t, p)
			if r.Status != Pass || !strings.HasPrefix(r.Reason, `query returned "1"; primary; `) {
				t.Errorf("got %s %q, want a pass", r.Status, r.Reason)
			}
		}
		if n := rl.accepted.Load(); n != 1 {
			t.Errorf("5 runs made %d connections, want 1", n)
		}
		if err := Close(p); err != nil {
			t.Errorf("Close: %v", err)
		}
		waitFor(t, 5*time.Second, "the kept connection to close", func() bool { return rl.open.Load() == 0 })
		sessionsGone(t)
		// COM_QUIT at Close: the server counts no aborted client.
		if after := mariadbAborted(t, root); after != before {
			t.Errorf("Aborted_connects, Aborted_clients went from %v to %v", before, after)
		}
	})

	t.Run("paused", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "mysql", spec(func(s *Spec) { s.Timeout = dbTimeout }))
		t.Cleanup(func() { Close(p) })
		wantResult(t, runBounded(t, p, dbTimeout), Pass, `query returned "1"`)
		m.Pause(t)
		resumed := false
		defer func() {
			if !resumed {
				m.Resume(t)
			}
		}()
		// The kept connection is bound to this run's deadline, not the
		// first run's, which has long passed.
		wantTimeout(t, runBounded(t, p, dbTimeout), dbTimeout, "query")
		m.Resume(t)
		resumed = true
		wantResult(t, runBounded(t, p, dbTimeout), Pass, `query returned "1"`)
		if n := rl.accepted.Load(); n != 2 {
			t.Errorf("%d connections, want 2: the timed-out one is dropped", n)
		}
	})

	t.Run("killed and restarted", func(t *testing.T) {
		rl.reset()
		p := mustProbe(t, "mysql", spec(func(s *Spec) {}))
		t.Cleanup(func() { Close(p) })
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		m.Kill(t)
		if r := run(t, p); r.Status != Fail {
			t.Errorf("server killed: got %s %q, want fail", r.Status, r.Reason)
		} else {
			t.Logf("server killed: %q", r.Reason)
		}
		m.Restart(t)
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		wantResult(t, run(t, p), Pass, `query returned "1"`)
		if n := rl.accepted.Load(); n != 2 {
			t.Errorf("%d connections, want 2: the first, which the failed run dropped, and one after the restart that is kept", n)
		}
	})
}

func TestReuseKeeper(t *testing.T) {
	var k keeper[string]
	if _, _, ok := k.take(); ok {
		t.Fatal("take from an empty keeper")
	}
	if !k.put("a", nil) {
		t.Fatal("put into an empty keeper refused")
	}
	if k.put("b", nil) {
		t.Error("a second put was kept; the caller must close it")
	}
	if c, _, ok := k.take(); !ok || c != "a" {
		t.Errorf("take = %q, %v; want a", c, ok)
	}
	if _, _, ok := k.take(); ok {
		t.Error("take twice gave a connection twice")
	}
	k.put("c", nil)
	var closed []string
	shut := func(_ context.Context, c string) error { closed = append(closed, c); return nil }
	if err := k.shut(shut); err != nil || len(closed) != 1 || closed[0] != "c" {
		t.Errorf("shut closed %q, %v; want c", closed, err)
	}
	if k.put("d", nil) {
		t.Error("put after shut was kept")
	}
	if err := k.shut(shut); err != nil || len(closed) != 1 {
		t.Errorf("second shut closed %q, %v", closed, err)
	}
}

func TestReuseCloseOtherKinds(t *testing.T) {
	if err := Close(fakeProber{}); err != nil {
		t.Errorf("Close of a Prober that is no io.Closer: %v", err)
	}
	p := mustProbe(t, "tcp", Spec{Address: "127.0.0.1:1", Timeout: time.Second})
	if _, ok := p.(io.Closer); !ok {
		t.Error("a Prober from New is not an io.Closer")
	}
	if err := Close(p); err != nil {
		t.Errorf("Close of a tcp Prober: %v", err)
	}
}

type fakeProber struct{}

func (fakeProber) Probe(context.Context) Result { return Result{Status: Pass} }

// relay is a loopback TCP relay to a server that counts the connections it
// relays.
type relay struct {
	addr     string
	accepted atomic.Int64 // connections accepted since the last reset
	open     atomic.Int64 // connections not yet closed by both sides
}

// startRelay relays connections to upstream until the test ends.
func startRelay(t *testing.T, upstream string) *relay {
	t.Helper()
	rl := &relay{}
	rl.addr = serveTCP(t, func(c net.Conn) {
		rl.accepted.Add(1)
		rl.open.Add(1)
		defer rl.open.Add(-1)
		defer c.Close()
		u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(u, c); done <- struct{}{} }()
		go func() { io.Copy(c, u); done <- struct{}{} }()
		<-done // one side is gone: end both
		c.Close()
		u.Close()
		<-done
	})
	return rl
}

// reset zeroes the count of accepted connections.
func (rl *relay) reset() { rl.accepted.Store(0) }
