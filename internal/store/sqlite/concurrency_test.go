package sqlite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
	"vitals/internal/store/sqlstore"
)

// TestConcurrentWriters runs 20 writers creating and deleting members of
// one pool on a small set of address:port pairs, so that they collide, for
// two seconds. The only error allowed is the member conflict; at the end
// the pool holds exactly the members whose creation succeeded and whose
// deletion did not, each pair once, and the revision counts every
// successful write.
func TestConcurrentWriters(t *testing.T) {
	s, file := openTemp(t)
	// Half the writers go through a second handle on the file, as another
	// process would: they contend through SQLite's lock and busy timeout,
	// not only through the handle's mutex.
	s2, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	handles := []*sqlstore.DB{s, s2}
	tr := newTree()
	update(t, s, tr.create)
	update(t, s, func(tx store.Tx) error { return tx.DeleteMember(tr.member.ID) })
	rev0 := revision(t, s)

	const writers, ports = 20, 15
	// Writers stop at a deadline rather than through a cancelled context,
	// so that every write either happened and was counted or did not.
	ctx, stop := t.Context(), time.Now().Add(2*time.Second)
	var (
		mu        sync.Mutex
		live      = map[string]string{} // member ID -> "addr:port"
		writes    int64
		conflicts int
		wg        sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			s := handles[w%len(handles)]
			var mine []string
			for i := 0; time.Now().Before(stop) && i < 100000; i++ {
				if len(mine) > 0 && rng.IntN(2) == 0 {
					id := mine[len(mine)-1]
					err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteMember(id) })
					if err != nil {
						t.Errorf("writer %d: delete: %v", w, err)
						return
					}
					mine = mine[:len(mine)-1]
					mu.Lock()
					delete(live, id)
					writes++
					mu.Unlock()
					continue
				}
				m := octavia.NewMember()
				m.PoolID, m.Address, m.ProtocolPort = tr.pool.ID, "10.1.0.1", 1+rng.IntN(ports)
				err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateMember(&m) })
				var ce *store.ConflictError
				switch {
				case errors.As(err, &ce) && ce.Constraint == store.ConstraintMemberAddress:
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					t.Errorf("writer %d: create: %v", w, err)
					return
				default:
					mine = append(mine, m.ID)
					mu.Lock()
					live[m.ID] = fmt.Sprint(m.Address, ":", m.ProtocolPort)
					writes++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	var got []octavia.Member
	if err := s.View(t.Context(), func(tx store.Tx) (err error) { got, err = tx.Members(tr.pool.ID); return err }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range got {
		key := fmt.Sprint(m.Address, ":", m.ProtocolPort)
		if seen[key] {
			t.Errorf("%s twice in the pool", key)
		}
		seen[key] = true
		if live[m.ID] != key {
			t.Errorf("member %s (%s) in the store, tracked as %q", m.ID, key, live[m.ID])
		}
	}
	if len(got) != len(live) {
		t.Errorf("%d members in the store, %d tracked", len(got), len(live))
	}
	if rev := revision(t, s); rev-rev0 != writes {
		t.Errorf("revision went up by %d for %d successful writes", rev-rev0, writes)
	}
	if writes < writers || conflicts == 0 {
		t.Errorf("%d writes and %d conflicts: the writers did not contend", writes, conflicts)
	}
	t.Logf("%d writes, %d conflicts, %d members left", writes, conflicts, len(got))
}
