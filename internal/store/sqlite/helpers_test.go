package sqlite

import (
	"path/filepath"
	"testing"

	"vitals/internal/store"
	"vitals/internal/store/sqlstore"
	"vitals/internal/store/storetest"
)

// TestContract runs the store contract (storetest) on SQLite files.
func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{Open: func(t *testing.T) (store.Store, func(*testing.T) store.Store) {
		s, file := openTemp(t)
		return s, func(t *testing.T) store.Store {
			t.Helper()
			s2, err := Open(t.Context(), file)
			if err != nil {
				t.Fatal(err)
			}
			return s2
		}
	}})
}

func openTemp(t *testing.T) (*sqlstore.DB, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lb.db")
	s, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, file
}

var (
	update   = storetest.Update
	newTree  = storetest.NewTree
	createLB = storetest.CreateLB
	countLBs = storetest.CountLBs
)
