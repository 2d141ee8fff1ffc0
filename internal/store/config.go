package store

import (
	"reflect"
	"slices"
	"time"

	"vitals/internal/octavia"
)

// Resource is one of the model's resource types.
type Resource interface {
	octavia.LoadBalancer | octavia.Listener | octavia.Pool | octavia.Member | octavia.HealthMonitor
}

// MetaOf returns the Meta of a *octavia.LoadBalancer, *Listener, *Pool,
// *Member or *HealthMonitor.
func MetaOf[T Resource](x *T) *octavia.Meta {
	switch v := any(x).(type) {
	case *octavia.LoadBalancer:
		return &v.Meta
	case *octavia.Listener:
		return &v.Meta
	case *octavia.Pool:
		return &v.Meta
	case *octavia.Member:
		return &v.Meta
	case *octavia.HealthMonitor:
		return &v.Meta
	}
	panic("unreachable")
}

// configOnly clears what is not configuration in x: its statuses (the
// controller's and the health checks') and timestamps (the store's); an
// empty list reads as none.
func configOnly[T Resource](x *T) {
	m := MetaOf(x)
	m.ProvisioningStatus, m.OperatingStatus = "", ""
	m.CreatedAt, m.UpdatedAt = time.Time{}, time.Time{}
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	if l, ok := any(x).(*octavia.Listener); ok && len(l.AllowedCIDRs) == 0 {
		l.AllowedCIDRs = nil
	}
}

// SameConfig reports whether a and b configure the same thing: equal but
// for statuses and timestamps.
func SameConfig[T Resource](a, b T) bool {
	configOnly(&a)
	configOnly(&b)
	return reflect.DeepEqual(a, b)
}

// ConfigOnly returns a copy of s with only its configuration: no
// revision, statuses or timestamps. Two snapshots with equal ConfigOnly
// (reflect.DeepEqual) configure the same thing.
func ConfigOnly(s Snapshot) Snapshot {
	return Snapshot{
		LoadBalancers:  cleared(s.LoadBalancers),
		Listeners:      cleared(s.Listeners),
		Pools:          cleared(s.Pools),
		Members:        cleared(s.Members),
		HealthMonitors: cleared(s.HealthMonitors),
	}
}

func cleared[T Resource](xs []T) []T {
	out := slices.Clone(xs)
	for i := range out {
		configOnly(&out[i])
	}
	return out
}
