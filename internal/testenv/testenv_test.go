package testenv_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"

	"vitals/internal/testenv"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t)

	login := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.ConnString())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		var super bool
		if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
			return err
		}
		if super {
			t.Errorf("%s is a superuser", pg.User)
		}
		var n int
		return conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	}
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("login as %s: %v", pg.User, err)
	}

	pg.Pause(t)
	c, err := net.DialTimeout("tcp", pg.Addr, time.Second)
	if err != nil {
		t.Fatalf("paused: TCP connect failed: %v", err)
	}
	c.Close()
	if err := login(time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused: login = %v, want a timeout", err)
	}
	pg.Resume(t)
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("resumed: login: %v", err)
	}

	pg.Kill(t)
	if c, err := net.DialTimeout("tcp", pg.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("killed: TCP connect succeeded")
	}
	pg.Restart(t)
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("restarted: login: %v", err)
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t)
	dsn := m.User + ":" + m.Password + "@tcp(" + m.Addr + ")/app?timeout=2s"

	login := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
			return err
		}
		var user string
		return db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user)
	}
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("login as %s: %v", m.User, err)
	}
	m.Exec(t, "INSERT INTO app.t (id) VALUES (2); DELETE FROM app.t WHERE id = 2")

	m.Pause(t)
	c, err := net.DialTimeout("tcp", m.Addr, time.Second)
	if err != nil {
		t.Fatalf("paused: TCP connect failed: %v", err)
	}
	c.Close()
	if err := login(time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused: login = %v, want a timeout", err)
	}
	m.Resume(t)
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("resumed: login: %v", err)
	}

	m.Kill(t)
	if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("killed: TCP connect succeeded")
	}
	m.Restart(t)
	if err := login(5 * time.Second); err != nil {
		t.Fatalf("restarted: login: %v", err)
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "redis-server")
	r := testenv.StartRedis(t)

	ping := func(timeout time.Duration) error {
		c, err := net.DialTimeout("tcp", r.Addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, len("+PONG\r\n"))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "+PONG\r\n" {
			return fmt.Errorf("PING: got %q", buf)
		}
		return nil
	}
	if err := ping(2 * time.Second); err != nil {
		t.Fatal(err)
	}

	r.Pause(t)
	err := ping(time.Second)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("paused: PING = %v, want a read timeout after a successful connect", err)
	}
	r.Resume(t)
	if err := ping(2 * time.Second); err != nil {
		t.Fatalf("resumed: %v", err)
	}

	r.Kill(t)
	if err := ping(time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("killed: PING = %v, want connection refused", err)
	}
	r.Restart(t)
	if err := ping(2 * time.Second); err != nil {
		t.Fatalf("restarted: %v", err)
	}
}

func TestRedisPassword(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "redis-server")
	r := testenv.StartRedis(t, testenv.WithRedisPassword("s3cret"))
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "-NOAUTH") {
		t.Fatalf("PING without AUTH = %q, want -NOAUTH", line)
	}
}

func TestHAProxy(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "haproxy")

	// A loopback TCP peer that accepts and closes, like a live backend.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closeListener := sync.OnceFunc(func() {
		ln.Close()
		<-accepted
	})
	t.Cleanup(closeListener)

	h := testenv.StartHAProxy(t, fmt.Sprintf(`
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s

backend be
    server s1 %s check inter 200ms rise 2 fall 2
`, ln.Addr()))

	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			if got = h.ServerStatus(t, "be", "s1"); got == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("be/s1 status = %q after 10s, want %q\n%s", got, want, h.Command(t, "show servers state be"))
	}
	waitStatus("UP")
	if out := h.Command(t, "show info"); !strings.Contains(out, "Name: HAProxy") {
		t.Errorf("show info = %q", out)
	}
	closeListener()
	waitStatus("DOWN")
}

func TestPostgresSaturate(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "postgres", "initdb")
	pg := testenv.StartPostgres(t, testenv.WithMaxConnections(5), testenv.WithReservedConnections(2))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range 3 { // max_connections - superuser_reserved_connections
		c, err := pgx.Connect(ctx, pg.ConnString())
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	if c, err := pgx.Connect(ctx, pg.ConnString()); err == nil {
		c.Close(ctx)
		t.Fatalf("connection 4 as %s succeeded, want the reserved-slots error", pg.User)
	} else if !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("connection 4 as %s: %v, want the reserved-slots error", pg.User, err)
	}
	pg.Exec(t, "SELECT 1") // a superuser still gets in
}

// TestPostgresCleanup checks that cleanup stops a paused server and a killed
// one, leaving no postmaster, no files and no System V shared memory.
func TestPostgresCleanup(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "postgres", "initdb")
	for _, tc := range []string{"paused", "killed"} {
		var pid, shmid int
		var dir string
		t.Run(tc, func(t *testing.T) {
			pg := testenv.StartPostgres(t)
			pid, dir = pg.PID, filepath.Dir(pg.DataDir)
			switch tc {
			case "paused":
				pg.Pause(t)
			case "killed":
				b, err := os.ReadFile(filepath.Join(pg.DataDir, "postmaster.pid"))
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(string(b), "\n")
				if f := strings.Fields(lines[6]); len(f) == 2 {
					shmid, _ = strconv.Atoi(f[1])
				}
				pg.Kill(t)
			}
		})
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: postmaster %d still exists after cleanup (kill -0: %v)", tc, pid, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s still exists after cleanup: %v", tc, dir, err)
		}
		if shmid != 0 {
			if _, err := unix.SysvShmCtl(shmid, unix.IPC_STAT, &unix.SysvShmDesc{}); err == nil {
				t.Errorf("%s: shared memory segment %d still exists after cleanup", tc, shmid)
			}
		}
	}
}

func TestPostgresStandby(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "postgres", "initdb", "pg_basebackup")
	primary := testenv.StartPostgres(t)
	standby := testenv.StartPostgresStandby(t, primary)
	if standby.Port == primary.Port || standby.DataDir == primary.DataDir {
		t.Fatalf("standby shares the primary's port or data dir: %s %s", standby.Addr, standby.DataDir)
	}

	// The standby is queried as the non-superuser: the roles, passwords and
	// grants came over with the copy.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, standby.ConnString())
	if err != nil {
		t.Fatalf("login to the standby as %s: %v", standby.User, err)
	}
	defer conn.Close(context.Background())
	var recovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil || !recovery {
		t.Fatalf("standby: pg_is_in_recovery() = %v, %v; want true", recovery, err)
	}
	visible := func(id int) bool {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t WHERE id = $1", id).Scan(&n); err != nil {
			t.Fatalf("standby: %v", err)
		}
		return n == 1
	}
	// lag is now() - pg_last_xact_replay_timestamp() on the standby, and
	// whether WAL beyond the replayed position has arrived.
	lag := func() (time.Duration, bool) {
		t.Helper()
		var (
			us     int64
			behind bool
		)
		err := conn.QueryRow(ctx, `SELECT (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1e6)::bigint,
			pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()`).Scan(&us, &behind)
		if err != nil {
			t.Fatalf("standby: lag: %v", err)
		}
		return time.Duration(us) * time.Microsecond, behind
	}

	primary.Exec(t, "INSERT INTO t (id) VALUES (2)")
	standby.WaitReplicated(t, primary)
	if !visible(2) {
		t.Fatal("row 2 inserted on the primary is not visible on the standby after WaitReplicated")
	}

	standby.PauseReplay(t)
	primary.Exec(t, "INSERT INTO t (id) VALUES (3)")
	// Wait, bounded, until the standby has received the insert's WAL: only
	// then does "not visible" prove that replay is paused.
	received := func() bool {
		_, behind := lag()
		return behind
	}
	deadline := time.Now().Add(10 * time.Second)
	for !received() {
		if time.Now().After(deadline) {
			t.Fatal("the standby did not receive the primary's WAL within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if visible(3) {
		t.Fatal("row 3 is visible on the standby while replay is paused")
	}
	lag1, _ := lag()
	time.Sleep(500 * time.Millisecond)
	// Another commit on the primary would reset the lag if it were replayed.
	primary.Exec(t, "INSERT INTO t (id) VALUES (4)")
	time.Sleep(100 * time.Millisecond)
	lag2, _ := lag()
	if lag2-lag1 < 500*time.Millisecond {
		t.Fatalf("replay paused: lag went from %s to %s in 600ms, want it to grow by at least 500ms", lag1, lag2)
	}
	if visible(3) || visible(4) {
		t.Fatal("rows inserted while replay is paused are visible on the standby")
	}

	standby.ResumeReplay(t)
	standby.WaitReplicated(t, primary)
	if !visible(3) || !visible(4) {
		t.Fatal("rows 3 and 4 are not visible on the standby after ResumeReplay and WaitReplicated")
	}
	if l, behind := lag(); behind || l > lag2 {
		t.Fatalf("after resuming: lag %s (behind %v), want less than %s and nothing left to replay", l, behind, lag2)
	}
}

func TestMariaDBSaturate(t *testing.T) {
	t.Parallel()
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	const maxConns = 10 // MariaDB's minimum
	m := testenv.StartMariaDB(t, testenv.WithMariaDBMaxConnections(maxConns))
	db, err := sql.Open("mysql", m.DSN()+"?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range maxConns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("connection %d as %s: %v", i+1, m.User, err)
		}
		defer c.Close()
	}
	// User has neither SUPER nor CONNECTION ADMIN, so it does not get the
	// extra connection MariaDB keeps for them.
	if c, err := db.Conn(ctx); err == nil {
		c.Close()
		t.Fatalf("connection %d as %s succeeded, want error 1040 (too many connections)", maxConns+1, m.User)
	} else if me, ok := errors.AsType[*mysql.MySQLError](err); !ok || me.Number != 1040 {
		t.Fatalf("connection %d as %s: %v, want error 1040 (too many connections)", maxConns+1, m.User, err)
	}
	// root does, once the refused connection is gone: until its thread
	// ends, it still counts.
	root, err := sql.Open("mysql", m.RootDSN()+"?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for {
		err := root.PingContext(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("root with %d connections of %s open: %v", maxConns, m.User, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
