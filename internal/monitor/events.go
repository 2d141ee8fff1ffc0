package monitor

import (
	"time"

	"vitals/internal/health"
	"vitals/internal/probe"
)

// Event is one member's operating status changing.
type Event struct {
	// PoolID and Pool identify the member's pool (ID and name).
	PoolID, Pool string
	// MemberID identifies the member; Member is its name, or
	// "address:protocol_port" when it has none.
	MemberID, Member string
	// Address and ProtocolPort are where the member serves traffic.
	Address      string
	ProtocolPort int
	// Old and New are the statuses before and after.
	Old, New health.OperatingStatus
	// Reason says why in one line: the check's reason, or the
	// configuration change (e.g. "admin_state_up is false").
	Reason string
	// Result is the check that caused the change; zero when a
	// configuration change caused it.
	Result probe.Result
	// Checks is the number of checks the member had completed, this one
	// included, since its check last (re)started: the first check is 1.
	Checks uint64
	// Time is when the change happened.
	Time time.Time
}

// Subscriber is told of every member status change: the narrow seam
// through which the data plane, metrics and the API learn of health. The
// data plane sends new connections only to members whose New status is
// Usable.
//
// MemberChanged is called synchronously, after the engine's lock is
// released: from the goroutine of the check that caused the change, before
// that member's next check is scheduled (so a member's check-caused events
// arrive in order), or from Update. It must be quick; hand slow work to
// another goroutine. (The goroutine of a tcp or http check is usually
// Run's, which runs all of them: a slow subscriber delays every check.) Calls for different members may be concurrent, and an
// Update's events may interleave with those of checks finishing at the
// same moment: Event.Time and Event.New are what to act on.
type Subscriber interface {
	MemberChanged(Event)
}

// SubscriberFunc adapts a function to Subscriber.
type SubscriberFunc func(Event)

// MemberChanged calls f(e).
func (f SubscriberFunc) MemberChanged(e Event) { f(e) }

// CheckDone describes one finished check, for Options.OnCheck.
type CheckDone struct {
	PoolID, MemberID, Member string
	// Target is where the check went (monitor_address:monitor_port, or
	// address:protocol_port).
	Target string
	// Check is the member's check number, from 1.
	Check  uint64
	Result probe.Result
	// Status is the member's status after this check.
	Status health.OperatingStatus
}
