package lb

import (
	"errors"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// parkAfter is how long a direction waits for its source with no byte
// moving either way in its session before it parks: its goroutine ends
// and its source waits in the Server's parker until it turns readable
// (see the top of direction.go). It is long next to the gap between a
// query and the next on a pooled connection, so an active session never
// parks between messages. 0 turns parking off. A variable for tests.
var parkAfter = 500 * time.Millisecond

// errParked is what copy returns when the direction parked: its goroutine
// must end without touching the direction, which another goroutine may
// already run.
var errParked = errors.New("direction parked")

// parker holds the sources of parked directions in an epoll set of its
// own, served by one goroutine that waits in Go's poller (the epoll
// descriptor is itself pollable), so it holds no thread. Each park has an
// id of its own, which the epoll event carries (never a Go pointer); a
// late event for an id no longer parked finds nothing. The idle timeouts
// of parked directions are a heap of deadlines under one timer, rather
// than a timer each: a runtime timer and its closure cost more than a
// heap entry, on every idle session.
type parker struct {
	ep   *os.File
	epfd int

	mu     sync.Mutex
	byID   map[uint64]parkEntry // guarded by mu; nil once closed
	due    []dueEntry           // guarded by mu: a min-heap by at
	nextID uint64               // guarded by mu
	timer  *time.Timer          // guarded by mu: runs expire at timerAt
	// timerAt is when timer fires (clock), 0 when it does not.
	timerAt int64

	// parked counts the directions parked now.
	parked atomic.Int64
	done   chan struct{} // closed when the goroutine has returned
}

// parkEntry is a parked direction; hi is its index in due, -1 if it has
// no idle deadline there.
type parkEntry struct {
	d  *direction
	hi int
}

// dueEntry is a parked direction's idle deadline (clock).
type dueEntry struct {
	at int64
	id uint64
}

// newParker makes the epoll set and starts its goroutine.
func newParker() (*parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile puts it in Go's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &parker{ep: os.NewFile(uintptr(epfd), "lb-park"), epfd: epfd, byID: map[uint64]parkEntry{}, done: make(chan struct{})}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		return nil, err
	}
	p.timer = time.AfterFunc(time.Hour, p.expire)
	p.timer.Stop()
	go p.serve(rc)
	return p, nil
}

// serve wakes the directions whose sources turned readable (or hung up,
// or failed) until the epoll set is closed.
func (p *parker) serve(rc interface {
	Read(func(fd uintptr) bool) error
}) {
	defer close(p.done)
	var (
		evs [128]unix.EpollEvent
		ids []uint64
	)
	wait := func(fd uintptr) bool {
		n, err := unix.EpollWait(int(fd), evs[:], 0)
		if err == unix.EINTR || n <= 0 {
			// Go's poller watches the epoll descriptor edge-triggered:
			// report false only when no event is left, so that none is
			// left behind its last edge.
			return false
		}
		ids = ids[:0]
		for _, e := range evs[:n] {
			ids = append(ids, uint64(uint32(e.Fd))|uint64(uint32(e.Pad))<<32)
		}
		return true
	}
	for {
		if rc.Read(wait) != nil {
			return
		}
		for _, id := range ids {
			p.wake(id)
		}
	}
}

// wake resumes the direction parked with id, if it still is.
func (p *parker) wake(id uint64) {
	p.mu.Lock()
	e, ok := p.byID[id]
	p.mu.Unlock()
	if ok {
		e.d.s.unpark(e.d.index(), id)
	}
}

// add registers d's source fd, parked with a new id, which it returns,
// and its idle deadline at (clock; 0 for none). EPOLLONESHOT, as one
// event wakes it and the waker removes the fd.
func (p *parker) add(d *direction, fd uintptr, at int64) (uint64, error) {
	p.mu.Lock()
	if p.byID == nil {
		p.mu.Unlock()
		return 0, os.ErrClosed
	}
	p.nextID++
	id := p.nextID
	p.byID[id] = parkEntry{d: d, hi: -1}
	if at != 0 {
		p.push(dueEntry{at: at, id: id})
		if p.timerAt == 0 || at < p.timerAt {
			p.timerAt = at
			p.timer.Reset(time.Duration(at - clock()))
		}
	}
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		p.forget(id)
		return 0, os.NewSyscallError("epoll_ctl", err)
	}
	p.parked.Add(1)
	return id, nil
}

// remove takes the fd of park id out of the epoll set; fd is nil when
// the fd is already closed (the kernel then took it out).
func (p *parker) remove(id uint64, fd *uintptr) {
	if fd != nil {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(*fd), nil)
	}
	p.forget(id)
	p.parked.Add(-1)
}

// forget drops park id and its deadline. (The timer may then fire for
// nothing; expire sets it again.)
func (p *parker) forget(id uint64) {
	p.mu.Lock()
	if e, ok := p.byID[id]; ok {
		if e.hi >= 0 {
			p.removeDue(e.hi)
		}
		delete(p.byID, id)
	}
	p.mu.Unlock()
}

// expire wakes the parked directions whose idle deadline has come, so
// that readExpired ends their sessions (or waits on, if a byte moved the
// other way meanwhile).
func (p *parker) expire() {
	var wake []parkEntry
	var ids []uint64
	p.mu.Lock()
	now := clock()
	for len(p.due) > 0 && p.due[0].at <= now {
		id := p.due[0].id
		p.removeDue(0)
		if e, ok := p.byID[id]; ok {
			wake, ids = append(wake, e), append(ids, id)
		}
	}
	p.timerAt = 0
	if len(p.due) > 0 && p.byID != nil {
		p.timerAt = p.due[0].at
		p.timer.Reset(time.Duration(p.timerAt - now))
	}
	p.mu.Unlock()
	for k, e := range wake {
		e.d.s.unpark(e.d.index(), ids[k])
	}
}

// push, removeDue, up and down keep due a min-heap by at, with each
// entry's index in byID. Hold mu.
func (p *parker) push(x dueEntry) {
	p.due = append(p.due, x)
	p.setIndex(len(p.due) - 1)
	p.up(len(p.due) - 1)
}

func (p *parker) removeDue(i int) {
	if e, ok := p.byID[p.due[i].id]; ok {
		e.hi = -1
		p.byID[p.due[i].id] = e
	}
	last := len(p.due) - 1
	if i != last {
		p.due[i] = p.due[last]
		p.setIndex(i)
	}
	p.due = p.due[:last]
	if i < last {
		p.down(i)
		p.up(i)
	}
	if cap(p.due) > 64 && len(p.due) < cap(p.due)/4 {
		p.due = append([]dueEntry(nil), p.due...) // give back a wave's heap
	}
}

func (p *parker) setIndex(i int) {
	id := p.due[i].id
	if e, ok := p.byID[id]; ok {
		e.hi = i
		p.byID[id] = e
	}
}

func (p *parker) swap(i, j int) {
	p.due[i], p.due[j] = p.due[j], p.due[i]
	p.setIndex(i)
	p.setIndex(j)
}

func (p *parker) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if p.due[parent].at <= p.due[i].at {
			return
		}
		p.swap(i, parent)
		i = parent
	}
}

func (p *parker) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(p.due) && p.due[l].at < p.due[small].at {
			small = l
		}
		if r := l + 1; r < len(p.due) && p.due[r].at < p.due[small].at {
			small = r
		}
		if small == i {
			return
		}
		p.swap(i, small)
		i = small
	}
}

// close ends the goroutine; called once no session is left.
func (p *parker) close() {
	p.mu.Lock()
	p.byID, p.due = nil, nil
	p.timer.Stop()
	p.mu.Unlock()
	p.ep.Close()
	<-p.done
}

// parking returns the Server's parker, made on the first park, or nil if
// none can be made or the Server is shut down.
func (s *Server) parking() *parker {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if p := s.parker.Load(); p != nil || s.parkOff {
		return p
	}
	p, err := newParker()
	if err != nil {
		s.log.Warn("idle sessions cannot park", "err", err)
		s.parkOff = true
		return nil
	}
	s.parker.Store(p)
	return p
}

// stopParking ends the parker at shutdown, once every session has ended.
func (s *Server) stopParking() {
	s.parkMu.Lock()
	p := s.parker.Swap(nil)
	s.parkOff = true
	s.parkMu.Unlock()
	if p != nil {
		p.close()
	}
}

// parkedNow counts the Server's parked directions (a metric, and tests).
func (s *Server) parkedNow() int64 {
	if p := s.parker.Load(); p != nil {
		return p.parked.Load()
	}
	return 0
}

// park gives up d's goroutine while its source is idle: the source's fd
// goes to the parker, with src's idle deadline if its side has a
// timeout. It reports whether d parked; if so the caller must end its
// goroutine without touching d again. If it cannot park (the session is
// closing, or epoll fails), d waits in Go's poller as before.
func (d *direction) park() bool {
	p := d.s.l.srv.parking()
	if p == nil {
		d.noPark = true
		return false
	}
	if d.pipe != nil { // empty: nothing is pending in a read wait
		putPipe(d.pipe, true)
		d.pipe, d.bulk, d.short = nil, false, 0
	}
	var at int64
	if d.srcIdle > 0 {
		at = max(d.readAt.Load(), d.other.wroteAt.Load()) + int64(d.srcIdle)
	}
	s := d.s
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if s.closed.Load() { // close sets closed before it looks for parked directions
		return false
	}
	var (
		id  uint64
		err error
	)
	if cerr := d.rsrc.Control(func(fd uintptr) { id, err = p.add(d, fd, at) }); cerr != nil {
		return false // closed: the read that follows ends the direction
	}
	if err != nil {
		d.noPark = true
		return false
	}
	d.readFn, d.writeFn = nil, nil // resume makes them again
	s.parked[d.index()] = id
	wavePark()
	return true
}

// unpark resumes direction i on a fresh goroutine if it is parked (with
// id, or with any id when id is 0): the parker's epoll event, its idle
// deadline and close may all try, and the first wins.
func (s *session) unpark(i int, id uint64) {
	s.parkMu.Lock()
	cur := s.parked[i]
	if cur == 0 || (id != 0 && id != cur) {
		s.parkMu.Unlock()
		return
	}
	s.parked[i] = 0
	d := &s.dir[i]
	// The parker is there: it stops only after every session ended.
	p := s.l.srv.parker.Load()
	// Through Control, so that the fd cannot be closed (and its number
	// reused) under the EPOLL_CTL_DEL; once closed, the kernel has taken
	// it out of the set.
	if d.rsrc.Control(func(fd uintptr) { p.remove(cur, &fd) }) != nil {
		p.remove(cur, nil)
	}
	s.parkMu.Unlock()
	go s.resume(d)
}

// unparkAll resumes the parked directions, for close.
func (s *session) unparkAll() {
	s.unpark(0, 0)
	s.unpark(1, 0)
}

// resume runs a direction that was parked. Its read deadline has passed,
// so its first read goes straight to readExpired, which decides as after
// any deadline: the idle timeout, a closed session, or wait on.
func (s *session) resume(d *direction) {
	d.bind()
	d.resumed = true
	s.copyOn(d)
}

// The memory of parked directions' goroutines goes back to the OS only
// after a garbage collection frees the stacks of the ended goroutines
// and the scavenger returns the spans, and the lb, which allocates
// nothing per message, may go minutes without a collection. So after a
// wave of parks (freeWave directions parked since the last time), once
// parking has been quiet for waveQuiet (or the wave has lasted waveMax),
// and at most once per freeEvery, the lb collects and returns the free
// memory at once (debug.FreeOSMemory). Measured with bench/lb.sh's idle
// part (8,900 sessions, 2 cores): without it the lb's RSS stayed at 5.62
// KiB per idle session from 1 s to 8 s after the sessions opened, no
// collection having run; with it, 3.92 KiB from 2 s on (the later trims
// took that to 3.32, HAProxy's figure). A forced collection costs a few
// tens of milliseconds of CPU with a live heap of tens of MB: after
// freeWave parks, at most every 10 s, nothing per message.
const (
	freeWave  = 1000
	waveQuiet = 500 * time.Millisecond
	waveMax   = 5 * time.Second
	freeEvery = 10 * time.Second
)

// parkWave counts the parks since the last free, for the whole process
// (the memory is the process's).
var parkWave struct {
	mu                 sync.Mutex
	since              int       // parks since the last free
	first, last, freed time.Time // the wave's first and last park, the last free
	timer              *time.Timer
}

// wavePark counts a park and schedules a free after a wave.
func wavePark() {
	w := &parkWave
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since == 0 {
		w.first = now
	}
	w.since++
	w.last = now
	if w.since >= freeWave && w.timer == nil {
		w.timer = time.AfterFunc(waveQuiet, waveEnd)
	}
}

// waveEnd frees the memory if the wave is over, or waits for it.
func waveEnd() {
	w := &parkWave
	now := time.Now()
	w.mu.Lock()
	at := w.last.Add(waveQuiet)
	if end := w.first.Add(waveMax); end.Before(at) {
		at = end
	}
	if next := w.freed.Add(freeEvery); next.After(at) {
		at = next
	}
	if wait := at.Sub(now); wait > 0 {
		w.timer = time.AfterFunc(wait, waveEnd)
		w.mu.Unlock()
		return
	}
	w.since, w.timer, w.freed = 0, nil, now
	w.mu.Unlock()
	debug.FreeOSMemory()
}
