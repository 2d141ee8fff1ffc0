package octavia

import (
	"fmt"
	"sync"
	"testing"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// recorder is an Applier that records the revisions it is told about.
type recorder struct {
	mu   sync.Mutex
	revs []int64
}

func (r *recorder) Changed(rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs = append(r.revs, rev)
}

// TestApplier: with a controller attached, writes are PENDING_* and the
// load balancer is immutable until the controller sets it ACTIVE.
func TestApplier(t *testing.T) {
	rec := &recorder{}
	s := newServer(t, Options{Applier: rec})
	lb := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/loadbalancers", M{"loadbalancer": M{"name": "p"}}), "loadbalancer")
	id := lb["id"].(string)
	if lb["provisioning_status"] != "PENDING_CREATE" {
		t.Errorf("created with a controller: %v", lb["provisioning_status"])
	}
	if len(rec.revs) != 1 || rec.revs[0] != revision(t, s.store) {
		t.Errorf("Changed calls %v, revision %d", rec.revs, revision(t, s.store))
	}
	listener := `{"listener": {"loadbalancer_id": "` + id + `", "protocol": "TCP", "protocol_port": 80}}`
	r := s.do(t, "POST", "/v2.0/lbaas/listeners", listener)
	if _, msg := r.fault(t); r.code != 409 || msg != "Invalid state PENDING_CREATE of loadbalancer resource "+id {
		t.Errorf("write under a pending load balancer: %d %s", r.code, r.raw)
	}

	// The controller applies it.
	setActive := func() {
		err := s.store.Update(t.Context(), func(tx store.Tx) error {
			lb, err := tx.LoadBalancer(id)
			if err != nil {
				return err
			}
			lb.ProvisioningStatus = model.ProvisioningActive
			return tx.UpdateLoadBalancer(&lb)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setActive()
	l := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/listeners", listener), "listener")
	if l["provisioning_status"] != "PENDING_CREATE" {
		t.Errorf("listener: %v", l["provisioning_status"])
	}
	if got := obj(t, s.must(t, 200, "GET", "/v2.0/lbaas/loadbalancers/"+id, nil), "loadbalancer"); got["provisioning_status"] != "PENDING_UPDATE" {
		t.Errorf("load balancer after a child's create: %v", got["provisioning_status"])
	}
	setActive()
	u := obj(t, s.must(t, 200, "PUT", "/v2.0/lbaas/listeners/"+l["id"].(string), M{"listener": M{"name": "n"}}), "listener")
	if u["provisioning_status"] != "PENDING_UPDATE" {
		t.Errorf("listener after update: %v", u["provisioning_status"])
	}
	// Three API writes (the refused one is none); the controller's own
	// writes took revisions 2 and 4.
	if fmt.Sprint(rec.revs) != "[1 3 5]" {
		t.Errorf("Changed calls: %v, want [1 3 5]", rec.revs)
	}
}
