package health

import "time"

// Outcome is one check's result as a History keeps it.
type Outcome uint8

// The outcomes a History records.
const (
	OutcomePass         Outcome = iota // the check passed
	OutcomeWarn                        // passed with a warning
	OutcomeFail                        // the check failed
	OutcomeCheckerError                // could not run for a reason of the checker's own
)

// String returns "pass", "warn", "fail" or "checker error".
func (o Outcome) String() string {
	switch o {
	case OutcomePass:
		return "pass"
	case OutcomeWarn:
		return "warn"
	case OutcomeFail:
		return "fail"
	}
	return "checker error"
}

// HistoryLen is how many checks a History keeps.
const HistoryLen = 32

// History is a ring of the latest HistoryLen checks of one target, fed
// one check at a time by whoever runs them, so that it holds every check
// and not a sample. It is fixed in size (HistoryLen×8+8 bytes, nothing
// allocated after it): each check is packed into 8 bytes, its outcome (2
// bits), its latency in units of historyTick (saturating at about 105 s)
// and its start time in Unix milliseconds (until the year 2109). The zero
// History is empty and ready. A History is not safe for concurrent use.
type History struct {
	ring [HistoryLen]uint64
	n    uint64 // checks recorded, ever
}

// HistoryEntry is one check a History kept.
type HistoryEntry struct {
	Outcome Outcome
	// Start is when the check started, to the millisecond.
	Start time.Time
	// Latency is how long it took, to 100 µs.
	Latency time.Duration
}

const (
	historyTick       = 100 * time.Microsecond
	historyOutcome    = 2  // bits
	historyLatency    = 20 // bits
	historyLatencyMax = 1<<historyLatency - 1
	historyTimeShift  = historyOutcome + historyLatency
	historyTimeMax    = 1<<(64-historyTimeShift) - 1
)

// Add records one check: its outcome, when it started and how long it
// took. The oldest check drops out once HistoryLen are kept.
func (h *History) Add(o Outcome, start time.Time, latency time.Duration) {
	lat := min(max(latency/historyTick, 0), historyLatencyMax)
	ms := min(max(start.UnixMilli(), 0), historyTimeMax)
	h.ring[h.n%HistoryLen] = uint64(ms)<<historyTimeShift | uint64(lat)<<historyOutcome | uint64(o&3)
	h.n++
}

// Len returns how many checks the history holds, at most HistoryLen.
func (h *History) Len() int { return int(min(h.n, HistoryLen)) }

// Total returns how many checks were ever added.
func (h *History) Total() uint64 { return h.n }

// Entries returns the checks kept, oldest first.
func (h *History) Entries() []HistoryEntry {
	n := h.Len()
	out := make([]HistoryEntry, n)
	first := h.n - uint64(n)
	for i := range out {
		v := h.ring[(first+uint64(i))%HistoryLen]
		out[i] = HistoryEntry{
			Outcome: Outcome(v & 3),
			Latency: time.Duration(v>>historyOutcome&historyLatencyMax) * historyTick,
			Start:   time.UnixMilli(int64(v >> historyTimeShift)),
		}
	}
	return out
}
