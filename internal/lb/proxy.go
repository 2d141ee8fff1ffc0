package lb

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"vitals/internal/adminhttp"
)

// keepAlive is the TCP keepalive of a side (client or member) without a
// data timeout, Go's default.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// maxTries bounds the members one client connection tries: the first
// choice and up to three retries on other members after connect failures,
// as HAProxy's "retries 3".
const maxTries = 4

// listener accepts client connections on one bind address and proxies
// them to its default pool.
type listener struct {
	srv  *Server
	key  string // bind address:port
	ln   *net.TCPListener
	cfg  atomic.Pointer[listenerConfig]
	done chan struct{} // closed when the accept loop has returned

	// active counts the client connections held now.
	active atomic.Int64
	// rejects logs the connections refused over connection_limit.
	rejects rejectLog
	// ends logs the sessions the lb ended itself.
	ends endLog
}

// listenerConfig is what a listener reads on every connection; a reload
// replaces it.
type listenerConfig struct {
	label                  string
	up                     bool
	pool                   *pool // nil: no default pool, connections are closed
	limit                  int64 // -1 unlimited
	clientData, memberData time.Duration
	memberConnect          time.Duration
	writeStall             time.Duration
	met                    *listenerMetrics
	connLog                bool // connection_log: a line per connection (connlog.go)
}

// acceptLoop accepts until the listener is closed. Over connection_limit
// a connection is accepted and closed at once: the client learns at once
// instead of waiting in the kernel's backlog, and the backlog cannot hide
// the overload.
func (l *listener) acceptLoop() {
	defer close(l.done)
	var backoff adminhttp.Backoff
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if adminhttp.IsClosed(err) {
				return
			}
			// Out of file descriptors or similar: back off as net/http does.
			d := backoff.Next()
			l.srv.log.Warn("accept failed", "listener", l.key, "err", err, "retry_in", d)
			time.Sleep(d)
			continue
		}
		backoff.Reset()
		lc := l.cfg.Load()
		if !lc.up || (lc.limit >= 0 && l.active.Load() >= lc.limit) {
			lc.met.overLimit.Inc()
			l.rejects.refused(l.srv.log, l.key, lc.limit, !lc.up, time.Now())
			c.SetLinger(0)
			c.Close()
			continue
		}
		// The descriptor budget: refuse before the descriptors kept for
		// health checks and the admin endpoint are touched.
		if !l.srv.budget.Acquire() {
			lc.met.fdBudget.Inc()
			l.srv.budget.Refused(lc.label)
			c.SetLinger(0)
			c.Close()
			continue
		}
		l.active.Add(1)
		lc.met.active.Inc()
		l.srv.sessWG.Add(1)
		spawn(func() { l.serve(c, lc) })
	}
}

// serve connects a client to a member and proxies until both sides end.
func (l *listener) serve(c *net.TCPConn, lc *listenerConfig) {
	srv := l.srv
	established := false
	defer func() {
		if !established {
			l.release(lc)
		}
	}()
	lc.met.total.Inc()
	var start time.Time
	if lc.connLog {
		start = time.Now()
	}
	var client netip.AddrPort
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort()
	}
	p := lc.pool
	if p == nil {
		lc.met.noMember.Inc()
		c.Close()
		if lc.connLog {
			logConnection(srv.log, lc, client, "", 0, 0, start, endNoMember)
		}
		return
	}
	set := p.set.Load()
	var (
		buf   [maxTries]*member
		tried = buf[:0]
		m     *member
		mc    *net.TCPConn
	)
	// Without a data timeout only TCP keepalive finds a dead peer.
	if lc.clientData <= 0 {
		c.SetKeepAliveConfig(keepAlive)
	}
	d := net.Dialer{Timeout: lc.memberConnect, KeepAlive: -1}
	if lc.memberData <= 0 {
		d.KeepAliveConfig = keepAlive
	}
	for len(tried) < maxTries && srv.dialCtx.Err() == nil {
		m = set.pick(client, tried)
		if m == nil {
			break
		}
		if len(tried) > 0 {
			p.retries.Inc()
		}
		m.met.selected.Add(1)
		conn, err := m.dial(srv.dialCtx, &d)
		if err == nil {
			mc = conn
			break
		}
		m.active.Add(-1)
		m.met.connectErr.Add(1)
		srv.log.Debug("connect to member failed", "pool", p.name, "member", m.label, "err", err)
		tried = append(tried, m)
		m = nil
	}
	if mc == nil {
		if len(tried) == 0 {
			p.noMember.Inc()
		}
		lc.met.noMember.Inc()
		c.SetLinger(0)
		c.Close()
		if lc.connLog {
			r, last := endNoMember, ""
			if len(tried) > 0 {
				r, last = endConnectFailed, tried[len(tried)-1].label
			}
			logConnection(srv.log, lc, client, last, 0, 0, start, r)
		}
		return
	}
	if v := set.cfg.proxyVersion; v != 0 {
		var dst netip.AddrPort
		if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
			dst = ta.AddrPort()
		}
		mc.SetWriteDeadline(time.Now().Add(max(lc.memberConnect, time.Second)))
		if _, err := mc.Write(proxyHeader(v, client, dst)); err != nil {
			m.met.connectErr.Add(1)
			m.active.Add(-1)
			c.Close()
			mc.Close()
			if lc.connLog {
				logConnection(srv.log, lc, client, m.label, 0, 0, start, endMemberError)
			}
			return
		}
		mc.SetWriteDeadline(time.Time{})
	}
	s := &session{client: c, member: mc, l: l, lc: lc, m: m}
	if lc.connLog {
		s.logged = &connStart{start: start, client: client}
	}
	m.track(s)
	srv.track(s)
	m.met.total.Add(1)
	m.met.active.Add(1)
	if m.down.Load() && set.cfg.shutdownOnDown {
		s.closeFor(endMemberDown) // the member turned ERROR while we dialed it
	}
	established = true // s.finish releases the connection
	s.pipe(lc.clientData, lc.memberData, lc.writeStall, m.met)
}

// dial connects to m. (Not Dialer.DialTCP with the parsed address, which
// would spare the resolver's allocations: it binds the socket to a zero
// local address before connecting, a system call more and an ephemeral
// port reserved for every destination, which runs out under TIME_WAIT
// where connect's own choice shares ports across destinations.)
func (m *member) dial(ctx context.Context, d *net.Dialer) (*net.TCPConn, error) {
	c, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// release ends the accounting of a client connection accepted for lc.
func (l *listener) release(lc *listenerConfig) {
	l.srv.budget.Release()
	l.active.Add(-1)
	lc.met.active.Dec()
	l.srv.sessWG.Done()
}

// session is one proxied client connection.
type session struct {
	client, member *net.TCPConn
	dir            [2]direction // up (client to member), down
	l              *listener
	lc             *listenerConfig
	m              *member
	// logged is the connection log's start and client, nil without
	// connection_log: apart, as they would take every session from the
	// 576-byte size class to the 640-byte one.
	logged *connStart
	// hold is the timer of direction.holdQueued, once a direction ended
	// while the other ran; the last direction to end stops it.
	hold atomic.Pointer[time.Timer]

	// The small fields share words (see logged).

	closed atomic.Bool
	// stallArmed is set once a socket of the session has TCP_USER_TIMEOUT
	// for data queued after its direction ended (direction.holdQueued).
	stallArmed atomic.Bool
	// running counts the directions still copying; the last to end
	// finishes the session.
	running atomic.Int32
	// reason is why the session ended (an endReason; endreason.go).
	reason atomic.Uint32
	// parkMu guards parked (park.go).
	parkMu sync.Mutex
	// parked holds each direction's park id while it is parked, 0 while
	// it runs (index as dir).
	parked [2]uint64
}

// connStart is what the connection log line of a session needs from its
// start.
type connStart struct {
	start  time.Time
	client netip.AddrPort
}

// finish is called by each direction as it ends; the last one closes
// the session and ends its accounting, so that neither goroutine waits
// for the other.
func (s *session) finish() {
	if s.running.Add(-1) != 0 {
		return
	}
	// The direction that claimed the hold stored its timer before its
	// own finish, so the last finish sees it.
	if t := s.hold.Load(); t != nil && t != holdClaimed {
		t.Stop()
	}
	s.close()
	if s.lc.connLog {
		logConnection(s.l.srv.log, s.lc, s.logged.client, s.m.label, s.dir[0].total, s.dir[1].total, s.logged.start, endReason(s.reason.Load()))
	}
	m := s.m
	m.met.active.Add(-1)
	m.untrack(s)
	s.l.srv.untrack(s)
	m.active.Add(-1)
	s.l.release(s.lc)
}

// close closes both sides; copies in progress end with an error. It
// reports whether this call closed them.
func (s *session) close() bool {
	if !s.closed.CompareAndSwap(false, true) {
		return false
	}
	// Before the fds close, so that they leave the parker's epoll set
	// first; the resumed directions then end on the closed fds.
	s.unparkAll()
	s.client.Close()
	s.member.Close()
	return true
}

// pipe copies both ways until both directions end, propagating a
// half-close (CloseWrite) from each side to the other, then closes both
// sides. pipe returns at once: each direction runs on a goroutine of its
// own, started fresh, and the last to end finishes the session. A fresh
// goroutine starts with the smallest stack, which is all a copy waiting
// for data needs, while the worker that accepted and dialed (spawn) has
// grown its stack to the dial's needs: an idle session held on it cost
// 6 KB more (BenchmarkIdleSessions). The worker goes back to the pool for
// the next connection. A direction idle for parkAfter gives up its
// goroutine too (parking). The idle timeouts, the rule for a client that
// has gone and parking are described at the top of direction.go.
func (s *session) pipe(clientData, memberData, stall time.Duration, mm *memberMetrics) {
	rc, err := s.client.SyscallConn()
	if err != nil {
		s.closeFor(endClientError)
	}
	rm, err := s.member.SyscallConn()
	if err != nil {
		s.closeFor(endMemberError)
	}
	up, down := &s.dir[0], &s.dir[1]
	*up = direction{s: s, src: s.client, dst: s.member, rsrc: rc, rdst: rm, srcIdle: clientData, dstIdle: memberData, stall: stall, bytes: &mm.bytesIn, listenerBytes: s.lc.met.bytesIn, other: down, watchClient: true}
	*down = direction{s: s, src: s.member, dst: s.client, rsrc: rm, rdst: rc, srcIdle: memberData, dstIdle: clientData, stall: stall, bytes: &mm.bytesOut, listenerBytes: s.lc.met.bytesOut, other: up}
	now := clock()
	up.readAt.Store(now)
	up.wroteAt.Store(now)
	down.readAt.Store(now)
	down.wroteAt.Store(now)
	s.running.Store(2)
	if rc == nil || rm == nil {
		s.finish()
		s.finish()
		return
	}
	go s.copyOne(up)
	go s.copyOne(down)
}

// copyOne runs one direction and finishes the session when it is the
// last to end.
func (s *session) copyOne(d *direction) {
	d.bind()
	d.armRead()
	s.copyOn(d)
}

// copyOn copies until the direction ends, then ends it and finishes the
// session when it is the last to end; or until it parks (park.go), when
// the goroutine ends with nothing more: another resumes the direction.
func (s *session) copyOn(d *direction) {
	err := d.copy()
	if err == errParked {
		return
	}
	d.end(err)
	s.finish()
}

// workIdle is how long a worker goroutine waits for more work before it
// ends.
const workIdle = 5 * time.Second

// work hands a function to an idle worker goroutine.
var work = make(chan func())

// spawn runs f on an idle worker goroutine, or on a new one. A worker
// that has accepted and dialed has grown its stack to what that needs,
// so reusing it saves a new goroutine's stack growth and most of its
// start, a good part of a short connection's cost. (The copy runs on
// fresh goroutines: see pipe.)
func spawn(f func()) {
	select {
	case work <- f:
	default:
		go worker(f)
	}
}

func worker(f func()) {
	f()
	t := time.NewTimer(workIdle)
	defer t.Stop()
	for {
		select {
		case f = <-work:
			f()
			t.Reset(workIdle)
		case <-t.C:
			return
		}
	}
}

// track and untrack keep every session, for closing the rest at shutdown.
func (s *Server) track(x *session) {
	s.sessMu.Lock()
	s.sessions[x] = struct{}{}
	s.sessMu.Unlock()
}

func (s *Server) untrack(x *session) {
	s.sessMu.Lock()
	delete(s.sessions, x)
	s.sessMu.Unlock()
}

// listen opens a listener on addr.
func (s *Server) listen(addr string) (*listener, error) {
	// Keepalive is set per connection in serve, only where no data
	// timeout ends a session with a dead peer: the setsockopts cost as
	// much as the rest of a short connection's setup.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &listener{srv: s, key: addr, ln: ln.(*net.TCPListener), done: make(chan struct{})}, nil
}
