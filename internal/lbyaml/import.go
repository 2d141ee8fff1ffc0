package lbyaml

import (
	"context"
	"errors"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

// Changes counts what Import wrote.
type Changes struct {
	Created, Updated, Deleted int
}

// Any reports whether Import wrote anything.
func (c Changes) Any() bool { return c.Created+c.Updated+c.Deleted > 0 }

// Import makes the store hold t's load balancers exactly as t describes
// them, in one Update transaction: the file is the truth for the load
// balancers it names, and the store keeps everything else.
//
//   - Objects are matched by ID (lb's derived IDs, stable across loads).
//   - An object missing from the store is created PENDING_CREATE, in
//     tree order (created_at a microsecond apart, so the store lists
//     them in file order).
//   - An object whose configuration differs is updated and set
//     PENDING_UPDATE; its operating_status, created_at and the statuses
//     of its unchanged neighbours stay.
//   - An object that is the same but for statuses and timestamps is not
//     written: importing the same file twice writes nothing the second
//     time, and the revision does not move.
//   - Listeners, pools, members and monitors of an imported load balancer
//     that t no longer has are deleted. Other load balancers are not
//     touched.
//
// The controller (internal/controller) then applies the new revision and
// settles the PENDING_* statuses.
func Import(ctx context.Context, s store.Store, t store.Snapshot) (Changes, error) {
	return doImport(ctx, s, t, false)
}

// Replace is Import that also deletes every load balancer (with all it
// has) that t does not have, so that the store holds exactly t: file
// mode's load and reload, where the file is the whole truth.
func Replace(ctx context.Context, s store.Store, t store.Snapshot) (Changes, error) {
	return doImport(ctx, s, t, true)
}

func doImport(ctx context.Context, s store.Store, t store.Snapshot, replace bool) (Changes, error) {
	var ch Changes
	err := s.Update(ctx, func(tx store.Tx) error {
		ch = Changes{}
		im := importer{tx: tx, ch: &ch, created: time.Now().UTC().Truncate(time.Microsecond)}
		if replace {
			if err := im.dropOthers(t); err != nil {
				return err
			}
		}
		return im.run(t)
	})
	if err != nil {
		return Changes{}, err
	}
	return ch, nil
}

type importer struct {
	tx      store.Tx
	ch      *Changes
	created time.Time // the next created_at given to a new object
}

func (im *importer) run(t store.Snapshot) error {
	if err := im.prune(t); err != nil {
		return err
	}
	tx := im.tx
	for i := range t.LoadBalancers {
		if err := sync(im, &t.LoadBalancers[i], tx.LoadBalancer, tx.CreateLoadBalancer, tx.UpdateLoadBalancer); err != nil {
			return err
		}
	}
	for i := range t.Pools {
		if err := sync(im, &t.Pools[i], tx.Pool, tx.CreatePool, tx.UpdatePool); err != nil {
			return err
		}
	}
	for i := range t.HealthMonitors {
		if err := sync(im, &t.HealthMonitors[i], tx.HealthMonitor, tx.CreateHealthMonitor, tx.UpdateHealthMonitor); err != nil {
			return err
		}
	}
	for i := range t.Members {
		if err := sync(im, &t.Members[i], tx.Member, tx.CreateMember, tx.UpdateMember); err != nil {
			return err
		}
	}
	for i := range t.Listeners {
		if err := sync(im, &t.Listeners[i], tx.Listener, tx.CreateListener, tx.UpdateListener); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes what the imported load balancers have in the store and t
// does not, children first, so that unique ports and addresses are free
// before the creates.
func (im *importer) prune(t store.Snapshot) error {
	keep := map[string]bool{}
	for _, x := range t.Listeners {
		keep[x.ID] = true
	}
	for _, x := range t.Pools {
		keep[x.ID] = true
	}
	for _, x := range t.Members {
		keep[x.ID] = true
	}
	for _, x := range t.HealthMonitors {
		keep[x.ID] = true
	}
	del := func(id string, fn func(string) error) error {
		if keep[id] {
			return nil
		}
		im.ch.Deleted++
		return fn(id)
	}
	tx := im.tx
	for _, l := range t.LoadBalancers {
		if _, err := tx.LoadBalancer(l.ID); err != nil {
			if isNotFound(err) {
				continue
			}
			return err
		}
		listeners, err := tx.Listeners(l.ID)
		if err != nil {
			return err
		}
		for _, x := range listeners {
			if err := del(x.ID, tx.DeleteListener); err != nil {
				return err
			}
		}
		pools, err := tx.Pools(l.ID)
		if err != nil {
			return err
		}
		for _, p := range pools {
			if !keep[p.ID] {
				// The schema deletes its members and monitor with it.
				if err := del(p.ID, tx.DeletePool); err != nil {
					return err
				}
				continue
			}
			members, err := tx.Members(p.ID)
			if err != nil {
				return err
			}
			for _, x := range members {
				if err := del(x.ID, tx.DeleteMember); err != nil {
					return err
				}
			}
			monitors, err := tx.HealthMonitors(p.ID)
			if err != nil {
				return err
			}
			for _, x := range monitors {
				if err := del(x.ID, tx.DeleteHealthMonitor); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// dropOthers deletes the load balancers t does not have; Deleted counts
// them with everything the schema deletes with them.
func (im *importer) dropOthers(t store.Snapshot) error {
	keep := map[string]bool{}
	for _, l := range t.LoadBalancers {
		keep[l.ID] = true
	}
	tx := im.tx
	all, err := tx.LoadBalancers()
	if err != nil {
		return err
	}
	for _, l := range all {
		if keep[l.ID] {
			continue
		}
		listeners, err := tx.Listeners(l.ID)
		if err != nil {
			return err
		}
		pools, err := tx.Pools(l.ID)
		if err != nil {
			return err
		}
		n := 1 + len(listeners) + len(pools)
		for _, p := range pools {
			members, err := tx.Members(p.ID)
			if err != nil {
				return err
			}
			monitors, err := tx.HealthMonitors(p.ID)
			if err != nil {
				return err
			}
			n += len(members) + len(monitors)
		}
		if err := tx.DeleteLoadBalancer(l.ID); err != nil {
			return err
		}
		im.ch.Deleted += n
	}
	return nil
}

// sync creates x or updates it when its configuration differs from the
// stored one.
func sync[T store.Resource](im *importer, x *T, get func(string) (T, error), create, update func(*T) error) error {
	want := *x
	m := store.MetaOf(&want)
	old, err := get(m.ID)
	switch {
	case isNotFound(err):
		m.ProvisioningStatus = octavia.ProvisioningPendingCreate
		m.CreatedAt, m.UpdatedAt = im.created, im.created
		im.created = im.created.Add(time.Microsecond)
		im.ch.Created++
		return create(&want)
	case err != nil:
		return err
	case store.SameConfig(old, want):
		return nil
	}
	om := store.MetaOf(&old)
	m.ProvisioningStatus = octavia.ProvisioningPendingUpdate
	m.OperatingStatus = om.OperatingStatus
	im.ch.Updated++
	return update(&want)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
