package health

import (
	"testing"
	"time"
	"unsafe"
)

func TestHistoryKeepsEveryCheckInOrder(t *testing.T) {
	var h History
	if h.Len() != 0 || len(h.Entries()) != 0 {
		t.Fatalf("zero History holds %d entries", h.Len())
	}
	base := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	outcomes := []Outcome{OutcomePass, OutcomeWarn, OutcomeFail, OutcomeCheckerError}
	const n = HistoryLen + 7 // wraps around
	for i := range n {
		h.Add(outcomes[i%len(outcomes)], base.Add(time.Duration(i)*time.Second+time.Duration(i)*time.Millisecond), time.Duration(i)*time.Millisecond+150*time.Microsecond)
	}
	if h.Len() != HistoryLen || h.Total() != n {
		t.Fatalf("Len %d Total %d, want %d and %d", h.Len(), h.Total(), HistoryLen, n)
	}
	got := h.Entries()
	for j, e := range got {
		i := n - HistoryLen + j
		want := HistoryEntry{
			Outcome: outcomes[i%len(outcomes)],
			Start:   base.Add(time.Duration(i)*time.Second + time.Duration(i)*time.Millisecond),
			Latency: time.Duration(i)*time.Millisecond + 100*time.Microsecond, // to 100 µs
		}
		if e.Outcome != want.Outcome || !e.Start.Equal(want.Start) || e.Latency != want.Latency {
			t.Errorf("entry %d = %v %s %s, want check %d: %v %s %s", j, e.Outcome, e.Start, e.Latency, i, want.Outcome, want.Start, want.Latency)
		}
	}
}

func TestHistoryClamps(t *testing.T) {
	var h History
	h.Add(OutcomeFail, time.Time{}, -time.Second)
	h.Add(OutcomePass, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour)
	e := h.Entries()
	if !e[0].Start.Equal(time.UnixMilli(0)) || e[0].Latency != 0 || e[0].Outcome != OutcomeFail {
		t.Errorf("zero time, negative latency: %+v", e[0])
	}
	if e[1].Latency < 100*time.Second || e[1].Latency > 105*time.Second || e[1].Outcome != OutcomePass {
		t.Errorf("an hour's latency saturates at about 105 s: %+v", e[1])
	}
}

// TestHistorySize: 10,000 members each keep one; it stays a few bytes a
// check.
func TestHistorySize(t *testing.T) {
	if got, want := unsafe.Sizeof(History{}), uintptr(HistoryLen*8+8); got != want {
		t.Errorf("History is %d bytes, want %d", got, want)
	}
}
