package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/store"
	"vitals/internal/store/storetest"
	"vitals/internal/testenv"
)

// server is a private PostgreSQL for one test; its subtests each get a
// database of their own (NewDatabase).
func server(t *testing.T) *testenv.Postgres {
	t.Helper()
	return testenv.StartPostgres(t, testenv.WithMaxConnections(60))
}

// passwordFile writes the superuser's password for Options.PasswordFile.
func passwordFile(t *testing.T, p *testenv.Postgres) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(p.SuperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func openDB(t *testing.T, p *testenv.Postgres, dsn string, o Options) *Store {
	t.Helper()
	if o.PasswordFile == "" {
		o.PasswordFile = passwordFile(t, p)
	}
	s, err := Open(t.Context(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the store contract (storetest) on PostgreSQL.
func TestContract(t *testing.T) {
	p := server(t)
	storetest.Run(t, storetest.Backend{Open: func(t *testing.T) (store.Store, func(*testing.T) store.Store) {
		_, dsn := p.NewDatabase(t)
		s := openDB(t, p, dsn, Options{})
		return s, func(t *testing.T) store.Store {
			s2, err := Open(t.Context(), dsn, Options{PasswordFile: passwordFile(t, p)})
			if err != nil {
				t.Fatal(err)
			}
			return s2
		}
	}})
}

// waitFor runs Wait(after) in a goroutine and returns its result channel.
func waitFor(ctx context.Context, s store.Store, after int64) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		rev, _ := s.Wait(ctx, after)
		got <- rev
	}()
	return got
}

func expectWake(t *testing.T, got <-chan int64, want int64, limit time.Duration, how string) {
	t.Helper()
	select {
	case rev := <-got:
		if rev != want {
			t.Fatalf("%s: Wait woke with %d, want %d", how, rev, want)
		}
	case <-time.After(limit):
		t.Fatalf("%s: Wait did not wake within %s", how, limit)
	}
}

// TestWaitWakes checks the three ways another node's write reaches Wait:
// NOTIFY (with a poll too long to matter), the poll alone (no listener),
// and the listener's catch-up after it lost its connection while the
// write's notification went out.
func TestWaitWakes(t *testing.T) {
	p := server(t)
	ctx := t.Context()
	_, dsn := p.NewDatabase(t)
	writer := openDB(t, p, dsn, Options{NoListen: true})

	t.Run("notify", func(t *testing.T) {
		s := openDB(t, p, dsn, Options{PollInterval: time.Hour})
		rev := storetest.Revision(t, s)
		time.Sleep(300 * time.Millisecond) // the listener is connected
		got := waitFor(ctx, s, rev)
		storetest.Update(t, writer, storetest.CreateLB)
		expectWake(t, got, rev+1, 5*time.Second, "NOTIFY")
	})
	t.Run("poll", func(t *testing.T) {
		s := openDB(t, p, dsn, Options{NoListen: true, PollInterval: 50 * time.Millisecond})
		rev := storetest.Revision(t, s)
		got := waitFor(ctx, s, rev)
		storetest.Update(t, writer, storetest.CreateLB)
		expectWake(t, got, rev+1, 5*time.Second, "poll")
	})
	t.Run("reconnect", func(t *testing.T) {
		s := openDB(t, p, dsn, Options{PollInterval: time.Hour, ReconnectDelay: 2 * time.Second})
		rev := storetest.Revision(t, s)
		time.Sleep(300 * time.Millisecond)
		got := waitFor(ctx, s, rev)
		// Cut the listener off, then write while it is away: the
		// notification goes to nobody.
		p.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
		time.Sleep(100 * time.Millisecond)
		storetest.Update(t, writer, storetest.CreateLB)
		select {
		case r := <-got:
			t.Fatalf("Wait woke with %d while its listener was away", r)
		case <-time.After(500 * time.Millisecond):
		}
		expectWake(t, got, rev+1, 10*time.Second, "reconnect")
	})
}

// TestUnavailable: with the server stopped, reads and writes fail with
// store.ErrUnavailable naming the database without its password, Wait
// keeps waiting, and when the server is back a write wakes it.
func TestUnavailable(t *testing.T) {
	p := server(t)
	_, dsn := p.NewDatabase(t)
	s := openDB(t, p, dsn, Options{PollInterval: 100 * time.Millisecond, ReconnectDelay: 200 * time.Millisecond})
	rev := storetest.Revision(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	got := waitFor(ctx, s, rev)
	p.Stop(t)
	err := s.Update(ctx, storetest.CreateLB)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write with the server down: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), p.SuperPassword) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q: want the database named, without the password", err)
	}
	if _, err := store.Read(ctx, s); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read with the server down: %v", err)
	}
	select {
	case r := <-got:
		t.Fatalf("Wait returned %d while the server was down", r)
	case <-time.After(time.Second):
	}
	p.Restart(t)
	other := openDB(t, p, dsn, Options{NoListen: true})
	storetest.Update(t, other, storetest.CreateLB)
	expectWake(t, got, rev+1, 10*time.Second, "after the server returned")
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://vitals:s3cret@db:5432/lb":                "postgres://vitals:xxxxx@db:5432/lb",
		"postgres://vitals@db/lb?sslmode=disable":            "postgres://vitals@db/lb?sslmode=disable",
		"postgresql://db/lb?password=s3cret&sslmode=require": "postgresql://db/lb?password=xxxxx&sslmode=require",
		"host=db user=vitals password=s3cret dbname=lb":      "host=db user=vitals password=xxxxx dbname=lb",
		"host=db password='with space' dbname=lb":            "host=db password=xxxxx dbname=lb",
	} {
		got := Redact(in)
		if got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		secret := strings.Contains(in, "s3cret") || strings.Contains(in, "with space")
		if strings.Contains(got, "s3cret") || HasPassword(in) != secret {
			t.Errorf("Redact(%q) = %q leaks or misjudges", in, got)
		}
	}
	if _, err := Open(t.Context(), "postgres://u:s3cret@[bad", Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad URL: %v", err)
	}
}
