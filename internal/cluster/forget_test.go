package cluster

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"vitals/internal/store/sqlite"
)

// TestForget: a node is refused while it is alive (up to and including
// the timeout after its last report), forgotten one instant later, and
// then gone from the store, this node's view and the per-node views; a
// node cannot forget itself, and an unknown name is ErrNoNode.
func TestForget(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	agent := func(name string) *Agent {
		a, err := New(Options{Name: name, Store: s, Heartbeat: time.Second, Timeout: 5 * time.Second, Now: clk.now,
			Statuses: func() map[string]string { return map[string]string{"m1": "ONLINE"} }, Serving: func() bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := agent("a"), agent("b")
	ctx := t.Context()
	b.beat(ctx) // b's last report
	clk.add(5 * time.Second)
	a.beat(ctx)
	if len(a.Nodes()) != 2 {
		t.Fatalf("a sees %+v, want a and b", a.Nodes())
	}
	if _, err := a.Forget(ctx, "b"); !errors.Is(err, ErrNodeAlive) {
		t.Errorf("forget b, seen exactly the timeout ago: %v, want ErrNodeAlive", err)
	}
	if _, err := a.Forget(ctx, "a"); !errors.Is(err, ErrNodeSelf) {
		t.Errorf("a forgets itself: %v, want ErrNodeSelf", err)
	}
	if _, err := a.Forget(ctx, "c"); !errors.Is(err, ErrNoNode) {
		t.Errorf("forget c, which never reported: %v, want ErrNoNode", err)
	}
	clk.add(time.Nanosecond)
	n, err := a.Forget(ctx, "b")
	if err != nil || n.Name != "b" || n.Statuses["m1"] != "ONLINE" {
		t.Fatalf("forget b, gone: %+v, %v", n, err)
	}
	if got := a.Nodes(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("a's view after forget b: %+v", got)
	}
	views, err := a.NodeViews(ctx)
	if err != nil || len(views) != 1 || views[0].Name != "a" {
		t.Errorf("per-node views after forget b: %+v, %v", views, err)
	}
	if _, err := a.Forget(ctx, "b"); !errors.Is(err, ErrNoNode) {
		t.Errorf("forget b twice: %v, want ErrNoNode", err)
	}
	// A node that starts again reports itself and is listed again.
	b.beat(ctx)
	if views, err := a.NodeViews(ctx); err != nil || len(views) != 2 {
		t.Errorf("after b reports again: %+v, %v", views, err)
	}
}
