package lb

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/adminhttp"
)

// keepAlive is the TCP keepalive of sessions without data timeouts,
// Go's default.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// maxTries bounds the members one client connection tries: the first
// choice and up to three retries on other members after connect failures,
// as HAProxy's "retries 3".
const maxTries = 4

// pokeFresh is how recently a direction must have reported itself idle
// for the other direction to close the session on its word.
const pokeFresh = 100 * time.Millisecond

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
	met                    *listenerMetrics
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
	p := lc.pool
	if p == nil {
		lc.met.noMember.Inc()
		c.Close()
		return
	}
	set := p.set.Load()
	var client netip.AddrPort
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort()
	}
	var (
		buf   [maxTries]*member
		tried = buf[:0]
		m     *member
		mc    *net.TCPConn
	)
	timed := lc.clientData > 0 && lc.memberData > 0
	if !timed {
		// Without data timeouts only TCP keepalive finds a dead peer.
		c.SetKeepAliveConfig(keepAlive)
	}
	d := net.Dialer{Timeout: lc.memberConnect, KeepAlive: -1}
	if !timed {
		d.KeepAliveConfig = keepAlive
	}
	for len(tried) < maxTries && srv.dialCtx.Err() == nil {
		m = set.pick(client, tried)
		if m == nil {
			break
		}
		if len(tried) > 0 {
			srv.met.poolRetries.WithLabelValues(p.name).Inc()
		}
		m.met.selected.Inc()
		conn, err := d.DialContext(srv.dialCtx, "tcp", m.addr)
		if err == nil {
			mc = conn.(*net.TCPConn)
			break
		}
		m.active.Add(-1)
		m.met.connectErr.Inc()
		srv.log.Debug("connect to member failed", "pool", p.name, "member", m.label, "err", err)
		tried = append(tried, m)
		m = nil
	}
	if mc == nil {
		if len(tried) == 0 {
			srv.met.poolNoMember.WithLabelValues(p.name).Inc()
		}
		lc.met.noMember.Inc()
		c.SetLinger(0)
		c.Close()
		return
	}
	if v := set.cfg.proxyVersion; v != 0 {
		var dst netip.AddrPort
		if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
			dst = ta.AddrPort()
		}
		mc.SetWriteDeadline(time.Now().Add(max(lc.memberConnect, time.Second)))
		if _, err := mc.Write(proxyHeader(v, client, dst)); err != nil {
			m.met.connectErr.Inc()
			m.active.Add(-1)
			c.Close()
			mc.Close()
			return
		}
		mc.SetWriteDeadline(time.Time{})
	}
	s := &session{client: c, member: mc, l: l, lc: lc, m: m}
	m.track(s)
	srv.track(s)
	m.met.total.Inc()
	m.met.active.Inc()
	if m.down.Load() && set.cfg.shutdownOnDown {
		s.close() // the member turned ERROR while we dialed it
	}
	established = true // s.finish releases the connection
	s.pipe(lc.clientData, lc.memberData, m.met)
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
	closed         atomic.Bool
	dir            [2]direction // up (client to member), down
	// running counts the directions still copying; the last to end
	// finishes the session.
	running atomic.Int32
	l       *listener
	lc      *listenerConfig
	m       *member
}

// finish is called by each direction as it ends; the last one closes
// the session and ends its accounting, so that neither goroutine waits
// for the other.
func (s *session) finish() {
	if s.running.Add(-1) != 0 {
		return
	}
	s.close()
	m := s.m
	m.met.active.Dec()
	m.untrack(s)
	s.l.srv.untrack(s)
	m.active.Add(-1)
	s.l.release(s.lc)
}

// close closes both sides; copies in progress end with an error.
func (s *session) close() {
	if s.closed.CompareAndSwap(false, true) {
		s.client.Close()
		s.member.Close()
	}
}

// pipe copies both ways until both directions end, propagating a
// half-close (CloseWrite) from each side to the other, then closes both
// sides. The copy starts with read(2) and write(2) and turns to
// dst.ReadFrom(src), which the kernel does with splice(2), once data comes
// in full chunks (see direction.copy). pipe returns once its own direction
// ends; the last direction to end finishes the session. With timeouts (both > 0) a session is closed
// once neither side has sent anything for its timeout (timeout_client_data
// for the client, timeout_member_data for the member), or when a side has
// not taken data for its timeout; the deadlines are refreshed per window,
// so a bulk copy stays a splice.
func (s *session) pipe(clientData, memberData time.Duration, mm *memberMetrics) {
	up, down := &s.dir[0], &s.dir[1]
	*up = direction{s: s, src: s.client, dst: s.member, timeout: clientData, bytes: mm.bytesIn, other: down}
	*down = direction{s: s, src: s.member, dst: s.client, timeout: memberData, bytes: mm.bytesOut, other: up}
	timed := clientData > 0 && memberData > 0
	s.running.Store(2)
	spawn(func() {
		up.run(timed)
		s.finish()
	})
	down.run(timed)
	s.finish()
}

// workIdle is how long a worker goroutine waits for more work before it
// ends.
const workIdle = 5 * time.Second

// work hands a function to an idle worker goroutine.
var work = make(chan func())

// spawn runs f on an idle worker goroutine, or on a new one. A worker
// that has served a session has grown its stack to what a session needs,
// so reusing it saves a new goroutine's stack growth and most of its
// start, a good part of a short connection's cost.
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

// direction copies one way of a session.
type direction struct {
	s        *session
	src, dst *net.TCPConn
	timeout  time.Duration
	bytes    prometheus.Counter
	other    *direction

	// idleSince is when this side's current silence began (UnixNano), 0
	// while it sends; lastReturn is when the copy last reported.
	idleSince, lastReturn atomic.Int64
	// done is set once this direction has ended.
	done atomic.Bool
	// bulk is set once a read filled a whole chunk: from then on the copy
	// is a splice.
	bulk bool
	raw  syscall.RawConn // src's, while not bulk
}

// chunkSize is the read/write copy's buffer; a read that fills it turns
// the direction to splice.
const chunkSize = 16 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// copy copies from src to dst until EOF (nil error), an error or a
// deadline, as dst.ReadFrom(src) does, and returns the bytes copied.
// A short session (a request and an answer) costs less with read(2) and
// write(2) than with splice(2), which needs a pipe and twice the system
// calls; so the copy starts with reads into a pooled buffer, taken only
// once data is there (an idle session holds none), and turns to splice
// for good once a read fills the buffer.
func (d *direction) copy() (int64, error) {
	var total int64
	for !d.bulk {
		if d.raw == nil {
			rc, err := d.src.SyscallConn()
			if err != nil {
				d.bulk = true
				break
			}
			d.raw = rc
		}
		var (
			buf  *[chunkSize]byte
			n    int
			rerr error
		)
		err := d.raw.Read(func(fd uintptr) bool {
			b := chunks.Get().(*[chunkSize]byte)
			for {
				n, rerr = syscall.Read(int(fd), b[:])
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				chunks.Put(b)
				return false
			}
			buf = b
			return true
		})
		if err == nil && rerr != nil {
			err = &net.OpError{Op: "read", Net: "tcp", Source: d.src.LocalAddr(), Addr: d.src.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
		}
		if n > 0 {
			w, werr := d.dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				err = werr
			}
		}
		if buf != nil {
			chunks.Put(buf)
		}
		if err != nil {
			return total, err
		}
		if n <= 0 {
			return total, nil // EOF
		}
		if n == chunkSize {
			d.bulk = true
		}
	}
	n, err := d.dst.ReadFrom(d.src)
	return total + n, err
}

func (d *direction) run(timed bool) {
	if !timed {
		n, err := d.copy()
		d.bytes.Add(float64(n))
		d.end(err)
		return
	}
	for {
		start := time.Now()
		readDL := start.Add(d.timeout)
		if is := d.idleSince.Load(); is != 0 {
			if t := time.Unix(0, is).Add(d.timeout); t.After(start) {
				readDL = t
			}
		}
		writeDL := readDL.Add(d.timeout)
		d.src.SetReadDeadline(readDL)
		d.dst.SetWriteDeadline(writeDL)
		n, err := d.copy()
		now := time.Now()
		if n > 0 {
			d.bytes.Add(float64(n))
			d.idleSince.Store(0)
		} else if d.idleSince.Load() == 0 {
			d.idleSince.Store(start.UnixNano())
		}
		d.lastReturn.Store(now.UnixNano())
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			d.end(err)
			return
		}
		if d.s.closed.Load() {
			d.done.Store(true)
			return
		}
		if !now.Before(writeDL) {
			// The receiver took nothing for a whole timeout.
			d.done.Store(true)
			d.s.close()
			return
		}
		if !d.idle(now) {
			continue
		}
		o := d.other
		if o.done.Load() || (o.idle(now) && now.Sub(time.Unix(0, o.lastReturn.Load())) < pokeFresh) {
			d.done.Store(true)
			d.s.close()
			return
		}
		// Ask the other direction to report now: it closes the session
		// if it is silent too.
		o.src.SetReadDeadline(now)
	}
}

// idle reports whether this side has been silent for its timeout.
func (d *direction) idle(now time.Time) bool {
	is := d.idleSince.Load()
	return is != 0 && now.Sub(time.Unix(0, is)) >= d.timeout
}

// end finishes the direction: on EOF it half-closes the destination, on
// an error it closes the session.
func (d *direction) end(err error) {
	d.done.Store(true)
	if err != nil {
		d.s.close()
		return
	}
	if d.dst.CloseWrite() != nil {
		d.s.close()
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
