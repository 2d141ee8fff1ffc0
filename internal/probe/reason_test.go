package probe

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestJudgeKeepsObservationsPastTheDeadline: what a check observed of
// the target (a wrong reply, silence through the whole wait) is reported
// as observed even when the check returns after the deadline, as on a
// loaded machine; a failure without an observation past the deadline is
// a timeout.
func TestJudgeKeepsObservationsPastTheDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	if st, reason := judge(ctx, mismatch("no reply within %s", 300*time.Millisecond), 300*time.Millisecond); st != Fail || reason != "no reply within 300ms" {
		t.Errorf("mismatch past the deadline: %s %q", st, reason)
	}
	if st, reason := judge(ctx, step("read reply", errors.New("connection reset")), time.Second); st != Fail || reason != "timeout after 1s during read reply" {
		t.Errorf("step error past the deadline: %s %q", st, reason)
	}
	live, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if st, reason := judge(live, mismatch("HTTP %d not in %s", 500, "200"), time.Second); st != Fail || reason != "HTTP 500 not in 200" {
		t.Errorf("mismatch: %s %q", st, reason)
	}
}
