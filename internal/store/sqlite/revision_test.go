package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

func createLB(tx store.Tx) error {
	lb := octavia.NewLoadBalancer()
	return tx.CreateLoadBalancer(&lb)
}

func countLBs(t *testing.T, s store.Store) int {
	t.Helper()
	var n int
	err := s.View(t.Context(), func(tx store.Tx) error {
		lbs, err := tx.LoadBalancers()
		n = len(lbs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func TestRevisionBumpsOnlyOnCommittedWrites(t *testing.T) {
	s, _ := openTemp(t)
	if r := revision(t, s); r != 0 {
		t.Fatalf("new store at revision %d", r)
	}
	update(t, s, createLB)
	if r := revision(t, s); r != 1 {
		t.Fatalf("after one write: %d", r)
	}
	// Several writes in one transaction are one revision, which the next
	// transaction sees.
	update(t, s, func(tx store.Tx) error {
		if tx.Revision() != 1 {
			t.Errorf("Tx.Revision() = %d, want 1", tx.Revision())
		}
		return errors.Join(createLB(tx), createLB(tx))
	})
	if r := revision(t, s); r != 2 {
		t.Fatalf("after a two-write transaction: %d", r)
	}
	// A rolled-back write leaves neither data nor a revision behind.
	boom := errors.New("boom")
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := createLB(tx); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	// A panic rolls back too.
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(t.Context(), func(tx store.Tx) error {
			_ = createLB(tx)
			panic("in fn")
		})
	}()
	// A failed write (conflict) in a transaction that then gives up.
	_ = s.Update(t.Context(), func(tx store.Tx) error {
		lb := octavia.NewLoadBalancer()
		lb.ID = octavia.NewID()
		if err := tx.CreateLoadBalancer(&lb); err != nil {
			return err
		}
		return tx.CreateLoadBalancer(&lb)
	})
	// A transaction that only reads is no write.
	update(t, s, func(tx store.Tx) error { _, err := tx.LoadBalancers(); return err })
	if r, n := revision(t, s), countLBs(t, s); r != 2 || n != 3 {
		t.Fatalf("after rollbacks and a read: revision %d with %d load balancers, want 2 with 3", r, n)
	}
	// View refuses writes.
	err := s.View(t.Context(), func(tx store.Tx) error {
		if tx.Revision() != 2 {
			t.Errorf("View Tx.Revision() = %d", tx.Revision())
		}
		return createLB(tx)
	})
	if !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("write in View: %v", err)
	}
	for name, fn := range map[string]func(store.Tx) error{
		"update": func(tx store.Tx) error { lb := octavia.NewLoadBalancer(); return tx.UpdateLoadBalancer(&lb) },
		"delete": func(tx store.Tx) error { return tx.DeleteLoadBalancer(octavia.NewID()) },
	} {
		if err := s.View(t.Context(), fn); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("%s in View: %v", name, err)
		}
	}
}

func TestWait(t *testing.T) {
	s, file := openTemp(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// Wait returns at once when the revision is already past.
	update(t, s, createLB)
	if rev, err := s.Wait(ctx, 0); rev != 1 || err != nil {
		t.Fatalf("Wait(0) = %d, %v", rev, err)
	}

	// A write from another goroutine wakes it.
	got := make(chan int64, 1)
	go func() {
		rev, _ := s.Wait(ctx, 1)
		got <- rev
	}()
	select {
	case rev := <-got:
		t.Fatalf("Wait returned %d before any write", rev)
	case <-time.After(100 * time.Millisecond):
	}
	go func() { _ = s.Update(ctx, createLB) }()
	select {
	case rev := <-got:
		if rev != 2 {
			t.Fatalf("Wait woke with %d, want 2", rev)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not wake on a write")
	}

	// Cancelling the context ends it with ctx's error.
	wctx, wcancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Wait(wctx, 2)
		errc <- err
	}()
	wcancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Wait ignored its context")
	}

	// Another process' write (another handle on the file) is seen by
	// polling.
	other, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.PollInterval = 20 * time.Millisecond
	go func() {
		rev, _ := s.Wait(ctx, 2)
		got <- rev
	}()
	if err := other.Update(ctx, createLB); err != nil {
		t.Fatal(err)
	}
	select {
	case rev := <-got:
		if rev != 3 {
			t.Fatalf("Wait saw %d, want 3", rev)
		}
	case <-ctx.Done():
		t.Fatal("Wait missed another handle's write")
	}

	// Close wakes a waiter.
	go func() {
		_, err := other.Wait(ctx, 100)
		errc <- err
	}()
	other.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Wait on a closed store returned no error")
		}
	case <-ctx.Done():
		t.Fatal("Close did not wake Wait")
	}
}

func TestReadSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	a, b := newTree(), newTree()
	update(t, s, a.create)
	update(t, s, b.create)
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 2 || len(snap.LoadBalancers) != 2 || len(snap.Listeners) != 2 || len(snap.Pools) != 2 ||
		len(snap.Members) != 2 || len(snap.HealthMonitors) != 2 {
		t.Fatalf("snapshot: revision %d, %d/%d/%d/%d/%d objects", snap.Revision, len(snap.LoadBalancers), len(snap.Listeners),
			len(snap.Pools), len(snap.Members), len(snap.HealthMonitors))
	}
	if snap.Members[0].ID != a.member.ID && snap.Members[1].ID != a.member.ID {
		t.Errorf("snapshot lost member %s", a.member.ID)
	}
}
