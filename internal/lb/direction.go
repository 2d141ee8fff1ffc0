package lb

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Idle timeouts follow HAProxy's "timeout client" and "timeout server"
// (without "option independent-streams"), which Octavia's
// timeout_client_data and timeout_member_data configure:
//
//   - A side is active while bytes are read from it or written to it. A
//     session is closed once a side we wait to read from has been inactive
//     for its timeout, measured from its last byte, whichever side that is.
//     Since every byte read from one side is written to the other, an idle
//     session ends at its last byte plus the shorter of the two timeouts.
//   - Data waiting for a side that takes none of it for that side's
//     timeout closes the session too (the side gets a reset, so the kernel
//     does not keep the data either).
//   - A timeout of 0 turns that side's timeout off (TCP keepalive then
//     watches the peer).
//
// Whatever the data timeouts, data that waits for a side that takes none
// of it for the listener's timeout_write_stall (vitals' own, default 5m,
// 0 for none) closes the session the same way. It is what ends a session
// whose client left with data queued behind a member that never reads:
// such a client's FIN is itself stuck behind unsent data in its own
// kernel (it wrote more than the path holds and exited; our receive
// window is zero because we cannot write to the member), so it cannot be
// told from a live client blocked on a write: its kernel answers our
// window probes and keepalives, and neither FIN nor reset arrives (seen
// for minutes on Linux). HAProxy with "timeout server 0" keeps such a
// session too. Data that no write waits for any more, because its sender
// finished and the copy ended, is held to the same bound by the kernel
// (holdQueued).
//
// Sooner than that, a session does not outlive a client that has gone
// while data for the member is stuck when the client's FIN or reset did
// arrive: once the copy to the member has been blocked for goneCheck, the
// client's socket is polled every goneCheck. A reset (or any socket
// error) closes the session at once. A FIN alone may be a client that
// half-closed and waits for the answer, so it closes the session only
// when the member has also neither taken data nor sent any for finStall:
// the member cannot answer a request it does not read.
//
// None of this costs anything per byte: the write deadline is set the
// first time a write would block, and looked at again only when it
// passes.
//
// Parking (park.go). Each direction copies on a goroutine of its own, so
// an idle session held two goroutines, two stacks and two g structs,
// most of its memory: 7.92 KiB of RSS per idle session where HAProxy
// needs 3.25 (bench/lb.sh, 8,900 sessions). So a direction whose session
// has moved no byte either way for parkAfter (500 ms) while it waits to
// read parks: its goroutine ends, and its source's fd waits in an epoll
// set of the Server's (EPOLLIN|EPOLLRDHUP, one-shot; Go's own
// registration of the fd is untouched), served by one goroutine. When
// the fd turns readable, or hangs up, or fails, a fresh goroutine
// resumes the copy where it stopped. The rule:
//
//   - Only an empty read wait parks: no data pending, no blocked write,
//     no pooled buffer (it is taken only once data is there), and the
//     splice pipe, empty then, goes back to its pool.
//   - Idleness is found lazily, as the idle timeouts are: the read
//     deadline is at the first moment the direction could park or time
//     out, and is set again only when it passes (readExpired). A busy
//     direction pays one deadline every parkAfter, nothing per message;
//     a query's gap on a pooled connection is far shorter than parkAfter.
//   - The idle timeouts still hold: a parked direction's deadline waits
//     in the parker's heap under one timer, which resumes it then, and
//     readExpired decides as for a waiting one (same end reason).
//   - Whoever resumes a parked direction first wins (under the session's
//     parkMu): its fd's event, its idle deadline, or session.close, which
//     resumes both directions before it closes the fds, so that each
//     ends and finishes as before (every accounting unchanged), and the
//     fds leave the epoll set before they close.
//   - A dead goroutine's stack is freed only by a garbage collection,
//     and the lb allocates too little to run one soon; so a wave of
//     parks is followed by debug.FreeOSMemory, at most every 10 s
//     (wavePark): without it RSS stayed at 5.62 KiB per idle session
//     for as long as measured (8 s), with it 3.92 from 2 s on.
//
// What it costs: two epoll_ctl calls and a goroutine start per park and
// wake, a heap entry per parked direction, and the g structs of ended
// goroutines, which Go keeps for reuse (about half a KiB per session
// after a burst of new sessions). With the session also trimmed to the
// 576-byte size class, bench/lb.sh's idle part measured 3.32 KiB per
// idle session (HAProxy 3.32) and 2.99 (HAProxy 3.27) in two runs on a
// busy 2-core machine, against 8.20 before parking.

// clock0 is the origin of the session clock.
var clock0 = time.Now()

// clock reads the monotonic clock (no system call), in nanoseconds since
// clock0.
func clock() int64 { return int64(time.Since(clock0)) }

// goneCheck is how long the copy to the member may be blocked before the
// client is checked for having gone, and how often it is checked after.
var goneCheck = time.Second

// finStall is how long the member must have neither taken nor sent data,
// with data for it stuck and the client finished sending (FIN), before the
// session is abandoned. It is a variable for tests.
var finStall = 15 * time.Second

// direction copies one way of a session. Its fields without atomics are
// owned by its goroutine.
type direction struct {
	s          *session
	src, dst   *net.TCPConn
	rsrc, rdst syscall.RawConn
	// srcIdle and dstIdle are the timeouts of src's and dst's side, 0 for
	// none.
	srcIdle, dstIdle time.Duration
	// stall is the listener's timeout_write_stall, 0 for none.
	stall         time.Duration
	bytes         *atomic.Uint64     // the member's
	listenerBytes prometheus.Counter // the same bytes, for the listener
	other         *direction

	// readAt and wroteAt are when bytes were last read from src and
	// written to dst (clock), the session's start before any.
	readAt, wroteAt atomic.Int64

	// pending counts the bytes read from src and not yet written to dst.
	pending int
	// unreported counts the bytes written and not yet added to bytes;
	// total all the bytes written (for the connection log).
	unreported, total int64
	buf               *[chunkSize]byte
	// got is how many bytes of buf the last read filled.
	got  int
	pipe *splicePipe
	// readFn and writeFn are handed to rsrc.Read and rdst.Write; they
	// are made once per direction (and again when it resumes from a
	// park), as a closure made per call would cost an allocation per
	// message. rn and rerr are what the last readFn call read and its
	// error; werr is the last writeFn call's error.
	readFn, writeFn func(fd uintptr) bool
	rn              int
	rerr, werr      error

	// The flags share a word: a session is allocated in the 576-byte
	// size class, which one more word per direction would overflow.

	// watchClient is set on the client-to-member direction: while it is
	// blocked writing to the member it checks whether the client has gone.
	watchClient bool
	// failedOnDst is set when copy failed writing to dst (not reading src).
	failedOnDst bool
	// writeArmed is set once dst's write deadline is set; it is set on
	// the first blocked write, so a short session sets none.
	writeArmed bool
	// bulk is set while the copy is a splice through pipe: from a read
	// that filled a whole chunk until backToRead splices in a row were
	// short (HAProxy's splice-auto).
	bulk bool
	// short counts the splices in a row that moved less than a chunk.
	short uint8
	// resumed is set when the direction resumes from a park (park.go),
	// until its read deadline is set again: it does not park before it
	// has waited parkAfter more.
	resumed bool
	// noPark is set once parking failed for another reason than a
	// closing session: the direction then waits in Go's poller.
	noPark bool
}

// chunkSize is the read/write copy's buffer; a read that fills it turns
// the direction to splice.
const chunkSize = 16 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// maxSplice is the most one splice(2) moves, and the pipe's size, as in
// Go's own splice.
const maxSplice = 1 << 20

// backToRead is how many splices in a row must move less than a chunk
// before the copy turns back from splice to read and write.
const backToRead = 4

// bind makes readFn and writeFn; a parked direction drops them, as
// they are 64 bytes a session.
func (d *direction) bind() { d.readFn, d.writeFn = d.readOnce, d.writeOnce }

// armRead sets src's read deadline for the first time, at the first
// moment src's idle timeout could pass or the direction could park.
func (d *direction) armRead() {
	next := d.srcIdle
	if parkAfter > 0 && (next <= 0 || parkAfter < next) {
		next = parkAfter
	}
	if next > 0 {
		d.src.SetReadDeadline(time.Now().Add(next))
	}
}

// copy copies from src to dst until EOF (nil error) or an error.
// A short exchange (a request and an answer) costs less with read(2) and
// write(2) than with splice(2), which needs a pipe and twice the system
// calls; so the copy reads into a pooled buffer, taken only once data is
// there (an idle session holds none), turns to splice once a read fills
// the buffer, and back to reads after backToRead short splices in a row:
// a connection that carries a bulk load and then small queries moves
// each the cheaper way. The copy is done here rather than by
// dst.ReadFrom(src) so that it knows when each byte moved (for exact
// timeouts) and keeps data in its pipe when a write deadline passes.
func (d *direction) copy() error {
	for {
		var (
			n   int
			err error
		)
		if d.bulk {
			n, err = d.spliceIn()
		} else {
			n, err = d.readIn()
		}
		if err != nil || n == 0 {
			return err
		}
		d.readAt.Store(clock())
		d.pending = n
		if d.bulk {
			err = d.spliceOut()
		} else {
			err = d.writeOut()
		}
		if err != nil {
			d.failedOnDst = true
			return err
		}
		d.turn(n)
	}
}

// turns counts the copy's switches to splice and back to read, for tests.
var turns struct{ toSplice, toRead atomic.Int64 }

// turn switches the copy between read and splice after a transfer of n
// bytes, with nothing pending.
func (d *direction) turn(n int) {
	switch {
	case !d.bulk:
		if n == chunkSize {
			if p := getPipe(); p != nil {
				d.pipe, d.bulk, d.short = p, true, 0
				turns.toSplice.Add(1)
			}
		}
	case n >= chunkSize:
		d.short = 0
	default:
		d.short++
		if d.short >= backToRead {
			putPipe(d.pipe, true)
			d.pipe, d.bulk, d.short = nil, false, 0
			turns.toRead.Add(1)
		}
	}
}

// readIn reads into d.buf; 0 and nil at EOF.
func (d *direction) readIn() (int, error) {
	for {
		err := d.rsrc.Read(d.readFn)
		if err != nil {
			switch d.readExpired(err) {
			case readWait:
				continue
			case readPark:
				if d.park() {
					return 0, errParked
				}
				continue // the passed deadline leads back to readExpired
			}
			return 0, err
		}
		if d.rerr != nil {
			return 0, sysErr("read", d.src, d.rerr)
		}
		return d.rn, nil
	}
}

// readOnce is readIn's read(2), or spliceIn's splice(2) when bulk, run
// by rsrc.Read: it reports false to wait for src. (After a short read,
// the next read still tries before it waits: the read that returned data
// does not report a FIN or reset queued behind it, and the poller may
// have folded their wake-up into the one that led to this read, so
// waiting first could wait for ever.)
func (d *direction) readOnce(fd uintptr) bool {
	if d.bulk {
		return d.spliceOnce(fd)
	}
	b := chunks.Get().(*[chunkSize]byte)
	var (
		n   int
		err error
	)
	for {
		n, err = syscall.Read(int(fd), b[:])
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		chunks.Put(b)
		return false
	}
	if n > 0 {
		d.buf, d.got = b, n
	} else {
		chunks.Put(b)
		n = 0
	}
	d.rn, d.rerr = n, err
	return true
}

// moved accounts for w bytes written to dst.
func (d *direction) moved(w int) {
	d.pending -= w
	d.unreported += int64(w)
	d.total += int64(w)
	d.wroteAt.Store(clock())
}

// writeOut writes the pending bytes of d.buf and returns the buffer.
func (d *direction) writeOut() error {
	err := d.drain()
	chunks.Put(d.buf)
	d.buf = nil
	return err
}

// spliceIn moves what src has into the (empty) pipe; 0 and nil at EOF.
func (d *direction) spliceIn() (int, error) {
	for {
		err := d.rsrc.Read(d.readFn)
		if err != nil {
			switch d.readExpired(err) {
			case readWait:
				continue
			case readPark:
				if d.park() {
					return 0, errParked
				}
				continue // the passed deadline leads back to readExpired
			}
			return 0, err
		}
		if d.rerr != nil {
			return 0, sysErr("splice", d.src, d.rerr)
		}
		return d.rn, nil
	}
}

// spliceOnce is spliceIn's splice(2).
func (d *direction) spliceOnce(fd uintptr) bool {
	var (
		n   int64
		err error
	)
	for {
		n, err = syscall.Splice(int(fd), nil, d.pipe.w, nil, maxSplice, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		return false
	}
	d.rn, d.rerr = max(int(n), 0), err
	return true
}

// spliceOut moves the pending bytes from the pipe to dst.
func (d *direction) spliceOut() error { return d.drain() }

// drain writes the pending bytes (from buf, or the pipe when bulk) to
// dst, noting each progress, and waits (honouring the write deadline)
// while dst takes none.
func (d *direction) drain() error {
	for d.pending > 0 {
		d.werr = nil
		err := d.rdst.Write(d.writeFn)
		if err != nil {
			if d.expired(err) {
				continue
			}
			return err
		}
		if d.werr != nil {
			return sysErr("write", d.dst, d.werr)
		}
	}
	return nil
}

// writeOnce is drain's write(2) or splice(2), run by rdst.Write: it
// reports false to wait for dst.
func (d *direction) writeOnce(fd uintptr) bool {
	for d.pending > 0 {
		var (
			w int
			e error
		)
		if d.bulk {
			var w64 int64
			w64, e = syscall.Splice(d.pipe.r, nil, int(fd), nil, d.pending, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			w = int(w64)
		} else {
			w, e = syscall.Write(int(fd), d.buf[d.got-d.pending:d.got])
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			if !d.writeArmed {
				d.armWrite()
			}
			return false
		case e != nil:
			d.werr = e
			return true
		case w == 0:
			d.werr = syscall.EPIPE
			return true
		}
		d.moved(w)
	}
	return true
}

// armWrite sets dst's write deadline for the first time: at the first
// moment the stuck data could time out or the client be checked.
func (d *direction) armWrite() {
	d.writeArmed = true
	if next, ok := d.nextWriteCheck(clock()); ok {
		d.dst.SetWriteDeadline(time.Now().Add(time.Duration(next)))
	}
}

// nextWriteCheck returns how long from now the pending data should be
// looked at again, if ever.
func (d *direction) nextWriteCheck(now int64) (time.Duration, bool) {
	since := max(d.readAt.Load(), d.wroteAt.Load()) // the data has waited since
	next, ok := int64(1<<63-1), false
	if d.dstIdle > 0 {
		next, ok = since+int64(d.dstIdle), true
	}
	if d.stall > 0 {
		next, ok = min(next, since+int64(d.stall)), true
	}
	if d.watchClient {
		// goneCheck after the data began to wait, then every goneCheck.
		check := since + int64(goneCheck)
		if check <= now {
			check = now + int64(goneCheck)
		}
		next, ok = min(next, check), true
	}
	return time.Duration(next - now), ok
}

// readNext is what a read wait does after its deadline passed.
type readNext int

const (
	readEnd  readNext = iota // the session is closed or timed out
	readWait                 // the deadline is set again: wait on
	readPark                 // src has been idle for parkAfter: park
)

// readExpired handles err from a read wait: when the read deadline
// passed it closes the session if src's idle timeout is really over, or
// tells the direction to park if nothing moved for parkAfter, and
// otherwise sets the deadline to the next moment to look.
func (d *direction) readExpired(err error) readNext {
	if !errors.Is(err, os.ErrDeadlineExceeded) || d.s.closed.Load() {
		return readEnd
	}
	d.report()
	now := clock()
	last := max(d.readAt.Load(), d.other.wroteAt.Load())
	next := int64(1<<63 - 1)
	if d.srcIdle > 0 {
		left := last + int64(d.srcIdle) - now
		if left <= 0 {
			d.s.closeTimedOut(d.timeoutOf(false)) // src's side has been idle for its timeout
			return readEnd
		}
		next = left
	}
	switch {
	case parkAfter <= 0 || d.noPark:
	case d.resumed:
		d.resumed = false
		next = min(next, int64(parkAfter))
	default:
		left := last + int64(parkAfter) - now
		if left <= 0 {
			return readPark
		}
		next = min(next, left)
	}
	if next == 1<<63-1 {
		d.src.SetReadDeadline(time.Time{})
	} else {
		d.src.SetReadDeadline(time.Now().Add(time.Duration(next)))
	}
	return readWait
}

// expired handles err from a write wait: when the write deadline passed
// it closes the session if a timeout is really over (or the client is
// gone) and otherwise sets the deadline to the next moment to look; it
// reports whether to wait on.
func (d *direction) expired(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) || d.s.closed.Load() {
		return false
	}
	d.report()
	now := clock()
	since := max(d.readAt.Load(), d.wroteAt.Load())
	if d.dstIdle > 0 && now-since >= int64(d.dstIdle) {
		d.s.closeTimedOut(d.timeoutOf(true)) // dst took nothing for its timeout
		return false
	}
	if d.stall > 0 && now-since >= int64(d.stall) {
		d.s.closeTimedOut(endWriteStall) // dst took nothing for timeout_write_stall
		return false
	}
	if d.watchClient && now-since >= int64(goneCheck) && d.clientGone(now) {
		d.s.closeTimedOut(endClientGone)
		return false
	}
	next, ok := d.nextWriteCheck(now)
	if !ok {
		return false
	}
	d.dst.SetWriteDeadline(time.Now().Add(next))
	return true
}

// clientGone reports whether the client (src) has reset, or has finished
// sending while the member has neither taken nor sent anything for
// finStall.
func (d *direction) clientGone(now int64) bool {
	var rev int16
	d.rsrc.Control(func(fd uintptr) {
		p := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(p[:], 0); n == 1 && err == nil {
			rev = p[0].Revents
		}
	})
	if rev&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		return true
	}
	if rev&unix.POLLRDHUP == 0 {
		return false
	}
	memberLast := max(d.wroteAt.Load(), d.other.readAt.Load())
	return now-memberLast >= int64(finStall)
}

// up reports whether d copies from the client to the member.
func (d *direction) up() bool { return d == &d.s.dir[0] }

// index is d's index in s.dir.
func (d *direction) index() int {
	if d.up() {
		return 0
	}
	return 1
}

// onClient reports whether d's dst side (onDst) or src side is the
// client's.
func (d *direction) onClient(onDst bool) bool { return d.up() != onDst }

// timeoutOf is the end reason for a timeout of d's dst side (onDst) or
// src side.
func (d *direction) timeoutOf(onDst bool) endReason {
	if d.onClient(onDst) {
		return endClientData
	}
	return endMemberData
}

// closeTimedOut closes the session after a timeout, or for a client
// that has gone, recording, counting and logging r. A side that still has
// data queued for it gets a reset rather than a FIN, so that the kernel
// does not keep the data, and the connection, for a peer that takes none.
func (s *session) closeTimedOut(r endReason) {
	if s.closed.Load() {
		return
	}
	s.setEnd(r)
	for _, c := range [2]*net.TCPConn{s.client, s.member} {
		if rc, err := c.SyscallConn(); err == nil {
			queued := 0
			rc.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
			if queued > 0 {
				c.SetLinger(0)
			}
		}
	}
	if s.close() {
		if c := s.lc.met.closed[r]; c != nil {
			c.Inc()
		}
		s.l.ends.ended(s.l.srv.log, s.lc.label, s.m.label, r, time.Now())
	}
}

// report adds the bytes written since the last report to the counter.
func (d *direction) report() {
	if d.unreported > 0 {
		d.bytes.Add(uint64(d.unreported))
		if d.listenerBytes != nil {
			d.listenerBytes.Add(float64(d.unreported))
		}
		d.unreported = 0
	}
}

// end finishes the direction: on EOF it half-closes the destination, on
// an error it closes the session.
func (d *direction) end(err error) {
	d.report()
	if d.pipe != nil {
		putPipe(d.pipe, d.pending == 0)
		d.pipe = nil
	}
	if err != nil {
		if d.s.stallArmed.Load() && errors.Is(err, syscall.ETIMEDOUT) {
			d.s.closeTimedOut(endWriteStall) // the kernel gave up on queued data: see holdQueued
			return
		}
		r := endMemberError
		if d.onClient(d.failedOnDst) {
			r = endClientError
		}
		d.s.closeFor(r)
		return
	}
	// src closed its side: the first side to close decides the reason.
	r := endMemberClosed
	if d.up() {
		r = endClientClosed
	}
	d.s.setEnd(r)
	if d.dst.CloseWrite() != nil {
		d.s.close()
		return
	}
	// Both directions may end at once and each see the other running:
	// one claims the hold (the session ends with the other anyway).
	if d.stall > 0 && d.s.running.Load() == 2 && d.s.hold.CompareAndSwap(nil, holdClaimed) {
		d.s.hold.Store(time.AfterFunc(min(holdDelay, d.stall/4), d.holdQueued))
	}
}

// holdClaimed marks a session's hold as claimed while its timer is made.
var holdClaimed = new(time.Timer)

// holdDelay is how long a session must go on after its first direction
// ended before holdQueued looks at the data queued for that direction's
// destination: most sessions (a short connection: an answer, then both
// sides close) end before, and the look costs an ioctl and often a
// setsockopt, a tenth of a short connection's system calls. The bound
// hardly moves: the kernel counts TCP_USER_TIMEOUT from when the data
// began to wait, not from the setsockopt. (A quarter of
// timeout_write_stall when that is shorter.)
const holdDelay = time.Second

// holdQueued bounds, after src finished sending (EOF) while the session
// goes on, how long the data still queued in the kernel for dst may wait:
// the copy is over, so no write deadline watches it. The kernel does it
// with TCP_USER_TIMEOUT set to timeout_write_stall: once dst has taken
// none of it for that long (zero window, or no acknowledgement), the
// connection is aborted with ETIMEDOUT and the other direction, reading
// dst, ends the session (counted as timeout_write_stall). So a client
// that sent a request and left, behind a member that never reads it, does
// not keep the session with timeout_*_data: 0. It runs holdDelay after
// the first direction ended, on a timer's goroutine (the session may
// have ended since: Control then fails), and costs an ioctl, and a
// setsockopt only when data is queued. (The
// option also bounds keepalive's dead-peer detection on that socket by
// timeout_write_stall instead of keepalive's own count.)
func (d *direction) holdQueued() {
	d.rdst.Control(func(fd uintptr) {
		if q, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err != nil || q == 0 {
			return
		}
		ms := int(min(d.stall.Milliseconds(), 1<<31-1))
		if unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms) == nil {
			d.s.stallArmed.Store(true)
		}
	})
}

func sysErr(op string, c *net.TCPConn, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}

// splicePipe is a pipe for splice(2); pipes are pooled, as Go's splice
// does, and closed by the garbage collector when the pool drops them.
type splicePipe struct {
	r, w    int
	cleanup runtime.Cleanup
}

var pipes sync.Pool

// getPipe returns an empty pipe, or nil if none can be made (the copy
// then stays with read and write).
func getPipe() *splicePipe {
	if p, _ := pipes.Get().(*splicePipe); p != nil {
		return p
	}
	var fds [2]int
	if syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK) != nil {
		return nil
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxSplice) // a smaller pipe works too
	p := &splicePipe{r: fds[0], w: fds[1]}
	p.cleanup = runtime.AddCleanup(p, closePipe, fds)
	return p
}

// putPipe returns p to the pool if it is empty and closes it otherwise.
func putPipe(p *splicePipe, empty bool) {
	if empty {
		pipes.Put(p)
		return
	}
	p.cleanup.Stop()
	closePipe([2]int{p.r, p.w})
}

func closePipe(fds [2]int) {
	syscall.Close(fds[0])
	syscall.Close(fds[1])
}
