package octavia

import "testing"

// TestProviders: GET /providers lists the one driver, named as every load
// balancer's provider field, behind the token like other reads.
func TestProviders(t *testing.T) {
	s := newServer(t, Options{Token: "providers-token-1"})
	for _, p := range prefixes {
		list, ok := s.must(t, 200, "GET", p+"/lbaas/providers", nil)["providers"].([]any)
		if !ok || len(list) != 1 {
			t.Fatalf("%s providers: %v", p, list)
		}
		if got := list[0].(map[string]any); got["name"] != "vitals" || got["description"] == "" {
			t.Errorf("%s provider: %v", p, got)
		}
	}
	lb := obj(t, s.must(t, 201, "POST", "/v2/lbaas/loadbalancers", M{"loadbalancer": M{"name": "a"}}), "loadbalancer")
	if lb["provider"] != "vitals" {
		t.Errorf("load balancer provider %v, not the listed one", lb["provider"])
	}
	if none := s.must(t, 200, "GET", "/v2/lbaas/providers?name=amphora", nil)["providers"].([]any); len(none) != 0 {
		t.Errorf("filter name=amphora: %v", none)
	}
	s.token = ""
	if r := s.do(t, "GET", "/v2/lbaas/providers", ""); r.code != 401 {
		t.Errorf("without a token: %d %s", r.code, r.raw)
	}
}
