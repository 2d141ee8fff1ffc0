package storetest

import (
	"reflect"
	"testing"
	"time"

	"vitals/internal/store"
)

// testNodes: node reports round-trip, replace the node's previous report
// and statuses, and leave the configuration revision alone.
func testNodes(t *testing.T, b Backend) {
	s, again := b.Open(t)
	ns, ok := s.(store.Nodes)
	if !ok {
		t.Fatalf("%T does not keep nodes (store.Nodes)", s)
	}
	Update(t, s, CreateLB)
	rev := Revision(t, s)
	seen := time.Date(2026, 12, 5, 10, 0, 0, 123456000, time.UTC)
	a := store.NodeReport{Name: "a", AppliedRevision: 7, FailedRevision: 8, ApplyError: "port 80 in use", VRRPRole: store.RoleMaster, Serving: true,
		Statuses: map[string]string{"m1": "ONLINE", "m2": "ERROR"}}
	bb := store.NodeReport{Name: "b", VRRPRole: store.RoleBackup, Statuses: map[string]string{}}
	for _, r := range []store.NodeReport{a, bb} {
		if err := ns.ReportNode(t.Context(), r, seen); err != nil {
			t.Fatal(err)
		}
	}
	// A second report replaces the first, statuses and all.
	a.Statuses = map[string]string{"m1": "OFFLINE"}
	a.FailedRevision, a.ApplyError = 0, ""
	if err := ns.ReportNode(t.Context(), a, seen.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	other := again(t)
	defer other.Close()
	got, err := other.(store.Nodes).ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Node{{NodeReport: a, LastSeen: seen.Add(time.Second)}, {NodeReport: bb, LastSeen: seen}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListNodes\n%+v\nwant\n%+v", got, want)
	}
	if !got[0].Alive(seen.Add(3*time.Second), 2*time.Second) || got[1].Alive(seen.Add(3*time.Second), 2*time.Second) {
		t.Errorf("Alive: a seen 2s ago and b 3s ago, with a 2s timeout")
	}
	if r := Revision(t, s); r != rev {
		t.Errorf("node reports moved the revision from %d to %d", rev, r)
	}
	if ok, err := ns.ForgetNode(t.Context(), "a", seen.Add(2*time.Second)); err != nil || !ok {
		t.Fatalf("ForgetNode(a), silent since before: %v, %v; want true", ok, err)
	}
	if got, err := ns.ListNodes(t.Context()); err != nil || len(got) != 1 || got[0].Name != "b" {
		t.Errorf("after ForgetNode(a): %+v, %v", got, err)
	}
}

// testForgetNode: ForgetNode removes a node only if its last report is
// older than the cutoff it is given, in the delete itself. A node whose
// report lands after the caller decided it was gone (its last_seen is
// now at or after the cutoff) is kept, statuses and all, and ForgetNode
// says so; a cutoff after last_seen, even by a nanosecond (last_seen is
// kept to the microsecond), removes it.
func testForgetNode(t *testing.T, b Backend) {
	s, again := b.Open(t)
	ns := s.(store.Nodes)
	ctx := t.Context()
	old := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	a := store.NodeReport{Name: "a", VRRPRole: store.RoleMaster, Statuses: map[string]string{"m1": "ONLINE"}}
	if err := ns.ReportNode(ctx, a, old); err != nil {
		t.Fatal(err)
	}
	// The caller read a at old and, with a 5s timeout at old+6s, decided
	// it was gone: cutoff old+1s. Then a reported again, at old+6s.
	cutoff := old.Add(time.Second)
	fresh := old.Add(6 * time.Second)
	if err := ns.ReportNode(ctx, a, fresh); err != nil {
		t.Fatal(err)
	}
	other := again(t)
	defer other.Close()
	on := other.(store.Nodes)
	for _, c := range []struct {
		how    string
		cutoff time.Time
	}{
		{"cutoff older than the refreshed last_seen", cutoff},
		{"cutoff equal to last_seen", fresh},
		{"cutoff a nanosecond before last_seen", fresh.Add(-time.Nanosecond)},
	} {
		if ok, err := on.ForgetNode(ctx, "a", c.cutoff); err != nil || ok {
			t.Errorf("ForgetNode(a), %s: %v, %v; want false, nil", c.how, ok, err)
		}
	}
	want := []store.Node{{NodeReport: a, LastSeen: fresh}}
	if got, err := ns.ListNodes(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after refused ForgetNode(a): %+v, %v; want %+v", got, err, want)
	}
	if ok, err := on.ForgetNode(ctx, "nobody", fresh.Add(time.Hour)); err != nil || ok {
		t.Errorf("ForgetNode(nobody): %v, %v; want false, nil", ok, err)
	}
	// A nanosecond after last_seen: a has been silent since before it.
	if ok, err := on.ForgetNode(ctx, "a", fresh.Add(time.Nanosecond)); err != nil || !ok {
		t.Fatalf("ForgetNode(a), cutoff a nanosecond after last_seen: %v, %v; want true, nil", ok, err)
	}
	if got, err := ns.ListNodes(ctx); err != nil || len(got) != 0 {
		t.Errorf("after ForgetNode(a): %+v, %v; want none", got, err)
	}
}
