package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
)

// Postgres is a private PostgreSQL server started by StartPostgres. It
// listens on 127.0.0.1:Port with password (scram-sha-256) authentication and
// on a unix socket in SocketDir with trust authentication.
//
// Its methods serialize with each other and with cleanup; call them from the
// test goroutine, since they call t.Fatal on failure.
type Postgres struct {
	Addr          string // "127.0.0.1:Port"
	Port          int    // TCP port on 127.0.0.1
	Super         string // superuser name, "postgres"
	SuperPassword string // superuser password, random per instance
	User          string // non-superuser login role for health checks, "health"
	Password      string // password of User, random per instance
	Database      string // "app", owned by Super; User may CONNECT and SELECT from app.public.t
	DataDir       string // the data directory (PGDATA)
	SocketDir     string // directory of the unix socket .s.PGSQL.<Port>
	LogFile       string // the server's stderr
	PID           int    // the postmaster's PID, from the first line of DataDir/postmaster.pid; updated by Restart

	cfg  postgresConfig
	cred *syscall.Credential // the OS user postgres runs as; nil: the current user
	base string              // private directory holding DataDir, the socket and the log

	lifecycle // Stop, Kill, Restart, Pause, Resume
}

// PostgresOption configures StartPostgres.
type PostgresOption func(*postgresConfig)

type postgresConfig struct {
	maxConnections      int       // max_connections; default 20
	reservedConnections int       // superuser_reserved_connections; default 3
	settings            []setting // more -c settings, applied after (and so over) the defaults

	// setup creates DataDir before the first start. The default runs initdb
	// and writes pg_hba.conf; a streaming standby (StartPostgresStandby)
	// runs pg_basebackup -R from its primary instead (which copies
	// pg_hba.conf too).
	setup func(p *Postgres, t testing.TB)
	// bootstrap runs once the server first accepts logins. The default
	// creates the role, database and table; a read-only standby only waits
	// until it has caught up with its primary.
	bootstrap func(p *Postgres, t testing.TB)
}

type setting struct{ name, value string }

// WithMaxConnections sets max_connections (default 20). Together with
// WithReservedConnections it lets a test fill every slot a non-superuser may
// use: max_connections - superuser_reserved_connections of them.
func WithMaxConnections(n int) PostgresOption {
	return func(c *postgresConfig) { c.maxConnections = n }
}

// WithReservedConnections sets superuser_reserved_connections (default 3),
// the slots only a superuser may use.
func WithReservedConnections(n int) PostgresOption {
	return func(c *postgresConfig) { c.reservedConnections = n }
}

// WithPostgresSetting sets any server parameter on the postgres command line,
// for example WithPostgresSetting("statement_timeout", "1s"). Command-line
// settings win over postgresql.conf and ALTER SYSTEM.
func WithPostgresSetting(name, value string) PostgresOption {
	return func(c *postgresConfig) { c.settings = append(c.settings, setting{name, value}) }
}

// StartPostgres initializes and starts a private PostgreSQL server in a temp
// dir on a free port, creates the login role "health" (NOSUPERUSER, member
// of pg_monitor), the database "app" and the table app.public.t (one row,
// SELECT granted to health), and registers a cleanup that stops the server
// and removes its files. It skips the test if PostgreSQL is not installed
// (see Need).
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	Need(t, "postgres", "initdb")
	cfg := postgresConfig{
		maxConnections:      20,
		reservedConnections: 3,
		setup:               (*Postgres).initdb,
		bootstrap:           (*Postgres).bootstrap,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return startPostgres(t, cfg, nil)
}

// startPostgres starts a server with cfg. When from is not nil the new
// server takes over its roles, passwords and database (a standby replicates
// them); otherwise it gets fresh passwords.
func startPostgres(t testing.TB, cfg postgresConfig, from *Postgres) *Postgres {
	t.Helper()
	if cfg.reservedConnections < 0 || cfg.reservedConnections >= cfg.maxConnections {
		t.Fatalf("postgres: superuser_reserved_connections %d must be >= 0 and < max_connections %d",
			cfg.reservedConnections, cfg.maxConnections)
	}
	cred := runAs(t, "postgres")
	base := makeBase(t, "pg", cred)
	port := FreePort(t)
	p := &Postgres{
		Addr:          "127.0.0.1:" + strconv.Itoa(port),
		Port:          port,
		Super:         "postgres",
		SuperPassword: password(),
		User:          "health",
		Password:      password(),
		Database:      "app",
		DataDir:       filepath.Join(base, "data"),
		SocketDir:     base,
		LogFile:       filepath.Join(base, "postgres.log"),
		cfg:           cfg,
		cred:          cred,
		base:          base,
	}
	if from != nil {
		p.Super, p.SuperPassword = from.Super, from.SuperPassword
		p.User, p.Password, p.Database = from.User, from.Password, from.Database
	}
	// SIGINT is PostgreSQL's fast shutdown. Backends leave the
	// postmaster's process group (setsid), so whatever still works in the
	// data directory is swept up after a stop or kill.
	p.label, p.stopSig, p.start = describe("postgres", p.Addr), syscall.SIGINT, p.launch
	p.sweep = func() error { return killByCwd(p.DataDir) }
	t.Cleanup(func() { p.cleanup(t) })
	start := time.Now()
	cfg.setup(p, t)
	p.startLocked(t)
	cfg.bootstrap(p, t)
	what := "postgres " + p.Addr
	if from != nil {
		what = "postgres standby " + p.Addr + " of " + from.Addr
	}
	t.Logf("%s ready in %s (pid %d, data %s)", what, time.Since(start).Round(time.Millisecond), p.PID, p.DataDir)
	return p
}

// initdb is the default setup: a fresh cluster whose superuser has
// SuperPassword, and pg_hba.conf with trust on the socket and scram-sha-256
// over 127.0.0.1 (also for replication).
func (p *Postgres) initdb(t testing.TB) {
	t.Helper()
	initdb, err := LookPath("initdb")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.DataDir, 0o700); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	chown(t, p.DataDir, p.cred)
	pwfile := filepath.Join(p.base, "superuser.pw")
	writeFile(t, pwfile, p.SuperPassword+"\n", p.cred)
	out, err := runTool(initdb, []string{
		"-D", p.DataDir, "-U", p.Super, "--pwfile=" + pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
	}, p.cred, p.base)
	os.Remove(pwfile)
	if err != nil {
		t.Fatalf("postgres: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(p.DataDir, "pg_hba.conf"), `# written by vitals internal/testenv
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
`, p.cred)
}

// bootstrap is the default bootstrap: role, database, table and grants.
func (p *Postgres) bootstrap(t testing.TB) {
	t.Helper()
	p.execIn(t, "postgres",
		fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '%s'", p.User, p.Password),
		fmt.Sprintf("GRANT pg_monitor TO %s", p.User),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", p.Database, p.Super),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", p.Database),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", p.Database, p.User),
	)
	p.execIn(t, p.Database,
		"CREATE TABLE public.t (id int PRIMARY KEY, note text NOT NULL DEFAULT '')",
		"INSERT INTO public.t (id, note) VALUES (1, 'vitals')",
		fmt.Sprintf("GRANT SELECT ON public.t TO %s", p.User),
	)
}

// args is the postgres command line. Everything per instance is set here,
// not in postgresql.conf, so that a data dir copied by pg_basebackup does
// not carry its primary's port or socket.
func (p *Postgres) args() []string {
	settings := []setting{
		{"listen_addresses", "127.0.0.1"},
		{"port", strconv.Itoa(p.Port)},
		{"unix_socket_directories", p.SocketDir},
		{"max_connections", strconv.Itoa(p.cfg.maxConnections)},
		{"superuser_reserved_connections", strconv.Itoa(p.cfg.reservedConnections)},
		{"shared_buffers", "16MB"},
		{"huge_pages", "off"},
		// mmap keeps dynamic shared memory in DataDir/pg_dynshmem, so a killed
		// server leaves nothing behind in /dev/shm.
		{"dynamic_shared_memory_type", "mmap"},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"min_wal_size", "32MB"},
		{"max_wal_size", "64MB"},
		{"logging_collector", "off"},
		{"log_destination", "stderr"},
		{"log_line_prefix", "%m [%p] %q%u@%d "},
	}
	args := []string{"-D", p.DataDir}
	for _, s := range append(settings, p.cfg.settings...) {
		args = append(args, "-c", s.name+"="+s.value)
	}
	return args
}

// launch starts the postmaster and waits until the superuser can log in
// over TCP. p.mu must be held.
func (p *Postgres) launch(t testing.TB) {
	t.Helper()
	bin, err := LookPath("postgres")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := startProcess("postgres", bin, p.args(), p.cred, p.DataDir, p.LogFile)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	p.proc = proc
	if err := proc.poll(func() error { return p.ping(p.Super, p.SuperPassword, "postgres") }); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	pid, err := readPIDFile(filepath.Join(p.DataDir, "postmaster.pid"))
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if pid != proc.pid() {
		t.Logf("postgres: postmaster.pid says %d, started process is %d", pid, proc.pid())
	}
	p.PID = pid
}

// ping logs in over TCP and disconnects.
func (p *Postgres) ping(user, pw, db string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.connString(user, pw, db))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

func (p *Postgres) connString(user, pw, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		p.Port, user, pw, db)
}

// SuperConnString returns a pgx (libpq keyword/value) connection string for
// the superuser and the database app, over TCP with password authentication
// and a 10 s connect timeout.
func (p *Postgres) SuperConnString() string {
	return p.connString(p.Super, p.SuperPassword, p.Database)
}

// ConnString returns a pgx connection string for User and the database app,
// over TCP with password authentication and a 10 s connect timeout.
func (p *Postgres) ConnString() string {
	return p.connString(p.User, p.Password, p.Database)
}

// Exec runs sql as the superuser in the database app, failing the test on
// error. sql may hold several statements (simple protocol), which then run
// in one implicit transaction. It gives up after 30 s.
func (p *Postgres) Exec(t testing.TB, sql string) {
	t.Helper()
	p.execIn(t, p.Database, sql)
}

// execIn runs each statement separately (CREATE DATABASE cannot share a
// transaction) as the superuser in db.
func (p *Postgres) execIn(t testing.TB, db string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.connString(p.Super, p.SuperPassword, db))
	if err != nil {
		t.Fatalf("postgres %s: connect as %s: %v", p.Addr, p.Super, err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("postgres %s: %s: %v", p.Addr, s, err)
		}
	}
}

// SuperConn returns a connection to app as the superuser, closed at
// cleanup (before the server stops). Use it to hold locks or open
// transactions.
func (p *Postgres) SuperConn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.SuperConnString())
	if err != nil {
		t.Fatalf("postgres %s: connect as %s: %v", p.Addr, p.Super, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// cleanup stops the server whatever state it is in (paused, killed,
// running), sweeps up any backend that outlived it, and frees the System V
// shared memory segment a killed postmaster leaves behind.
func (p *Postgres) cleanup(t testing.TB) {
	p.stopForCleanup(t)
	if err := removeStaleShm(filepath.Join(p.DataDir, "postmaster.pid")); err != nil {
		t.Errorf("postgres cleanup: %v", err)
	}
}

// removeStaleShm removes the System V segment named on line 7 ("key id") of
// a postmaster.pid that a killed server left behind, if it still has that
// key and nothing attached. A clean shutdown removes the file and the
// segment itself.
func removeStaleShm(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return nil
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return nil
	}
	key, err1 := strconv.ParseInt(f[0], 10, 32)
	id, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return nil
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		return nil // already gone
	}
	if ds.Perm.Key != int32(key) || ds.Nattch != 0 {
		return nil
	}
	if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil {
		return fmt.Errorf("remove shared memory segment %d: %w", id, err)
	}
	return nil
}
