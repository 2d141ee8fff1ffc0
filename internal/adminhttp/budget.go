package adminhttp

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Descriptor reserves: what the budget keeps back from the data plane.
const (
	// BaseReserve is for the process itself: standard streams, epoll,
	// listeners, log and state files, DNS lookups and the runtime.
	BaseReserve = 64
	// CheckMargin is added to the health checks that can run at once.
	CheckMargin = 16
	// AdminMargin is added to each admin or health listener's cap: the
	// connection accepted only to be closed over the cap, and the
	// listener itself.
	AdminMargin = 4
	// DefaultMaxConns caps the connections an admin or health listener
	// holds at once when descriptors are plentiful (see ConnCap).
	DefaultMaxConns = 256
	// minConns is the least cap ConnCap gives, however low the limit.
	minConns = 8
	// refusedLogEvery is the least time between two "refusing" log lines.
	refusedLogEvery = time.Second
)

// ConnCap is the connection cap of one admin or health listener under a
// descriptor limit: DefaultMaxConns, or an eighth of the limit when that
// is less, but never under 8.
func ConnCap(limit int) int {
	return max(min(DefaultMaxConns, limit/8), minConns)
}

// ShareCap is the connection cap of each of n listeners that share what
// limit leaves after reserve, at most ConnCap(limit) and never under 8:
// for a process, such as the agent, whose only connections besides its
// checks are its admin and health ports.
func ShareCap(limit, reserve, n int) int {
	return max(min(ConnCap(limit), (limit-reserve)/max(n, 1)-AdminMargin), minConns)
}

// Budget counts the data plane's client sessions against the descriptors
// left after the reserve: each session costs perSession descriptors (2
// for a proxied TCP session: client and member). When none is left a new
// client connection is refused, so that health checks and the admin
// endpoint never run out. A nil *Budget allows everything. It is safe for
// concurrent use.
type Budget struct {
	limit      int
	perSession int
	log        *slog.Logger

	reserve atomic.Int64 // descriptors kept back; Resize changes it
	max     atomic.Int64 // sessions allowed; Resize changes it
	used    atomic.Int64 // sessions held
	refused atomic.Int64 // refused since the last log line
	lastLog atomic.Int64 // time of the last log line, Unix nanoseconds
	pending atomic.Bool  // a flush of the refusals not yet logged is scheduled
}

// NewBudget returns the budget of a process whose RLIMIT_NOFILE is limit
// (see RaiseNoFile), keeping reserve descriptors back; perSession below 1
// counts as 1. It logs refusals to log (nil: discarded).
func NewBudget(limit, reserve, perSession int, log *slog.Logger) *Budget {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Budget{limit: limit, perSession: max(perSession, 1), log: log}
	b.Resize(reserve)
	return b
}

// Resize sets a new reserve, as after a reload that changed the number of
// members or listeners. Sessions held over the new maximum stay; new ones
// wait until enough have ended.
func (b *Budget) Resize(reserve int) {
	b.reserve.Store(int64(reserve))
	b.max.Store(int64(max(b.limit-reserve, 0) / b.perSession))
}

// Reserve is the number of descriptors kept back from sessions.
func (b *Budget) Reserve() int { return int(b.reserve.Load()) }

// Limit is the descriptor limit the budget splits.
func (b *Budget) Limit() int { return b.limit }

// Max is the number of sessions allowed at once.
func (b *Budget) Max() int { return int(b.max.Load()) }

// Used is the number of sessions held now.
func (b *Budget) Used() int { return int(b.used.Load()) }

// Acquire takes one session's descriptors and reports whether there were
// enough; only after true must the caller Release.
func (b *Budget) Acquire() bool {
	if b == nil {
		return true
	}
	if b.used.Add(1) > b.max.Load() {
		b.used.Add(-1)
		return false
	}
	return true
}

// Release gives back what one successful Acquire took.
func (b *Budget) Release() {
	if b != nil {
		b.used.Add(-1)
	}
}

// Refused records one connection refused for want of descriptors and logs
// at most once a second, with the count refused since the line before.
// The first refusal is logged at once; refusals within the second after a
// line are logged by a timer at the end of that second, so none goes
// unreported when a burst stops.
func (b *Budget) Refused(listener string) {
	if b == nil {
		return
	}
	b.refused.Add(1)
	now := time.Now().UnixNano()
	last := b.lastLog.Load()
	if wait := last + int64(refusedLogEvery) - now; wait > 0 {
		if b.pending.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				b.pending.Store(false)
				b.flush(listener, time.Now().UnixNano())
			})
		}
		return
	}
	if b.lastLog.CompareAndSwap(last, now) {
		b.logRefused(listener)
	}
}

// flush logs the refusals not yet logged, if any.
func (b *Budget) flush(listener string, now int64) {
	if b.refused.Load() > 0 {
		b.lastLog.Store(now)
		b.logRefused(listener)
	}
}

func (b *Budget) logRefused(listener string) {
	n := b.refused.Swap(0)
	if n == 0 {
		return
	}
	b.log.Warn("descriptor budget reached: refusing new client connections",
		"listener", listener, "refused", n, "sessions", b.Used(), "max_sessions", b.Max(), "nofile", b.limit)
}
