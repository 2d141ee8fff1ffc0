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
	if err := ns.ForgetNode(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.ListNodes(t.Context()); err != nil || len(got) != 1 || got[0].Name != "b" {
		t.Errorf("after ForgetNode(a): %+v, %v", got, err)
	}
}
