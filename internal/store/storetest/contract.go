package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

func testRoundTripEveryField(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	tr := NewTree()
	Update(t, s, tr.Create)
	for _, id := range []string{tr.LB.ID, tr.Listener.ID, tr.Pool.ID, tr.Member.ID, tr.Monitor.ID} {
		if !octavia.ValidID(id) {
			t.Fatalf("Create gave ID %q", id)
		}
	}
	got := tr.Read(t.Context(), t, s)
	if !reflect.DeepEqual(got, tr) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, tr)
	}

	// Change every field (but IDs, parents and created_at) and read back.
	before := tr
	tr.LB.Name, tr.LB.Description, tr.LB.AdminStateUp, tr.LB.Tags, tr.LB.VIPAddress = "lb2", "", true, nil, "::1"
	tr.LB.ProvisioningStatus, tr.LB.OperatingStatus = octavia.ProvisioningActive, octavia.OperatingOnline
	tr.Listener.ProtocolPort, tr.Listener.TimeoutClientData, tr.Listener.AllowedCIDRs, tr.Listener.DefaultPoolID = 5433, 0, nil, ""
	tr.Pool.SessionPersistence, tr.Pool.LBAlgorithm, tr.Pool.FailOpen = nil, octavia.AlgorithmSourceIPPort, false
	tr.Member.Weight, tr.Member.Backup, tr.Member.MonitorPort, tr.Member.Address = 0, false, 0, "10.0.0.9"
	tr.Monitor.Delay, tr.Monitor.Type, tr.Monitor.Query = 20*time.Second, octavia.MonitorMySQL, "SELECT 2"
	tr.Member.PoolID = "ignored: the parent never changes"
	Update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.UpdateLoadBalancer(&tr.LB), tx.UpdateListener(&tr.Listener), tx.UpdatePool(&tr.Pool),
			tx.UpdateMember(&tr.Member), tx.UpdateHealthMonitor(&tr.Monitor))
	})
	if tr.Member.PoolID != before.Pool.ID {
		t.Errorf("UpdateMember changed the parent to %q", tr.Member.PoolID)
	}
	if !tr.LB.CreatedAt.Equal(before.LB.CreatedAt) || !tr.LB.UpdatedAt.After(before.LB.UpdatedAt) {
		t.Errorf("Update: created_at %v, updated_at %v", tr.LB.CreatedAt, tr.LB.UpdatedAt)
	}
	if got := tr.Read(t.Context(), t, s); !reflect.DeepEqual(got, tr) {
		t.Fatalf("after update\n%+v\nwant\n%+v", got, tr)
	}

	// Lists filter by parent; "" lists all.
	Update(t, s, func(tx store.Tx) error {
		other := octavia.NewLoadBalancer()
		if err := tx.CreateLoadBalancer(&other); err != nil {
			return err
		}
		p := octavia.NewPool()
		p.LoadBalancerID, p.Protocol, p.LBAlgorithm = other.ID, "TCP", "ROUND_ROBIN"
		return tx.CreatePool(&p)
	})
	err := s.View(t.Context(), func(tx store.Tx) error {
		all, err := tx.Pools("")
		if err != nil || len(all) != 2 {
			t.Errorf("Pools(\"\") = %d, %v", len(all), err)
		}
		mine, err := tx.Pools(tr.LB.ID)
		if err != nil || len(mine) != 1 || mine[0].ID != tr.Pool.ID {
			t.Errorf("Pools(lb) = %v, %v", mine, err)
		}
		lbs, _ := tx.LoadBalancers()
		ls, _ := tx.Listeners(tr.LB.ID)
		ms, _ := tx.Members(tr.Pool.ID)
		hms, _ := tx.HealthMonitors(tr.Pool.ID)
		if len(lbs) != 2 || lbs[0].ID != tr.LB.ID || len(ls) != 1 || len(ms) != 1 || len(hms) != 1 {
			t.Errorf("lists: %d lbs (first %s), %d listeners, %d members, %d monitors", len(lbs), lbs[0].ID, len(ls), len(ms), len(hms))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Delete, then not found.
	Update(t, s, func(tx store.Tx) error { return tx.DeleteMember(tr.Member.ID) })
	err = s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteMember(tr.Member.ID) })
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != store.ResourceMember || !errors.Is(err, store.ErrNotFound) || err.Error() != "Member "+tr.Member.ID+" not found." {
		t.Errorf("second delete: %v", err)
	}
	err = s.View(t.Context(), func(tx store.Tx) error { _, err := tx.Member(tr.Member.ID); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error { m := tr.Member; return tx.UpdateMember(&m) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update deleted: %v", err)
	}
}

func testConstraints(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	tr := NewTree()
	Update(t, s, tr.Create)
	conflict := func(name, constraint string, fn func(tx store.Tx) error) {
		t.Helper()
		err := s.Update(t.Context(), fn)
		var ce *store.ConflictError
		if !errors.As(err, &ce) || ce.Constraint != constraint || !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: err = %v, want conflict on %s", name, err, constraint)
		}
	}
	ok := func(name string, fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.Update(t.Context(), fn); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	member := func(poolID, addr string, port int) *octavia.Member {
		m := octavia.NewMember()
		m.PoolID, m.Address, m.ProtocolPort = poolID, addr, port
		return &m
	}
	conflict("same member", store.ConstraintMemberAddress, func(tx store.Tx) error { return tx.CreateMember(member(tr.Pool.ID, "10.0.0.7", 5432)) })
	ok("same address, other port", func(tx store.Tx) error { return tx.CreateMember(member(tr.Pool.ID, "10.0.0.7", 5433)) })
	conflict("update into a taken address", store.ConstraintMemberAddress, func(tx store.Tx) error {
		m := member(tr.Pool.ID, "10.0.0.20", 1)
		if err := tx.CreateMember(m); err != nil {
			return err
		}
		m.Address, m.ProtocolPort = "10.0.0.7", 5433
		return tx.UpdateMember(m)
	})
	conflict("second monitor", store.ConstraintPoolMonitor, func(tx store.Tx) error {
		h := tr.Monitor
		h.ID = ""
		return tx.CreateHealthMonitor(&h)
	})
	conflict("same listener port", store.ConstraintListenerPort, func(tx store.Tx) error {
		l := tr.Listener
		l.ID, l.DefaultPoolID = "", ""
		return tx.CreateListener(&l)
	})
	ok("UDP on the same port", func(tx store.Tx) error {
		l := tr.Listener
		l.ID, l.DefaultPoolID, l.Protocol = "", "", octavia.ProtocolUDP
		return tx.CreateListener(&l)
	})
	conflict("duplicate ID", store.ConstraintPrimaryKey, func(tx store.Tx) error {
		lb := tr.LB
		return tx.CreateLoadBalancer(&lb)
	})
	ok("same member in another pool", func(tx store.Tx) error {
		p := tr.Pool
		p.ID = ""
		if err := tx.CreatePool(&p); err != nil {
			return err
		}
		return tx.CreateMember(member(p.ID, "10.0.0.7", 5432))
	})
	missing := octavia.NewID()
	for name, fn := range map[string]func(tx store.Tx) error{
		"member of a missing pool": func(tx store.Tx) error { return tx.CreateMember(member(missing, "10.0.0.1", 1)) },
		"monitor of a missing pool": func(tx store.Tx) error {
			h := tr.Monitor
			h.ID, h.PoolID = "", missing
			return tx.CreateHealthMonitor(&h)
		},
		"listener with a missing default pool": func(tx store.Tx) error {
			l := tr.Listener
			l.DefaultPoolID = missing
			return tx.UpdateListener(&l)
		},
	} {
		err := s.Update(t.Context(), fn)
		var nf *store.NotFoundError
		if !errors.As(err, &nf) || nf.Resource != store.ResourcePool || nf.ID != missing {
			t.Errorf("%s: %v", name, err)
		}
	}
	err := s.Update(t.Context(), func(tx store.Tx) error {
		p := tr.Pool
		p.ID, p.LoadBalancerID = "", missing
		return tx.CreatePool(&p)
	})
	if err == nil || err.Error() != "Load Balancer "+missing+" not found." {
		t.Errorf("pool of a missing load balancer: %v", err)
	}
}

func testCascadeDelete(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	keep, gone := NewTree(), NewTree()
	Update(t, s, keep.Create)
	Update(t, s, gone.Create)

	// Deleting a pool takes its members and monitor and clears the
	// listener's default pool.
	Update(t, s, func(tx store.Tx) error { return tx.DeletePool(keep.Pool.ID) })
	err := s.View(t.Context(), func(tx store.Tx) error {
		l, err := tx.Listener(keep.Listener.ID)
		if err != nil || l.DefaultPoolID != "" {
			t.Errorf("listener after pool delete: %+v, %v", l, err)
		}
		if _, err := tx.Member(keep.Member.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("member survived its pool: %v", err)
		}
		if _, err := tx.HealthMonitor(keep.Monitor.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("monitor survived its pool: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deleting a load balancer takes everything under it, and only that.
	Update(t, s, func(tx store.Tx) error { return tx.DeleteLoadBalancer(gone.LB.ID) })
	err = s.View(t.Context(), func(tx store.Tx) error {
		lbs, _ := tx.LoadBalancers()
		ls, _ := tx.Listeners("")
		ps, _ := tx.Pools("")
		ms, _ := tx.Members("")
		hms, _ := tx.HealthMonitors("")
		if len(lbs) != 1 || lbs[0].ID != keep.LB.ID || len(ls) != 1 || ls[0].ID != keep.Listener.ID || len(ps) != 0 || len(ms) != 0 || len(hms) != 0 {
			t.Errorf("after cascade: %d lbs, %d listeners, %d pools, %d members, %d monitors", len(lbs), len(ls), len(ps), len(ms), len(hms))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRevisionBumpsOnlyOnCommittedWrites(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	if r := Revision(t, s); r != 0 {
		t.Fatalf("new store at revision %d", r)
	}
	Update(t, s, CreateLB)
	if r := Revision(t, s); r != 1 {
		t.Fatalf("after one write: %d", r)
	}
	// Several writes in one transaction are one revision, which the next
	// transaction sees.
	Update(t, s, func(tx store.Tx) error {
		if tx.Revision() != 1 {
			t.Errorf("Tx.Revision() = %d, want 1", tx.Revision())
		}
		return errors.Join(CreateLB(tx), CreateLB(tx))
	})
	if r := Revision(t, s); r != 2 {
		t.Fatalf("after a two-write transaction: %d", r)
	}
	// A rolled-back write leaves neither data nor a revision behind.
	boom := errors.New("boom")
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := CreateLB(tx); err != nil {
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
			_ = CreateLB(tx)
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
	Update(t, s, func(tx store.Tx) error { _, err := tx.LoadBalancers(); return err })
	if r, n := Revision(t, s), CountLBs(t, s); r != 2 || n != 3 {
		t.Fatalf("after rollbacks and a read: revision %d with %d load balancers, want 2 with 3", r, n)
	}
	// View refuses writes.
	err := s.View(t.Context(), func(tx store.Tx) error {
		if tx.Revision() != 2 {
			t.Errorf("View Tx.Revision() = %d", tx.Revision())
		}
		return CreateLB(tx)
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

func testWait(t *testing.T, b Backend) {
	s, again := b.Open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// Wait returns at once when the revision is already past.
	Update(t, s, CreateLB)
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
	go func() { _ = s.Update(ctx, CreateLB) }()
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

	// Another process' write (another handle on the database) is seen by
	// polling.
	other := again(t)
	defer other.Close()
	setPoll(s, 20*time.Millisecond)
	go func() {
		rev, _ := s.Wait(ctx, 2)
		got <- rev
	}()
	if err := other.Update(ctx, CreateLB); err != nil {
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

func testReadSnapshot(t *testing.T, b Backend) {
	s, _ := b.Open(t)
	a, b2 := NewTree(), NewTree()
	Update(t, s, a.Create)
	Update(t, s, b2.Create)
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 2 || len(snap.LoadBalancers) != 2 || len(snap.Listeners) != 2 || len(snap.Pools) != 2 ||
		len(snap.Members) != 2 || len(snap.HealthMonitors) != 2 {
		t.Fatalf("snapshot: revision %d, %d/%d/%d/%d/%d objects", snap.Revision, len(snap.LoadBalancers), len(snap.Listeners),
			len(snap.Pools), len(snap.Members), len(snap.HealthMonitors))
	}
	if snap.Members[0].ID != a.Member.ID && snap.Members[1].ID != a.Member.ID {
		t.Errorf("snapshot lost member %s", a.Member.ID)
	}
}

// testConcurrentWriters runs 20 writers creating and deleting members of
// one pool on a small set of address:port pairs, so that they collide, for
// two seconds. The only error allowed is the member conflict; at the end
// the pool holds exactly the members whose creation succeeded and whose
// deletion did not, each pair once, and the revision counts every
// successful write.
func testConcurrentWriters(t *testing.T, b Backend) {
	s, again := b.Open(t)
	// Half the writers go through a second handle on the database, as another
	// process would: they contend through SQLite's lock and busy timeout,
	// not only through the handle's mutex.
	s2 := again(t)
	defer s2.Close()
	handles := []store.Store{s, s2}
	tr := NewTree()
	Update(t, s, tr.Create)
	Update(t, s, func(tx store.Tx) error { return tx.DeleteMember(tr.Member.ID) })
	rev0 := Revision(t, s)

	const writers, ports = 20, 15
	// Writers stop at a deadline rather than through a cancelled context,
	// so that every write either happened and was counted or did not.
	ctx, stop := t.Context(), time.Now().Add(2*time.Second)
	var (
		mu        sync.Mutex
		live      = map[string]string{} // member ID -> "addr:port"
		writes    int64
		conflicts int
		wg        sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			s := handles[w%len(handles)]
			var mine []string
			for i := 0; time.Now().Before(stop) && i < 100000; i++ {
				if len(mine) > 0 && rng.IntN(2) == 0 {
					id := mine[len(mine)-1]
					err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteMember(id) })
					if err != nil {
						t.Errorf("writer %d: delete: %v", w, err)
						return
					}
					mine = mine[:len(mine)-1]
					mu.Lock()
					delete(live, id)
					writes++
					mu.Unlock()
					continue
				}
				m := octavia.NewMember()
				m.PoolID, m.Address, m.ProtocolPort = tr.Pool.ID, "10.1.0.1", 1+rng.IntN(ports)
				err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateMember(&m) })
				var ce *store.ConflictError
				switch {
				case errors.As(err, &ce) && ce.Constraint == store.ConstraintMemberAddress:
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					t.Errorf("writer %d: create: %v", w, err)
					return
				default:
					mine = append(mine, m.ID)
					mu.Lock()
					live[m.ID] = fmt.Sprint(m.Address, ":", m.ProtocolPort)
					writes++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	var got []octavia.Member
	if err := s.View(t.Context(), func(tx store.Tx) (err error) { got, err = tx.Members(tr.Pool.ID); return err }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range got {
		key := fmt.Sprint(m.Address, ":", m.ProtocolPort)
		if seen[key] {
			t.Errorf("%s twice in the pool", key)
		}
		seen[key] = true
		if live[m.ID] != key {
			t.Errorf("member %s (%s) in the store, tracked as %q", m.ID, key, live[m.ID])
		}
	}
	if len(got) != len(live) {
		t.Errorf("%d members in the store, %d tracked", len(got), len(live))
	}
	if rev := Revision(t, s); rev-rev0 != writes {
		t.Errorf("revision went up by %d for %d successful writes", rev-rev0, writes)
	}
	if writes < writers || conflicts == 0 {
		t.Errorf("%d writes and %d conflicts: the writers did not contend", writes, conflicts)
	}
	t.Logf("%d writes, %d conflicts, %d members left", writes, conflicts, len(got))
}

func testPersistenceAcrossReopen(t *testing.T, b Backend) {
	s, again := b.Open(t)
	tr := NewTree()
	Update(t, s, tr.Create)
	Update(t, s, CreateLB)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := again(t)
	defer s2.Close()
	if got := tr.Read(t.Context(), t, s2); !reflect.DeepEqual(got, tr) {
		t.Fatalf("after reopen\n%+v\nwant\n%+v", got, tr)
	}
	if r := Revision(t, s2); r != 2 {
		t.Fatalf("revision after reopen: %d, want 2", r)
	}
}
