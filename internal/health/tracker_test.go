package health

import (
	"strings"
	"testing"
	"unsafe"
)

// run feeds a pattern such as "ppf" (p = pass, f = fail) and returns the
// state after each result as a string of U (up), D (down) and ? (unknown).
func run(t *testing.T, tr *Tracker, pattern string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range pattern {
		tr.Observe(c == 'p')
		b.WriteByte("?UD"[tr.State()])
	}
	return b.String()
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		results    string
		want       string
	}{
		{"first pass decides at once", 2, 3, "p", "U"},
		{"first failure decides at once", 2, 3, "f", "D"},
		{"exactly fall failures go down", 2, 3, "pfff", "UUUD"},
		{"fall-1 failures stay up", 2, 3, "pffp", "UUUU"},
		{"exactly rise passes come back", 2, 3, "fpp", "DDU"},
		{"rise-1 passes stay down", 3, 1, "fppf", "DDDD"},
		{"a pass resets the failure count", 2, 3, "pffpff", "UUUUUU"},
		{"a failure resets the pass count", 3, 2, "fppfpp", "DDDDDD"},
		{"after reset the full count is needed", 2, 3, "pffpfff", "UUUUUUD"},
		{"fall 1 rise 1 flips every time", 1, 1, "pfpf", "UDUD"},
		{"octavia defaults max_retries 3 down 3", 3, 3, "pfffppp", "UUUDDDU"},
		{"bounce within the hysteresis", 2, 2, "pfpfpf", "UUUUUU"},
		{"down then interleaved then up", 2, 2, "ffpfpp", "DDDDDU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTracker(tt.rise, tt.fall)
			if err != nil {
				t.Fatal(err)
			}
			if tr.State() != Unknown {
				t.Fatalf("new tracker is %s, want unknown", tr.State())
			}
			if got := run(t, tr, tt.results); got != tt.want {
				t.Errorf("rise %d fall %d results %s: states %s, want %s", tt.rise, tt.fall, tt.results, got, tt.want)
			}
		})
	}
}

// TestTrackerMatchesHAProxyCounter checks the two-counter tracker against
// HAProxy's single health counter (src/check.c semantics, REFERENCE.md) on
// every pattern of up to 10 results for small thresholds.
func TestTrackerMatchesHAProxyCounter(t *testing.T) {
	for rise := 1; rise <= 4; rise++ {
		for fall := 1; fall <= 4; fall++ {
			for n := 1; n <= 10; n++ {
				for bits := 0; bits < 1<<n; bits++ {
					tr, _ := NewTracker(rise, fall)
					var h haproxyCounter
					for i := range n {
						pass := bits&(1<<i) != 0
						tr.Observe(pass)
						h.observe(pass, rise, fall)
						if tr.State() != h.state {
							t.Fatalf("rise %d fall %d pattern %0*b step %d: tracker %s, haproxy %s", rise, fall, n, bits, i, tr.State(), h.state)
						}
					}
				}
			}
		}
	}
}

// haproxyCounter is HAProxy's health counter with our first-check rule: the
// counter runs from 0 to rise+fall-1 and the server is up when it is at
// least rise; a failure decrements it and falling below rise resets it to
// 0; a success increments it and reaching rise jumps to rise+fall-1.
type haproxyCounter struct {
	health int
	state  State
}

func (h *haproxyCounter) observe(pass bool, rise, fall int) {
	if h.state == Unknown {
		if pass {
			h.health, h.state = rise+fall-1, Up
		} else {
			h.health, h.state = 0, Down
		}
		return
	}
	if pass {
		h.health++
		if h.health >= rise {
			h.health, h.state = rise+fall-1, Up
		}
		return
	}
	if h.health > 0 {
		h.health--
	}
	if h.health < rise {
		h.health, h.state = 0, Down
	}
}

func TestTrackerChangedAndCounts(t *testing.T) {
	tr, _ := NewTracker(2, 2)
	if !tr.Observe(true) {
		t.Error("first result did not report a change")
	}
	if tr.Observe(false) {
		t.Error("one failure of two reported a change")
	}
	if p, f := tr.Counts(); p != 0 || f != 1 {
		t.Errorf("counts %d/%d, want 0/1", p, f)
	}
	if !tr.Observe(false) || tr.State() != Down {
		t.Errorf("second failure: state %s, want down with a change", tr.State())
	}
	if err := tr.SetThresholds(1, 1); err != nil || !tr.Observe(true) || tr.State() != Up {
		t.Errorf("after SetThresholds(1,1) one pass: state %s, err %v", tr.State(), err)
	}
}

func TestNewTrackerRejectsZero(t *testing.T) {
	for _, c := range [][2]int{{0, 1}, {1, 0}, {-1, 3}} {
		if _, err := NewTracker(c[0], c[1]); err == nil {
			t.Errorf("NewTracker(%d, %d) accepted", c[0], c[1])
		}
	}
}

// TestTrackerSize: a Tracker is 24 bytes (Go's 24-byte size class), one
// per checked member.
func TestTrackerSize(t *testing.T) {
	if n := unsafe.Sizeof(Tracker{}); n > 24 {
		t.Errorf("a Tracker is %d bytes, more than 24", n)
	}
}

// TestTrackerThresholdBounds: thresholds beyond what a Tracker holds are
// refused, not wrapped.
func TestTrackerThresholdBounds(t *testing.T) {
	if _, err := NewTracker(maxThreshold+1, 1); err == nil {
		t.Error("NewTracker took a rise beyond int32")
	}
	tr, err := NewTracker(maxThreshold, maxThreshold)
	if err != nil || tr.Rise() != maxThreshold || tr.Fall() != maxThreshold {
		t.Fatalf("NewTracker(max, max): %v, rise %d fall %d", err, tr.Rise(), tr.Fall())
	}
	if err := tr.SetThresholds(1, maxThreshold+1); err == nil || tr.Fall() != maxThreshold {
		t.Errorf("SetThresholds took a fall beyond int32 (err %v, fall %d)", err, tr.Fall())
	}
}
