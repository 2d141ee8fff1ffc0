package probe

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// mysqlCheck logs in to MySQL or MariaDB on a fresh connection, runs one
// query and the deep statements its options ask for, and says goodbye with
// COM_QUIT. A clean goodbye matters: a server counts connections that
// vanish (Aborted_clients) and blocks a host after max_connect_errors
// failed handshakes. With reuse_connection it keeps the connection of a
// passing run for the next one instead.
type mysqlCheck struct {
	dbLogin
	deep dbDeep
	// cfg is validated once at New; each run connects with a clone whose
	// DialFunc is bound to that run. It holds the password, so it is never
	// formatted (as a DSN or otherwise).
	cfg *mysql.Config
	// kept is the session kept between runs (reuse_connection).
	kept keeper[mysqlSession]
}

// mysqlSession is one login: a pool of one that keeps nothing idle, and
// its connection, pinned.
type mysqlSession struct {
	db   *sql.DB
	conn *sql.Conn
}

// close says goodbye: releasing the pinned connection to a pool that keeps
// nothing idle closes it with COM_QUIT, whose write dbRun bounds, and
// db.Close ends the pool's goroutine.
func (m mysqlSession) close() error {
	return errors.Join(m.conn.Close(), m.db.Close())
}

// The deep statements, run after the user's query on the same connection.
const (
	// mysqlRoleQuery reads both read-only switches; MariaDB has no
	// super_read_only and answers error 1193, and then
	// mysqlReadOnlyQuery runs instead.
	mysqlRoleQuery     = `SELECT @@global.read_only, @@global.super_read_only`
	mysqlReadOnlyQuery = `SELECT @@global.read_only`
	// mysqlReplicaStatus (MySQL 8.0.22+, MariaDB 10.5.1+) and its older
	// name, tried when the server does not parse the new one (error 1064).
	mysqlReplicaStatus = `SHOW REPLICA STATUS`
	mysqlSlaveStatus   = `SHOW SLAVE STATUS`
	mysqlThreadsQuery  = `SHOW GLOBAL STATUS LIKE 'Threads_connected'`
	mysqlMaxConnsQuery = `SELECT @@global.max_connections`
	mysqlWsrepQuery    = `SHOW GLOBAL STATUS LIKE 'wsrep_%'`
)

// MySQL and MariaDB error numbers the deep statements look for.
const (
	erParseError           = 1064 // ER_PARSE_ERROR: an older server without SHOW REPLICA STATUS
	erUnknownSystemVar     = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE: MariaDB's missing super_read_only
	erSpecificAccessDenied = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR: a privilege is missing
)

// newMySQL builds a mysql check.
func newMySQL(s Spec) (checker, error) {
	l, err := newDBLogin("mysql", s)
	if err != nil {
		return nil, err
	}
	deep, err := newDBDeep(s)
	if err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = l.addr
	cfg.User = l.user
	cfg.Passwd = string(l.password)
	cfg.DBName = l.database
	// The check's context is the real bound; these are belt and braces, and
	// dbRun clamps every socket deadline to the check's deadline anyway.
	cfg.Timeout = s.Timeout
	cfg.ReadTimeout = s.Timeout
	cfg.WriteTimeout = s.Timeout
	// A probe does not log: the driver's logger would write to stderr.
	cfg.Logger = &mysql.NopLogger{}
	// A connection serves one run, or (reuse_connection) is dropped after
	// the first failure, so there is nothing to check.
	cfg.CheckConnLiveness = false
	// Shown to DBAs in performance_schema.session_connect_attrs.
	cfg.ConnectionAttributes = "program_name:vitals"
	if _, err := mysql.NewConnector(cfg); err != nil {
		return nil, fmt.Errorf("mysql settings: %w", err)
	}
	return &mysqlCheck{dbLogin: l, deep: deep, cfg: cfg}, nil
}

// check implements checker.
func (c *mysqlCheck) check(ctx context.Context) (string, error) {
	detail, _, err := c.checkState(ctx)
	return detail, err
}

// checkState implements dbStateChecker.
func (c *mysqlCheck) checkState(ctx context.Context) (string, *DBState, error) {
	run, sess, err := c.connect(ctx)
	if err != nil {
		return "", nil, err
	}
	detail, st, err := c.statements(ctx, sess.conn)
	if err == nil && c.deep.reuse && c.kept.put(sess, run) {
		return detail, st, nil
	}
	// COM_QUIT is one small write whose deadline dbRun clamps to the
	// check's deadline plus closeGrace; after a timeout the driver has
	// already dropped the socket and sends nothing.
	sess.close()
	return detail, st, err
}

// connect returns the kept session (reuse_connection), rearmed for this
// run, or logs in on a new one.
func (c *mysqlCheck) connect(ctx context.Context) (*dbRun, mysqlSession, error) {
	if c.deep.reuse {
		if sess, run, ok := c.kept.take(); ok {
			if err := run.rearm(ctx); err == nil {
				return run, sess, nil
			}
			sess.close() // the socket is gone; log in again
		}
	}
	run := newDBRun(ctx)
	cfg := c.cfg.Clone()
	cfg.DialFunc = run.dial
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, mysqlSession{}, fmt.Errorf("mysql settings: %w", err)
	}
	// A pool of one that keeps nothing idle: the connection is closed, with
	// COM_QUIT, as soon as it is released, and db.Close ends the pool's
	// goroutine. The connection is pinned, so a kept one is never idle.
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(0)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, mysqlSession{}, c.loginError(ctx, run, err)
	}
	return run, mysqlSession{db: db, conn: conn}, nil
}

// close implements closer: it closes the kept connection, if any.
func (c *mysqlCheck) close() error {
	// database/sql closes without a context; the socket's limit, which
	// shut moves to closeGrace from now, bounds COM_QUIT.
	return c.kept.shut(func(_ context.Context, sess mysqlSession) error { return sess.close() })
}

// statements runs the user's query, reads the replication state and runs
// the deep statements the options ask for, stopping at the first failure.
// The state comes back once read, even when a later step fails.
func (c *mysqlCheck) statements(ctx context.Context, conn *sql.Conn) (string, *DBState, error) {
	rows, err := conn.QueryContext(ctx, c.query)
	if err != nil {
		return "", nil, mysqlStatementError(ctx, "query", err)
	}
	v, found, err := scanFirst(rows)
	if err != nil {
		return "", nil, mysqlStatementError(ctx, "query", err)
	}
	detail, err := c.judgeRow(v, found)
	if err != nil {
		return "", nil, err
	}
	st, err := c.state(ctx, conn)
	if err != nil {
		if c.deep.stateNeeded(ctx) {
			return "", nil, err
		}
		st = nil // unknown this run; the check does not depend on it
	}
	parts := []string{detail}
	if st != nil {
		role, lag, err := c.deep.judgeState(st)
		if err != nil {
			return "", st, err
		}
		parts = append(parts, role, lag)
	}
	for _, deep := range []struct {
		on  bool
		run func(context.Context, *sql.Conn) (string, error)
	}{
		{c.deep.maxConns.text != "", c.connections},
		{c.deep.galera, c.galera},
	} {
		if !deep.on {
			continue
		}
		r, err := deep.run(ctx, conn)
		if err != nil {
			return "", st, err
		}
		parts = append(parts, r)
	}
	return readings(parts...), st, nil
}

// mysqlStatus runs a SHOW STATUS statement and returns its rows as a map
// from Variable_name to Value.
func mysqlStatus(ctx context.Context, conn *sql.Conn, q string) (map[string]string, error) {
	_, rows, err := mysqlRows(ctx, conn, q)
	if err != nil {
		return nil, err
	}
	status := make(map[string]string, len(rows))
	for _, row := range rows {
		if len(row) >= 2 {
			status[row[0].text] = row[1].text
		}
	}
	return status, nil
}

// mysqlRows runs q and returns its column names and every row as text.
func mysqlRows(ctx context.Context, conn *sql.Conn, q string) ([]string, [][]dbValue, error) {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var all [][]dbValue
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		row := make([]dbValue, len(cols))
		for i, v := range vals {
			row[i] = dbValue{text: v.String, null: !v.Valid}
		}
		all = append(all, row)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	return cols, all, rows.Err()
}

// scanFirst reads the first column of the first row as text and closes rows.
func scanFirst(rows *sql.Rows) (v dbValue, found bool, err error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return v, false, err
	}
	if rows.Next() && len(cols) > 0 {
		var first sql.NullString
		dest := make([]any, len(cols))
		dest[0] = &first
		for i := 1; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return v, false, err
		}
		v, found = dbValue{text: first.String, null: !first.Valid}, true
	}
	if err := rows.Close(); err != nil {
		return v, false, err
	}
	return v, found, rows.Err()
}

// errConnLost stands for the driver's "invalid connection": the server
// closed the connection or the socket broke, and the driver kept no cause.
var errConnLost = errors.New("connection lost")

// mysqlCause replaces the driver's "invalid connection", which hides the
// socket error it logged: past the deadline it was a timeout, else the
// connection was lost.
func mysqlCause(ctx context.Context, err error) error {
	switch {
	case !errors.Is(err, mysql.ErrInvalidConn):
		return err
	case overDeadline(ctx):
		return context.DeadlineExceeded
	default:
		return errConnLost
	}
}

// loginError explains a failed connect or login. Server refusals name the
// user or database; network failures name the step.
func (c *mysqlCheck) loginError(ctx context.Context, run *dbRun, err error) error {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case 1045: // ER_ACCESS_DENIED_ERROR
			return mismatch("%s: access denied", loginAs(c.user))
		case 1044: // ER_DBACCESS_DENIED_ERROR
			return mismatch("%s: access denied to database %q", loginAs(c.user), c.database)
		case 1049: // ER_BAD_DB_ERROR
			return mismatch("database %q does not exist", c.database)
		case 1040: // ER_CON_COUNT_ERROR
			return mismatch("too many connections")
		}
		return mismatch("%s: %s (error %d)", loginAs(c.user), me.Message, me.Number)
	}
	err = mysqlCause(ctx, err)
	return step(run.connectStep(c.addr), err)
}

// mysqlStatementError explains a failed statement, named "query" for the
// user's: the server's message, or the step.
func mysqlStatementError(ctx context.Context, name string, err error) error {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return mismatch("%s: %s (error %d)", name, me.Message, me.Number)
	}
	err = mysqlCause(ctx, err)
	return step(name, err)
}
