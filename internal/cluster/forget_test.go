package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vitals/internal/store"
	"vitals/internal/store/sqlite"
	"vitals/internal/store/sqlstore"
)

// TestForget: a node is refused while it is alive (up to and including
// the timeout after its last report), forgotten one instant later, and
// then gone from the store, this node's view and the per-node views; a
// node cannot forget itself, and an unknown name is ErrNoNode.
func TestForget(t *testing.T) {
	_, clk, agent := forgetSetup(t)
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

// reportsBeforeForget is the real store with a hook run just before each
// ForgetNode: what another node's report does when it lands between
// Forget's check and its delete.
type reportsBeforeForget struct {
	store.Nodes
	before func()
}

func (r reportsBeforeForget) ForgetNode(ctx context.Context, name string, silentSince time.Time) (bool, error) {
	r.before()
	return r.Nodes.ForgetNode(ctx, name, silentSince)
}

// TestForgetNodeReportsMeanwhile: a node that reports after Forget found
// it silent, but before the delete, is kept (the delete is conditional
// on its last report, in one statement), and Forget says it is alive.
func TestForgetNodeReportsMeanwhile(t *testing.T) {
	s, clk, agent := forgetSetup(t)
	a, b := agent("a"), agent("b")
	ctx := t.Context()
	b.beat(ctx)
	clk.add(6 * time.Second) // b has been silent for longer than the timeout
	a.beat(ctx)
	reported := false
	a.nodes = reportsBeforeForget{Nodes: a.nodes, before: func() { b.beat(ctx); reported = true }}
	n, err := a.Forget(ctx, "b")
	if !reported {
		t.Fatal("Forget did not reach the store's ForgetNode")
	}
	if !errors.Is(err, ErrNodeAlive) {
		t.Fatalf("forget b, which reported after the check: %+v, %v; want ErrNodeAlive", n, err)
	}
	if !n.LastSeen.Equal(clk.now()) {
		t.Errorf("Forget returned b last seen at %s, want its new report at %s", n.LastSeen, clk.now())
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[1].Name != "b" || nodes[1].Statuses["m1"] != "ONLINE" {
		t.Errorf("after the refused forget: %+v, %v; want a and b, with b's statuses", nodes, err)
	}
}

// TestForgetNodeForgottenMeanwhile: when another request forgets the node
// between Forget's check and its delete, Forget says the node is gone
// (ErrNoNode), not that it is alive.
func TestForgetNodeForgottenMeanwhile(t *testing.T) {
	s, clk, agent := forgetSetup(t)
	a, b, c := agent("a"), agent("b"), agent("c")
	ctx := t.Context()
	b.beat(ctx)
	clk.add(6 * time.Second) // b has been silent for longer than the timeout
	a.beat(ctx)
	c.beat(ctx)
	var other error
	a.nodes = reportsBeforeForget{Nodes: a.nodes, before: func() { _, other = c.Forget(ctx, "b") }}
	_, err := a.Forget(ctx, "b")
	if other != nil {
		t.Fatalf("the other request's forget: %v", other)
	}
	if !errors.Is(err, ErrNoNode) || !strings.Contains(err.Error(), "forgotten meanwhile") {
		t.Fatalf("forget b, forgotten by another request after the check: %v; want ErrNoNode saying so", err)
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil || len(nodes) != 2 || slices.ContainsFunc(nodes, func(n store.Node) bool { return n.Name == "b" }) {
		t.Errorf("after both forgets: %+v, %v; want a and c", nodes, err)
	}
}

// forgetSetup opens a store of t's, a clock at a fixed instant, and makes
// agents on them with a 5 s node timeout, each reporting m1 ONLINE.
func forgetSetup(t *testing.T) (*sqlstore.DB, *clock, func(name string) *Agent) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	agent := func(name string) *Agent {
		a, err := New(Options{Name: name, Store: s, Heartbeat: time.Second, Timeout: 5 * time.Second, Now: clk.now,
			Statuses: func() map[string]string { return map[string]string{"m1": "ONLINE"} }, Serving: func() bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return s, clk, agent
}
