package cluster

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	api "vitals/internal/api/octavia"
	"vitals/internal/controller"
	model "vitals/internal/octavia"
	"vitals/internal/store/sqlite"
)

// clock is a settable time shared by the agents of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type localStatuses map[string]string

func (l localStatuses) OperatingStatus(_ api.Kind, id string) (model.OperatingStatus, bool) {
	s, ok := l[id]
	return model.OperatingStatus(s), ok
}

// TestReadyAndActive: a revision is ready when every live node runs it;
// a node past its timeout no longer counts; the status source answers
// with the live MASTER's statuses, and with the local ones when there is
// none.
func TestReadyAndActive(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	agent := func(name string, statuses map[string]string) *Agent {
		a, err := New(Options{Name: name, Store: s, Heartbeat: time.Second, Timeout: 5 * time.Second, Now: clk.now,
			Statuses: func() map[string]string { return statuses }, Serving: func() bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := agent("a", map[string]string{"m1": "ONLINE"})
	b := agent("b", map[string]string{"m1": "ERROR"})
	ctx := context.Background()
	ready := func(x *Agent, rev int64) bool {
		t.Helper()
		ok, err := x.Ready(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if ready(a, 1) {
		t.Fatal("ready before a reported")
	}
	a.Reconciled(controller.Round{Revision: 3, Running: true})
	a.beat(ctx)
	b.Reconciled(controller.Round{Revision: 2, Running: true})
	b.beat(ctx)
	if ready(a, 3) || !ready(a, 2) {
		t.Fatal("revision 3 is ready with b at 2, or 2 is not ready with both at 2 or more")
	}
	b.Reconciled(controller.Round{Revision: 3, Running: true})
	b.beat(ctx)
	if !ready(a, 3) || !ready(b, 3) {
		t.Fatal("revision 3 not ready with both nodes at 3")
	}
	// A failed apply leaves the applied revision where it was.
	b.Reconciled(controller.Round{Revision: 4, Err: context.DeadlineExceeded})
	a.Reconciled(controller.Round{Revision: 4, Running: true})
	a.beat(ctx)
	b.beat(ctx)
	if ready(a, 4) {
		t.Fatal("revision 4 ready although b failed to apply it")
	}
	if st := b.State(); st.AppliedRevision != 3 || st.FailedRevision != 4 {
		t.Errorf("b's state %+v: want applied 3, failed 4", st)
	}
	// b stops reporting: after the timeout it no longer holds a back.
	clk.add(4 * time.Second)
	a.beat(ctx)
	if ready(a, 4) {
		t.Fatal("b counted as gone within its timeout")
	}
	clk.add(2 * time.Second)
	a.beat(ctx)
	if !ready(a, 4) {
		t.Fatal("b, silent for 6s with a 5s timeout, still holds revision 4 back")
	}

	// The status tree's source: b is MASTER (and alive again).
	local := localStatuses{"m1": "ONLINE", "m2": "OFFLINE"}
	src := Statuses{Agent: a, Local: local}
	if st, _ := src.OperatingStatus(api.KindMember, "m1"); st != "ONLINE" {
		t.Errorf("no MASTER: m1 is %s, want this node's ONLINE", st)
	}
	if err := b.SetRole("MASTER"); err != nil {
		t.Fatal(err)
	}
	b.beat(ctx)
	a.beat(ctx)
	if st, _ := src.OperatingStatus(api.KindMember, "m1"); st != "ERROR" {
		t.Errorf("b MASTER: m1 is %s, want b's ERROR", st)
	}
	if st, _ := src.OperatingStatus(api.KindMember, "m2"); st != "OFFLINE" {
		t.Errorf("m2, which b did not report: %s, want the local OFFLINE", st)
	}
	views, err := a.NodeViews(ctx)
	if err != nil || len(views) != 2 || views[0].Name != "a" || !views[0].Self || views[0].Active || !views[1].Active || views[1].OperatingStatuses["m1"] != "ERROR" {
		t.Errorf("NodeViews = %+v, %v", views, err)
	}
	if err := a.SetRole("LEADER"); err == nil {
		t.Error("SetRole accepted LEADER")
	}
}
