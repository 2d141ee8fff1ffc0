// Package health turns a stream of check results into a status.
//
// It knows nothing of sockets or clocks: a Tracker is a pure state machine
// with hysteresis, fed one outcome at a time by whoever runs the checks.
package health

import (
	"fmt"
	"math"
)

// State is what a tracker believes of its target.
type State uint8

// The states of a tracker.
const (
	Unknown State = iota // not yet checked: no traffic, no verdict
	Up                   // passing
	Down                 // failing
)

// String returns "unknown", "up" or "down".
func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// Tracker counts consecutive results with HAProxy's semantics, as
// ARCHITECTURE.md decides:
//
//   - The first result decides at once: a pass makes the target Up, a
//     failure makes it Down.
//   - After that, Fall consecutive failures turn an Up target Down, and Rise
//     consecutive passes turn a Down target Up.
//   - Every result resets the opposite counter, so an interleaving such as
//     fail, fail, pass never adds up to a fall.
//
// This is equivalent to HAProxy's single health counter running from 0 to
// rise+fall-1. The zero Tracker is not usable; make one with NewTracker.
// A Tracker is not safe for concurrent use.
//
// A Tracker is 24 bytes, one per checked member (10,000 in an lb): the
// consecutive passes and failures, of which at most one is non-zero, are
// one signed count, and the thresholds are int32s.
type Tracker struct {
	rise, fall int32
	// streak is the consecutive passes since the last failure when
	// positive, the consecutive failures since the last pass when
	// negative.
	streak int
	state  State
}

// maxThreshold bounds rise and fall, which a Tracker holds as int32s.
const maxThreshold = math.MaxInt32

// NewTracker returns a tracker in state Unknown. rise and fall must be at
// least 1.
func NewTracker(rise, fall int) (*Tracker, error) {
	if err := checkThresholds(rise, fall); err != nil {
		return nil, err
	}
	return &Tracker{rise: int32(rise), fall: int32(fall)}, nil
}

func checkThresholds(rise, fall int) error {
	if rise < 1 || fall < 1 {
		return fmt.Errorf("rise %d and fall %d must both be at least 1", rise, fall)
	}
	if rise > maxThreshold || fall > maxThreshold {
		return fmt.Errorf("rise %d and fall %d must both be at most %d", rise, fall, maxThreshold)
	}
	return nil
}

// Observe records one result and reports whether the state changed.
func (t *Tracker) Observe(pass bool) (changed bool) {
	old := t.state
	if pass {
		t.streak = max(t.streak, 0) + 1
	} else {
		t.streak = min(t.streak, 0) - 1
	}
	passes, fails := t.Counts()
	switch {
	case t.state == Unknown && pass:
		t.state = Up
	case t.state == Unknown:
		t.state = Down
	case t.state == Down && passes >= int(t.rise):
		t.state = Up
	case t.state == Up && fails >= int(t.fall):
		t.state = Down
	}
	return t.state != old
}

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// Counts returns the consecutive passes and failures seen most recently;
// at most one of them is non-zero.
func (t *Tracker) Counts() (passes, fails int) { return max(t.streak, 0), max(-t.streak, 0) }

// Rise and Fall return the thresholds the tracker was made with.
func (t *Tracker) Rise() int { return int(t.rise) }

// Fall returns the number of consecutive failures that turn Up into Down.
func (t *Tracker) Fall() int { return int(t.fall) }

// SetThresholds changes rise and fall, keeping the state and counters, as
// on a configuration reload. The new thresholds apply from the next result.
func (t *Tracker) SetThresholds(rise, fall int) error {
	if err := checkThresholds(rise, fall); err != nil {
		return err
	}
	t.rise, t.fall = int32(rise), int32(fall)
	return nil
}

// Progress is how far a tracker is toward its next change of state.
type Progress struct {
	// Toward is the state the target changes to once Count reaches Need:
	// Down for an Up target (counting failures), Up for a Down one
	// (counting passes). Unknown before the first result, which decides
	// at once; Count and Need are then 0.
	Toward      State
	Count, Need int
}

// String returns e.g. "2 of 3 failures" or "1 of 2 passes"; "" before the
// first result.
func (p Progress) String() string {
	what := "passes"
	switch {
	case p.Toward == Unknown:
		return ""
	case p.Toward == Down && p.Need == 1:
		what = "failure"
	case p.Toward == Down:
		what = "failures"
	case p.Need == 1:
		what = "pass"
	}
	return fmt.Sprintf("%d of %d %s", p.Count, p.Need, what)
}

// Progress returns how far the tracker is toward its next change of
// state, with the current thresholds.
func (t *Tracker) Progress() Progress {
	switch t.state {
	case Up:
		_, fails := t.Counts()
		return Progress{Toward: Down, Count: fails, Need: int(t.fall)}
	case Down:
		passes, _ := t.Counts()
		return Progress{Toward: Up, Count: passes, Need: int(t.rise)}
	}
	return Progress{}
}
