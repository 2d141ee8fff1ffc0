package sqlite

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"vitals/internal/store"
)

func TestOpenMemory(t *testing.T) {
	s, err := OpenMemory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := newTree()
	update(t, s, tr.Create)
	if got := tr.Read(t.Context(), t, s); !reflect.DeepEqual(got, tr) {
		t.Fatalf("memory round trip\n%+v\nwant\n%+v", got, tr)
	}
	// Constraints and cascades hold in memory too.
	err = s.Update(t.Context(), func(tx store.Tx) error { h := tr.Monitor; h.ID = ""; return tx.CreateHealthMonitor(&h) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second monitor in memory: %v", err)
	}
	// Readers and writers from many goroutines share the one connection.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := s.Update(t.Context(), createLB); err != nil {
					t.Error(err)
					return
				}
				if _, err := store.Read(t.Context(), s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	update(t, s, func(tx store.Tx) error { return tx.DeleteLoadBalancer(tr.LB.ID) })
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 162 || len(snap.LoadBalancers) != 160 || len(snap.Pools) != 0 || len(snap.Members) != 0 {
		t.Errorf("after 160 creates and a cascade: revision %d, %d lbs, %d pools, %d members", snap.Revision, len(snap.LoadBalancers), len(snap.Pools), len(snap.Members))
	}

	// Each memory store is its own.
	other, err := OpenMemory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n := countLBs(t, other); n != 0 {
		t.Errorf("a new memory store has %d load balancers", n)
	}
}
