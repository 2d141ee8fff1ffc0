package sqlite

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

func TestRoundTripEveryField(t *testing.T) {
	s, _ := openTemp(t)
	tr := newTree()
	update(t, s, tr.create)
	for _, id := range []string{tr.lb.ID, tr.listener.ID, tr.pool.ID, tr.member.ID, tr.monitor.ID} {
		if !octavia.ValidID(id) {
			t.Fatalf("Create gave ID %q", id)
		}
	}
	got := tr.read(t.Context(), t, s)
	if !reflect.DeepEqual(got, tr) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, tr)
	}

	// Change every field (but IDs, parents and created_at) and read back.
	before := tr
	tr.lb.Name, tr.lb.Description, tr.lb.AdminStateUp, tr.lb.Tags, tr.lb.VIPAddress = "lb2", "", true, nil, "::1"
	tr.lb.ProvisioningStatus, tr.lb.OperatingStatus = octavia.ProvisioningActive, octavia.OperatingOnline
	tr.listener.ProtocolPort, tr.listener.TimeoutClientData, tr.listener.AllowedCIDRs, tr.listener.DefaultPoolID = 5433, 0, nil, ""
	tr.pool.SessionPersistence, tr.pool.LBAlgorithm, tr.pool.FailOpen = nil, octavia.AlgorithmSourceIPPort, false
	tr.member.Weight, tr.member.Backup, tr.member.MonitorPort, tr.member.Address = 0, false, 0, "10.0.0.9"
	tr.monitor.Delay, tr.monitor.Type, tr.monitor.Query = 20*time.Second, octavia.MonitorMySQL, "SELECT 2"
	tr.member.PoolID = "ignored: the parent never changes"
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.UpdateLoadBalancer(&tr.lb), tx.UpdateListener(&tr.listener), tx.UpdatePool(&tr.pool),
			tx.UpdateMember(&tr.member), tx.UpdateHealthMonitor(&tr.monitor))
	})
	if tr.member.PoolID != before.pool.ID {
		t.Errorf("UpdateMember changed the parent to %q", tr.member.PoolID)
	}
	if !tr.lb.CreatedAt.Equal(before.lb.CreatedAt) || !tr.lb.UpdatedAt.After(before.lb.UpdatedAt) {
		t.Errorf("Update: created_at %v, updated_at %v", tr.lb.CreatedAt, tr.lb.UpdatedAt)
	}
	if got := tr.read(t.Context(), t, s); !reflect.DeepEqual(got, tr) {
		t.Fatalf("after update\n%+v\nwant\n%+v", got, tr)
	}

	// Lists filter by parent; "" lists all.
	update(t, s, func(tx store.Tx) error {
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
		mine, err := tx.Pools(tr.lb.ID)
		if err != nil || len(mine) != 1 || mine[0].ID != tr.pool.ID {
			t.Errorf("Pools(lb) = %v, %v", mine, err)
		}
		lbs, _ := tx.LoadBalancers()
		ls, _ := tx.Listeners(tr.lb.ID)
		ms, _ := tx.Members(tr.pool.ID)
		hms, _ := tx.HealthMonitors(tr.pool.ID)
		if len(lbs) != 2 || lbs[0].ID != tr.lb.ID || len(ls) != 1 || len(ms) != 1 || len(hms) != 1 {
			t.Errorf("lists: %d lbs (first %s), %d listeners, %d members, %d monitors", len(lbs), lbs[0].ID, len(ls), len(ms), len(hms))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Delete, then not found.
	update(t, s, func(tx store.Tx) error { return tx.DeleteMember(tr.member.ID) })
	err = s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteMember(tr.member.ID) })
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != store.ResourceMember || !errors.Is(err, store.ErrNotFound) || err.Error() != "Member "+tr.member.ID+" not found." {
		t.Errorf("second delete: %v", err)
	}
	err = s.View(t.Context(), func(tx store.Tx) error { _, err := tx.Member(tr.member.ID); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	err = s.Update(t.Context(), func(tx store.Tx) error { m := tr.member; return tx.UpdateMember(&m) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update deleted: %v", err)
	}
}

func TestConstraints(t *testing.T) {
	s, _ := openTemp(t)
	tr := newTree()
	update(t, s, tr.create)
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
	conflict("same member", store.ConstraintMemberAddress, func(tx store.Tx) error { return tx.CreateMember(member(tr.pool.ID, "10.0.0.7", 5432)) })
	ok("same address, other port", func(tx store.Tx) error { return tx.CreateMember(member(tr.pool.ID, "10.0.0.7", 5433)) })
	conflict("update into a taken address", store.ConstraintMemberAddress, func(tx store.Tx) error {
		m := member(tr.pool.ID, "10.0.0.20", 1)
		if err := tx.CreateMember(m); err != nil {
			return err
		}
		m.Address, m.ProtocolPort = "10.0.0.7", 5433
		return tx.UpdateMember(m)
	})
	conflict("second monitor", store.ConstraintPoolMonitor, func(tx store.Tx) error {
		h := tr.monitor
		h.ID = ""
		return tx.CreateHealthMonitor(&h)
	})
	conflict("same listener port", store.ConstraintListenerPort, func(tx store.Tx) error {
		l := tr.listener
		l.ID, l.DefaultPoolID = "", ""
		return tx.CreateListener(&l)
	})
	ok("UDP on the same port", func(tx store.Tx) error {
		l := tr.listener
		l.ID, l.DefaultPoolID, l.Protocol = "", "", octavia.ProtocolUDP
		return tx.CreateListener(&l)
	})
	conflict("duplicate ID", store.ConstraintPrimaryKey, func(tx store.Tx) error {
		lb := tr.lb
		return tx.CreateLoadBalancer(&lb)
	})
	ok("same member in another pool", func(tx store.Tx) error {
		p := tr.pool
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
			h := tr.monitor
			h.ID, h.PoolID = "", missing
			return tx.CreateHealthMonitor(&h)
		},
		"listener with a missing default pool": func(tx store.Tx) error {
			l := tr.listener
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
		p := tr.pool
		p.ID, p.LoadBalancerID = "", missing
		return tx.CreatePool(&p)
	})
	if err == nil || err.Error() != "Load Balancer "+missing+" not found." {
		t.Errorf("pool of a missing load balancer: %v", err)
	}
}

func TestCascadeDelete(t *testing.T) {
	s, _ := openTemp(t)
	keep, gone := newTree(), newTree()
	update(t, s, keep.create)
	update(t, s, gone.create)

	// Deleting a pool takes its members and monitor and clears the
	// listener's default pool.
	update(t, s, func(tx store.Tx) error { return tx.DeletePool(keep.pool.ID) })
	err := s.View(t.Context(), func(tx store.Tx) error {
		l, err := tx.Listener(keep.listener.ID)
		if err != nil || l.DefaultPoolID != "" {
			t.Errorf("listener after pool delete: %+v, %v", l, err)
		}
		if _, err := tx.Member(keep.member.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("member survived its pool: %v", err)
		}
		if _, err := tx.HealthMonitor(keep.monitor.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("monitor survived its pool: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deleting a load balancer takes everything under it, and only that.
	update(t, s, func(tx store.Tx) error { return tx.DeleteLoadBalancer(gone.lb.ID) })
	err = s.View(t.Context(), func(tx store.Tx) error {
		lbs, _ := tx.LoadBalancers()
		ls, _ := tx.Listeners("")
		ps, _ := tx.Pools("")
		ms, _ := tx.Members("")
		hms, _ := tx.HealthMonitors("")
		if len(lbs) != 1 || lbs[0].ID != keep.lb.ID || len(ls) != 1 || ls[0].ID != keep.listener.ID || len(ps) != 0 || len(ms) != 0 || len(hms) != 0 {
			t.Errorf("after cascade: %d lbs, %d listeners, %d pools, %d members, %d monitors", len(lbs), len(ls), len(ps), len(ms), len(hms))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
