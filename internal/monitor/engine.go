package monitor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vitals/internal/health"
	"vitals/internal/probe"
)

// DefaultMaxConcurrent is how many checks may run at once by default.
const DefaultMaxConcurrent = 4096

// Pool is what the engine needs to know of one pool.
type Pool struct {
	// ID and Name identify the pool in statuses, events, logs and metrics.
	ID, Name string
	// AdminStateUp false makes the pool OFFLINE; its members are not
	// checked and show OFFLINE.
	AdminStateUp bool
	// Monitor is the pool's health monitor; nil for none, in which case
	// members show NO_MONITOR.
	Monitor *Monitor
	// Members are the pool's members, in configuration order.
	Members []Member
}

// Member is what the engine needs to know of one member.
type Member struct {
	// ID identifies the member across updates: a member whose ID and check
	// stay the same keeps its state. Unique across all pools.
	ID string
	// Name is optional; events, logs and metrics show address:port
	// without it.
	Name string
	// Address and ProtocolPort are where the member serves traffic.
	Address      string
	ProtocolPort int
	// Weight is 0..256; 0 makes a passing member DRAINING.
	Weight int
	// Backup members take traffic only when no other member can.
	Backup bool
	// AdminStateUp false makes the member OFFLINE and unchecked.
	AdminStateUp bool
	// MonitorAddress and MonitorPort, when set, are where checks go
	// instead of Address and ProtocolPort.
	MonitorAddress string
	MonitorPort    int
}

// label is how events, logs and metrics name the member.
func (m Member) label() string {
	if m.Name != "" {
		return m.Name
	}
	return net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
}

// Options configure an Engine. The zero value works.
type Options struct {
	// Logger receives transitions (at Warn to a worse status, else at
	// Info; health.OperatingStatus.ChangeLevel) and failed checks at Debug.
	// Default: slog.Default().
	Logger *slog.Logger
	// MaxConcurrent bounds the checks running at once. A due check waits
	// for a free slot. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// NewProber builds a member's prober. Default probe.New; tests inject
	// fakes.
	NewProber func(kind string, s probe.Spec) (probe.Prober, error)
	// Jitter returns the delay of a member's first check, in [0, max).
	// Default: uniform random.
	Jitter func(max time.Duration) time.Duration
	// OnCheck, when set, is called after every check, synchronously and
	// before the member's next check is scheduled, so the next check sees
	// whatever it changed. It must be quick. It is also called after a
	// checker error (Result.IsCheckerError), which leaves Check and Status
	// as they were.
	OnCheck func(CheckDone)
}

// Engine runs every member's checks. Make one with New, give it pools with
// Update, and call Run. Status, Subscribe and Update are safe to call at
// any time, from any goroutine.
type Engine struct {
	log       *slog.Logger
	maxRun    int
	newProber func(kind string, s probe.Spec) (probe.Prober, error)
	jitter    func(time.Duration) time.Duration
	onCheck   func(CheckDone)
	wg        sync.WaitGroup // checks running on goroutines

	// poller runs the checks that can run without a goroutine, and is what
	// the scheduler sleeps in; poke wakes it. Set while Run runs.
	poller atomic.Pointer[probe.Poller]
	// batch is the checks dispatch found due, for Run to start once mu is
	// released. Only Run uses it.
	batch []starting

	// updateMu serializes Update calls. Only Update writes the fields
	// marked "config" below, and it holds both updateMu and mu to do so;
	// Update may read them holding only updateMu.
	updateMu sync.Mutex

	// mu guards everything below and every member's fields.
	mu      sync.Mutex
	ctx     context.Context // set by Run
	pools   []*poolState    // config, in configuration order
	byID    map[string]*member
	due     dueHeap
	running int       // checks in flight
	timerAt time.Time // when the scheduler's timer fires; zero when it is idle
	starved bool      // the scheduler waits for a free slot
	subs    []*subscription
	checks  uint64 // checks completed, engine-wide
	late    histogram
	updated time.Time // when Update last changed the configuration

	// checkerErrs counts checker errors by probe.LocalReason label.
	checkerErrs map[string]uint64
	// errLogAt is when a checker error was last logged; errUnlogged
	// counts those since, by label, not yet logged.
	errLogAt    time.Time
	errUnlogged map[string]uint64
}

// subscription is one Subscribe call; a pointer, so it can be removed.
type subscription struct{ s Subscriber }

// poolState is one pool and its members.
type poolState struct {
	cfg      Pool // without Members
	members  []*member
	counts   health.StatusCounts
	status   health.OperatingStatus
	duration histogram // of its members' checks
}

// member is one member's configuration, check and state. All fields are
// guarded by Engine.mu.
//
// A member, at 10,000 members the largest single part of what a member
// costs, is at most 632 bytes: with the 8-byte header the allocator adds
// to an object above 512 bytes that holds pointers, it then fits Go's
// 640-byte size class, not the 704-byte one. So the small fields sit
// together at the end and the latest check is held field by field
// (lastResult); TestMemberSize keeps it so.
type member struct {
	cfg   Member // config
	label string // config
	pool  *poolState

	// The check. mon is nil when the member is not checked (admin down,
	// no monitor, monitor disabled).
	mon     *Monitor     // config
	target  string       // config: where checks go
	prober  probe.Prober // config
	gen     uint64       // config: bumped when the check changes or stops
	tracker *health.Tracker

	next    time.Time // when the next check is due
	started time.Time // when the running or latest check started
	runGen  uint64    // gen when the check in flight started

	checks      uint64 // completed checks of this generation
	total       uint64 // completed checks, all generations
	failures    uint64 // failed checks, all generations
	transitions uint64
	// The latest completed check, a probe.Result but for its
	// CheckerError, which is always "" here (lastResult).
	lastStart   time.Time
	lastLatency time.Duration
	lastReason  string
	lastDB      *probe.DBState
	// checkerErrors counts the attempts that were checker errors, all
	// generations; lastErr is the latest attempt when it was one, nil
	// once a check completes again (a pointer: it is rare, and a Result
	// held in every member cost 72 bytes more each).
	checkerErrors uint64
	lastErr       *probe.Result
	since         time.Time
	// history holds every recent check, checker errors included, all
	// generations: fixed in size, kept in the member itself.
	history health.History

	// idx is the index in Engine.due; -1 when not queued. An int32 (a
	// heap of more than 2^31 members would not fit in memory anyway), to
	// sit with the one-byte fields.
	idx        int32
	running    bool // a check is in flight
	removed    bool // no longer in the configuration
	status     health.OperatingStatus
	lastStatus probe.Status
}

// setLast keeps r, a completed check (not a checker error), as the
// member's latest.
func (m *member) setLast(r probe.Result) {
	m.lastStart, m.lastLatency, m.lastReason, m.lastDB, m.lastStatus = r.Start, r.Latency, r.Reason, r.DB, r.Status
}

// lastResult is the latest completed check; zero before the first.
func (m *member) lastResult() probe.Result {
	return probe.Result{Status: m.lastStatus, Start: m.lastStart, Latency: m.lastLatency, Reason: m.lastReason, DB: m.lastDB}
}

// New returns an engine with no pools.
func New(o Options) *Engine {
	e := &Engine{
		log:       o.Logger,
		maxRun:    o.MaxConcurrent,
		newProber: o.NewProber,
		jitter:    o.Jitter,
		onCheck:   o.OnCheck,
		byID:      map[string]*member{},

		checkerErrs: map[string]uint64{},
		errUnlogged: map[string]uint64{},
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.maxRun <= 0 {
		e.maxRun = DefaultMaxConcurrent
	}
	if e.newProber == nil {
		e.newProber = probe.New
	}
	if e.jitter == nil {
		e.jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(max)))
		}
	}
	return e
}

// Subscribe registers s for every member status change from now on, and
// returns a function that unregisters it. Read Status after subscribing to
// learn the statuses that do not change.
func (e *Engine) Subscribe(s Subscriber) (unsubscribe func()) {
	sub := &subscription{s: s}
	e.mu.Lock()
	e.subs = append(e.subs, sub)
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, x := range e.subs {
			if x == sub {
				e.subs = append(e.subs[:i:i], e.subs[i+1:]...)
				return
			}
		}
	}
}

// ErrRunning is returned by Run when the engine already runs.
var ErrRunning = errors.New("monitor: engine is already running")

// Run schedules and runs checks until ctx ends, then waits for the checks
// in flight and returns nil. Checks interrupted by the end of ctx are not
// counted. It may be called once.
//
// Run's goroutine is the scheduler, and it runs the tcp and http checks
// that a probe.Poller can run, thousands a second, itself; the other
// checks each run on a goroutine of their own.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.ctx != nil {
		e.mu.Unlock()
		return ErrRunning
	}
	e.ctx = ctx
	// First checks are spread relative to now, however long ago Update
	// queued them.
	now := time.Now()
	for i := range e.due {
		if m := e.due[i].m; m.checks == 0 {
			m.next = now.Add(e.firstJitter(m.mon))
			e.due[i].at = m.next
		}
	}
	heap.Init(&e.due)
	e.mu.Unlock()

	pl, err := probe.NewPoller(ctx, func(tag any, r probe.Result) { e.checked(ctx, tag.(*member), r) })
	if err != nil {
		return err
	}
	e.poller.Store(pl)
	stop := context.AfterFunc(ctx, pl.Wake)
	defer e.closeProbers()
	defer e.wg.Wait()
	defer func() {
		stop()
		pl.Close() // ends the checks on the poller, uncounted
		e.poller.Store(nil)
	}()
	for ctx.Err() == nil {
		next, ok := e.dispatch()
		// The poller runs what checks it can, and goroutines the others.
		for i, st := range e.batch {
			if !pl.Start(st.p, st.m) {
				e.wg.Add(1)
				go e.check(ctx, st.m, st.p)
			}
			e.batch[i] = starting{}
		}
		e.batch = e.batch[:0]
		wait := time.Duration(-1) // until woken
		if ok {
			wait = max(time.Until(next), 0)
		}
		if err := pl.Poll(wait); err != nil {
			return err
		}
	}
	return nil
}

// starting is a check dispatch found due.
type starting struct {
	m *member
	p probe.Prober
}

// closeProbers releases what the probers hold (probe.Close), once no
// check runs.
func (e *Engine) closeProbers() {
	e.mu.Lock()
	var ps []probe.Prober
	for _, m := range e.byID {
		if m.prober != nil {
			ps = append(ps, m.prober)
		}
	}
	e.mu.Unlock()
	for _, p := range ps {
		probe.Close(p)
	}
}

// firstJitter returns the wait before a member's first check.
func (e *Engine) firstJitter(m *Monitor) time.Duration {
	return e.jitter(min(m.Delay, firstCheckWindow))
}

// dispatch takes every check that is due, as slots allow, into e.batch for
// Run to start, and returns when the next one is due; ok is false when
// nothing is queued or no slot is free (a finishing check then wakes the
// scheduler).
func (e *Engine) dispatch() (next time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for e.running < e.maxRun {
		m := e.due.peek()
		if m == nil || m.next.After(now) {
			break
		}
		heap.Pop(&e.due)
		m.running = true
		m.runGen = m.gen
		m.started = now
		e.running++
		e.late.observe(now.Sub(m.next))
		e.batch = append(e.batch, starting{m, m.prober})
	}
	e.starved = e.running >= e.maxRun && len(e.due) > 0
	m := e.due.peek()
	if m == nil || e.starved {
		e.timerAt = time.Time{}
		return time.Time{}, false
	}
	e.timerAt = m.next
	return m.next, true
}

// check runs one check of m with p on a goroutine and records it.
func (e *Engine) check(ctx context.Context, m *member, p probe.Prober) {
	defer e.wg.Done()
	e.checked(ctx, m, p.Probe(ctx))
}

// checked records r, the result of m's check in flight.
func (e *Engine) checked(ctx context.Context, m *member, r probe.Result) {
	if ctx.Err() != nil {
		// Shutting down: a canceled check says nothing of the member.
		e.mu.Lock()
		m.running = false
		e.running--
		e.mu.Unlock()
		return
	}

	e.mu.Lock()
	gen := m.runGen
	if m.gen != gen || m.removed {
		// The configuration changed during the check: its result
		// belongs to a check that no longer exists.
		e.finish(m, gen)
		e.mu.Unlock()
		return
	}
	if r.IsCheckerError() {
		e.checkerError(ctx, m, r, gen)
		return
	}
	pass := r.Status != probe.Fail
	m.tracker.Observe(pass)
	m.checks++
	m.total++
	if !pass {
		m.failures++
	}
	m.setLast(r)
	m.lastErr = nil
	m.history.Add(r.Outcome(), r.Start, r.Latency)
	m.pool.duration.observe(r.Latency)
	e.checks++
	ev, pool := e.setStatus(m, r.Reason, r.Start.Add(r.Latency))
	ev.Result = r
	var done CheckDone
	debug := !pass && e.log.Enabled(ctx, slog.LevelDebug)
	if debug || e.onCheck != nil {
		done = CheckDone{PoolID: m.pool.cfg.ID, MemberID: m.cfg.ID, Member: m.label, Target: m.target, Check: m.checks, Result: r, Status: m.status}
	}
	subs := e.subs
	e.mu.Unlock()

	if debug {
		e.log.Debug("check failed", "pool", done.PoolID, "member", done.Member, "target", done.Target, "reason", r.Reason, "checks", done.Check)
	}
	if e.onCheck != nil {
		e.onCheck(done)
	}
	if ev.Old != ev.New {
		e.publish(ev, pool, subs)
	}

	e.mu.Lock()
	e.finish(m, gen)
	e.mu.Unlock()
}

// finish ends m's check of generation gen and queues its next one, if m is
// still checked. Caller holds mu.
func (e *Engine) finish(m *member, gen uint64) {
	m.running = false
	e.running--
	wake := e.starved
	if !m.removed && m.mon != nil {
		now := time.Now()
		var at time.Time
		if m.gen == gen {
			at = nextStart(m.started, now, m.mon.Delay)
		} else {
			// The check changed while this one ran: the new one starts
			// as Update planned, but never before this one ended.
			at = m.next
			if at.Before(now) {
				at = now
			}
		}
		e.due.schedule(m, at)
		wake = wake || e.timerAt.IsZero() || at.Before(e.timerAt)
	}
	if wake {
		e.poke()
	}
}

// poke wakes the scheduler without blocking. Before Run, there is nothing
// to wake: Run dispatches first thing.
func (e *Engine) poke() {
	if pl := e.poller.Load(); pl != nil {
		pl.Wake()
	}
}

// poolChange is a pool status change, for the log.
type poolChange struct {
	name     string
	old, new health.OperatingStatus
}

// setStatus recomputes m's status and, if it changed, counts the
// transition, updates the pool and returns the event (with Reason set);
// otherwise the returned event has Old == New. Caller holds mu.
func (e *Engine) setStatus(m *member, reason string, at time.Time) (Event, poolChange) {
	old := m.status
	state := health.Unknown
	if m.tracker != nil {
		state = m.tracker.State()
	}
	mon := m.pool.cfg.Monitor
	hasMonitor := mon != nil && mon.AdminStateUp
	adminUp := m.cfg.AdminStateUp && m.pool.cfg.AdminStateUp
	m.status = health.MemberStatus(adminUp, m.cfg.Weight, hasMonitor, state)
	ev := Event{
		PoolID: m.pool.cfg.ID, Pool: m.pool.cfg.Name, MemberID: m.cfg.ID, Member: m.label,
		Address: m.cfg.Address, ProtocolPort: m.cfg.ProtocolPort,
		Old: old, New: m.status, Reason: reason, Checks: m.checks, Time: at,
	}
	var pc poolChange
	if m.status != old {
		m.transitions++
		m.since = at
		p := m.pool
		p.counts.Remove(old)
		p.counts.Add(m.status)
		if s := p.counts.PoolStatus(p.cfg.AdminStateUp); s != p.status {
			pc = poolChange{name: p.cfg.Name, old: p.status, new: s}
			p.status = s
		}
	}
	return ev, pc
}

// publish logs a member's transition and its pool's, if any, and tells the
// subscribers. Caller does not hold mu.
func (e *Engine) publish(ev Event, pc poolChange, subs []*subscription) {
	if ev.Old != ev.New {
		e.log.Log(context.Background(), ev.New.ChangeLevel(ev.Old), "member status changed", "pool", ev.Pool, "member", ev.Member, "old", ev.Old, "status", ev.New, "reason", ev.Reason, "checks", ev.Checks)
	}
	if pc.old != pc.new {
		e.log.Log(context.Background(), pc.new.ChangeLevel(pc.old), "pool status changed", "pool", pc.name, "old", pc.old, "status", pc.new)
	}
	if ev.Old != ev.New {
		for _, s := range subs {
			s.s.MemberChanged(ev)
		}
	}
}

// plan is what Update decided for one member before taking mu.
type plan struct {
	cfg    Member
	pool   int      // index in the new pools
	mon    *Monitor // nil: not checked
	target string
	prober probe.Prober
	keep   *member // an existing member whose check goes on
	reason string  // why the member is not checked, or why its check restarts
}

// Update applies a new configuration. Members are matched by ID: one whose
// check is unchanged keeps its state, counters and schedule (thresholds
// and delay apply from its next check); one whose check changed starts
// over as not yet checked. Members that are gone stop being checked. Every
// resulting status change is an event. On error nothing changes.
func (e *Engine) Update(pools []Pool) error {
	e.updateMu.Lock()
	defer e.updateMu.Unlock()

	plans := make([]plan, 0, countMembers(pools))
	seen := make(map[string]bool, cap(plans))
	for pi, p := range pools {
		for _, c := range p.Members {
			if c.ID == "" {
				return fmt.Errorf("pool %q: member %s has no ID", p.Name, c.label())
			}
			if seen[c.ID] {
				return fmt.Errorf("pool %q: member ID %s is used twice", p.Name, c.ID)
			}
			seen[c.ID] = true
			pl := plan{cfg: c, pool: pi}
			switch {
			case !p.AdminStateUp:
				pl.reason = "pool admin_state_up is false"
			case !c.AdminStateUp:
				pl.reason = "admin_state_up is false"
			case p.Monitor == nil:
				pl.reason = "pool has no health monitor"
			case !p.Monitor.AdminStateUp:
				pl.reason = "health monitor admin_state_up is false"
			default:
				pl.mon = p.Monitor
				pl.target = p.Monitor.Target(c.Address, c.ProtocolPort, c.MonitorAddress, c.MonitorPort)
			}
			if c.Weight == 0 && pl.reason == "" {
				pl.reason = "weight is 0"
			}
			if pl.mon != nil {
				if old := e.byID[c.ID]; old != nil && old.mon != nil && old.target == pl.target && old.mon.SameCheck(pl.mon) {
					pl.keep, pl.prober = old, old.prober
				} else {
					pr, err := e.newProber(pl.mon.Kind(), pl.mon.Spec(pl.target))
					if err != nil {
						return fmt.Errorf("pool %q: member %s: %w", p.Name, c.label(), err)
					}
					pl.prober = pr
					if pl.reason == "" {
						pl.reason = "not yet checked"
					}
				}
			}
			plans = append(plans, pl)
		}
	}

	e.mu.Lock()
	now := time.Now()
	var changes []Event
	var poolChanges []poolChange
	var discarded []probe.Prober
	newPools := make([]*poolState, len(pools))
	fresh := make([]bool, len(pools))
	for i, p := range pools {
		cfg := p
		cfg.Members = nil
		newPools[i] = &poolState{cfg: cfg}
		if old := e.poolByID(p.ID); old != nil {
			newPools[i].status, newPools[i].duration = old.status, old.duration
		} else {
			fresh[i] = true
		}
	}
	// Members that are gone.
	for id, m := range e.byID {
		if seen[id] {
			continue
		}
		m.removed = true
		m.gen++
		e.due.remove(m)
		if m.prober != nil {
			discarded = append(discarded, m.prober)
		}
		delete(e.byID, id)
		if m.status != health.Offline {
			changes = append(changes, Event{
				PoolID: m.pool.cfg.ID, Pool: m.pool.cfg.Name, MemberID: m.cfg.ID, Member: m.label,
				Address: m.cfg.Address, ProtocolPort: m.cfg.ProtocolPort, Old: m.status, New: health.Offline,
				Reason: "removed from the configuration", Checks: m.checks, Time: now,
			})
		}
	}
	members := make([]*member, len(plans))
	for i, pl := range plans {
		ps := newPools[pl.pool]
		m := e.byID[pl.cfg.ID]
		if m == nil {
			m = &member{idx: -1, status: health.Offline, since: now}
			e.byID[pl.cfg.ID] = m
		}
		members[i] = m
		wasChecked := m.mon != nil
		m.cfg, m.label, m.pool = pl.cfg, pl.cfg.label(), ps
		ps.members = append(ps.members, m)
		ps.counts.Add(m.status)
		switch {
		case pl.mon == nil:
			if wasChecked {
				m.gen++
				discarded = append(discarded, m.prober)
			}
			m.mon, m.target, m.prober, m.tracker = nil, "", nil, nil
			m.checks, m.lastErr = 0, nil
			e.due.remove(m)
		case pl.keep != nil:
			oldDelay := m.mon.Delay
			m.mon = pl.mon
			m.tracker.SetThresholds(pl.mon.MaxRetries, pl.mon.MaxRetriesDown)
			if m.idx >= 0 && m.checks > 0 && pl.mon.Delay != oldDelay {
				e.due.schedule(m, nextStart(m.started, now, pl.mon.Delay))
			}
		default:
			if wasChecked {
				m.gen++
				discarded = append(discarded, m.prober)
			}
			m.mon, m.target, m.prober = pl.mon, pl.target, pl.prober
			m.tracker, _ = health.NewTracker(pl.mon.MaxRetries, pl.mon.MaxRetriesDown)
			m.checks, m.lastErr = 0, nil
			at := now.Add(e.firstJitter(pl.mon))
			if m.running {
				m.next = at // finish queues it once the old check ends
			} else {
				e.due.schedule(m, at)
			}
		}
	}
	before := make([]health.OperatingStatus, len(newPools))
	for i, ps := range newPools {
		if fresh[i] {
			ps.status = ps.counts.PoolStatus(ps.cfg.AdminStateUp)
		}
		before[i] = ps.status
	}
	e.pools = newPools
	for i, pl := range plans {
		reason := pl.reason
		if reason == "" {
			reason = "configuration changed"
		}
		ev, _ := e.setStatus(members[i], reason, now)
		if ev.Old != ev.New {
			changes = append(changes, ev)
		}
	}
	// Pool statuses follow from their members'; a new pool has no old
	// status to change from.
	for i, ps := range newPools {
		s := ps.counts.PoolStatus(ps.cfg.AdminStateUp)
		if s != before[i] && !fresh[i] {
			poolChanges = append(poolChanges, poolChange{name: ps.cfg.Name, old: before[i], new: s})
		}
		ps.status = s
	}
	e.updated = now
	subs := e.subs
	e.mu.Unlock()

	for _, ev := range changes {
		e.publish(ev, poolChange{}, subs)
	}
	for _, pc := range poolChanges {
		e.publish(Event{}, pc, nil)
	}
	// A check still running with a discarded prober ends normally; Close
	// does not wait for it.
	for _, p := range discarded {
		probe.Close(p)
	}
	e.poke()
	return nil
}

func countMembers(pools []Pool) int {
	n := 0
	for _, p := range pools {
		n += len(p.Members)
	}
	return n
}

// poolByID returns the current pool with the given ID, or nil. Caller
// holds mu.
func (e *Engine) poolByID(id string) *poolState {
	for _, p := range e.pools {
		if p.cfg.ID == id {
			return p
		}
	}
	return nil
}
