package monitor

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"vitals/internal/probe"
)

// CheckerErrorLogEvery is how often, at most, an engine logs that checks
// could not run for a reason of its own: the first checker error is logged
// at once, those that follow within the interval are counted into the next
// line.
const CheckerErrorLogEvery = 10 * time.Second

// checkerError records r, a check of m that could not even be attempted
// for a reason of the checker's own (probe.Result.IsCheckerError), such as
// running out of file descriptors. It says nothing of the member: the
// member keeps its status and its rise/fall counts, a member not yet
// checked stays so, and the check runs again at the next delay. The error
// is counted, by reason, and logged at most once per
// CheckerErrorLogEvery. Caller holds mu, which checkerError releases.
func (e *Engine) checkerError(ctx context.Context, m *member, r probe.Result, gen uint64) {
	m.checkerErrors++
	m.lastErr = &r
	m.history.Add(r.Outcome(), r.Start, r.Latency)
	e.checkerErrs[r.CheckerError]++
	e.errUnlogged[r.CheckerError]++
	now := time.Now()
	var unlogged map[string]uint64
	if e.errLogAt.IsZero() || now.Sub(e.errLogAt) >= CheckerErrorLogEvery {
		unlogged = e.errUnlogged
		e.errUnlogged = map[string]uint64{}
		e.errLogAt = now
	}
	var done CheckDone
	if e.onCheck != nil {
		done = CheckDone{PoolID: m.pool.cfg.ID, MemberID: m.cfg.ID, Member: m.label, Target: m.target, Check: m.checks, Result: r, Status: m.status}
	}
	pool, label := m.pool.cfg.Name, m.label
	e.mu.Unlock()

	if unlogged != nil {
		var n uint64
		for _, c := range unlogged {
			n += c
		}
		e.log.LogAttrs(ctx, slog.LevelWarn, "health checks could not run for a local reason; members keep their status",
			slog.String("reason", strings.Join(slices.Sorted(maps.Keys(unlogged)), ",")),
			slog.Uint64("count", n),
			slog.String("pool", pool), slog.String("member", label), slog.String("error", r.Reason))
	}
	if e.onCheck != nil {
		e.onCheck(done)
	}

	e.mu.Lock()
	e.finish(m, gen)
	e.mu.Unlock()
}

// CheckerErrors returns the checker errors counted since the engine
// started, by probe.LocalReason label.
func (e *Engine) CheckerErrors() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.checkerErrs)
}
