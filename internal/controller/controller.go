package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"

	"vitals/internal/lb"
	"vitals/internal/octavia"
	"vitals/internal/store"
)

// Controller reconciles a store into the running load balancer: for each
// new revision it reads a snapshot, converts it (ToConfig), hands it to
// Apply, and writes provisioning_status back.
//
// It owns provisioning_status. After Apply succeeds every object that is
// not ACTIVE becomes ACTIVE, and objects PENDING_DELETE are deleted; after
// ToConfig or Apply fails, the objects PENDING_* become ERROR and the
// previous configuration keeps running (Current does not change). A
// failed configuration is not retried until the configuration in the
// store changes again.
//
// Its own status writes bump the revision too. It recognizes them because
// the configuration is the same as the one it last applied (the
// configuration: every object not PENDING_DELETE, without statuses and
// timestamps), and then it does not call Apply again. For the same reason
// an operating_status write by someone else applies nothing.
type Controller struct {
	// Store is the source of truth. Required.
	Store store.Store
	// Base carries the process settings that are not in the store
	// (admin, api_settings, monitor, shutdown_grace); see ToConfig.
	// Required.
	Base *lb.Config
	// Apply runs a configuration: lb's apply path (lb.Server.Apply and
	// the engine's Update behind it). It must leave the running
	// configuration as it was when it fails. Required.
	Apply func(*lb.Config) error
	// Log receives one line per apply; nil discards.
	Log *slog.Logger
	// Reconciled, when set, is called after each round, in Run's
	// goroutine.
	Reconciled func(Round)
	// Ready, when set, holds back the ACTIVE statuses of a good apply
	// until it reports true for the snapshot's revision: with several
	// nodes sharing the store, until every live node runs that revision
	// (see internal/cluster). ERROR is written at once. Poke makes the
	// controller ask again.
	Ready func(ctx context.Context, revision int64) (bool, error)

	// KeepNoCopy makes every round apply and keeps neither the snapshot
	// nor the configuration it gave Apply (Current then returns nil): for
	// a store that mirrors a configuration run elsewhere, as the file
	// mode's read-only API does, where Apply does nothing and a copy of
	// the whole model would only cost memory (about 5 MB at 10,000
	// members).
	KeepNoCopy bool

	mu      sync.Mutex
	current *lb.Config
	rebase  bool          // SetBase was called: apply even if the store is the same
	poke    chan struct{} // wakes Run after SetBase

	last    *store.Snapshot // the configuration last given to Apply
	lastErr error           // what that gave
}

// Round is what one reconcile did.
type Round struct {
	// Revision is the snapshot's revision.
	Revision int64
	// Applied reports whether Apply was called (false when only statuses
	// changed since the last apply).
	Applied bool
	// Err is the conversion's or Apply's error, for an Applied round.
	Err error
	// Settled counts the objects whose provisioning_status was written
	// (or that were deleted after PENDING_DELETE).
	Settled int
	// Running reports whether the running configuration is this
	// revision's (its last apply succeeded); false while a failed one
	// leaves the previous configuration running.
	Running bool
	// LastErr is the error of the last apply when Running is false.
	LastErr error
}

// Current returns the configuration last applied successfully; nil before
// the first.
func (c *Controller) Current() *lb.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// SetBase replaces the process settings (Base), as a reload of the
// settings file does, and makes the next round apply even if the store
// did not change; a running Run wakes for it.
func (c *Controller) SetBase(b *lb.Config) {
	c.mu.Lock()
	c.Base, c.rebase = b, true
	poke := c.pokeLocked()
	c.mu.Unlock()
	select {
	case poke <- struct{}{}:
	default:
	}
}

// Poke makes a running Run reconcile again although the store did not
// change: Ready may say yes now.
func (c *Controller) Poke() {
	c.mu.Lock()
	poke := c.pokeLocked()
	c.mu.Unlock()
	select {
	case poke <- struct{}{}:
	default:
	}
}

func (c *Controller) pokeLocked() chan struct{} {
	if c.poke == nil {
		c.poke = make(chan struct{}, 1)
	}
	return c.poke
}

// Run reconciles the store's current revision, then each new one (and
// after each SetBase), until ctx ends; it returns ctx's error, or the
// store's when reading fails.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	poke := c.pokeLocked()
	c.mu.Unlock()
	var rev int64 = -1
	for {
		next, err := c.wait(ctx, rev, poke)
		if err != nil {
			return err
		}
		r, err := c.reconcile(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("controller: %w", err)
		}
		if c.Reconciled != nil {
			c.Reconciled(r)
		}
		// Wait past what the round saw; a write after the snapshot (its
		// own status write included) brings the next round.
		rev = max(next, r.Revision)
	}
}

// wait is Store.Wait that also returns, with the revision after, when
// SetBase pokes.
func (c *Controller) wait(ctx context.Context, after int64, poke <-chan struct{}) (int64, error) {
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-poke:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	rev, err := c.Store.Wait(waitCtx, after)
	if err != nil && ctx.Err() == nil && waitCtx.Err() != nil {
		return after, nil // poked
	}
	return rev, err
}

// Reconcile runs one round now: for a start-up that must fail when the
// first configuration cannot be applied (check Round.Err), before Run.
// It must not run concurrently with Run.
func (c *Controller) Reconcile(ctx context.Context) (Round, error) { return c.reconcile(ctx) }

// reconcile runs one round on a fresh snapshot.
func (c *Controller) reconcile(ctx context.Context) (Round, error) {
	snap, err := store.Read(ctx, c.Store)
	if err != nil {
		return Round{}, err
	}
	r := Round{Revision: snap.Revision}
	content := configOnly(snap)
	c.mu.Lock()
	base, rebase := c.Base, c.rebase
	c.rebase = false
	c.mu.Unlock()
	if rebase || c.last == nil || !reflect.DeepEqual(*c.last, content) {
		r.Applied = true
		cfg, err := ToConfig(snap, base)
		if err == nil {
			err = c.Apply(cfg)
		}
		if err == nil && !c.KeepNoCopy {
			c.mu.Lock()
			c.current = cfg
			c.mu.Unlock()
		}
		c.lastErr, r.Err = err, err
		if !c.KeepNoCopy {
			c.last = &content
		}
		c.log(snap, err)
	}
	r.Running, r.LastErr = c.lastErr == nil, c.lastErr
	if c.lastErr == nil && c.Ready != nil && needsSettling(snap, nil) {
		ok, err := c.Ready(ctx, snap.Revision)
		if err != nil || !ok {
			return r, err
		}
	}
	r.Settled, err = c.settle(ctx, snap, c.lastErr)
	return r, err
}

func (c *Controller) log(snap store.Snapshot, err error) {
	if c.Log == nil {
		return
	}
	if err != nil {
		c.Log.Error("controller: applying the configuration failed; the previous one keeps running", "revision", snap.Revision, "err", err)
		return
	}
	c.Log.Info("controller: configuration applied", "revision", snap.Revision,
		"loadbalancers", len(snap.LoadBalancers), "listeners", len(snap.Listeners), "pools", len(snap.Pools), "members", len(snap.Members))
}

// settle writes the outcome of the last apply into the statuses of the
// snapshot's objects, in one transaction. An object changed since the
// snapshot was read is left alone: the next round settles it.
func (c *Controller) settle(ctx context.Context, snap store.Snapshot, applyErr error) (int, error) {
	if !needsSettling(snap, applyErr) {
		return 0, nil
	}
	n := 0
	err := c.Store.Update(ctx, func(tx store.Tx) error {
		n = 0
		// Children first, so that deleting a parent never hides a child's
		// status write.
		steps := []func() (int, error){
			func() (int, error) {
				return settleAll(snap.HealthMonitors, tx.HealthMonitor, tx.UpdateHealthMonitor, tx.DeleteHealthMonitor, applyErr)
			},
			func() (int, error) {
				return settleAll(snap.Members, tx.Member, tx.UpdateMember, tx.DeleteMember, applyErr)
			},
			func() (int, error) {
				return settleAll(snap.Listeners, tx.Listener, tx.UpdateListener, tx.DeleteListener, applyErr)
			},
			func() (int, error) {
				return settleAll(snap.Pools, tx.Pool, tx.UpdatePool, tx.DeletePool, applyErr)
			},
			func() (int, error) {
				return settleAll(snap.LoadBalancers, tx.LoadBalancer, tx.UpdateLoadBalancer, tx.DeleteLoadBalancer, applyErr)
			},
		}
		for _, step := range steps {
			k, err := step()
			n += k
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// target is the status an object in status s gets after the last apply;
// ok is false when it keeps s.
func target(s octavia.ProvisioningStatus, applyErr error) (t octavia.ProvisioningStatus, ok bool) {
	pending := s == octavia.ProvisioningPendingCreate || s == octavia.ProvisioningPendingUpdate || s == octavia.ProvisioningPendingDelete
	switch {
	case applyErr != nil && pending:
		return octavia.ProvisioningError, true
	case applyErr == nil && s != octavia.ProvisioningActive:
		return octavia.ProvisioningActive, true
	}
	return s, false
}

func needsSettling(snap store.Snapshot, applyErr error) bool {
	found := false
	check := func(m *octavia.Meta) {
		if _, ok := target(m.ProvisioningStatus, applyErr); ok {
			found = true
		}
	}
	for i := range snap.LoadBalancers {
		check(&snap.LoadBalancers[i].Meta)
	}
	for i := range snap.Listeners {
		check(&snap.Listeners[i].Meta)
	}
	for i := range snap.Pools {
		check(&snap.Pools[i].Meta)
	}
	for i := range snap.Members {
		check(&snap.Members[i].Meta)
	}
	for i := range snap.HealthMonitors {
		check(&snap.HealthMonitors[i].Meta)
	}
	return found
}

// settleAll settles each object of one kind: it re-reads the object and
// writes its new status only when the object is still as the snapshot
// had it; a PENDING_DELETE object is deleted after a good apply.
func settleAll[T store.Resource](xs []T, get func(string) (T, error), update func(*T) error, del func(string) error, applyErr error) (int, error) {
	n := 0
	for i := range xs {
		snapped := xs[i]
		m := store.MetaOf(&snapped)
		to, ok := target(m.ProvisioningStatus, applyErr)
		if !ok {
			continue
		}
		now, err := get(m.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile, or with its parent
		}
		if err != nil {
			return n, err
		}
		nm := store.MetaOf(&now)
		if nm.ProvisioningStatus != m.ProvisioningStatus || !store.SameConfig(now, snapped) {
			continue // changed since the snapshot: the next round has it
		}
		if m.ProvisioningStatus == octavia.ProvisioningPendingDelete && applyErr == nil {
			if err := del(m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
			continue
		}
		nm.ProvisioningStatus = to
		if err := update(&now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// configOnly is the configuration in snap: the objects not being deleted,
// without statuses and timestamps.
func configOnly(snap store.Snapshot) store.Snapshot {
	return store.ConfigOnly(store.Snapshot{
		LoadBalancers:  live(snap.LoadBalancers),
		Listeners:      live(snap.Listeners),
		Pools:          live(snap.Pools),
		Members:        live(snap.Members),
		HealthMonitors: live(snap.HealthMonitors),
	})
}
