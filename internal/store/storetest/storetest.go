// Package storetest is the contract every store.Store backend passes: run it from each backend's tests with Run.
package storetest

import (
	"testing"
	"time"

	"vitals/internal/store"
)

// Backend opens stores for the contract.
type Backend struct {
	// Open returns a new, empty store (closed at cleanup) and a function
	// that opens another handle on the same database, as another process
	// would (the caller closes it).
	Open func(t *testing.T) (s store.Store, again func(t *testing.T) store.Store)
}

// Run runs every contract test as a subtest.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"RoundTripEveryField", testRoundTripEveryField},
		{"Constraints", testConstraints},
		{"CascadeDelete", testCascadeDelete},
		{"RevisionBumpsOnlyOnCommittedWrites", testRevisionBumpsOnlyOnCommittedWrites},
		{"Wait", testWait},
		{"ReadSnapshot", testReadSnapshot},
		{"ConcurrentWriters", testConcurrentWriters},
		{"PersistenceAcrossReopen", testPersistenceAcrossReopen},
		{"Nodes", testNodes},
		{"ForgetNode", testForgetNode},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

// setPoll shortens Wait's poll for stores that have one.
func setPoll(s store.Store, d time.Duration) {
	if p, ok := s.(interface{ SetPollInterval(time.Duration) }); ok {
		p.SetPollInterval(d)
	}
}
