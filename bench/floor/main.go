// Command floor is the least a TCP proxy written in Go can cost on this
// machine: bench/pgbench.sh and bench/lb.sh run it beside HAProxy and
// vitals lb, so that a gap between vitals and HAProxy can be split into
// what vitals adds and what any Go proxy pays. It has none of vitals'
// features: no health checks, no timeouts, no metrics, no limits, no
// accounting. Benchmarks only; it serves loopback addresses only.
//
//	floor -listen 127.0.0.1:7000 -backend 127.0.0.1:5432 -mode loop -loops 1
//	floor -listen 127.0.0.1:7000 -backend 127.0.0.1:5432 -mode uring -loops 1
//	floor -listen 127.0.0.1:7000 -backend 127.0.0.1:9000,127.0.0.1:9001 -mode goroutine
//
// Modes:
//
//   - goroutine: net.Listen, and one goroutine per direction copying
//     with read and write through a 16 KiB buffer, as Go programs do.
//   - loop: what HAProxy does, in Go. Each of -loops event loops owns a
//     listening socket (SO_REUSEPORT) and an epoll set, level-triggered;
//     it accepts, connects and copies with raw system calls on one
//     goroutine, blocking in epoll_wait. A message is one read and one
//     write; no goroutine, no Go poller, no getsockname or getpeername.
//   - uring: the same loops on io_uring instead of epoll (uring.go): one
//     io_uring_enter submits and reaps a whole batch of accepts,
//     connects, receives and sends.
//
// Backends are taken in turn (round robin) per connection.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7000", "address to listen on (loopback)")
	backends := flag.String("backend", "", "backend addresses, comma-separated (loopback)")
	mode := flag.String("mode", "loop", "loop, uring or goroutine")
	loops := flag.Int("loops", 1, "loop and uring modes: event loops (each on a thread of its own)")
	flag.Parse()
	ln, err := loopback(*listen)
	if err != nil {
		fail(err)
	}
	var bs []netip.AddrPort
	for a := range strings.SplitSeq(*backends, ",") {
		b, err := loopback(a)
		if err != nil {
			fail(err)
		}
		bs = append(bs, b)
	}
	switch *mode {
	case "goroutine":
		fail(goroutines(ln, bs))
	case "loop", "uring":
		if *loops < 1 {
			fail(errors.New("-loops must be at least 1"))
		}
		errs := make(chan error, *loops)
		for range *loops {
			var run func() error
			if *mode == "loop" {
				l, err := newLoop(ln, bs)
				if err != nil {
					fail(err)
				}
				run = l.run
			} else {
				l, err := newURingLoop(ln, bs)
				if err != nil {
					fail(err)
				}
				run = l.run
			}
			go func() { errs <- run() }()
		}
		fail(<-errs)
	default:
		fail(fmt.Errorf("-mode %q: want loop, uring or goroutine", *mode))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

// loopback parses an IPv4 loopback address:port; floor serves nothing else.
func loopback(s string) (netip.AddrPort, error) {
	a, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil {
		return a, fmt.Errorf("%q: %w", s, err)
	}
	if !a.Addr().Is4() || !a.Addr().IsLoopback() {
		return a, fmt.Errorf("%q: floor is a benchmark and takes only IPv4 loopback addresses", s)
	}
	return a, nil
}

// next picks the backends in turn.
var next atomic.Uint64

func pick(bs []netip.AddrPort) netip.AddrPort { return bs[(next.Add(1)-1)%uint64(len(bs))] }

// goroutines proxies with net and a goroutine per direction.
func goroutines(listen netip.AddrPort, bs []netip.AddrPort) error {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(listen))
	if err != nil {
		return err
	}
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return err
		}
		go func() {
			m, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(pick(bs)))
			if err != nil {
				c.Close()
				return
			}
			done := make(chan struct{})
			go func() { copyOneWay(m, c); close(done) }()
			copyOneWay(c, m)
			<-done
			c.Close()
			m.Close()
		}()
	}
}

// copyOneWay copies src to dst until EOF, then half-closes dst.
func copyOneWay(dst, src *net.TCPConn) {
	b := make([]byte, 16<<10)
	for {
		n, err := src.Read(b)
		if n > 0 {
			if _, werr := dst.Write(b[:n]); werr != nil {
				src.CloseRead()
				return
			}
		}
		if err == io.EOF {
			dst.CloseWrite()
			return
		}
		if err != nil {
			dst.CloseWrite()
			return
		}
	}
}

// loop is one event loop: a listening socket, an epoll set and the
// sides of its sessions, by fd.
type loop struct {
	ep, lfd int
	bs      []netip.AddrPort
	sides   map[int]*side
	buf     []byte
}

// side is one socket of a session; peer is the other.
type side struct {
	fd        int
	peer      *side
	connected bool   // false on a member side until its connect completed
	eof       bool   // read EOF (or failed): no more reading
	pending   []byte // read from peer, not yet written here
	shut      bool   // peer's EOF has been passed on (SHUT_WR)
}

func newLoop(listen netip.AddrPort, bs []netip.AddrPort) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	lfd, err := reusePortListener(listen, unix.SOCK_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return nil, err
	}
	return &loop{ep: ep, lfd: lfd, bs: bs, sides: map[int]*side{}, buf: make([]byte, 16<<10)}, nil
}

// reusePortListener listens on listen with SO_REUSEPORT, so that each
// loop has a socket of its own; flags may add SOCK_NONBLOCK.
func reusePortListener(listen netip.AddrPort, flags int) (int, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: int(listen.Port()), Addr: listen.Addr().As4()}); err != nil {
		unix.Close(lfd)
		return -1, fmt.Errorf("bind %s: %w", listen, err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		unix.Close(lfd)
		return -1, err
	}
	return lfd, nil
}

func (l *loop) run() error {
	evs := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(l.ep, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range evs[:n] {
			fd := int(e.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			if s := l.sides[fd]; s != nil {
				l.event(s, e.Events)
			}
		}
	}
}

// accept takes the waiting connections and connects each to a backend.
func (l *loop) accept() {
	for range 64 {
		cfd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		b := pick(l.bs)
		mfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			unix.Close(cfd)
			continue
		}
		unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetsockoptInt(mfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.Connect(mfd, &unix.SockaddrInet4{Port: int(b.Port()), Addr: b.Addr().As4()}); err != nil && err != unix.EINPROGRESS {
			unix.Close(cfd)
			unix.Close(mfd)
			continue
		}
		c, m := &side{fd: cfd, connected: true}, &side{fd: mfd}
		c.peer, m.peer = m, c
		l.sides[cfd], l.sides[mfd] = c, m
		// The client is read only once the member is connected.
		unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, mfd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(mfd)})
	}
}

// watch sets what s waits for: to read unless it reached EOF or its
// peer has data stuck, to write while it has pending data.
func (l *loop) watch(s *side, op int) {
	var ev uint32
	if !s.eof && len(s.peer.pending) == 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if len(s.pending) > 0 {
		ev |= unix.EPOLLOUT
	}
	unix.EpollCtl(l.ep, op, s.fd, &unix.EpollEvent{Events: ev, Fd: int32(s.fd)})
}

func (l *loop) event(s *side, ev uint32) {
	if !s.connected {
		if v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
			l.close(s)
			return
		}
		s.connected = true
		l.watch(s, unix.EPOLL_CTL_MOD)
		l.watch(s.peer, unix.EPOLL_CTL_ADD)
		return
	}
	if ev&unix.EPOLLERR != 0 || (ev&unix.EPOLLHUP != 0 && s.eof) {
		l.close(s) // a reset, or hung up both ways: level-triggered, it would be reported again
		return
	}
	if ev&unix.EPOLLOUT != 0 && len(s.pending) > 0 {
		if !l.flush(s) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !s.eof && len(s.peer.pending) == 0 {
		l.read(s)
	}
}

// read moves one read's worth from s to its peer.
func (l *loop) read(s *side) {
	n, err := unix.Read(s.fd, l.buf)
	if err == unix.EAGAIN {
		return
	}
	if n <= 0 {
		s.eof = true
		if err != nil {
			l.close(s)
			return
		}
		l.watch(s, unix.EPOLL_CTL_MOD)
		if len(s.peer.pending) == 0 {
			unix.Shutdown(s.peer.fd, unix.SHUT_WR)
			s.peer.shut = true
		}
		if s.peer.eof && s.shut {
			l.close(s)
		}
		return
	}
	w, err := unix.Write(s.peer.fd, l.buf[:n])
	if err == unix.EAGAIN {
		w, err = 0, nil
	}
	if err != nil {
		l.close(s)
		return
	}
	if w < n {
		s.peer.pending = append(s.peer.pending[:0], l.buf[w:n]...)
		l.watch(s, unix.EPOLL_CTL_MOD)
		l.watch(s.peer, unix.EPOLL_CTL_MOD)
	}
}

// flush writes s's pending data; it reports whether all went.
func (l *loop) flush(s *side) bool {
	w, err := unix.Write(s.fd, s.pending)
	if err == unix.EAGAIN {
		return false
	}
	if err != nil {
		l.close(s)
		return false
	}
	s.pending = s.pending[w:]
	if len(s.pending) > 0 {
		return false
	}
	s.pending = nil
	l.watch(s, unix.EPOLL_CTL_MOD)
	l.watch(s.peer, unix.EPOLL_CTL_MOD)
	if s.peer.eof && !s.shut {
		unix.Shutdown(s.fd, unix.SHUT_WR)
		s.shut = true
		if s.eof && s.peer.shut {
			l.close(s)
			return false
		}
	}
	return true
}

// close ends s's session (closing an fd takes it out of the epoll set).
func (l *loop) close(s *side) {
	for _, x := range []*side{s, s.peer} {
		if l.sides[x.fd] == x {
			delete(l.sides, x.fd)
			unix.Close(x.fd)
		}
	}
}
