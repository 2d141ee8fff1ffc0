package main

// The uring mode: each loop owns an io_uring and a listening socket
// (SO_REUSEPORT). Accept, connect, recv, send, shutdown and close are
// queued on the ring and their completions drive the sessions; one
// io_uring_enter both submits what the completions queued and waits for
// the next ones, so a batch of messages costs one system call instead of
// two per message (plus socket and two setsockopts per connection). The
// ring is used through its raw system calls and shared memory, as the
// kernel documents it (io_uring_setup(2), io_uring_enter(2)); it needs
// Linux 5.6 or later.

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's structures (include/uapi/linux/io_uring.h).
type (
	sqOffsets struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOffsets struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
	uringParams struct {
		sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
		resv                                                                   [3]uint32
		sqOff                                                                  sqOffsets
		cqOff                                                                  cqOffsets
	}
	sqe struct {
		opcode, flags         uint8
		ioprio                uint16
		fd                    int32
		off, addr             uint64
		len, opFlags          uint32
		userData              uint64
		bufIndex, personality uint16
		spliceFdIn            int32
		addr3, pad            uint64
	}
	cqe struct {
		userData uint64
		res      int32
		flags    uint32
	}
)

const (
	opAccept   = 13
	opConnect  = 16
	opClose    = 19
	opSend     = 26
	opRecv     = 27
	opShutdown = 34

	offSQEs         = 0x10000000 // IORING_OFF_SQES
	enterGetEvents  = 1          // IORING_ENTER_GETEVENTS
	featSingleMmap  = 1          // IORING_FEAT_SINGLE_MMAP
	ringEntries     = 4096
	uringBufferSize = 16 << 10
)

// ring is one io_uring: the submission queue's head, tail and entries,
// and the completion queue's, in memory shared with the kernel.
type ring struct {
	fd                     int
	sqHead, sqTail, sqMask *uint32
	sqes                   []sqe
	cqHead, cqTail, cqMask *uint32
	cqes                   []cqe
	entries                uint32
	tail, queued           uint32 // our copy of the tail; entries queued since the last enter
}

func newRing() (*ring, error) {
	var p uringParams
	fd, _, errno := syscall.Syscall(unix.SYS_IO_URING_SETUP, ringEntries, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	if p.features&featSingleMmap == 0 {
		unix.Close(int(fd))
		return nil, errors.New("io_uring: this kernel lacks IORING_FEAT_SINGLE_MMAP (Linux 5.4+)")
	}
	r := &ring{fd: int(fd), entries: p.sqEntries}
	size := max(uintptr(p.sqOff.array)+uintptr(p.sqEntries)*4, uintptr(p.cqOff.cqes)+uintptr(p.cqEntries)*unsafe.Sizeof(cqe{}))
	rings, err := unix.Mmap(r.fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap the io_uring rings: %w", err)
	}
	base := unsafe.Pointer(&rings[0])
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), at(p.sqOff.ringMask)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), at(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	entries, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap the io_uring entries: %w", err)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&entries[0])), p.sqEntries)
	// The array maps ring slots to entries one to one.
	array := unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// next returns a cleared submission entry, submitting first when the
// queue is full.
func (r *ring) next() *sqe {
	for r.tail-atomic.LoadUint32(r.sqHead) >= r.entries {
		if err := r.enter(0); err != nil {
			panic(err) // a benchmark tool: a ring that refuses work is a bug here
		}
	}
	e := &r.sqes[r.tail&*r.sqMask]
	*e = sqe{}
	r.tail++
	r.queued++
	atomic.StoreUint32(r.sqTail, r.tail)
	return e
}

// enter submits the queued entries and waits for wait completions.
func (r *ring) enter(wait uint32) error {
	var flags uintptr
	if wait > 0 {
		flags = enterGetEvents
	}
	for {
		_, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.queued), uintptr(wait), flags, 0, 0)
		switch errno {
		case 0, syscall.EBUSY: // EBUSY: completions to reap first
			r.queued = 0
			return nil
		case syscall.EINTR:
			continue
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// usession is one proxied connection: fd[0] the client, fd[1] the
// backend; direction d copies fd[d] to fd[1-d] through buf[d].
type usession struct {
	fd       [2]int32
	buf      [2][]byte
	off, end [2]int
	eof      [2]bool
	sa       [16]byte // the backend's sockaddr_in, for the connect
	inflight int      // operations queued and not completed
	closing  bool
}

type uloop struct {
	r    *ring
	lfd  int
	bs   []netip.AddrPort
	sess []*usession
	free []uint32
}

// userData packs an operation, a session and a direction.
func userData(op uint8, i uint32, d int) uint64 { return uint64(op)<<56 | uint64(d)<<48 | uint64(i) }

func newURingLoop(listen netip.AddrPort, bs []netip.AddrPort) (*uloop, error) {
	r, err := newRing()
	if err != nil {
		return nil, err
	}
	lfd, err := reusePortListener(listen, 0) // blocking: the ring waits for it
	if err != nil {
		return nil, err
	}
	return &uloop{r: r, lfd: lfd, bs: bs}, nil
}

func (l *uloop) run() error {
	l.accept()
	for {
		if err := l.r.enter(1); err != nil {
			return err
		}
		head, tail, mask := atomic.LoadUint32(l.r.cqHead), atomic.LoadUint32(l.r.cqTail), *l.r.cqMask
		for ; head != tail; head++ {
			c := l.r.cqes[head&mask]
			atomic.StoreUint32(l.r.cqHead, head+1)
			l.complete(c)
		}
	}
}

func (l *uloop) accept() {
	e := l.r.next()
	e.opcode, e.fd, e.userData = opAccept, int32(l.lfd), userData(opAccept, 0, 0)
}

func (l *uloop) recv(i uint32, d int) {
	s := l.sess[i]
	e := l.r.next()
	e.opcode, e.fd, e.userData = opRecv, s.fd[d], userData(opRecv, i, d)
	e.addr, e.len = uint64(uintptr(unsafe.Pointer(&s.buf[d][0]))), uint32(len(s.buf[d]))
	s.inflight++
}

func (l *uloop) send(i uint32, d int) {
	s := l.sess[i]
	e := l.r.next()
	e.opcode, e.fd, e.userData = opSend, s.fd[1-d], userData(opSend, i, d)
	e.addr, e.len, e.opFlags = uint64(uintptr(unsafe.Pointer(&s.buf[d][s.off[d]]))), uint32(s.end[d]-s.off[d]), unix.MSG_NOSIGNAL
	s.inflight++
}

// end frees session i once nothing of it is in flight; its fds are
// closed through the ring.
func (l *uloop) end(i uint32) {
	s := l.sess[i]
	if s.inflight > 0 {
		return
	}
	for _, fd := range s.fd {
		if fd >= 0 {
			e := l.r.next()
			e.opcode, e.fd, e.userData = opClose, fd, userData(opClose, 0, 0)
		}
	}
	s.fd = [2]int32{-1, -1}
	l.free = append(l.free, i)
}

// fail ends session i after an error: shutting both sockets down makes
// its queued operations complete.
func (l *uloop) fail(i uint32) {
	s := l.sess[i]
	if !s.closing {
		s.closing = true
		for _, fd := range s.fd {
			if fd >= 0 {
				unix.Shutdown(int(fd), unix.SHUT_RDWR)
			}
		}
	}
	l.end(i)
}

// newSession takes a free session for client fd cfd, backend fd mfd.
func (l *uloop) newSession(cfd, mfd int32, b netip.AddrPort) uint32 {
	var i uint32
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
		buf := l.sess[i].buf
		*l.sess[i] = usession{buf: buf}
	} else {
		i = uint32(len(l.sess))
		l.sess = append(l.sess, &usession{buf: [2][]byte{make([]byte, uringBufferSize), make([]byte, uringBufferSize)}})
	}
	s := l.sess[i]
	s.fd = [2]int32{cfd, mfd}
	// struct sockaddr_in: family (host order), port and address (network order).
	*(*uint16)(unsafe.Pointer(&s.sa[0])) = unix.AF_INET
	s.sa[2], s.sa[3] = byte(b.Port()>>8), byte(b.Port())
	a := b.Addr().As4()
	copy(s.sa[4:8], a[:])
	return i
}

func (l *uloop) complete(c cqe) {
	op, d, i := uint8(c.userData>>56), int(c.userData>>48)&1, uint32(c.userData)
	switch op {
	case opAccept:
		l.accept()
		if c.res < 0 {
			return
		}
		b := pick(l.bs)
		mfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			unix.Close(int(c.res))
			return
		}
		unix.SetsockoptInt(int(c.res), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetsockoptInt(mfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		i := l.newSession(c.res, int32(mfd), b)
		s := l.sess[i]
		e := l.r.next()
		e.opcode, e.fd, e.userData = opConnect, int32(mfd), userData(opConnect, i, 0)
		e.addr, e.off = uint64(uintptr(unsafe.Pointer(&s.sa[0]))), uint64(len(s.sa))
		s.inflight++
		return
	case opClose:
		return
	}
	s := l.sess[i]
	s.inflight--
	switch {
	case s.closing:
		l.end(i)
	case c.res < 0:
		l.fail(i)
	case op == opConnect:
		l.recv(i, 0)
		l.recv(i, 1)
	case op == opRecv && c.res == 0: // EOF: pass it on
		s.eof[d] = true
		e := l.r.next()
		e.opcode, e.fd, e.len, e.userData = opShutdown, s.fd[1-d], unix.SHUT_WR, userData(opShutdown, i, d)
		s.inflight++
	case op == opRecv:
		s.off[d], s.end[d] = 0, int(c.res)
		l.send(i, d)
	case op == opSend:
		s.off[d] += int(c.res)
		if s.off[d] < s.end[d] {
			l.send(i, d)
		} else {
			l.recv(i, d)
		}
	case op == opShutdown:
		if s.eof[0] && s.eof[1] {
			l.end(i)
		}
	}
}
