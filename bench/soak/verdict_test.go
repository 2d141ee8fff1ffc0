package soak

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// transition is one "member status changed" line of the lb's log.
type transition struct {
	at             time.Time
	pool, member   string
	old, newStatus string
}

// timeline is the lb's view of its members, from its log.
type timeline struct {
	byMember map[string][]transition // in log order, which is time order
	reloads  int                     // "configuration reloaded" lines
	failed   int                     // "reload failed" lines
}

// parseTimeline reads the lb's JSON log.
func parseTimeline(t *testing.T, log string) *timeline {
	tl := &timeline{byMember: map[string][]transition{}}
	for line := range strings.Lines(log) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		// Only the message first: other lines hold other types under the
		// same keys (old and new are booleans for admin changes).
		var e struct {
			Time   time.Time `json:"time"`
			Msg    string    `json:"msg"`
			Pool   string    `json:"pool"`
			Member string    `json:"member"`
			Old    any       `json:"old"`
			Status any       `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("lb log line is not JSON: %v: %s", err, line)
			continue
		}
		oldS, _ := e.Old.(string)
		newS, _ := e.Status.(string)
		switch e.Msg {
		case "member status changed":
			tl.byMember[e.Member] = append(tl.byMember[e.Member], transition{at: e.Time, pool: e.Pool, member: e.Member, old: oldS, newStatus: newS})
		case "configuration reloaded":
			tl.reloads++
		case "reload failed; the running configuration stays":
			tl.failed++
		}
	}
	return tl
}

// statusAt is member's status at time at, and when it took that status
// (the zero time: never changed before at, OFFLINE).
func (tl *timeline) statusAt(member string, at time.Time) (string, time.Time) {
	trs := tl.byMember[member]
	i, _ := slices.BinarySearchFunc(trs, at, func(tr transition, at time.Time) int { return tr.at.Compare(at) })
	// trs[i-1] is the last transition at or before at (ties: before).
	for i < len(trs) && !trs[i].at.After(at) {
		i++
	}
	if i == 0 {
		return "OFFLINE", time.Time{}
	}
	return trs[i-1].newStatus, trs[i-1].at
}

// changedWithin reports whether member's status changed in (from, to].
func (tl *timeline) changedWithin(member string, from, to time.Time) bool {
	for _, tr := range tl.byMember[member] {
		if tr.at.After(from) && !tr.at.After(to) {
			return true
		}
	}
	return false
}

// around lists member's transitions from 2 s before from to 2 s after
// to, for a failure message.
func (tl *timeline) around(member string, from, to time.Time) string {
	var b strings.Builder
	for _, tr := range tl.byMember[member] {
		if tr.at.After(from.Add(-2*time.Second)) && tr.at.Before(to.Add(2*time.Second)) {
			fmt.Fprintf(&b, " %s %s->%s", tr.at.Format(time.StampMilli), tr.old, tr.newStatus)
		}
	}
	return b.String()
}

// verdict holds the counts the soak asserts on.
type verdict struct {
	sessions, failed, excused, failedHealthy int
	toError, toOffline                       int // sessions that reached a member already ERROR / OFFLINE
	falseOnline                              int // windows in which a member stayed or came back ONLINE past the bound
	detectMax                                time.Duration
	p50, p99                                 time.Duration // of successful sessions
	perMember                                map[string]int
}

// judge compares the sessions and the lb's timeline with the truth.
func judge(t testing.TB, rec *recorder, tl *timeline, tr *truth, dbs []*db, lb *lbProc) verdict {
	v := verdict{perMember: map[string]int{}}
	poolOf := map[string]string{}
	for _, d := range dbs {
		poolOf[d.name] = d.pool
	}
	windows := tr.all()
	report := func(n *int, format string, args ...any) {
		*n++
		if *n <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, s := range rec.all() {
		v.sessions++
		if s.err != nil {
			v.failed++
			if excused(s, windows, poolOf) {
				v.excused++
				continue
			}
			var seen strings.Builder
			for _, d := range dbs {
				if d.pool == s.pool {
					st, since := tl.statusAt(d.name, s.start)
					fmt.Fprintf(&seen, " %s %s since %s;", d.name, st, since.Format(time.StampMilli))
				}
			}
			report(&v.failedHealthy, "session in pool %s failed while every member's database was healthy: %s .. %s: %v (lb's view at the start:%s)",
				s.pool, s.start.Format(time.StampMilli), s.end.Format(time.StampMilli), s.err, seen.String())
			continue
		}
		m, ok := lb.portOfMbr[s.port]
		if !ok {
			t.Errorf("a session in pool %s reported port %d, which is no member's", s.pool, s.port)
			continue
		}
		v.perMember[m]++
		// The lb picked the member somewhere between the client's connect
		// and its answer (under a flood the accept alone can take a
		// second), so only a member that was ERROR or OFFLINE for all of
		// that, and for startSlack before it, was surely picked in that
		// state.
		st, since := tl.statusAt(m, s.start.Add(-startSlack))
		if tl.changedWithin(m, s.start.Add(-startSlack), s.end) {
			continue
		}
		switch st {
		case "ERROR":
			report(&v.toError, "session from %s to %s reached %s, which the monitor had marked ERROR at %s and kept so; transitions:%s",
				s.start.Format(time.StampMilli), s.end.Format(time.StampMilli), m, since.Format(time.StampMilli), tl.around(m, since, s.end))
		case "OFFLINE":
			report(&v.toOffline, "session from %s to %s reached %s, which was OFFLINE (admin down or not yet checked) from %s on; transitions:%s",
				s.start.Format(time.StampMilli), s.end.Format(time.StampMilli), m, since.Format(time.StampMilli), tl.around(m, since, s.end))
		}
	}
	var took []time.Duration
	for _, s := range rec.all() {
		if s.err == nil {
			took = append(took, s.end.Sub(s.start))
		}
	}
	if len(took) > 0 {
		slices.Sort(took)
		v.p50 = took[len(took)/2].Round(100 * time.Microsecond)
		v.p99 = took[len(took)*99/100].Round(100 * time.Microsecond)
	}
	for _, w := range windows {
		detected, ok := detection(tl, w)
		if !ok {
			if w.end.Sub(w.checkFrom) > detectBound {
				report(&v.falseOnline, "%s of %s from %s to %s (%s): the member was ONLINE at its end, past the detection bound %s",
					w.kind, w.member, w.checkFrom.Format(time.StampMilli), w.end.Format(time.StampMilli), w.end.Sub(w.checkFrom).Round(time.Millisecond), detectBound)
			}
			continue
		}
		lat := detected.Sub(w.checkFrom)
		v.detectMax = max(v.detectMax, lat)
		if lat > detectBound {
			report(&v.falseOnline, "%s of %s from %s: ONLINE until %s, %s later; the detection bound is %s",
				w.kind, w.member, w.checkFrom.Format(time.StampMilli), detected.Format(time.StampMilli), lat.Round(time.Millisecond), detectBound)
		}
	}
	return v
}

// detection returns when member w.member stopped being ONLINE for good
// within the window (from checkFrom to end), and false if it was ONLINE
// at the window's end.
func detection(tl *timeline, w window) (time.Time, bool) {
	st, _ := tl.statusAt(w.member, w.checkFrom)
	var at time.Time
	found := st != "ONLINE"
	if found {
		at = w.checkFrom
	}
	for _, tr := range tl.byMember[w.member] {
		if !tr.at.After(w.checkFrom) || tr.at.After(w.end) {
			continue
		}
		switch {
		case tr.newStatus == "ONLINE":
			found = false
		case !found:
			found, at = true, tr.at
		}
	}
	return at, found
}

// excused reports whether a failed session overlapped a window in which a
// member of its pool was hung or dead, widened by a second before (the
// pause or kill takes a moment) and by the detection bound after (the
// member comes back through the monitor). Such a failure cannot be told
// from one to the sick member, since a failed session cannot say where it
// went.
func excused(s session, windows []window, poolOf map[string]string) bool {
	for _, w := range windows {
		if poolOf[w.member] != s.pool {
			continue
		}
		from, to := w.start.Add(-time.Second), w.end.Add(detectBound)
		if s.start.Before(to) && s.end.After(from) {
			return true
		}
	}
	return false
}

// checkMinimums fails the test when the soak did too little to mean
// anything.
func checkMinimums(t *testing.T, rec *recorder, tr *truth, flaps int, st *floodStats, reloads int64, total time.Duration, tl *timeline, v verdict, dbs []*db) {
	perPool := map[string]int{}
	for _, s := range rec.all() {
		if s.err == nil {
			perPool[s.pool]++
		}
	}
	minSessions := int(total.Minutes() * 60)
	for _, pool := range []string{"pg", "my"} {
		if perPool[pool] < minSessions {
			t.Errorf("pool %s: %d successful sessions in %s; want at least %d", pool, perPool[pool], total, minSessions)
		}
	}
	for _, d := range dbs {
		if v.perMember[d.name] == 0 {
			t.Errorf("member %s served no session", d.name)
		}
	}
	if tr.count("hang") < 1 || tr.count("kill") < 1 || flaps < 1 {
		t.Errorf("chaos too thin: %d hangs, %d kills, %d flaps; want at least one of each", tr.count("hang"), tr.count("kill"), flaps)
	}
	if want := int64(total/reloadEvery) - 1; reloads < want {
		t.Errorf("%d reloads sent in %s; want at least %d", reloads, total, want)
	}
	if int64(tl.reloads) < reloads-1 || tl.failed > 0 {
		t.Errorf("lb log: %d reloads applied, %d failed, of %d SIGHUPs", tl.reloads, tl.failed, reloads)
	}
	rounds := st.rounds.Load()
	if rounds < 1 {
		t.Errorf("no flood ran")
	}
	for _, c := range []struct {
		what string
		got  int64
		per  int
	}{
		{"lb /events subscribers", st.eventsConnected.Load(), eventsN},
		{"agent /status/events subscribers", st.agentConnected.Load(), agentN},
		{"idle admin connections", st.idleConnected.Load(), idleN},
	} {
		if want := rounds * int64(c.per) / 2; c.got < want {
			t.Errorf("flood: %d %s answered in %d rounds; want at least %d", c.got, c.what, rounds, want)
		}
	}
	if st.hammerOK.Load() == 0 {
		t.Errorf("flood: no admin request answered (%d failed)", st.hammerErr.Load())
	}
}
