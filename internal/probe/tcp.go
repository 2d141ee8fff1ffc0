package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// tcpCheck connects to a TCP port and, optionally, writes Send and reads
// until the reply holds Expect or matches ExpectRegex.
type tcpCheck struct {
	addr string         // host:port
	ip   netip.AddrPort // addr when it is an IP address and port (dialSock); else invalid
	send string         // written after connecting; "" sends nothing
	want replyWant      // the reply wanted; unset passes on connect (and send)
}

func newTCP(s Spec) (checker, error) {
	w, err := newReplyWant(s)
	if err != nil {
		return nil, err
	}
	return &tcpCheck{addr: s.Address, ip: sockAddrPort(s.Address), send: s.Send, want: w}, nil
}

// checkBy implements deadlineChecker: check, bounded by deadline rather
// than by a deadline on ctx. For an IP address it connects with dialSock
// and closes with a reset (nothing is left to say to the peer, and it
// leaves no TIME_WAIT behind); for a host name it is check.
func (c *tcpCheck) checkBy(ctx context.Context, deadline time.Time) (string, error) {
	if !c.ip.IsValid() {
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return c.check(ctx)
	}
	// A check that writes or closes at once can spare the handshake's
	// final ACK (see dialSock); one that waits for a banner cannot.
	s, err := dialSock(ctx, c.ip, deadline, c.send != "" || !c.want.set())
	if err != nil {
		return "", step("connect "+c.addr, err)
	}
	defer s.close()
	if c.send == "" && !c.want.set() {
		return "connected", nil
	}
	return c.talk(ctx, s)
}

// check connects, sends and reads the reply. Reasons on failure:
//
//	connect 127.0.0.1:5432: connection refused
//	send: connection reset by peer
//	read reply: connection closed by peer
//	reply "-ERR" does not contain "+PONG"
//	timeout after 1s during read reply (from judge)
func (c *tcpCheck) check(ctx context.Context) (string, error) {
	conn, err := checkDialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return "", step("connect "+c.addr, err)
	}
	defer closeReset(conn)
	setConnDeadline(ctx, conn)
	defer wakeOnCancel(ctx, conn)()
	return c.talk(ctx, conn)
}

// talk sends and reads the reply on a connected conn, whose deadline is
// set and which wakes on cancel.
func (c *tcpCheck) talk(ctx context.Context, conn io.ReadWriter) (string, error) {
	if c.send != "" {
		// A net.Conn Write is a full write: it returns an error unless
		// every byte was written.
		if _, err := io.WriteString(conn, c.send); err != nil {
			return "", ioStepErr(ctx, "send", err)
		}
	}
	if !c.want.set() {
		if c.send != "" {
			return fmt.Sprintf("connected, sent %d bytes", len(c.send)), nil
		}
		return "connected", nil
	}
	reply, ok, err := readStreamReply(conn, c.want)
	switch {
	case ok:
		return c.want.matched(), nil
	case err == nil, errors.Is(err, io.EOF) && len(reply) > 0:
		// The whole reply (64 KiB, or all the peer sent before closing)
		// is in, and it does not match.
		return "", c.want.mismatch(reply)
	default:
		return "", ioStepErr(ctx, "read reply", err)
	}
}

// ioStepErr names the step an I/O error happened in, unless ctx was
// canceled, which is what the error then really means.
func ioStepErr(ctx context.Context, name string, err error) error {
	if cerr := ctxCanceled(ctx); cerr != nil {
		return cerr
	}
	return step(name, err)
}

// wakeOnCancel makes I/O blocked on c return at once when ctx is canceled,
// not only at c's deadline. Call the returned stop when the I/O is done.
func wakeOnCancel(ctx context.Context, c interface{ SetDeadline(time.Time) error }) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// ctxCanceled returns ctx's error when ctx was canceled (as opposed to having
// reached its deadline), so judge reports "canceled" and not a timeout.
func ctxCanceled(ctx context.Context) error {
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// setConnDeadline applies ctx's deadline to every read and write on c.
func setConnDeadline(ctx context.Context, c net.Conn) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
}

// checkDialer dials the connections of checks that go through package net
// (host names, https). A check's connection lives for one check, so it
// sets no keep-alive.
var checkDialer = net.Dialer{KeepAlive: -1}

// closeReset closes a check's connection with a reset (SO_LINGER 0), as
// HAProxy does: the check is over, whatever the peer still has to say,
// and the reset spares both ends the FIN exchange and TIME_WAIT.
func closeReset(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.Close()
}

// sockAddrPort returns addr as an IP address and port when dialSock can
// connect to it (an IPv4 or IPv6 address without zone); else the zero
// AddrPort, and checks dial through package net.
func sockAddrPort(addr string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() || ap.Port() == 0 {
		return netip.AddrPort{}
	}
	return ap
}

// sock is a check's TCP connection made by dialSock: a nonblocking socket
// that joins Go's network poller (as an *os.File) only when the check has
// to wait on it. On loopback and on fast networks the handshake is often
// complete when connect returns, and then a connect-only check never
// waits at all: it costs socket, connect, getpeername, setsockopt and
// close, where package net adds poller registration, getsockname,
// TCP_NODELAY and its allocations.
//
// A sock closes with a reset (SO_LINGER 0); see closeReset.
type sock struct {
	fd       int
	ap       netip.AddrPort
	ctx      context.Context
	deadline time.Time
	f        *os.File    // nil until the first wait; then it owns fd
	stop     func() bool // stops the cancel hook; nil until f is set
}

// dialSock connects to ap before deadline or until ctx is canceled. Its
// errors read as those of net.Dialer: "dial tcp 127.0.0.1:1: connect:
// connection refused", wrapping context.Canceled when ctx was canceled and
// os.ErrDeadlineExceeded at the deadline.
//
// quietAck is for a caller that, once connected, either writes at once or
// closes at once: the socket then delays the ACK that ends the handshake
// (TCP_QUICKACK off before connect, as HAProxy's checks do), so that the
// ACK rides on the first data segment, or is never sent when the check
// closes with a reset. The connect still completes as usual, on the
// peer's SYN-ACK; what it spares is a segment, and for a connect-only
// check the peer's work of setting up a connection that is reset at once.
// A caller that waits for the peer to speak first must not set it: the
// peer would not know the connection until the delayed ACK timer fires.
func dialSock(ctx context.Context, ap netip.AddrPort, deadline time.Time, quietAck bool) (*sock, error) {
	if err := ctx.Err(); err != nil {
		return nil, dialErr(ap, err)
	}
	if !time.Now().Before(deadline) {
		return nil, dialErr(ap, os.ErrDeadlineExceeded)
	}
	fd, done, err := startConnect(ap, quietAck)
	if err != nil {
		return nil, dialErr(ap, err)
	}
	s := &sock{fd: fd, ap: ap, ctx: ctx, deadline: deadline}
	if !done {
		// On loopback the handshake is usually over already.
		done, err = s.connected()
	}
	if !done && err == nil {
		var rc syscall.RawConn
		if rc, err = s.file().SyscallConn(); err == nil {
			werr := rc.Write(func(uintptr) bool {
				done, err = s.connected()
				return done || err != nil
			})
			if err == nil && werr != nil {
				err = s.ioErr(werr)
			}
		}
	}
	if err != nil {
		s.close()
		if cerr := ctxCanceled(ctx); cerr != nil {
			err = cerr
		}
		return nil, dialErr(ap, err)
	}
	return s, nil
}

// startConnect opens a nonblocking socket and starts connecting it to ap,
// with TCP_QUICKACK off when quietAck is set (see dialSock). done reports
// that connect succeeded at once. On error, the socket is closed and err is
// the failed system call's *os.SyscallError.
func startConnect(ap netip.AddrPort, quietAck bool) (fd int, done bool, err error) {
	family := syscall.AF_INET
	if !ap.Addr().Is4() {
		family = syscall.AF_INET6
	}
	fd, err = syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	if quietAck {
		// Best effort: without it the check is the same, one segment dearer.
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	}
	switch err := rawConnect(fd, ap); err {
	case nil, syscall.EISCONN:
		return fd, true, nil
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return fd, false, nil
	default:
		closeResetFd(fd)
		return -1, false, os.NewSyscallError("connect", err)
	}
}

// dialErr is the error of a failed dial, as package net words it.
func dialErr(ap netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err}
}

// connected reports whether the connect is done: true when connected,
// an error when it failed, neither while it is in progress.
func (s *sock) connected() (bool, error) { return connected(s.fd) }

// connected reports whether the connect of socket fd is done: true when
// connected, an error when it failed, neither while it is in progress.
func connected(fd int) (bool, error) {
	if _, err := syscall.Getpeername(fd); err == nil {
		return true, nil
	}
	nerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return false, os.NewSyscallError("getsockopt", err)
	}
	switch err := syscall.Errno(nerr); err {
	case 0, syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return false, nil
	case syscall.EISCONN:
		return true, nil
	default:
		return false, os.NewSyscallError("connect", err)
	}
}

// file returns the socket as a pollable *os.File, registering it with the
// poller on first use, with the check's deadline and a hook that wakes
// blocked I/O when ctx is canceled.
func (s *sock) file() *os.File {
	if s.f == nil {
		s.f = os.NewFile(uintptr(s.fd), "")
		s.f.SetDeadline(s.deadline)
		f := s.f
		s.stop = context.AfterFunc(s.ctx, func() { f.SetDeadline(time.Unix(1, 0)) })
	}
	return s.f
}

// Read implements io.Reader, with net.Conn's errors.
func (s *sock) Read(p []byte) (int, error) {
	n, err := s.file().Read(p)
	if err != nil && err != io.EOF {
		err = s.opErr("read", err)
	}
	return n, err
}

// Write implements io.Writer, with net.Conn's errors.
func (s *sock) Write(p []byte) (int, error) {
	n, err := s.file().Write(p)
	if err != nil {
		err = s.opErr("write", err)
	}
	return n, err
}

// ioErr unwraps the *os.PathError of an os.File operation into what
// package net would hold: os.ErrDeadlineExceeded, or a syscall error.
func (s *sock) ioErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if errno, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError("connect", errno)
	}
	return err
}

// opErr words an I/O error as net.Conn does: "read tcp
// 127.0.0.1:5->127.0.0.1:6: read: connection reset by peer".
func (s *sock) opErr(op string, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	var src net.Addr
	if sa, serr := syscall.Getsockname(s.fd); serr == nil {
		switch sa := sa.(type) {
		case *syscall.SockaddrInet4:
			src = &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
		case *syscall.SockaddrInet6:
			src = &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
		}
	}
	return &net.OpError{Op: op, Net: "tcp", Source: src, Addr: net.TCPAddrFromAddrPort(s.ap), Err: err}
}

// close closes the socket with a reset (SO_LINGER 0).
func (s *sock) close() {
	if s.f == nil {
		closeResetFd(s.fd)
		return
	}
	syscall.SetsockoptLinger(s.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	s.stop()
	s.f.Close()
}
