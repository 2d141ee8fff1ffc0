package sqlstore

import (
	"context"
	"database/sql"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

// txn is a store.Tx over one SQL transaction.
type txn struct {
	s        *DB
	ctx      context.Context
	tx       *sql.Tx
	rev      int64
	readOnly bool
	// dirty is set by a successful write; Update bumps the revision then.
	dirty bool
}

var _ store.Tx = (*txn)(nil)

func (t *txn) writable() error {
	if t.readOnly {
		return store.ErrReadOnly
	}
	return nil
}

func (t *txn) Revision() int64 { return t.rev }

func (t *txn) CreateLoadBalancer(x *octavia.LoadBalancer) error { return loadBalancers.create(t, x) }
func (t *txn) LoadBalancer(id string) (octavia.LoadBalancer, error) {
	return loadBalancers.get(t, id)
}
func (t *txn) LoadBalancers() ([]octavia.LoadBalancer, error)   { return loadBalancers.list(t, "") }
func (t *txn) UpdateLoadBalancer(x *octavia.LoadBalancer) error { return loadBalancers.update(t, x) }
func (t *txn) DeleteLoadBalancer(id string) error               { return loadBalancers.remove(t, id) }

func (t *txn) CreateListener(x *octavia.Listener) error          { return listeners.create(t, x) }
func (t *txn) Listener(id string) (octavia.Listener, error)      { return listeners.get(t, id) }
func (t *txn) Listeners(lbID string) ([]octavia.Listener, error) { return listeners.list(t, lbID) }
func (t *txn) UpdateListener(x *octavia.Listener) error          { return listeners.update(t, x) }
func (t *txn) DeleteListener(id string) error                    { return listeners.remove(t, id) }

func (t *txn) CreatePool(x *octavia.Pool) error          { return pools.create(t, x) }
func (t *txn) Pool(id string) (octavia.Pool, error)      { return pools.get(t, id) }
func (t *txn) Pools(lbID string) ([]octavia.Pool, error) { return pools.list(t, lbID) }
func (t *txn) UpdatePool(x *octavia.Pool) error          { return pools.update(t, x) }
func (t *txn) DeletePool(id string) error                { return pools.remove(t, id) }

func (t *txn) CreateMember(x *octavia.Member) error            { return members.create(t, x) }
func (t *txn) Member(id string) (octavia.Member, error)        { return members.get(t, id) }
func (t *txn) Members(poolID string) ([]octavia.Member, error) { return members.list(t, poolID) }
func (t *txn) UpdateMember(x *octavia.Member) error            { return members.update(t, x) }
func (t *txn) DeleteMember(id string) error                    { return members.remove(t, id) }

func (t *txn) CreateHealthMonitor(x *octavia.HealthMonitor) error { return healthMonitors.create(t, x) }
func (t *txn) HealthMonitor(id string) (octavia.HealthMonitor, error) {
	return healthMonitors.get(t, id)
}
func (t *txn) HealthMonitors(poolID string) ([]octavia.HealthMonitor, error) {
	return healthMonitors.list(t, poolID)
}
func (t *txn) UpdateHealthMonitor(x *octavia.HealthMonitor) error { return healthMonitors.update(t, x) }
func (t *txn) DeleteHealthMonitor(id string) error                { return healthMonitors.remove(t, id) }
