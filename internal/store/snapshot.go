package store

import (
	"context"

	"vitals/internal/octavia"
)

// Snapshot is the whole configuration at one revision, as the controller
// reconciles it.
type Snapshot struct {
	Revision       int64
	LoadBalancers  []octavia.LoadBalancer
	Listeners      []octavia.Listener
	Pools          []octavia.Pool
	Members        []octavia.Member
	HealthMonitors []octavia.HealthMonitor
}

// Read returns everything in s in one read-only transaction, so the
// snapshot is consistent and its Revision is the one it reflects.
func Read(ctx context.Context, s Store) (Snapshot, error) {
	var snap Snapshot
	err := s.View(ctx, func(tx Tx) (err error) {
		snap.Revision = tx.Revision()
		if snap.LoadBalancers, err = tx.LoadBalancers(); err != nil {
			return err
		}
		if snap.Listeners, err = tx.Listeners(""); err != nil {
			return err
		}
		if snap.Pools, err = tx.Pools(""); err != nil {
			return err
		}
		if snap.Members, err = tx.Members(""); err != nil {
			return err
		}
		snap.HealthMonitors, err = tx.HealthMonitors("")
		return err
	})
	return snap, err
}
