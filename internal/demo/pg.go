package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir returns the directory of the newest installed
// PostgreSQL server binaries (postgres and initdb), or an error that says
// what to install.
func PostgresBinDir() (string, error) {
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (postgres, initdb) not found: apt-get install -y postgresql, or run vitals demo without --postgres")
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// The demo's login role for checks and clients (not a superuser).
const (
	pgUser     = "health"
	pgPassword = "vitals-demo"
)

// pgBackend is a private PostgreSQL server on a loopback port, in a
// temporary directory. As root it runs as the OS user postgres.
type pgBackend struct {
	name, bin, base string
	port            int
	cred            *syscall.Credential

	mu   sync.Mutex
	mode Mode
	cmd  *exec.Cmd
	done chan struct{}
}

func startPGBackend(ctx context.Context, name string) (*pgBackend, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	b := &pgBackend{name: name, bin: bin, mode: Healthy}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as OS user postgres: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		b.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if b.base, err = os.MkdirTemp("", "vitals-demo-pg-"); err != nil {
		return nil, err
	}
	if b.cred != nil {
		if err := os.Chown(b.base, int(b.cred.Uid), int(b.cred.Gid)); err != nil {
			b.Close()
			return nil, err
		}
	}
	if b.port, err = freePort(); err != nil {
		b.Close()
		return nil, err
	}
	pwfile := filepath.Join(b.base, "pw")
	if err := os.WriteFile(pwfile, []byte("x\n"), 0o600); err != nil {
		b.Close()
		return nil, err
	}
	if b.cred != nil {
		os.Chown(pwfile, int(b.cred.Uid), int(b.cred.Gid))
	}
	initdb := b.command(filepath.Join(bin, "initdb"), "-D", b.data(), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: initdb: %v: %s", name, err, out)
	}
	if err := b.start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", b.base, b.port))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgUser, pgPassword)); err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: create role: %w", name, err)
	}
	return b, nil
}

func (b *pgBackend) data() string { return filepath.Join(b.base, "data") }

func (b *pgBackend) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = b.base
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + b.base, "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred, Setpgid: true}
	return cmd
}

// start runs the postmaster and waits until it accepts logins.
func (b *pgBackend) start(ctx context.Context) error {
	log, err := os.OpenFile(filepath.Join(b.base, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := b.command(filepath.Join(b.bin, "postgres"), "-D", b.data(), "-p", strconv.Itoa(b.port), "-k", b.base,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=40", "-c", "fsync=off", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start postgres: %w", b.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := pgx.Connect(cctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", b.base, b.port))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			out, _ := os.ReadFile(filepath.Join(b.base, "postgres.log"))
			return fmt.Errorf("%s: postgres exited: %s", b.name, out)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: postgres not ready after 30s: %v", b.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down fast (SIGINT), then kills it.
func (b *pgBackend) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGCONT)
	b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
	b.cmd = nil
}

func (b *pgBackend) Name() string     { return b.name }
func (b *pgBackend) PoolPort(int) int { return b.port }

func (b *pgBackend) CheckYAML(interval, timeout time.Duration) string {
	return fmt.Sprintf("    type: postgres\n    address: 127.0.0.1:%d\n    user: %s\n    password: %q\n    database: postgres\n    interval: %s\n    timeout: %s\n    fall: 1\n",
		b.port, pgUser, pgPassword, interval, timeout)
}

func (b *pgBackend) Mode() Mode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

// SetMode: hung stops the postmaster (SIGSTOP), refusing shuts it down,
// healthy continues or restarts it. Slow is not supported.
func (b *pgBackend) SetMode(m Mode) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m == b.mode {
		return nil
	}
	switch {
	case m == Slow:
		return errors.New("a PostgreSQL backend cannot be made slow")
	case b.mode == Refusing:
		if err := b.start(context.Background()); err != nil {
			return err
		}
		if m == Hung {
			b.cmd.Process.Signal(syscall.SIGSTOP)
		}
	case m == Refusing:
		b.stop()
	case m == Hung:
		b.cmd.Process.Signal(syscall.SIGSTOP)
	case m == Healthy:
		b.cmd.Process.Signal(syscall.SIGCONT)
	}
	b.mode = m
	return nil
}

func (b *pgBackend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stop()
	if b.base != "" {
		os.RemoveAll(b.base)
	}
}

// pgSession opens one session through addr and returns the backend whose
// server answered SELECT inet_server_port().
func pgSession(names map[int]string) func(ctx context.Context, addr string, patience time.Duration) (string, error) {
	return func(ctx context.Context, addr string, patience time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, patience)
		defer cancel()
		host, port, _ := splitHostPort(addr)
		c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=disable", host, port, pgUser, pgPassword))
		if err != nil {
			return "", err
		}
		defer func() {
			cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
			defer ccancel()
			c.Close(cctx)
		}()
		var p int
		if err := c.QueryRow(ctx, "SELECT inet_server_port()").Scan(&p); err != nil {
			return "", err
		}
		return names[p], nil
	}
}
