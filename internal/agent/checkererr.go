package agent

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"vitals/internal/probe"
)

// checkerErrorLogEvery is how often, at most, the agent logs that checks
// could not run for a reason of its own: the first checker error is logged
// at once, those that follow within the interval are counted into the next
// line.
const checkerErrorLogEvery = 10 * time.Second

// checkerErrors counts the agent's checker errors, the runs that could not
// even be attempted for a reason of its own (probe.Result.IsCheckerError),
// and logs them at most once per checkerErrorLogEvery.
type checkerErrors struct {
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	counts   map[string]uint64 // by probe.LocalReason label, since start
	logAt    time.Time         // when one was last logged
	unlogged map[string]uint64 // since logAt, by label
}

func newCheckerErrors(log *slog.Logger, m *metrics) *checkerErrors {
	return &checkerErrors{log: log, metrics: m, counts: map[string]uint64{}, unlogged: map[string]uint64{}}
}

// note counts r, a checker error of the named check, and logs it unless
// one was logged less than checkerErrorLogEvery ago.
func (ce *checkerErrors) note(check string, r probe.Result) {
	ce.metrics.checkerError(r.CheckerError)
	now := time.Now()
	ce.mu.Lock()
	ce.counts[r.CheckerError]++
	ce.unlogged[r.CheckerError]++
	var unlogged map[string]uint64
	if ce.logAt.IsZero() || now.Sub(ce.logAt) >= checkerErrorLogEvery {
		unlogged, ce.unlogged, ce.logAt = ce.unlogged, map[string]uint64{}, now
	}
	ce.mu.Unlock()
	if unlogged == nil {
		return
	}
	var n uint64
	for _, c := range unlogged {
		n += c
	}
	ce.log.Warn("checks could not run for a local reason; they keep their previous result",
		"reason", strings.Join(slices.Sorted(maps.Keys(unlogged)), ","), "count", n,
		"check", check, "error", r.Reason)
}

// snapshot returns the counts by label since start.
func (ce *checkerErrors) snapshot() map[string]uint64 {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return maps.Clone(ce.counts)
}
