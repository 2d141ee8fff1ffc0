package octavia

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestListenerPortAcrossLoadBalancers: a listener on a port that a
// listener of another load balancer takes (the same address, or a
// wildcard over it, from bind_address or the VIP) is refused with 409
// naming that listener and changes nothing; another address, or another
// port, is accepted.
func TestListenerPortAcrossLoadBalancers(t *testing.T) {
	s := newServer(t, Options{})
	lb := func(name, vip string) string {
		return obj(t, s.must(t, http.StatusCreated, "POST", "/v2.0/lbaas/loadbalancers", M{"loadbalancer": M{"name": name, "vip_address": vip}}), "loadbalancer")["id"].(string)
	}
	listener := func(lbID string, port int, bind string) response {
		l := M{"loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": port}
		if bind != "" {
			l["bind_address"] = bind
		}
		body, err := json.Marshal(M{"listener": l})
		if err != nil {
			t.Fatal(err)
		}
		return s.do(t, "POST", "/v2.0/lbaas/listeners", string(body))
	}
	a, b, wild := lb("a", "127.0.0.1"), lb("b", "127.0.0.1"), lb("w", "0.0.0.0")
	first := listener(a, 8080, "")
	if first.code != http.StatusCreated {
		t.Fatalf("a's listener: %d %s", first.code, first.raw)
	}
	firstID := obj(t, first.body, "listener")["id"].(string)
	before := revision(t, s.store)
	for _, tt := range []struct {
		name string
		lb   string
		bind string
	}{
		{"same VIP", b, ""},
		{"bind_address the same", wild, "127.0.0.1"},
		{"wildcard VIP over it", wild, ""},
		{"[::] over it", b, "::"},
	} {
		r := listener(tt.lb, 8080, tt.bind)
		if r.code != http.StatusConflict {
			t.Errorf("%s: %d %s, want 409", tt.name, r.code, r.raw)
			continue
		}
		if _, msg := r.fault(t); !strings.Contains(msg, firstID) || !strings.Contains(msg, "port 8080") {
			t.Errorf("%s: fault %q does not name listener %s and the port", tt.name, msg, firstID)
		}
	}
	if got := revision(t, s.store); got != before {
		t.Errorf("refused listeners changed the store: revision %d → %d", before, got)
	}
	if r := listener(b, 8080, "127.0.0.2"); r.code != http.StatusCreated {
		t.Errorf("another address on the same port: %d %s, want 201", r.code, r.raw)
	}
	if r := listener(b, 8081, ""); r.code != http.StatusCreated {
		t.Errorf("another port: %d %s, want 201", r.code, r.raw)
	}
	// An update is not refused for the listener's own port.
	if r := s.do(t, "PUT", "/v2.0/lbaas/listeners/"+firstID, `{"listener": {"name": "renamed"}}`); r.code != http.StatusOK {
		t.Errorf("an update of a's listener: %d %s, want 200", r.code, r.raw)
	}
}
