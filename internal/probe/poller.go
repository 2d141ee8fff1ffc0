package probe

import (
	"container/heap"
	"context"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Poller runs checks on its caller's goroutine, around one epoll instance,
// rather than on a goroutine each: the way to run thousands of checks a
// second without paying, per check, for a goroutine, the Go network
// poller's registration of the socket, and the scheduler's work of parking
// and waking the goroutine while the check waits.
//
// Start runs what it can of a check at once; Poll waits for the sockets
// of the checks in flight, and for their deadlines, and goes on with them.
// Both must be called from one goroutine, the poller's owner; Wake may be
// called from any.
//
// Only some checks run on a Poller: a tcp check that only connects, and a
// plain http check without body_regex, both to an IP address (what
// dialSock connects to). Each step of such a check is the same as in
// Probe, with the same result, reasons and timeout; a reply that the
// plain-head fast path cannot judge (see readReply) is read to its end on
// a goroutine, as in Probe. Its system calls are raw (see rawsys.go), and
// its sockets delay the handshake's last ACK (see dialSock's quietAck).
type Poller struct {
	ctx  context.Context // cancels the checks; see NewPoller
	done func(tag any, r Result)
	epfd int
	evfd int // an eventfd in epfd: Wake writes to it
	evs  []syscall.EpollEvent

	byFd   []*run  // the runs waiting on their socket, by its fd
	timers runHeap // the same runs, by deadline
	free   []*run  // finished runs, for reuse
	slow   sync.WaitGroup

	// Wake protocol: Wake sets woken, and wakes the owner if it sleeps;
	// the owner sets sleeping before it checks woken and goes to sleep.
	// One of them sees the other.
	woken    atomic.Bool
	sleeping atomic.Int32  // awake, inEpoll or inSelect
	wake     chan struct{} // cap 1: wakes a sleep in select
	timer    *time.Timer   // times a sleep in select
	mu       sync.Mutex    // guards closed against Wake's write to evfd
	closed   bool
}

// How the owner sleeps in Poll.
const (
	awake    = iota
	inEpoll  // in epoll_wait: Wake writes to evfd
	inSelect // in a select on wake: when no check waits on a socket
)

// NewPoller returns a Poller that calls done with the result of each check
// it runs, and the tag given to Start. done is called on the owner's
// goroutine (in Start or Poll), or for a reply read to its end, on that
// read's goroutine. ctx is the checks' context: when it ends, the checks
// in flight end as in Probe. Close the Poller when done with it.
func NewPoller(ctx context.Context, done func(tag any, r Result)) (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r0, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", e)
	}
	evfd := int(r0)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(evfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		syscall.Close(evfd)
		syscall.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &Poller{ctx: ctx, done: done, epfd: epfd, evfd: evfd, evs: make([]syscall.EpollEvent, 256), wake: make(chan struct{}, 1)}, nil
}

// run is one check in flight on a Poller.
type run struct {
	tag      any
	tcp      *tcpCheck // one of tcp and http is set
	http     *httpCheck
	ap       netip.AddrPort
	fd       int
	start    time.Time
	deadline time.Time
	timeout  time.Duration
	reading  bool               // the request is sent: waiting for the reply; else connecting
	buf      *[headBufSize]byte // from headBufs once the reply comes; nil before
	n        int                // bytes of the reply in buf
	idx      int                // in Poller.timers; -1 when not waiting
}

// Start runs the check of p, a Prober from New, with tag for done, if it
// can run on the Poller, and reports whether it does. When it does not,
// the caller runs p.Probe as usual. done may be called before Start
// returns.
func (pl *Poller) Start(p Prober, tag any) bool {
	t, ok := p.(timed)
	if !ok {
		return false
	}
	tc, _ := t.c.(*tcpCheck)
	hc, _ := t.c.(*httpCheck)
	switch {
	case tc != nil && tc.ip.IsValid() && tc.send == "" && !tc.want.set():
	case hc != nil && hc.ip.IsValid() && hc.tls == nil && hc.body == nil:
	default:
		return false
	}
	r := pl.newRun()
	r.tcp, r.http = tc, hc
	if tc != nil {
		r.ap = tc.ip
	} else {
		r.ap = hc.ip
	}
	r.tag, r.timeout = tag, t.timeout
	r.start = time.Now()
	r.deadline = r.start.Add(t.timeout)
	if dl, ok := pl.ctx.Deadline(); ok && dl.Before(r.deadline) {
		r.deadline = dl
	}
	if err := pl.ctx.Err(); err != nil {
		pl.fail(r, dialErr(r.ap, err))
		return true
	}
	if !r.start.Before(r.deadline) {
		pl.fail(r, dialErr(r.ap, os.ErrDeadlineExceeded))
		return true
	}
	fd, done, err := startConnect(r.ap, true) // the check writes or closes at once
	if err != nil {
		pl.fail(r, dialErr(r.ap, err))
		return true
	}
	r.fd = fd
	if !done {
		if done, err = connected(fd); err != nil {
			pl.fail(r, dialErr(r.ap, err))
			return true
		}
	}
	if done {
		pl.onConnected(r, false)
		return true
	}
	pl.wait(r)
	return true
}

func (pl *Poller) newRun() *run {
	if n := len(pl.free); n > 0 {
		r := pl.free[n-1]
		pl.free = pl.free[:n-1]
		return r
	}
	return &run{fd: -1, idx: -1}
}

// putRun keeps r, ended, for reuse.
func (pl *Poller) putRun(r *run) {
	if r.buf != nil {
		headBufs.Put(r.buf)
	}
	*r = run{fd: -1, idx: -1}
	pl.free = append(pl.free, r)
}

// wait registers r's socket for events (edge-triggered, so once) and
// its deadline.
func (pl *Poller) wait(r *run) {
	ev := syscall.EpollEvent{Events: connectEvents, Fd: int32(r.fd)}
	if r.reading {
		// Not EPOLLOUT: the socket is writable, and would report so
		// at once, for nothing.
		ev.Events = readEvents
	}
	if err := syscall.EpollCtl(pl.epfd, syscall.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
		// Cannot happen for a fresh socket short of memory; fail the
		// check rather than leave it hanging.
		pl.end(r, "", step(r.stepName(), os.NewSyscallError("epoll_ctl", err)))
		return
	}
	for r.fd >= len(pl.byFd) {
		pl.byFd = append(pl.byFd, nil)
	}
	pl.byFd[r.fd] = r
	heap.Push(&pl.timers, r)
}

// The events a run waits for, edge-triggered: while connecting, its
// socket's readiness for writing (connected), and then for reading (a
// reply); once connected, for reading. (syscall.EPOLLET is a negative
// int: 1<<31 as an int32.)
const (
	readEvents    = syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET
	connectEvents = readEvents | syscall.EPOLLOUT
)

// unwait undoes wait, if r waits.
func (pl *Poller) unwait(r *run) {
	if r.idx < 0 {
		return
	}
	heap.Remove(&pl.timers, r.idx)
	pl.byFd[r.fd] = nil
}

// stepName names the step r is in, for an error of the poller's own.
func (r *run) stepName() string {
	if r.reading {
		return "read response"
	}
	return "connect " + r.addr()
}

// head is the reply read so far; nil before any.
func (r *run) head() []byte {
	if r.buf == nil {
		return nil
	}
	return r.buf[:r.n]
}

func (r *run) addr() string {
	if r.tcp != nil {
		return r.tcp.addr
	}
	return r.http.addr
}

// onConnected goes on with r once its socket is connected: a tcp check
// passes; an http check sends its request and waits for the reply.
// waiting says r is registered already.
func (pl *Poller) onConnected(r *run, waiting bool) {
	if r.tcp != nil {
		pl.end(r, "connected", nil)
		return
	}
	c := r.http
	n, errno := rawWrite(r.fd, c.request)
	switch {
	case errno != 0 && errno != syscall.EAGAIN:
		s := sock{fd: r.fd, ap: r.ap}
		pl.end(r, "", c.sendErr(pl.ctx, s.opErr("write", errno)))
		return
	case n < len(c.request):
		// The socket buffer of a fresh connection holds a request many
		// times over; should it not, write the rest on a goroutine.
		pl.handOff(r, c.request[max(n, 0):])
		return
	}
	r.reading = true
	// No read yet: the peer can hardly have answered already. Registering
	// the socket reports a reply that has, all the same.
	if !waiting {
		pl.wait(r)
	}
}

// read reads what there is of r's reply, and judges it once readHead
// would have returned. It reports whether r ended (or was handed off).
func (pl *Poller) read(r *run) bool {
	if r.buf == nil {
		// The buffer is taken when the reply comes, not when the request
		// goes: a check waiting on its reply holds none. (At 10,000
		// members thousands wait at once: 2 KB each, some 4.5 MB.)
		r.buf = headBufs.Get().(*[headBufSize]byte)
	}
	var rerr error
	for r.n < len(r.buf) {
		m, errno := rawRead(r.fd, r.buf[r.n:])
		if errno == syscall.EAGAIN {
			if r.n == 0 {
				headBufs.Put(r.buf)
				r.buf = nil
			}
			return false
		}
		if errno != 0 {
			s := sock{fd: r.fd, ap: r.ap}
			rerr = s.opErr("read", errno)
			break
		}
		if m == 0 {
			rerr = io.EOF
			break
		}
		end, stop := scanHead(r.buf[:], r.n, r.n+m)
		r.n += m
		if stop {
			return pl.judge(r, end, nil)
		}
	}
	return pl.judge(r, 0, rerr)
}

// judge ends r with what readReply would make of the reply head read so
// far, end and err as readHead would return them, or hands r off when the
// reply must be read further.
func (pl *Poller) judge(r *run, end int, err error) bool {
	detail, err, ok := r.http.judgeHead(r.head(), end, err)
	if !ok {
		pl.handOff(r, nil)
		return true
	}
	pl.end(r, detail, r.http.replyErr(pl.ctx, err))
	return true
}

// handOff finishes r on a goroutine, through package os's poller as Probe
// does: it writes unsent, the rest of the request, then reads the reply.
func (pl *Poller) handOff(r *run, unsent []byte) {
	pl.unwait(r)
	// Leave the socket to package os's poller alone. (ENOENT when it
	// was not registered.)
	syscall.EpollCtl(pl.epfd, syscall.EPOLL_CTL_DEL, r.fd, nil)
	x := *r // the goroutine's own copy; r is reused
	r.buf = nil
	r.fd = -1
	pl.putRun(r)
	pl.slow.Add(1)
	go func() {
		defer pl.slow.Done()
		s := &sock{fd: x.fd, ap: x.ap, ctx: pl.ctx, deadline: x.deadline}
		detail, err := pl.finishSlow(&x, s, unsent)
		s.close()
		if x.buf != nil {
			headBufs.Put(x.buf)
		}
		pl.done(x.tag, x.result(pl.ctx, detail, err))
	}()
}

// finishSlow is the rest of an http check on a goroutine.
func (pl *Poller) finishSlow(x *run, s *sock, unsent []byte) (string, error) {
	c := x.http
	if len(unsent) > 0 {
		if _, err := s.Write(unsent); err != nil {
			return "", c.sendErr(pl.ctx, err)
		}
		detail, err := c.readReply(s)
		return detail, c.replyErr(pl.ctx, err)
	}
	detail, err := c.restReply(x.head(), s)
	return detail, c.replyErr(pl.ctx, err)
}

// fail ends r, which has no socket, with err from connecting.
func (pl *Poller) fail(r *run, err error) {
	pl.end(r, "", step("connect "+r.addr(), err))
}

// end closes r's socket and reports its result.
func (pl *Poller) end(r *run, detail string, err error) {
	pl.unwait(r)
	if r.fd >= 0 {
		closeResetFd(r.fd) // which takes it out of epfd, too
	}
	res := r.result(pl.ctx, detail, err)
	tag := r.tag
	pl.putRun(r)
	pl.done(tag, res)
}

// result is timed.Probe's result of a check that ended now.
func (r *run) result(ctx context.Context, detail string, err error) Result {
	res := Result{Start: r.start, Latency: time.Since(r.start)}
	if err == nil {
		res.Status, res.Reason = Pass, detail
	} else {
		res.Status, res.Reason = judgeBy(ctx, r.deadline, err, r.timeout)
		markLocal(&res, err)
	}
	return res
}

// expire ends the runs whose deadline has passed, with the error their
// socket's deadline gives in Probe.
func (pl *Poller) expire(now time.Time) {
	for len(pl.timers) > 0 && !now.Before(pl.timers[0].deadline) {
		r := pl.timers[0]
		if r.reading {
			s := sock{fd: r.fd, ap: r.ap}
			pl.judge(r, 0, s.opErr("read", os.ErrDeadlineExceeded))
		} else {
			pl.fail(r, dialErr(r.ap, os.ErrDeadlineExceeded))
		}
	}
}

// Poll waits until a socket of a check in flight is ready, a check's
// deadline passes, wait has passed (wait < 0: no limit) or Wake is
// called, and goes on with the checks that can. It returns at once when
// Wake was called since the last Poll.
//
// While a check waits on its socket, Poll sleeps in epoll_wait. Else it
// sleeps in a select on a timer and a channel, as Go code usually does,
// which costs less (the goroutine parks; no thread blocks in a system
// call) and which testing/synctest, for one, sees for what it is.
func (pl *Poller) Poll(wait time.Duration) error {
	now := time.Now()
	pl.expire(now)
	mode := int32(inSelect)
	if len(pl.timers) > 0 {
		mode = inEpoll
		if d := pl.timers[0].deadline.Sub(now); wait < 0 || d < wait {
			wait = d
		}
	}
	pl.sleeping.Store(mode)
	if pl.woken.Load() || pl.ctx.Err() != nil {
		wait = 0
	}
	if mode == inSelect {
		pl.sleep(wait)
		pl.sleeping.Store(awake)
		pl.woken.Store(false)
		return nil
	}
	n, err := pl.epollWait(wait)
	pl.sleeping.Store(awake)
	pl.woken.Store(false)
	if err != nil && err != syscall.EINTR {
		return os.NewSyscallError("epoll_wait", err)
	}
	for _, ev := range pl.evs[:max(n, 0)] {
		fd := int(ev.Fd)
		if fd == pl.evfd {
			var b [8]byte
			rawRead(pl.evfd, b[:])
			continue
		}
		if fd >= len(pl.byFd) || pl.byFd[fd] == nil {
			continue // not a run's: cannot happen
		}
		r := pl.byFd[fd]
		if r.reading {
			if pl.read(r) {
				continue
			}
		} else if done, err := connected(fd); err != nil {
			pl.fail(r, dialErr(r.ap, err))
		} else if done {
			pl.onConnected(r, true)
		}
	}
	pl.expire(time.Now())
	return nil
}

// sleep waits up to wait (< 0: no limit) for Wake.
func (pl *Poller) sleep(wait time.Duration) {
	switch {
	case wait == 0:
	case wait < 0:
		<-pl.wake
	default:
		if pl.timer == nil {
			pl.timer = time.NewTimer(wait)
		} else {
			pl.timer.Reset(wait)
		}
		select {
		case <-pl.wake:
			pl.timer.Stop()
		case <-pl.timer.C:
		}
	}
}

// epollWait waits for events up to wait (< 0: no limit), with nanosecond
// precision (epoll_pwait2; before Linux 5.11, epoll_wait's milliseconds,
// rounded up). Without waiting, it is a raw system call.
func (pl *Poller) epollWait(wait time.Duration) (int, error) {
	if noPwait2.Load() {
		ms := -1
		if wait >= 0 {
			ms = int((wait + time.Millisecond - 1) / time.Millisecond)
		}
		return syscall.EpollWait(pl.epfd, pl.evs, ms)
	}
	evs := unsafe.Pointer(&pl.evs[0])
	var ts *syscall.Timespec
	if wait >= 0 {
		t := syscall.NsecToTimespec(int64(wait))
		ts = &t
	}
	var n uintptr
	var e syscall.Errno
	if wait == 0 {
		n, _, e = syscall.RawSyscall6(sysEpollPwait2, uintptr(pl.epfd), uintptr(evs), uintptr(len(pl.evs)), uintptr(unsafe.Pointer(ts)), 0, 0)
	} else {
		n, _, e = syscall.Syscall6(sysEpollPwait2, uintptr(pl.epfd), uintptr(evs), uintptr(len(pl.evs)), uintptr(unsafe.Pointer(ts)), 0, 0)
	}
	if e == syscall.ENOSYS {
		noPwait2.Store(true)
		return pl.epollWait(wait)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sysEpollPwait2 is epoll_pwait2's number, the same on every architecture
// (Linux 5.11 and later).
const sysEpollPwait2 = 441

// noPwait2 is set when the kernel has no epoll_pwait2.
var noPwait2 atomic.Bool

// Wake makes Poll return soon: at once if it waits, else without waiting
// the next time. It may be called from any goroutine.
func (pl *Poller) Wake() {
	if pl.woken.Swap(true) {
		return // not yet seen by the owner, who then does not sleep
	}
	switch pl.sleeping.Load() {
	case inSelect:
		select {
		case pl.wake <- struct{}{}:
		default:
		}
	case inEpoll:
		pl.mu.Lock()
		defer pl.mu.Unlock()
		if !pl.closed {
			one := [8]byte{1}
			syscall.Write(pl.evfd, one[:])
		}
	}
}

// Close ends the checks in flight, reporting them canceled, and releases
// the Poller. It waits for the replies being read on goroutines, which
// end with the Poller's context or at their deadline.
func (pl *Poller) Close() error {
	for len(pl.timers) > 0 {
		r := pl.timers[0]
		pl.fail(r, dialErr(r.ap, context.Canceled))
	}
	pl.slow.Wait()
	pl.mu.Lock()
	pl.closed = true
	pl.mu.Unlock()
	syscall.Close(pl.evfd)
	return syscall.Close(pl.epfd)
}

// runHeap is a min-heap of runs by deadline.
type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h runHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *runHeap) Push(x any) {
	r := x.(*run)
	r.idx = len(*h)
	*h = append(*h, r)
}

func (h *runHeap) Pop() any {
	old := *h
	n := len(old)
	r := old[n-1]
	old[n-1] = nil
	r.idx = -1
	*h = old[:n-1]
	return r
}
