package octavia

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"vitals/internal/store/sqlite"
)

// TestFileStore: what the API wrote is there, with the same IDs and
// fields, after the store file is closed and opened again.
func TestFileStore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lb.db")
	st, err := sqlite.Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Store: st})
	tr := createTree(t, s, "/v2.0")
	before := s.must(t, 200, "GET", "/v2.0/lbaas/healthmonitors/"+tr.monitor, nil)
	s.Close()
	st.Close()

	st2, err := sqlite.Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	s2 := newServer(t, Options{Store: st2})
	after := s2.must(t, 200, "GET", "/v2.0/lbaas/healthmonitors/"+tr.monitor, nil)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("monitor changed across reopen:\n%v\n%v", before, after)
	}
	tree := obj(t, obj(t, s2.must(t, 200, "GET", "/v2.0/lbaas/loadbalancers/"+tr.lb+"/status", nil), "statuses"), "loadbalancer")
	if len(tree["listeners"].([]any)) != 1 {
		t.Errorf("status tree after reopen: %v", tree)
	}
}

// TestConcurrentMembers: clients creating and deleting members of one
// pool at once over a file store get no 5xx, and the pool ends with
// exactly the members that were created and not deleted.
func TestConcurrentMembers(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newServer(t, Options{Store: st})
	tr := createTree(t, s, "/v2.0")
	path := "/v2.0/lbaas/pools/" + tr.pool + "/members"
	const clients, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan string, clients*each*2)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				r, err := s.try(t.Context(), "POST", path, fmt.Sprintf(`{"member": {"address": "127.0.1.%d", "protocol_port": %d}}`, c+1, 1000+i))
				if err != nil || r.code != 201 {
					errs <- fmt.Sprintf("create: %d %s %v", r.code, r.raw, err)
					continue
				}
				// Delete every other member again.
				if i%2 == 1 {
					id := r.body["member"].(map[string]any)["id"].(string)
					if r, err := s.try(t.Context(), "DELETE", path+"/"+id, ""); err != nil || r.code != 204 {
						errs <- fmt.Sprintf("delete: %d %s %v", r.code, r.raw, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	list := s.must(t, 200, "GET", path, nil)["members"].([]any)
	if want := 1 + clients*each/2; len(list) != want {
		t.Errorf("%d members, want %d", len(list), want)
	}
}
