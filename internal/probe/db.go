package probe

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// defaultQuery is the statement a mysql or postgres check runs when the spec
// sets none.
const defaultQuery = "SELECT 1"

// closeGrace is how far past the check's deadline a database connection may
// live: long enough to send a clean goodbye (COM_QUIT, Terminate) that is
// already on its way, short enough that a hung server cannot stretch a check.
const closeGrace = 20 * time.Millisecond

// valueClip is how many bytes of a query's value a reason quotes.
const valueClip = 60

// dbLogin is what the mysql and postgres checks share: who logs in where,
// what they run and what they want back. Its fields are fixed at New.
type dbLogin struct {
	addr     string // host:port
	user     string
	password Secret // resolved at New from password, password_file or password_env
	database string // "" for the server's default
	query    string // never "": defaultQuery when the spec sets none
	expect   string // the exact text the first column must have; "" takes any value
}

// newDBLogin validates the fields mysql and postgres share and resolves the
// password. kind names the check in messages.
func newDBLogin(kind string, s Spec) (dbLogin, error) {
	if s.User == "" {
		return dbLogin{}, &FieldError{Field: "user", Msg: "is required for type " + kind}
	}
	pw, err := s.password()
	if err != nil {
		return dbLogin{}, err
	}
	q := s.Query
	if q == "" {
		q = defaultQuery
	}
	return dbLogin{addr: s.Address, user: s.User, password: pw, database: s.Database, query: q, expect: s.Expect}, nil
}

// dbValue is the first column of the first row as the server sent it in
// text form. null marks SQL NULL.
type dbValue struct {
	text string
	null bool
}

func (v dbValue) String() string {
	if v.null {
		return "NULL"
	}
	return quoteValue(v.text)
}

// judgeRow turns what a query returned into the check's detail or error:
// no row fails, and so does a first column other than expect when expect is
// set. The detail reads `query returned "1"`.
func (l dbLogin) judgeRow(v dbValue, found bool) (string, error) {
	if !found {
		return "", mismatch("query returned no rows")
	}
	if l.expect != "" && (v.null || v.text != l.expect) {
		return "", mismatch("query returned %s, want %s", v, quoteValue(l.expect))
	}
	return "query returned " + v.String(), nil
}

// quoteValue quotes s for a reason, clipped to valueClip bytes on a rune
// boundary.
func quoteValue(s string) string {
	if len(s) <= valueClip {
		return strconv.Quote(s)
	}
	cut := valueClip
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// dbRun is one run of a database check. It dials for the driver and holds
// every connection the run makes to the run's deadline plus closeGrace: the
// dial itself, and every deadline the driver later sets on the socket, are
// clamped to that limit. So neither a driver that misses the context, nor a
// clean close that finds the server hung, nor a driver's background cleanup
// can outlive the check by more than closeGrace; a hung server just has its
// socket dropped.
//
// A connection kept between runs (reuse_connection) keeps the dbRun that
// made it, since the driver holds its dial function (pgx dials again to
// send a cancel request); rearm binds both to each later run's deadline.
type dbRun struct {
	mu     sync.Mutex                  // guards limit: drivers dial from their own goroutines
	limit  time.Time                   // zero: unbounded
	dialed atomic.Bool                 // a TCP connection was made: later failures are past "connect"
	conn   atomic.Pointer[boundedConn] // the last connection dial made; nil when unbounded
}

// newDBRun starts a run of a check whose context is ctx. The timed wrapper
// always sets a deadline; without one the run is unbounded.
func newDBRun(ctx context.Context) *dbRun {
	return &dbRun{limit: runLimit(ctx)}
}

// runLimit is ctx's deadline plus closeGrace, or zero without a deadline.
func runLimit(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d.Add(closeGrace)
	}
	return time.Time{}
}

func (r *dbRun) getLimit() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limit
}

// rearm binds the run and its connection, kept from an earlier run, to the
// run of a check whose context is ctx.
func (r *dbRun) rearm(ctx context.Context) error { return r.rebind(runLimit(ctx)) }

// rebind moves the run's limit, and its connection's, to limit.
func (r *dbRun) rebind(limit time.Time) error {
	r.mu.Lock()
	r.limit = limit
	r.mu.Unlock()
	if bc := r.conn.Load(); bc != nil {
		return bc.rebind(limit)
	}
	return nil
}

// dial connects like net.Dialer.DialContext, bounded by ctx and the run's
// limit. Its signature fits pgconn.DialFunc and mysql.Config.DialFunc.
func (r *dbRun) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	limit := r.getLimit()
	if !limit.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, limit)
		defer cancel()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	r.dialed.Store(true)
	if limit.IsZero() {
		return c, nil
	}
	if err := c.SetDeadline(limit); err != nil {
		c.Close()
		return nil, err
	}
	bc := &boundedConn{Conn: c, limit: limit}
	r.conn.Store(bc)
	return bc, nil
}

// closeContext is the context for a clean close at the end of a run: never
// the check's possibly expired one, and never past the run's limit.
func (r *dbRun) closeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	limit := r.getLimit()
	if limit.IsZero() {
		return context.WithTimeout(ctx, closeGrace)
	}
	return context.WithDeadline(ctx, limit)
}

// overDeadline reports whether the check's deadline has passed by the
// clock. A socket deadline can fire a moment before ctx's own timer marks ctx
// done, and a driver that reports the failed read as something else (go-sql-
// driver's "invalid connection") would then not read as a timeout.
func overDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// connectStep names the step a login failure belongs to: "connect <addr>"
// when no TCP connection was made, else "login".
func (r *dbRun) connectStep(addr string) string {
	if r.dialed.Load() {
		return "login"
	}
	return "connect " + addr
}

// boundedConn is a connection whose deadlines never pass limit: a zero
// deadline (none) or a later one becomes limit. A connection kept between
// runs (reuse_connection) moves its limit to each run's with rebind.
type boundedConn struct {
	net.Conn
	mu    sync.Mutex // guards limit: a driver may set deadlines from its own goroutine
	limit time.Time
}

func (c *boundedConn) clamp(t time.Time) time.Time {
	c.mu.Lock()
	limit := c.limit
	c.mu.Unlock()
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

// rebind moves the limit to a later run's and sets the socket's deadline to
// it.
func (c *boundedConn) rebind(limit time.Time) error {
	c.mu.Lock()
	c.limit = limit
	c.mu.Unlock()
	return c.Conn.SetDeadline(limit)
}

// SetDeadline implements net.Conn, clamped to the run's limit.
func (c *boundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }

// SetReadDeadline implements net.Conn, clamped to the run's limit.
func (c *boundedConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }

// SetWriteDeadline implements net.Conn, clamped to the run's limit.
func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// loginAs is the prefix of a reason about a refused login, e.g.
// `login as "health"`.
func loginAs(user string) string { return fmt.Sprintf("login as %q", user) }

// The roles a mysql or postgres check may require (Spec.Role).
const (
	rolePrimary = "primary"
	roleReplica = "replica"
	roleAny     = "any"
)

// dbDeep is what a mysql or postgres check reads beyond the user's query,
// on the same connection and within the same deadline. It is fixed at New.
// Each option left at its zero value is a statement the check never runs.
type dbDeep struct {
	role     string        // rolePrimary or roleReplica; "" (any): not checked
	maxLag   time.Duration // positive; 0: not checked
	maxConns connLimit     // zero (text ""): not checked
	galera   bool          // mysql: require a Synced node of a Primary component
	donorOK  bool          // with galera: a Donor/Desynced node passes too
	reuse    bool          // keep one connection between runs
}

// newDBDeep validates the deep options that mysql and postgres share, and
// galera and donor_ok, which only mysql accepts (the registry rejects them
// for postgres before this runs).
func newDBDeep(s Spec) (dbDeep, error) {
	d := dbDeep{galera: s.Galera != "", donorOK: s.DonorOK, reuse: s.ReuseConnection}
	switch s.Role {
	case "", roleAny:
	case rolePrimary, roleReplica:
		d.role = s.Role
	default:
		return dbDeep{}, &FieldError{Field: "role", Msg: fmt.Sprintf("%q is not one of %s", s.Role, strings.Join([]string{rolePrimary, roleReplica, roleAny}, ", "))}
	}
	if s.MaxReplicationLag < 0 {
		return dbDeep{}, &FieldError{Field: "max_replication_lag", Msg: fmt.Sprintf("must be positive, got %s", s.MaxReplicationLag)}
	}
	d.maxLag = s.MaxReplicationLag
	if s.MaxConnectionsUsed != "" {
		l, err := parseConnLimit(s.MaxConnectionsUsed)
		if err != nil {
			return dbDeep{}, &FieldError{Field: "max_connections_used", Msg: err.Error()}
		}
		d.maxConns = l
	}
	if s.Galera != "" && s.Galera != "synced" {
		return dbDeep{}, &FieldError{Field: "galera", Msg: fmt.Sprintf("%q is not valid (want synced)", s.Galera)}
	}
	if s.DonorOK && !d.galera {
		return dbDeep{}, &FieldError{Field: "donor_ok", Msg: "needs galera: synced"}
	}
	return d, nil
}

// judgeRole turns what the server says it is into a reading ("primary",
// "replica") or, when it is not the role wanted, an error.
func judgeRole(want string, replica bool) (string, error) {
	have := rolePrimary
	if replica {
		have = roleReplica
	}
	if want != "" && want != have {
		return "", mismatch("role is %s, want %s", have, want)
	}
	return have, nil
}

// judgeLag turns a replication lag in seconds into a reading ("replication
// lag 0.3s") or, above maxLag, an error ("replication lag 42.1s above 10s").
// The lag has one decimal, or as many as maxLag has, and more when it would
// otherwise print as maxLag itself.
func judgeLag(lag float64, maxLag time.Duration) (string, error) {
	limit := maxLag.Seconds()
	s := trimZeros(fmtNear(lag, limit, max(1, decimals(limit)))) + "s"
	if lag > limit {
		return "", mismatch("replication lag %s above %s", s, maxLag)
	}
	return "replication lag " + s, nil
}

// decimals returns how many decimals v needs: 0 for 90, 1 for 12.5.
func decimals(v float64) int {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// trimZeros drops the zeros that end a decimal fraction, and then a bare
// point: "3.0" becomes "3" and "1.50" becomes "1.5".
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// connLimit is max_connections_used: a share of the connection slots open to
// non-superusers ("90%") or a number of connections ("80"). A check fails
// when the connections in use reach it. The zero value is unset.
type connLimit struct {
	text  string  // as the user wrote it, trimmed; used in reasons
	share float64 // percent, above 0 and at most 100, when count is 0
	count int64   // connections, positive; 0 for a share
}

// parseConnLimit parses a share from parseQuantity ("90%", "12.5%") or a
// whole number of connections ("80"). Both must be above zero: a limit of
// zero would fail every run.
func parseConnLimit(s string) (connLimit, error) {
	text := strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a share such as \"90%%\" or a number of connections such as \"80\"", s)
	if strings.HasSuffix(text, "%") {
		q, err := parseQuantity(text)
		switch {
		case err != nil && isDecimal(strings.TrimSpace(strings.TrimSuffix(text, "%"))):
			return connLimit{}, err // a number, but above 100%
		case err != nil:
			return connLimit{}, bad
		case q.share <= 0:
			return connLimit{}, fmt.Errorf("must be above zero, got %q", s)
		}
		return connLimit{text: text, share: q.share}, nil
	}
	if text == "" || strings.Trim(text, "0123456789") != "" {
		return connLimit{}, bad
	}
	n, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err != nil:
		return connLimit{}, fmt.Errorf("%q is too large", s)
	case n <= 0:
		return connLimit{}, fmt.Errorf("must be above zero, got %q", s)
	}
	return connLimit{text: text, count: n}, nil
}

// judge turns used connections out of slots into a reading ("3/17
// connections") or, when used reaches the limit, an error ("connections
// 18/20 used (90%), limit 90%"). No slots at all counts as full.
func (l connLimit) judge(used, slots int64) (string, error) {
	if l.count > 0 {
		if used >= l.count {
			return "", mismatch("connections %d/%d used, limit %s", used, slots, l.text)
		}
		return fmt.Sprintf("%d/%d connections", used, slots), nil
	}
	pct := 100.0
	if slots > 0 {
		pct = float64(used) / float64(slots) * 100
	}
	if pct >= l.share {
		return "", mismatch("connections %d/%d used (%s%%), limit %s", used, slots, fmtNear(pct, l.share, decimals(l.share)), l.text)
	}
	return fmt.Sprintf("%d/%d connections", used, slots), nil
}

// keeper holds the one connection of a reuse_connection check between runs,
// with the dbRun that made it. A run takes the connection out and puts it
// back only if the run passed, so two overlapping runs never share one, and
// a run never waits for another. After shut, nothing is kept any more: a
// later run connects and closes as if reuse_connection were off.
type keeper[C any] struct {
	mu     sync.Mutex // guards the fields below
	conn   C
	run    *dbRun
	held   bool // conn and run hold a connection
	closed bool // shut was called
}

// take removes the kept connection and returns it, if there is one.
func (k *keeper[C]) take() (conn C, run *dbRun, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	conn, run, ok = k.conn, k.run, k.held
	var zero C
	k.conn, k.run, k.held = zero, nil, false
	return conn, run, ok
}

// put keeps conn, made by run, for the next run. It reports false, and the
// caller must close conn, when the keeper is shut or already holds one.
func (k *keeper[C]) put(conn C, run *dbRun) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed || k.held {
		return false
	}
	k.conn, k.run, k.held = conn, run, true
	return true
}

// shut stops keeping connections and closes the kept one, if any, with
// closeConn, giving it closeGrace to say goodbye.
func (k *keeper[C]) shut(closeConn func(ctx context.Context, conn C) error) error {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	conn, run, ok := k.take()
	if !ok {
		return nil
	}
	limit := time.Now().Add(closeGrace)
	if run != nil {
		_ = run.rebind(limit) // a socket that fails here is closed below anyway
	}
	ctx, cancel := context.WithDeadline(context.Background(), limit)
	defer cancel()
	return closeConn(ctx, conn)
}

// readings joins what a passing check read, e.g. `query returned "1";
// primary; 3/17 connections`.
func readings(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "; ")
}
