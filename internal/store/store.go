// Package store keeps the load balancer model (internal/octavia) in transactions, with a revision that counts committed writes and a way to wait for the next one.
package store

import (
	"context"

	"vitals/internal/octavia"
)

// Store is a transactional store of load balancers, listeners, pools,
// members and health monitors. Implementations: store/sqlite and
// store/postgres share this interface, the schema and the constraint
// names below, and pass store/storetest.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot; a write through its Tx returns ErrReadOnly.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. When fn returns nil the
	// transaction commits and, if fn wrote anything, the revision goes up
	// by one; when fn returns an error (or panics) nothing is written and
	// the error is returned as is. Writers are serialized.
	Update(ctx context.Context, fn func(Tx) error) error
	// Revision returns the revision of the last committed write; 0 for a
	// store that was never written.
	Revision(ctx context.Context) (int64, error)
	// Wait blocks until the revision is greater than after and returns
	// it, or returns the current revision and ctx.Err() when ctx ends. It
	// sees writes of this process at once and those of other processes
	// sharing the database within a poll interval.
	Wait(ctx context.Context, after int64) (int64, error)
	// Close releases the store; Wait calls return.
	Close() error
}

// Tx is one transaction. Create fills an empty ID with octavia.NewID and
// zero timestamps with the current time; Update sets UpdatedAt and never
// changes ID, CreatedAt or the parent ID. Each writes the stored values
// back into the object it was given. Lists are ordered by created_at,
// then id (Octavia's default sort). A missing object is a *NotFoundError;
// a broken unique constraint is a *ConflictError. Objects are not
// validated here: call Validate first.
type Tx interface {
	// Revision is the revision this transaction started from.
	Revision() int64

	CreateLoadBalancer(lb *octavia.LoadBalancer) error
	LoadBalancer(id string) (octavia.LoadBalancer, error)
	LoadBalancers() ([]octavia.LoadBalancer, error)
	UpdateLoadBalancer(lb *octavia.LoadBalancer) error
	// DeleteLoadBalancer removes the load balancer and, through the
	// schema, its listeners, pools, members and monitors.
	DeleteLoadBalancer(id string) error

	CreateListener(l *octavia.Listener) error
	Listener(id string) (octavia.Listener, error)
	// Listeners lists the load balancer's listeners; "" lists all.
	Listeners(loadBalancerID string) ([]octavia.Listener, error)
	UpdateListener(l *octavia.Listener) error
	DeleteListener(id string) error

	CreatePool(p *octavia.Pool) error
	Pool(id string) (octavia.Pool, error)
	// Pools lists the load balancer's pools; "" lists all.
	Pools(loadBalancerID string) ([]octavia.Pool, error)
	UpdatePool(p *octavia.Pool) error
	// DeletePool removes the pool, its members and monitor, and clears
	// default_pool_id of the listeners that used it.
	DeletePool(id string) error

	CreateMember(m *octavia.Member) error
	Member(id string) (octavia.Member, error)
	// Members lists the pool's members; "" lists all.
	Members(poolID string) ([]octavia.Member, error)
	UpdateMember(m *octavia.Member) error
	DeleteMember(id string) error

	CreateHealthMonitor(h *octavia.HealthMonitor) error
	HealthMonitor(id string) (octavia.HealthMonitor, error)
	// HealthMonitors lists the pool's monitor (at most one); "" lists all.
	HealthMonitors(poolID string) ([]octavia.HealthMonitor, error)
	UpdateHealthMonitor(h *octavia.HealthMonitor) error
	DeleteHealthMonitor(id string) error
}
