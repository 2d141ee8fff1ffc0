package soak

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// errorsTB records Errorf calls instead of failing, so that a test can
// show that judge finds what it must.
type errorsTB struct {
	testing.TB
	msgs []string
}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
}

// TestJudgeFindsViolations feeds judge a made-up run with one violation of
// each kind, and one harmless case of each, and wants exactly the
// violations counted: the soak cannot pass by judging nothing.
func TestJudgeFindsViolations(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tr := func(d time.Duration, member, old, st string) transition {
		return transition{at: at(d), member: member, old: old, newStatus: st}
	}
	tl := &timeline{byMember: map[string][]transition{
		// pg1: hung at 10s, ERROR at 12s (in time), back at 20s.
		"pg1": {tr(0, "pg1", "OFFLINE", "ONLINE"), tr(12*time.Second, "pg1", "ONLINE", "ERROR"), tr(21*time.Second, "pg1", "ERROR", "ONLINE")},
		// pg2: hung at 30s, ERROR only at 40s: a false ONLINE.
		"pg2": {tr(0, "pg2", "OFFLINE", "ONLINE"), tr(40*time.Second, "pg2", "ONLINE", "ERROR"), tr(45*time.Second, "pg2", "ERROR", "ONLINE")},
	}}
	truthRun := &truth{}
	truthRun.add(window{member: "pg1", kind: "hang", start: at(10 * time.Second), end: at(20 * time.Second), checkFrom: at(10 * time.Second)})
	truthRun.add(window{member: "pg2", kind: "hang", start: at(30 * time.Second), end: at(44 * time.Second), checkFrom: at(30 * time.Second)})
	dbs := []*db{{name: "pg1", pool: "pg", port: 1001}, {name: "pg2", pool: "pg", port: 1002}}
	lb := &lbProc{portOfMbr: map[int]string{1001: "pg1", 1002: "pg2"}}
	rec := &recorder{}
	ok := func(from, to time.Duration, port int) {
		rec.add(session{pool: "pg", start: at(from), end: at(to), port: port})
	}
	fail := func(from, to time.Duration) {
		rec.add(session{pool: "pg", start: at(from), end: at(to), err: errors.New("boom")})
	}
	ok(5*time.Second, 5*time.Second+10*time.Millisecond, 1001)                         // fine
	ok(15*time.Second, 15*time.Second+10*time.Millisecond, 1001)                       // to ERROR pg1: violation
	ok(12*time.Second+100*time.Millisecond, 12*time.Second+200*time.Millisecond, 1001) // within startSlack: a race, not counted
	ok(20*time.Second+500*time.Millisecond, 21*time.Second+500*time.Millisecond, 1001) // the member came back during the session: not counted
	fail(11*time.Second, 11*time.Second+time.Millisecond)                              // overlaps pg1's hang: excused
	fail(60*time.Second, 60*time.Second+time.Millisecond)                              // every database healthy: violation

	e := &errorsTB{TB: t}
	v := judge(e, rec, tl, truthRun, dbs, lb)
	if v.toError != 1 || v.failedHealthy != 1 || v.excused != 1 || v.falseOnline != 1 || v.toOffline != 0 {
		t.Errorf("judge counted to_error=%d failed_healthy=%d excused=%d false_online=%d to_offline=%d; want 1 1 1 1 0\n%v",
			v.toError, v.failedHealthy, v.excused, v.falseOnline, v.toOffline, e.msgs)
	}
	if v.detectMax != 10*time.Second {
		t.Errorf("slowest detection %s; want 10s (pg2)", v.detectMax)
	}
	if len(e.msgs) != 3 {
		t.Errorf("%d failure messages, want 3:\n%v", len(e.msgs), e.msgs)
	}
}
