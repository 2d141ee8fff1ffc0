package octavia

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
)

var stampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)

// tree creates a load balancer, a listener, a pool with the listener as
// its user, a member and an HTTP monitor through the API, under prefix.
type tree struct{ lb, listener, pool, member, monitor string }

func createTree(t *testing.T, s *apiServer, prefix string) tree {
	t.Helper()
	var tr tree
	lb := obj(t, s.must(t, 201, "POST", prefix+"/lbaas/loadbalancers", M{"loadbalancer": M{"name": "lb1", "vip_address": "127.0.0.1", "tags": []string{"a", "b"}}}), "loadbalancer")
	tr.lb = lb["id"].(string)
	l := obj(t, s.must(t, 201, "POST", prefix+"/lbaas/listeners", M{"listener": M{"name": "l1", "loadbalancer_id": tr.lb, "protocol": "TCP", "protocol_port": 8080}}), "listener")
	tr.listener = l["id"].(string)
	p := obj(t, s.must(t, 201, "POST", prefix+"/lbaas/pools", M{"pool": M{"name": "pool1", "listener_id": tr.listener, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}), "pool")
	tr.pool = p["id"].(string)
	m := obj(t, s.must(t, 201, "POST", prefix+"/lbaas/pools/"+tr.pool+"/members", M{"member": M{"address": "127.0.0.2", "protocol_port": 80}}), "member")
	tr.member = m["id"].(string)
	hm := obj(t, s.must(t, 201, "POST", prefix+"/lbaas/healthmonitors", M{"healthmonitor": M{"pool_id": tr.pool, "type": "HTTP", "delay": 15, "timeout": 10, "max_retries": 4, "url_path": "/health"}}), "healthmonitor")
	tr.monitor = hm["id"].(string)
	return tr
}

func TestCRUD(t *testing.T) {
	for _, prefix := range []string{"/v2", "/v2.0"} {
		t.Run(prefix, func(t *testing.T) {
			s := newServer(t, Options{})
			tr := createTree(t, s, prefix)
			base := prefix + "/lbaas/"

			lb := obj(t, s.must(t, 200, "GET", base+"loadbalancers/"+tr.lb, nil), "loadbalancer")
			if lb["provisioning_status"] != "ACTIVE" || lb["operating_status"] != "OFFLINE" || lb["provider"] != "vitals" {
				t.Errorf("load balancer statuses/provider: %v", lb)
			}
			if !stampRE.MatchString(lb["created_at"].(string)) || lb["updated_at"] != nil {
				t.Errorf("timestamps: created_at %v updated_at %v", lb["created_at"], lb["updated_at"])
			}
			if got, _ := json.Marshal(lb["listeners"]); string(got) != `[{"id":"`+tr.listener+`"}]` {
				t.Errorf("listeners = %s", got)
			}
			if got, _ := json.Marshal(lb["pools"]); string(got) != `[{"id":"`+tr.pool+`"}]` {
				t.Errorf("pools = %s", got)
			}

			l := obj(t, s.must(t, 200, "GET", base+"listeners/"+tr.listener, nil), "listener")
			if l["default_pool_id"] != tr.pool || l["timeout_client_data"] != json.Number("50000") || l["timeout_member_connect"] != json.Number("5000") || l["connection_limit"] != json.Number("-1") {
				t.Errorf("listener defaults: %v", l)
			}
			p := obj(t, s.must(t, 200, "GET", base+"pools/"+tr.pool, nil), "pool")
			if p["healthmonitor_id"] != tr.monitor {
				t.Errorf("pool healthmonitor_id = %v", p["healthmonitor_id"])
			}
			if got, _ := json.Marshal(p["members"]); string(got) != `[{"id":"`+tr.member+`"}]` {
				t.Errorf("pool members = %s", got)
			}
			if got, _ := json.Marshal(p["listeners"]); string(got) != `[{"id":"`+tr.listener+`"}]` {
				t.Errorf("pool listeners = %s", got)
			}
			m := obj(t, s.must(t, 200, "GET", base+"pools/"+tr.pool+"/members/"+tr.member, nil), "member")
			if m["weight"] != json.Number("1") || m["backup"] != false || m["admin_state_up"] != true || m["operating_status"] != "OFFLINE" {
				t.Errorf("member defaults: %v", m)
			}
			hm := obj(t, s.must(t, 200, "GET", base+"healthmonitors/"+tr.monitor, nil), "healthmonitor")
			if hm["delay"] != json.Number("15") || hm["timeout"] != json.Number("10") || hm["max_retries_down"] != json.Number("3") ||
				hm["http_method"] != "GET" || hm["expected_codes"] != "200" || hm["url_path"] != "/health" || hm["delay_ms"] != json.Number("15000") {
				t.Errorf("monitor: %v", hm)
			}

			// Updates: partial bodies, 200, updated_at set.
			lb = obj(t, s.must(t, 200, "PUT", base+"loadbalancers/"+tr.lb, M{"loadbalancer": M{"description": "d"}}), "loadbalancer")
			if lb["description"] != "d" || lb["name"] != "lb1" || lb["updated_at"] == nil {
				t.Errorf("lb after update: %v", lb)
			}
			l = obj(t, s.must(t, 200, "PUT", base+"listeners/"+tr.listener, M{"listener": M{"timeout_client_data": 1500}}), "listener")
			if l["timeout_client_data"] != json.Number("1500") || l["protocol_port"] != json.Number("8080") {
				t.Errorf("listener after update: %v", l)
			}
			p = obj(t, s.must(t, 200, "PUT", base+"pools/"+tr.pool, M{"pool": M{"lb_algorithm": "LEAST_CONNECTIONS"}}), "pool")
			if p["lb_algorithm"] != "LEAST_CONNECTIONS" || p["protocol"] != "TCP" {
				t.Errorf("pool after update: %v", p)
			}
			m = obj(t, s.must(t, 200, "PUT", base+"pools/"+tr.pool+"/members/"+tr.member, M{"member": M{"weight": 0}}), "member")
			if m["weight"] != json.Number("0") || m["address"] != "127.0.0.2" {
				t.Errorf("member after update: %v", m)
			}
			hm = obj(t, s.must(t, 200, "PUT", base+"healthmonitors/"+tr.monitor, M{"healthmonitor": M{"delay": 20, "http_version": 1.1}}), "healthmonitor")
			if hm["delay"] != json.Number("20") || hm["http_version"] != json.Number("1.1") || hm["timeout"] != json.Number("10") {
				t.Errorf("monitor after update: %v", hm)
			}

			// Lists and envelopes.
			for _, plural := range []string{"loadbalancers", "listeners", "pools", "healthmonitors", "pools/" + tr.pool + "/members"} {
				body := s.must(t, 200, "GET", base+plural, nil)
				key := plural
				if key != "loadbalancers" && key != "listeners" && key != "pools" && key != "healthmonitors" {
					key = "members"
				}
				if list, ok := body[key].([]any); !ok || len(list) != 1 {
					t.Errorf("%s: %v", plural, body)
				}
				if links, ok := body[key+"_links"].([]any); !ok || len(links) != 0 {
					t.Errorf("%s_links: %v", key, body[key+"_links"])
				}
			}

			// Deletes, children first; the load balancer without cascade
			// while it has children is refused.
			r := s.do(t, "DELETE", base+"loadbalancers/"+tr.lb, "")
			if _, msg := r.fault(t); r.code != 400 || msg != "Validation failure: Cannot delete Load Balancer "+tr.lb+" - it has children" {
				t.Errorf("delete with children: %d %s", r.code, r.raw)
			}
			s.must(t, 204, "DELETE", base+"healthmonitors/"+tr.monitor, nil)
			s.must(t, 204, "DELETE", base+"pools/"+tr.pool+"/members/"+tr.member, nil)
			s.must(t, 204, "DELETE", base+"pools/"+tr.pool, nil)
			if l := obj(t, s.must(t, 200, "GET", base+"listeners/"+tr.listener, nil), "listener"); l["default_pool_id"] != nil {
				t.Errorf("default_pool_id after pool delete: %v", l["default_pool_id"])
			}
			s.must(t, 204, "DELETE", base+"listeners/"+tr.listener, nil)
			s.must(t, 204, "DELETE", base+"loadbalancers/"+tr.lb, nil)
			r = s.do(t, "GET", base+"loadbalancers/"+tr.lb, "")
			if code, msg := r.fault(t); r.code != 404 || code != "Client" || msg != "Load Balancer "+tr.lb+" not found." {
				t.Errorf("after delete: %d %s", r.code, r.raw)
			}
		})
	}
}

// TestNumericStrings: python-octaviaclient sends --delay and --timeout
// as strings; Octavia (wsme) converts them, and so does vitals.
func TestNumericStrings(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	s.must(t, 204, "DELETE", "/v2.0/lbaas/healthmonitors/"+tr.monitor, nil)
	// The seed's command: healthmonitor create --delay 15 --max-retries 4
	// --timeout 10 --type HTTP --url-path /health pool1
	hm := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/healthmonitors", `{"healthmonitor": {"pool_id": "`+tr.pool+`", "delay": "15", "timeout": "10", "max_retries": 4, "type": "HTTP", "url_path": "/health", "admin_state_up": true}}`), "healthmonitor")
	if hm["delay"] != json.Number("15") || hm["timeout"] != json.Number("10") {
		t.Errorf("monitor from strings: %v", hm)
	}
}

// TestSubSecond: delay_ms and timeout_ms set sub-second monitors; delay
// and timeout stay integers, rounded up.
func TestSubSecond(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	hm := obj(t, s.must(t, 200, "PUT", "/v2.0/lbaas/healthmonitors/"+tr.monitor, M{"healthmonitor": M{"delay_ms": 500, "timeout_ms": 200}}), "healthmonitor")
	if hm["delay"] != json.Number("1") || hm["timeout"] != json.Number("1") || hm["delay_ms"] != json.Number("500") || hm["timeout_ms"] != json.Number("200") {
		t.Errorf("sub-second monitor: %v", hm)
	}
}

// TestUpdateNullResets: a null in a PUT puts the field back to its
// default, as the CLI's unset commands expect.
func TestUpdateNullResets(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	const b = "/v2.0/lbaas/"
	s.must(t, 200, "PUT", b+"healthmonitors/"+tr.monitor, M{"healthmonitor": M{"http_method": "HEAD", "max_retries_down": 5, "http_version": 1.1, "domain_name": "example.com"}})
	hm := obj(t, s.must(t, 200, "PUT", b+"healthmonitors/"+tr.monitor, `{"healthmonitor": {"http_method": null, "max_retries_down": null, "domain_name": null, "http_version": null, "name": null}}`), "healthmonitor")
	if hm["http_method"] != "GET" || hm["max_retries_down"] != json.Number("3") || hm["domain_name"] != nil || hm["http_version"] != nil || hm["url_path"] != "/health" {
		t.Errorf("monitor after unset: %v", hm)
	}
	s.must(t, 200, "PUT", b+"listeners/"+tr.listener, M{"listener": M{"timeout_client_data": 1000, "connection_limit": 10}})
	l := obj(t, s.must(t, 200, "PUT", b+"listeners/"+tr.listener, `{"listener": {"timeout_client_data": null, "connection_limit": null, "default_pool_id": null}}`), "listener")
	if l["timeout_client_data"] != json.Number("50000") || l["connection_limit"] != json.Number("-1") || l["default_pool_id"] != nil {
		t.Errorf("listener after unset: %v", l)
	}
	s.must(t, 200, "PUT", b+"pools/"+tr.pool+"/members/"+tr.member, M{"member": M{"weight": 7, "monitor_port": 9000, "monitor_address": "127.0.0.8"}})
	m := obj(t, s.must(t, 200, "PUT", b+"pools/"+tr.pool+"/members/"+tr.member, `{"member": {"weight": null, "monitor_port": null, "monitor_address": null}}`), "member")
	if m["weight"] != json.Number("1") || m["monitor_port"] != nil || m["monitor_address"] != nil {
		t.Errorf("member after unset: %v", m)
	}
}

func TestCascadeDelete(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	s.must(t, 204, "DELETE", "/v2.0/lbaas/loadbalancers/"+tr.lb+"?cascade=true", nil)
	for _, path := range []string{"loadbalancers/" + tr.lb, "listeners/" + tr.listener, "pools/" + tr.pool, "healthmonitors/" + tr.monitor} {
		if r := s.do(t, "GET", "/v2.0/lbaas/"+path, ""); r.code != http.StatusNotFound {
			t.Errorf("%s after cascade: %d", path, r.code)
		}
	}
}

func TestBatchMembers(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	path := "/v2.0/lbaas/pools/" + tr.pool + "/members"
	// Keep 127.0.0.2:80 with a new weight, add two, drop nothing else.
	s.must(t, 202, "PUT", path, M{"members": []M{
		{"address": "127.0.0.2", "protocol_port": 80, "weight": 5},
		{"address": "127.0.0.3", "protocol_port": 80, "name": "b"},
		{"address": "127.0.0.4", "protocol_port": 81},
	}})
	list := s.must(t, 200, "GET", path, nil)["members"].([]any)
	if len(list) != 3 {
		t.Fatalf("members after batch: %v", list)
	}
	kept := obj(t, s.must(t, 200, "GET", path+"/"+tr.member, nil), "member")
	if kept["weight"] != json.Number("5") {
		t.Errorf("the matched member was not updated in place: %v", kept)
	}
	// Replace the set: only 127.0.0.9 remains.
	s.must(t, 202, "PUT", path, M{"members": []M{{"address": "127.0.0.9", "protocol_port": 9}}})
	list = s.must(t, 200, "GET", path, nil)["members"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["address"] != "127.0.0.9" {
		t.Errorf("members after replace: %v", list)
	}
	// Empty list removes all.
	s.must(t, 202, "PUT", path, M{"members": []M{}})
	if list := s.must(t, 200, "GET", path, nil)["members"].([]any); len(list) != 0 {
		t.Errorf("members after empty batch: %v", list)
	}
}
