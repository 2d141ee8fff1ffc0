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
	// stmts are the statements prepared in this transaction, by SQL: an
	// import or a reconcile runs the same few statements thousands of
	// times, and parsing each anew cost most of their time.
	stmts map[string]*sql.Stmt
}

// stmt returns q (in the store's own placeholders) prepared in the
// transaction, preparing it on first use.
func (t *txn) stmt(q string) (*sql.Stmt, error) {
	q = t.s.q(q)
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, q)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

// exec runs a prepared q.
func (t *txn) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

// queryRow runs a prepared q that returns at most one row; the error of
// preparing it comes back from Scan.
func (t *txn) queryRow(q string, args ...any) rowScanner {
	st, err := t.stmt(q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(t.ctx, args...)
}

// query runs a prepared q.
func (t *txn) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// rowScanner is *sql.Row, or errRow.
type rowScanner interface{ Scan(dest ...any) error }

// errRow is a row whose statement could not be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

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
