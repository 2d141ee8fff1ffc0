package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a private MariaDB server started by StartMariaDB. It listens on
// 127.0.0.1:Port and on the unix socket Socket, and runs with
// --skip-name-resolve.
//
// Its methods serialize with each other and with cleanup; call them from the
// test goroutine, since they call t.Fatal on failure.
type MariaDB struct {
	Addr         string // "127.0.0.1:Port"
	Port         int    // TCP port on 127.0.0.1
	User         string // "health": PROCESS, REPLICATION CLIENT on *.* and SELECT on app.*, from any host
	Password     string // password of User, random per instance
	Database     string // "app", with the table app.t (one row)
	Root         string // "root": logs in over Socket without a password
	RootPassword string // always "": root has no password and is reachable only locally
	DataDir      string // the data directory
	Socket       string // the unix socket
	LogFile      string // the error log (--log-error) and stdout/stderr
	PID          int    // mariadbd's PID, from its pid file; updated by Restart

	cfg     mariadbConfig
	cred    *syscall.Credential // the OS user mariadbd runs as; nil: the current user
	base    string              // private directory holding everything above
	pidFile string

	lifecycle // Stop, Kill, Restart, Pause, Resume
}

// MariaDBOption configures StartMariaDB.
type MariaDBOption func(*mariadbConfig)

type mariadbConfig struct {
	maxConnections int       // --max-connections; default 20
	settings       []setting // more --name=value options, after (and so over) the defaults
}

// WithMariaDBMaxConnections sets --max-connections (default 20; MariaDB's
// minimum is 10, and StartMariaDB fails for less rather than let the server
// raise it silently). MariaDB admits one connection more than this for a
// user with the SUPER (or CONNECTION ADMIN) privilege, such as root; User
// has neither.
func WithMariaDBMaxConnections(n int) MariaDBOption {
	return func(c *mariadbConfig) { c.maxConnections = n }
}

// WithMariaDBSetting adds the server option --name=value, for example
// WithMariaDBSetting("wait-timeout", "5").
func WithMariaDBSetting(name, value string) MariaDBOption {
	return func(c *mariadbConfig) { c.settings = append(c.settings, setting{name, value}) }
}

// StartMariaDB initializes and starts a private MariaDB server in a temp dir
// on a free port, drops the anonymous accounts and the passwordless root
// accounts reachable over TCP (root@localhost, the socket, stays), creates the user "health"
// (as 'health'@'%', 'health'@'127.0.0.1' and 'health'@'localhost'), the
// database "app" and the table app.t, and registers a cleanup that stops the
// server and removes its files. It skips the test if MariaDB is not
// installed (see Need).
func StartMariaDB(t testing.TB, opts ...MariaDBOption) *MariaDB {
	t.Helper()
	Need(t, "mariadbd", "mariadb-install-db")
	cfg := mariadbConfig{maxConnections: 20}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxConnections < mariadbMinConnections {
		t.Fatalf("mariadb: max_connections %d must be >= %d, MariaDB's minimum (it would raise it silently)",
			cfg.maxConnections, mariadbMinConnections)
	}
	cred := runAs(t, "mysql")
	base := makeBase(t, "mariadb", cred)
	port := FreePort(t)
	m := &MariaDB{
		Addr:     "127.0.0.1:" + strconv.Itoa(port),
		Port:     port,
		User:     "health",
		Password: password(),
		Database: "app",
		Root:     "root",
		DataDir:  filepath.Join(base, "data"),
		Socket:   filepath.Join(base, "mysqld.sock"),
		LogFile:  filepath.Join(base, "mariadbd.log"),
		cfg:      cfg,
		cred:     cred,
		base:     base,
		pidFile:  filepath.Join(base, "mariadbd.pid"),
	}
	m.label, m.stopSig, m.start = describe("mariadb", m.Addr), syscall.SIGTERM, m.launch
	t.Cleanup(func() { m.stopForCleanup(t) })
	start := time.Now()
	m.installDB(t)
	m.startLocked(t)
	m.bootstrap(t)
	t.Logf("mariadb %s ready in %s (pid %d, data %s)", m.Addr, time.Since(start).Round(time.Millisecond), m.PID, m.DataDir)
	return m
}

// mariadbMinConnections is the lowest max_connections MariaDB accepts; it
// raises a lower value to this without failing.
const mariadbMinConnections = 10

// storageOptions are the InnoDB options both mariadb-install-db and mariadbd
// get: small and fast, durability off.
var mariadbStorageOptions = []string{
	"--innodb-buffer-pool-size=32M",
	"--innodb-log-file-size=16M",
	"--innodb-flush-log-at-trx-commit=0",
	"--innodb-doublewrite=0",
	"--skip-log-bin",
}

// installDB creates the system tables. root gets the "normal"
// authentication method, no password, so that any client (not only the OS
// user root through unix_socket authentication) can log in over the socket.
func (m *MariaDB) installDB(t testing.TB) {
	t.Helper()
	bin, err := LookPath("mariadb-install-db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(m.DataDir, 0o700); err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	chown(t, m.DataDir, m.cred)
	args := append([]string{
		"--no-defaults", // must come first
		"--datadir=" + m.DataDir,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		"--tmpdir=" + m.base,
	}, mariadbStorageOptions...)
	if out, err := runTool(bin, args, m.cred, m.base); err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
}

func (m *MariaDB) args() []string {
	args := append([]string{
		"--no-defaults", // must come first
		"--datadir=" + m.DataDir,
		"--socket=" + m.Socket,
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1",
		"--pid-file=" + m.pidFile,
		"--log-error=" + m.LogFile,
		"--tmpdir=" + m.base,
		// Without it, 127.0.0.1 resolves to localhost and an anonymous
		// ''@'localhost' account would shadow 'health'@'%'.
		"--skip-name-resolve",
		"--max-connections=" + strconv.Itoa(m.cfg.maxConnections),
		// Tests abort many handshakes (pauses, timeouts); never block the host.
		"--max-connect-errors=1000000",
		"--performance-schema=OFF",
		"--innodb-fast-shutdown=1",
	}, mariadbStorageOptions...)
	for _, s := range m.cfg.settings {
		args = append(args, "--"+s.name+"="+s.value)
	}
	return args
}

// launch starts mariadbd and waits until root can log in over the socket.
// m.mu must be held.
func (m *MariaDB) launch(t testing.TB) {
	t.Helper()
	bin, err := LookPath("mariadbd")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(m.pidFile) // a killed server leaves it behind
	proc, err := startProcess("mariadbd", bin, m.args(), m.cred, m.base, m.LogFile)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	m.proc = proc
	if err := proc.poll(m.pingRoot); err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	pid, err := readPIDFile(m.pidFile)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	if pid != proc.pid() {
		t.Logf("mariadb: pid file says %d, started process is %d", pid, proc.pid())
	}
	m.PID = pid
}

func (m *MariaDB) rootConfig() *mysql.Config {
	c := mysql.NewConfig()
	c.User = m.Root
	c.Passwd = m.RootPassword
	c.Net = "unix"
	c.Addr = m.Socket
	c.Timeout = dialTimeout
	return c
}

func (m *MariaDB) pingRoot() error {
	c := m.rootConfig()
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	return db.PingContext(ctx)
}

// RootDSN returns a go-sql-driver/mysql DSN for root over the unix socket
// with no database selected, such as "root@unix(/tmp/vitals-mariadb-1/mysqld.sock)/".
// Append a database name and ?params as needed.
func (m *MariaDB) RootDSN() string {
	c := m.rootConfig()
	c.Timeout = 0
	return c.FormatDSN()
}

// DSN returns a go-sql-driver/mysql DSN for User over TCP to the database
// app, such as "health:PW@tcp(127.0.0.1:PORT)/app".
func (m *MariaDB) DSN() string {
	c := mysql.NewConfig()
	c.User = m.User
	c.Passwd = m.Password
	c.Net = "tcp"
	c.Addr = m.Addr
	c.DBName = m.Database
	return c.FormatDSN()
}

// Exec runs sql as root over the socket, failing the test on error. sql may
// hold several statements separated by semicolons. It gives up after 30 s.
func (m *MariaDB) Exec(t testing.TB, sqlText string) {
	t.Helper()
	c := m.rootConfig()
	c.MultiStatements = true
	c.ReadTimeout = cmdTimeout
	c.WriteTimeout = cmdTimeout
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, sqlText); err != nil {
		t.Fatalf("mariadb %s: %s: %v", m.Addr, sqlText, err)
	}
}

// bootstrap drops the anonymous accounts and every root account but
// root@localhost, and creates the user, database and table.
func (m *MariaDB) bootstrap(t testing.TB) {
	t.Helper()
	m.Exec(t, fmt.Sprintf(`
CREATE DATABASE %[1]s;
CREATE TABLE %[1]s.t (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL DEFAULT '') ENGINE=InnoDB;
INSERT INTO %[1]s.t (id, note) VALUES (1, 'vitals');
CREATE USER '%[2]s'@'%%' IDENTIFIED BY '%[3]s';
CREATE USER '%[2]s'@'127.0.0.1' IDENTIFIED BY '%[3]s';
CREATE USER '%[2]s'@'localhost' IDENTIFIED BY '%[3]s';
GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '%[2]s'@'%%', '%[2]s'@'127.0.0.1', '%[2]s'@'localhost';
GRANT SELECT ON %[1]s.* TO '%[2]s'@'%%', '%[2]s'@'127.0.0.1', '%[2]s'@'localhost';
`, m.Database, m.User, m.Password))
	// Any other anonymous account (such as ''@'<hostname>'), and root
	// anywhere but localhost (the socket): mariadb-install-db creates
	// root@127.0.0.1 and root@::1 without a password.
	c := m.rootConfig()
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
	if err != nil {
		t.Fatalf("mariadb: list accounts: %v", err)
	}
	var drop []string
	for rows.Next() {
		var u, h string
		if err := rows.Scan(&u, &h); err != nil {
			t.Fatalf("mariadb: list accounts: %v", err)
		}
		drop = append(drop, "'"+strings.ReplaceAll(u, "'", "''")+"'@'"+strings.ReplaceAll(h, "'", "''")+"'")
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatalf("mariadb: list accounts: %v", err)
	}
	for _, acct := range drop {
		if _, err := db.ExecContext(ctx, "DROP USER "+acct); err != nil {
			t.Fatalf("mariadb: drop user %s: %v", acct, err)
		}
	}
	// A test that fills the server relies on the exact limit.
	var maxConns int
	if err := db.QueryRowContext(ctx, "SELECT @@global.max_connections").Scan(&maxConns); err != nil {
		t.Fatalf("mariadb: read max_connections: %v", err)
	}
	if maxConns != m.cfg.maxConnections {
		t.Fatalf("mariadb: started with --max-connections=%d but @@max_connections is %d", m.cfg.maxConnections, maxConns)
	}
}
