package lb

import (
	"log/slog"
	"sync"
	"time"
)

// rejectLogEvery is the least time between two log lines about refused
// connections of one listener.
const rejectLogEvery = time.Second

// rejectLog logs the client connections a listener refuses (over
// connection_limit, or while the listener is disabled) at most once per
// rejectLogEvery, with how many were refused since the previous line: a
// flood is visible in the log without the log becoming the flood. The
// exact count is the over-limit metric. The zero value is ready to use.
//
// The accept loop (proxy.go) calls refused for every connection it closes:
//
//	if !lc.up || (lc.limit >= 0 && l.active.Load() >= lc.limit) {
//		lc.met.overLimit.Inc()
//		l.rejects.refused(l.srv.log, l.key, lc.limit, !lc.up, time.Now())
//		...
type rejectLog struct {
	mu      sync.Mutex
	last    time.Time // when the last line was logged; zero: never
	pending int64     // refused since then, not yet logged
}

// refused counts one refused connection and logs a WARN line when the
// previous one is at least rejectLogEvery old. It reports whether it
// logged.
func (r *rejectLog) refused(log *slog.Logger, listener string, limit int64, disabled bool, now time.Time) bool {
	r.mu.Lock()
	r.pending++
	if !r.last.IsZero() && now.Sub(r.last) < rejectLogEvery {
		r.mu.Unlock()
		return false
	}
	n := r.pending
	r.pending, r.last = 0, now
	r.mu.Unlock()
	if disabled {
		log.Warn("connections refused: the listener is disabled", "listener", listener, "refused", n)
	} else {
		log.Warn("connections refused over connection_limit", "listener", listener, "connection_limit", limit, "refused", n)
	}
	return true
}
