package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sslModes are PostgreSQL's sslmode values, as libpq documents them.
// statementGrace is how long after the check's deadline the server's
// statement_timeout ends a statement the check abandoned.
const statementGrace = 250 * time.Millisecond

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// postgresCheck logs in to PostgreSQL on a fresh connection, runs one query
// and the deep statements its options ask for, and says goodbye with
// Terminate. With reuse_connection it keeps the connection of a passing run
// for the next one instead.
type postgresCheck struct {
	dbLogin
	deep dbDeep
	// cfg is parsed once at New; each run connects with a copy whose
	// DialFunc is bound to that run.
	cfg *pgx.ConnConfig
	// kept is the connection kept between runs (reuse_connection).
	kept keeper[*pgx.Conn]
	// prefer is sslmode=prefer; plainOnly is set once the server has
	// answered a TLS request with "no", after which runs go straight to
	// plain text instead of paying a second connection each time.
	prefer    bool
	plainOnly atomic.Bool
}

// The deep statements, run after the user's query on the same connection.
const (
	// pgStateQuery reads the server's place in replication in one round
	// trip: whether it is a standby (in recovery); the WAL it received but
	// has not replayed, in bytes (0 on a primary, NULL on a standby that
	// receives no stream); and postgres_exporter's replication lag in
	// seconds: 0 on a primary, and 0 on a standby that has replayed all it
	// received, so that lag does not grow on an idle primary, else the age
	// of the last replayed commit (NULL before the first one).
	pgStateQuery = `SELECT r,
       CASE WHEN NOT r THEN 0 WHEN b < 0 THEN 0 ELSE b END,
       CASE WHEN NOT r OR rcv = rep THEN 0 WHEN s < 0 THEN 0 ELSE s END
  FROM (SELECT pg_is_in_recovery() AS r,
               pg_last_wal_receive_lsn() AS rcv, pg_last_wal_replay_lsn() AS rep,
               pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS b,
               EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS s) AS st`
	// pgConnsQuery counts client backends against the slots open to
	// non-superusers (PostgreSQL 16 adds reserved_connections, for
	// pg_use_reserved_connections), and says whether this login may see
	// other users' sessions: without pg_read_all_stats (in pg_monitor)
	// their backend_type is NULL and the count would be too low.
	pgConnsQuery = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int
         - current_setting('superuser_reserved_connections')::int
         - coalesce(current_setting('reserved_connections', true)::int, 0),
       pg_has_role('pg_read_all_stats', 'USAGE')`
)

// newPostgres builds a postgres check. sslmode defaults to prefer: TLS when
// the server offers it, and plain TCP when it does not, as libpq does.
func newPostgres(s Spec) (checker, error) {
	l, err := newDBLogin("postgres", s)
	if err != nil {
		return nil, err
	}
	deep, err := newDBDeep(s)
	if err != nil {
		return nil, err
	}
	mode := s.SSLMode
	if mode == "" {
		mode = "prefer"
	}
	if !slices.Contains(sslModes, mode) {
		return nil, &FieldError{Field: "sslmode", Msg: fmt.Sprintf("%q is not one of %s", mode, strings.Join(sslModes, ", "))}
	}
	host, port, err := net.SplitHostPort(l.addr)
	if err != nil {
		return nil, &FieldError{Field: "address", Msg: err.Error()}
	}
	// Host, port and sslmode go through ParseConfig, which derives the TLS
	// attempts and their fallbacks (prefer: TLS, then plain) from them.
	// Naming them, and target_session_attrs, also keeps PGHOST, PGSSLMODE
	// and the like in the agent's environment from redirecting the check.
	// The password is set on the parsed config and never enters a string.
	cfg, err := pgx.ParseConfig(strings.Join([]string{
		"host=" + pgQuote(host),
		"port=" + pgQuote(port),
		"user=" + pgQuote(l.user),
		"sslmode=" + mode,
		"target_session_attrs=any",
		"application_name=vitals",
	}, " "))
	if err != nil {
		return nil, fmt.Errorf("postgres settings: %w", err)
	}
	cfg.User = l.user
	cfg.Password = string(l.password)
	cfg.Database = l.database
	// pgx may make several attempts (prefer: TLS, then plain; a name with
	// several addresses: each in turn). Every one runs under the check's
	// context, and ConnectTimeout, which pgx applies per address, only
	// derives from it, so no attempt can outlast the check.
	cfg.ConnectTimeout = s.Timeout
	// One round trip per statement, and no statement or description cache:
	// a connection lives for one run, and a kept one runs the same few
	// statements, which gain nothing from being prepared.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.StatementCacheCapacity = 0
	cfg.DescriptionCacheCapacity = 0
	// The server ends a statement that outlives the check by itself, so a
	// query stuck behind a lock never lingers after the check gave up, even
	// when pgx's cancel request cannot get through in time. It fires a
	// little after the check's own deadline, which stays the one that
	// decides the result.
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt((s.Timeout + statementGrace).Milliseconds(), 10)
	return &postgresCheck{dbLogin: l, deep: deep, cfg: cfg, prefer: mode == "prefer"}, nil
}

// check implements checker.
func (c *postgresCheck) check(ctx context.Context) (string, error) {
	detail, _, err := c.checkState(ctx)
	return detail, err
}

// checkState implements dbStateChecker.
func (c *postgresCheck) checkState(ctx context.Context) (string, *DBState, error) {
	run, conn, err := c.connect(ctx)
	if err != nil {
		return "", nil, err
	}
	detail, st, err := c.statements(ctx, conn)
	// A query that left a transaction open (say "SELECT 1; BEGIN") would
	// hold it, and its locks, for as long as the connection is kept.
	idle := conn.PgConn().TxStatus() == 'I'
	if err == nil && c.deep.reuse && idle && c.kept.put(conn, run) {
		return detail, st, nil
	}
	cctx, cancel := run.closeContext(ctx)
	defer cancel()
	conn.Close(cctx) // sends Terminate; errors only mean the socket was dropped
	return detail, st, err
}

// connect returns the kept connection (reuse_connection), rearmed for this
// run, or logs in on a new one.
func (c *postgresCheck) connect(ctx context.Context) (*dbRun, *pgx.Conn, error) {
	if c.deep.reuse {
		if conn, run, ok := c.kept.take(); ok {
			if err := run.rearm(ctx); err == nil {
				return run, conn, nil
			}
			cctx, cancel := run.closeContext(ctx)
			conn.Close(cctx) // the socket is gone; log in again
			cancel()
		}
	}
	run := newDBRun(ctx)
	cfg := c.cfg.Copy()
	cfg.DialFunc = run.dial
	if c.plainOnly.Load() {
		// sslmode=prefer against a server that refused TLS: pgx would ask
		// for TLS, be refused and dial a second connection for plain text
		// on every run. Go straight to plain text.
		cfg.TLSConfig, cfg.Fallbacks = nil, nil
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, c.loginError(run, err)
	}
	if c.prefer && cfg.TLSConfig != nil {
		if _, isTLS := conn.PgConn().Conn().(*tls.Conn); !isTLS {
			c.plainOnly.Store(true)
		}
	}
	return run, conn, nil
}

// close implements closer: it closes the kept connection, if any.
func (c *postgresCheck) close() error {
	return c.kept.shut(func(ctx context.Context, conn *pgx.Conn) error { return conn.Close(ctx) })
}

// statements runs the user's query, reads the replication state and runs
// the deep statements the options ask for, stopping at the first failure.
// The state comes back once read, even when a later step fails.
func (c *postgresCheck) statements(ctx context.Context, conn *pgx.Conn) (string, *DBState, error) {
	vals, found, err := pgFirstRow(ctx, conn, c.query)
	if err != nil {
		return "", nil, pgStatementError("query", err)
	}
	// The simple protocol returns text, so the raw value is the server's
	// own rendering: "t" for true, "1" for 1.
	first := dbValue{null: true}
	if len(vals) > 0 {
		first = vals[0]
	}
	detail, err := c.judgeRow(first, found)
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
	if c.deep.maxConns.text != "" {
		r, err := c.connections(ctx, conn)
		if err != nil {
			return "", st, err
		}
		parts = append(parts, r)
	}
	return readings(parts...), st, nil
}

// state reads the replication state with pgStateQuery.
func (c *postgresCheck) state(ctx context.Context, conn *pgx.Conn) (*DBState, error) {
	const name = "replication state query"
	vals, err := pgDeepRow(ctx, conn, name, pgStateQuery, 3)
	if err != nil {
		return nil, err
	}
	replica, err := pgBool(name, vals[0])
	if err != nil {
		return nil, err
	}
	st := &DBState{Role: roleOf(replica)}
	if vals[1].null {
		st.BytesUnknown = "the standby receives no WAL stream"
	} else {
		b, err := strconv.ParseUint(vals[1].text, 10, 64)
		if err != nil {
			return nil, mismatch("%s: returned %s, want bytes", name, vals[1])
		}
		st.LagBytes = &b
	}
	if vals[2].null {
		// In recovery, behind what it received, and with no transaction
		// replayed yet whose commit time would date the lag.
		st.SecondsUnknown = "replication lag unknown: no transaction replayed since the standby started"
	} else {
		s, err := strconv.ParseFloat(vals[2].text, 64)
		if err != nil {
			return nil, mismatch("%s: returned %s, want seconds", name, vals[2])
		}
		st.LagSeconds = &s
	}
	return st, nil
}

// connections reads client backends against the slots open to
// non-superusers.
func (c *postgresCheck) connections(ctx context.Context, conn *pgx.Conn) (string, error) {
	vals, err := pgDeepRow(ctx, conn, "connections query", pgConnsQuery, 3)
	if err != nil {
		return "", err
	}
	used, err1 := strconv.ParseInt(vals[0].text, 10, 64)
	slots, err2 := strconv.ParseInt(vals[1].text, 10, 64)
	if err1 != nil || err2 != nil {
		return "", mismatch("connections query: returned %s and %s, want numbers", vals[0], vals[1])
	}
	seesAll, err := pgBool("connections query", vals[2])
	if err != nil {
		return "", err
	}
	if !seesAll {
		return "", mismatch("connections: %q cannot see other users' sessions; grant it pg_monitor (or pg_read_all_stats)", c.user)
	}
	return c.deep.maxConns.judge(used, slots)
}

// pgFirstRow runs q and returns the columns of its first row as the server
// rendered them, and whether there was a row.
func pgFirstRow(ctx context.Context, conn *pgx.Conn, q string) ([]dbValue, bool, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var vals []dbValue
	found := rows.Next()
	if found {
		for _, raw := range rows.RawValues() {
			vals = append(vals, dbValue{text: string(raw), null: raw == nil})
		}
	}
	rows.Close()
	return vals, found, rows.Err()
}

// pgDeepRow runs one of the deep statements, named for reasons, and
// returns its first row, which must have at least cols columns.
func pgDeepRow(ctx context.Context, conn *pgx.Conn, name, q string, cols int) ([]dbValue, error) {
	vals, found, err := pgFirstRow(ctx, conn, q)
	switch {
	case err != nil:
		return nil, pgStatementError(name, err)
	case !found:
		return nil, mismatch("%s: returned no rows", name)
	case len(vals) < cols:
		return nil, mismatch("%s: returned %d columns, want %d", name, len(vals), cols)
	}
	return vals, nil
}

// pgBool reads a boolean in PostgreSQL's text form, "t" or "f".
func pgBool(name string, v dbValue) (bool, error) {
	switch {
	case !v.null && v.text == "t":
		return true, nil
	case !v.null && v.text == "f":
		return false, nil
	}
	return false, mismatch("%s: returned %s, want a boolean", name, v)
}

// loginError explains a failed connect or login. Server refusals name the
// user or database; network failures name the step.
func (c *postgresCheck) loginError(run *dbRun, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "28P01": // invalid_password
			return mismatch("%s: password authentication failed", loginAs(c.user))
		case "3D000": // invalid_catalog_name
			db := c.database
			if db == "" {
				db = c.user // the server's default database
			}
			return mismatch("database %q does not exist", db)
		case "53300": // too_many_connections
			return mismatch("too many connections")
		}
		return mismatch("%s: %s (SQLSTATE %s)", loginAs(c.user), pgErr.Message, pgErr.Code)
	}
	return step(run.connectStep(c.addr), pgCause(err))
}

// pgStatementError explains a failed statement, named "query" for the
// user's: the server's message, or the step.
func pgStatementError(name string, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return mismatch("%s: %s (SQLSTATE %s)", name, pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, pgconn.ErrConnClosed) {
		// pgx closed the connection on a failed read or write and
		// reports only that; past the deadline judge says timeout.
		err = errConnLost
	}
	return step(name, err)
}

// pgCause strips pgx's connect prefixes ("failed to connect to `user=…`:
// 127.0.0.1:5432 (127.0.0.1): ") and keeps the cause of the last attempt,
// e.g. "tls error: server refused TLS connection". The result still wraps
// the network error, so describe and isTimeout see through it.
func pgCause(err error) error {
	ce, ok := errors.AsType[*pgconn.ConnectError](err)
	if !ok {
		return err
	}
	inner := ce.Unwrap()
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		if errs := j.Unwrap(); len(errs) > 0 {
			inner = errs[len(errs)-1]
		}
	}
	if u := errors.Unwrap(inner); u != nil {
		inner = u
	}
	return inner
}

// pgQuote quotes a value for a keyword/value connection string.
func pgQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
