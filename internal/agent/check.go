package agent

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"vitals/internal/health"
	"vitals/internal/probe"
)

// check runs one configured check in the background and caches what it
// found. Readers never wait for a run: they load the latest snapshot.
type check struct {
	cfg    CheckConfig
	prober probe.Prober
	// onTransition, when set, is called after the tracker changes state.
	onTransition func(c *check, old, new health.State, r probe.Result)
	// onResult, when set, is called after every recorded run.
	onResult func(name string, r probe.Result)
	// onCheckerError, when set, is called after every run that was a
	// checker error (probe.Result.IsCheckerError), which record keeps out
	// of the check's result and state.
	onCheckerError func(name string, r probe.Result)
	// cancel stops the run loop started by the agent; set under the
	// agent's lock before the loop starts.
	cancel context.CancelFunc
	// first is closed once the first run is recorded, a result or a
	// checker error (see Agent.awaitFirstRound).
	first     chan struct{}
	firstOnce sync.Once

	// mu serialises writers to tracker (the run loop, or --once) and
	// guards history; readers of the latest run only load snap.
	mu      sync.Mutex
	tracker *health.Tracker
	history health.History // every recent run, checker errors included
	snap    atomic.Pointer[snapshot]
}

// snapshot is an immutable view of a check after its latest run.
type snapshot struct {
	Result probe.Result // the latest run
	State  health.State // after the latest run, with hysteresis
	Since  time.Time    // when State was entered
	Runs   uint64       // number of runs so far
	Passes int          // consecutive passes (warns count as passes)
	Fails  int          // consecutive failures
	// Progress is how far the check is toward its next change of state.
	Progress health.Progress
	// CheckerErrors counts the runs that were checker errors, which Runs,
	// Result, State, Passes and Fails leave out; LastErr is the latest run
	// when it was one, zero once a run completes again.
	CheckerErrors uint64
	LastErr       probe.Result
	// DB is the replication state (mysql, postgres) of the latest run that
	// read it: that of Result, or while the check is still up within its
	// fall hysteresis, that of an earlier run. Nil otherwise.
	DB *probe.DBState
}

func newCheck(cfg CheckConfig) (*check, error) {
	p, err := probe.New(cfg.Type, cfg.Spec)
	if err != nil {
		return nil, err
	}
	return newCheckWith(cfg, p)
}

// newCheckWith builds a check of cfg that runs p.
func newCheckWith(cfg CheckConfig, p probe.Prober) (*check, error) {
	tr, err := health.NewTracker(cfg.Rise, cfg.Fall)
	if err != nil {
		return nil, err
	}
	c := &check{cfg: cfg, prober: p, tracker: tr, first: make(chan struct{})}
	c.snap.Store(&snapshot{})
	return c, nil
}

// run probes every interval, start to start, until ctx ends. With spread,
// the first run comes after a random jitter within min(interval, 1s), so
// that checks added together by a reload do not all fire at once; without
// it, at once (the agent's first round, which its listener waits for).
// Runs never overlap: a run that ends late pushes the next one back rather
// than piling up.
func (c *check) run(ctx context.Context, spread bool) {
	var jitter time.Duration
	if spread {
		jitter = time.Duration(rand.Int64N(int64(min(c.cfg.Interval, time.Second))))
	}
	next := time.Now().Add(jitter)
	timer := time.NewTimer(jitter)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r := c.prober.Probe(ctx)
		if ctx.Err() != nil {
			return // shutting down: a canceled run says nothing of the target
		}
		c.record(r)
		next = next.Add(c.cfg.Interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		timer.Reset(time.Until(next))
	}
}

// stop ends the run loop, if one was started. The loop closes the prober
// when it returns.
func (c *check) stop() {
	if c.cancel != nil {
		c.cancel()
	}
}

// close releases what the prober holds between runs (a reused database
// connection), if anything.
func (c *check) close() {
	if cl, ok := c.prober.(io.Closer); ok {
		_ = cl.Close()
	}
}

// runOnce runs the check once and records it (for --once and tests).
func (c *check) runOnce(ctx context.Context) probe.Result {
	r := c.prober.Probe(ctx)
	c.record(r)
	return r
}

// record feeds a result to the tracker and publishes a new snapshot. A
// checker error, a run that could not even be attempted for a reason of
// the agent's own (out of descriptors, say), says nothing of the target:
// the check keeps its result and state, and the error is only counted.
func (c *check) record(r probe.Result) {
	c.mu.Lock()
	c.history.Add(r.Outcome(), r.Start, r.Latency)
	old := c.snap.Load()
	if r.IsCheckerError() {
		s := *old
		s.CheckerErrors++
		s.LastErr = r
		c.snap.Store(&s)
		c.mu.Unlock()
		c.firstOnce.Do(func() { close(c.first) })
		if c.onCheckerError != nil {
			c.onCheckerError(c.cfg.Name, r)
		}
		return
	}
	changed := c.tracker.Observe(r.Status != probe.Fail)
	passes, fails := c.tracker.Counts()
	s := &snapshot{Result: r, State: c.tracker.State(), Since: old.Since, Runs: old.Runs + 1, Passes: passes, Fails: fails,
		Progress: c.tracker.Progress(), CheckerErrors: old.CheckerErrors, DB: r.DB}
	if s.DB == nil && s.State == health.Up {
		s.DB = old.DB
	}
	if changed {
		s.Since = r.Start.Add(r.Latency)
	}
	c.snap.Store(s)
	c.mu.Unlock()
	c.firstOnce.Do(func() { close(c.first) })
	if c.onResult != nil {
		c.onResult(c.cfg.Name, r)
	}
	if changed && c.onTransition != nil {
		c.onTransition(c, old.State, s.State, r)
	}
}

// historyEntries returns the recent runs, oldest first.
func (c *check) historyEntries() []health.HistoryEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.history.Entries()
}

// View is what an endpoint reports for one check at one moment.
type View struct {
	Name     string
	Type     string
	Critical bool
	Status   probe.Status  // after hysteresis and staleness
	Reason   string        // why, in one line
	Latency  time.Duration // of the latest run
	Time     time.Time     // when the latest run started; zero before the first
	Since    time.Time     // when the check entered its current state
	// LastCheckerError is the latest run when it was a checker error,
	// which Status and Reason leave out; zero otherwise.
	LastCheckerError probe.Result
	// DB is the replication state of a mysql or postgres check (see
	// snapshot.DB); nil before the first run, when stale, and for other
	// kinds.
	DB *probe.DBState
	// Progress is how far the check is toward its next change of state;
	// zero before the first run.
	Progress health.Progress
}

// view judges the cached snapshot at time now.
func (c *check) view(now time.Time) View {
	s := c.snap.Load()
	v := View{
		Name: c.cfg.Name, Type: c.cfg.Type, Critical: c.cfg.IsCritical(),
		Latency: s.Result.Latency, Time: s.Result.Start, Since: s.Since,
		Reason: s.Result.Reason, LastCheckerError: s.LastErr, DB: s.DB, Progress: s.Progress,
	}
	// A result is as fresh as the latest run: a checker error keeps it
	// standing, since the check still runs and only could not reach the
	// target for a reason of the agent's own.
	end := s.Result.Start.Add(s.Result.Latency)
	if e := s.LastErr; !e.Start.IsZero() {
		end = e.Start.Add(e.Latency)
	}
	switch {
	case s.Runs == 0 && !s.LastErr.Start.IsZero():
		v.Status, v.Reason, v.DB = probe.Fail, "not yet checked: "+s.LastErr.Reason, nil
	case s.Runs == 0:
		v.Status, v.Reason, v.DB = probe.Fail, "not yet checked", nil
	case now.Sub(end) > c.cfg.MaxAge:
		age := now.Sub(end).Round(time.Millisecond)
		v.Status, v.Reason, v.DB = probe.Fail, fmt.Sprintf("stale: last result %s ago, max_age %s", age, c.cfg.MaxAge), nil
	case s.State == health.Down:
		v.Status = probe.Fail
		if s.Result.Status != probe.Fail {
			v.Reason = fmt.Sprintf("recovering (%d of %d passes): %s", s.Passes, c.cfg.Rise, s.Result.Reason)
		}
	case s.Result.Status == probe.Fail:
		// Up, but the latest run failed: still within the fall hysteresis.
		v.Status = probe.Pass
		v.Reason = fmt.Sprintf("failing (%d of %d failures): %s", s.Fails, c.cfg.Fall, s.Result.Reason)
	default:
		v.Status = s.Result.Status
	}
	return v
}
