package adminhttp

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options are NewServer's bounds; a zero field takes its default.
type Options struct {
	// ReadHeaderTimeout bounds reading a request's headers (5s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (10s).
	ReadTimeout time.Duration
	// WriteTimeout bounds a response from the end of the request headers
	// (60s: a default 30-second CPU profile fits). Streaming handlers lift
	// it with Stream and set their own per-write deadlines.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request (60s).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (8 KiB).
	MaxHeaderBytes int
	// ErrorLog receives the server's own errors (TLS handshakes, panics)
	// at Debug; nil: discarded.
	ErrorLog *slog.Logger
}

// The defaults of Options.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 8 << 10
)

// NewServer returns an http.Server for an admin or health endpoint with
// o's bounds, so that a slow or idle client cannot hold a connection for
// long. Serve it on listeners capped with Limit.
func NewServer(h http.Handler, o Options) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	log := o.ErrorLog
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mhb := o.MaxHeaderBytes
	if mhb <= 0 {
		mhb = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: def(o.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       def(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      def(o.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       def(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    mhb,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// Stream lifts the server's read and write deadlines from a long-lived
// response (server-sent events): without it the WriteTimeout would cut
// the stream, and the ReadTimeout would cancel the request's context. The
// handler must then bound each write itself
// (http.ResponseController.SetWriteDeadline).
func Stream(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

// Listener is a listener capped at a number of connections held at once.
// Over the cap a connection is accepted and closed at once, so the client
// learns at once instead of waiting in the kernel's backlog.
type Listener struct {
	net.Listener
	max      int64
	active   atomic.Int64
	rejected atomic.Int64
}

// Limit caps l at max connections held at once; max below 1 means
// ConnCap of the process's descriptor limit.
func Limit(l net.Listener, max int) *Listener {
	if max < 1 {
		n, err := RaiseNoFile()
		if err != nil {
			n = 1024
		}
		max = ConnCap(n)
	}
	return &Listener{Listener: l, max: int64(max)}
}

// Accept returns the next connection under the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.max {
			l.active.Add(-1)
			l.rejected.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// Max is the cap.
func (l *Listener) Max() int { return int(l.max) }

// Active is the number of connections held now.
func (l *Listener) Active() int { return int(l.active.Load()) }

// Rejected is the number of connections closed over the cap so far.
func (l *Listener) Rejected() int64 { return l.rejected.Load() }

// limitedConn gives its slot back on its first Close.
type limitedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.active.Add(-1) })
	return err
}
