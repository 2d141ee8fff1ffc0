package octavia

import (
	"strings"
	"testing"
)

// TestBadInput sends invalid requests: each gets its code and an Octavia
// fault naming the problem, and the store's revision does not move.
func TestBadInput(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2.0")
	const b = "/v2.0/lbaas/"
	missingPool := "9f0c8e8a-5f43-4b8e-9c39-3d7f2f1c0a11"
	udpPool := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/pools", M{"pool": M{"loadbalancer_id": tr.lb, "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"}}), "pool")["id"].(string)
	lb2 := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/loadbalancers", M{"loadbalancer": M{"name": "lb2"}}), "loadbalancer")["id"].(string)
	otherPool := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/pools", M{"pool": M{"loadbalancer_id": lb2, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}), "pool")["id"].(string)
	hm := func(fields string) string {
		return `{"healthmonitor": {"pool_id": "` + tr.pool + `", "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3` + fields + `}}`
	}
	cases := []struct {
		name, method, path, body string
		code                     int
		fault                    string // exact, or a prefix when it ends in "..."
	}{
		{"wrong type string for int", "POST", b + "healthmonitors", `{"healthmonitor": {"pool_id": "` + tr.pool + `", "type": "TCP", "delay": "five", "timeout": 3, "max_retries": 3}}`, 400,
			"Invalid input for field/attribute delay. Value: '\"five\"'. Wrong type. Expected 'integer', got 'string'"},
		{"fraction for int", "POST", b + "pools/" + tr.pool + "/members", `{"member": {"address": "127.0.0.9", "protocol_port": 80.5}}`, 400,
			"Invalid input for field/attribute protocol_port. Value: '80.5'. Wrong type. Expected 'integer', got 'number'"},
		{"list for int", "POST", b + "pools/" + tr.pool + "/members", `{"member": {"address": "127.0.0.9", "protocol_port": [80]}}`, 400,
			"Invalid input for field/attribute protocol_port. Value: '[80]'. Wrong type. Expected 'integer', got 'array'"},
		{"wrong type number for string", "POST", b + "loadbalancers", `{"loadbalancer": {"name": 5}}`, 400,
			"Invalid input for field/attribute name. Value: '5'. Wrong type. Expected 'string', got 'number'"},
		{"wrong type bool", "PUT", b + "loadbalancers/" + tr.lb, `{"loadbalancer": {"admin_state_up": "yes"}}`, 400,
			"Invalid input for field/attribute admin_state_up. Value: '\"yes\"'. Wrong type. Expected 'bool', got 'string'"},
		{"max_retries out of range", "POST", b + "healthmonitors", strings.Replace(hm(""), `"max_retries": 3`, `"max_retries": 11`, 1), 400,
			"Invalid input for field/attribute max_retries. Value: '11'. Value should be lower or equal to 10"},
		{"weight out of range", "POST", b + "pools/" + tr.pool + "/members", `{"member": {"address": "127.0.0.9", "protocol_port": 80, "weight": 257}}`, 400,
			"Invalid input for field/attribute weight. Value: '257'. Value should be lower or equal to 256"},
		{"port out of range", "POST", b + "listeners", `{"listener": {"loadbalancer_id": "` + tr.lb + `", "protocol": "TCP", "protocol_port": 70000}}`, 400,
			"Invalid input for field/attribute protocol_port. Value: '70000'. Value should be lower or equal to 65535"},
		{"negative delay", "POST", b + "healthmonitors", strings.Replace(hm(""), `"delay": 5`, `"delay": -1`, 1), 400,
			"Invalid input for field/attribute delay. Value: '-1'..."},
		{"timeout longer than delay", "POST", b + "healthmonitors", strings.Replace(hm(""), `"timeout": 3`, `"timeout": 9`, 1), 400,
			"Validation failure: timeout 9 is longer than delay 5..."},
		{"missing type", "POST", b + "healthmonitors", `{"healthmonitor": {"pool_id": "` + tr.pool + `", "delay": 5, "timeout": 3, "max_retries": 3}}`, 400,
			"Invalid input for field/attribute type. Value: 'None'. Mandatory field missing."},
		{"unknown algorithm", "POST", b + "pools", `{"pool": {"loadbalancer_id": "` + tr.lb + `", "protocol": "TCP", "lb_algorithm": "RANDOM"}}`, 400,
			"Invalid input for field/attribute lb_algorithm. Value: 'RANDOM'. Value should be one of: ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT"},
		{"unknown field", "POST", b + "loadbalancers", `{"loadbalancer": {"name": "x", "bogus": 1}}`, 400,
			"Unknown attribute for argument loadbalancer: bogus"},
		{"field name in another case", "POST", b + "loadbalancers", `{"loadbalancer": {"Name": "x"}}`, 400,
			"Unknown attribute for argument loadbalancer: Name"},
		{"unknown envelope", "POST", b + "loadbalancers", `{"loadbalancer": {}, "extra": {}}`, 400,
			"Unknown argument: extra"},
		{"missing envelope", "POST", b + "loadbalancers", `{}`, 400,
			"Invalid input for field/attribute loadbalancer. Value: 'None'. Mandatory field missing."},
		{"field not updatable", "PUT", b + "listeners/" + tr.listener, `{"listener": {"protocol_port": 81}}`, 400,
			"Unknown attribute for argument listener: protocol_port"},
		{"HTTP fields on a TCP monitor", "POST", b + "healthmonitors", hm(`, "url_path": "/x"`), 400,
			"url_path is not a valid option for health monitors of type TCP"},
		{"http_method on a PING monitor", "POST", b + "healthmonitors", strings.Replace(hm(`, "http_method": "GET"`), `"TCP"`, `"PING"`, 1), 400,
			"http_method is not a valid option for health monitors of type PING"},
		{"second monitor on a pool", "POST", b + "healthmonitors", hm(""), 409,
			"This pool already has a health monitor"},
		{"member of a missing pool", "POST", b + "pools/" + missingPool + "/members", `{"member": {"address": "127.0.0.9", "protocol_port": 80}}`, 404,
			"Pool " + missingPool + " not found."},
		{"monitor of a missing pool", "POST", b + "healthmonitors", strings.Replace(hm(""), tr.pool, missingPool, 1), 404,
			"Pool " + missingPool + " not found."},
		{"listener of a missing load balancer", "POST", b + "listeners", `{"listener": {"loadbalancer_id": "` + missingPool + `", "protocol": "TCP", "protocol_port": 81}}`, 404,
			"Load Balancer " + missingPool + " not found."},
		{"duplicate member", "POST", b + "pools/" + tr.pool + "/members", `{"member": {"address": "127.0.0.2", "protocol_port": 80}}`, 409,
			"Another member on this pool is already using ip address 127.0.0.2 on protocol_port 80"},
		{"duplicate listener port", "POST", b + "listeners", `{"listener": {"loadbalancer_id": "` + tr.lb + `", "protocol": "TCP", "protocol_port": 8080}}`, 409,
			"Another Listener on this Load Balancer is already using protocol TCP and protocol_port 8080"},
		{"second default pool", "POST", b + "pools", `{"pool": {"listener_id": "` + tr.listener + `", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}`, 409,
			"This listener already has a default pool"},
		{"unsupported listener protocol", "POST", b + "listeners", `{"listener": {"loadbalancer_id": "` + tr.lb + `", "protocol": "HTTP", "protocol_port": 81}}`, 501,
			"Provider 'vitals' does not support a requested option: listener protocol HTTP..."},
		{"PING monitor on a UDP pool", "POST", b + "healthmonitors", strings.Replace(strings.Replace(hm(""), tr.pool, udpPool, 1), `"TCP"`, `"PING"`, 1), 400,
			"Validation failure: The associated pool protocol is UDP, so only a HTTP/TCP/UDP-CONNECT health monitor is supported."},
		{"default pool on another load balancer", "PUT", b + "listeners/" + tr.listener, `{"listener": {"default_pool_id": "` + otherPool + `"}}`, 400,
			"Validation failure: Pool " + otherPool + " is on load balancer " + lb2 + ", not on the listener's load balancer " + tr.lb + "."},
		{"UDP pool behind a TCP listener", "PUT", b + "listeners/" + tr.listener, `{"listener": {"default_pool_id": "` + udpPool + `"}}`, 400,
			"Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'TCP'."},
		{"malformed JSON", "POST", b + "loadbalancers", `{"loadbalancer": {"name": "x"`, 400,
			"The request body is not valid JSON..."},
		{"trailing data", "POST", b + "loadbalancers", `{"loadbalancer": {}} {}`, 400,
			"The request body is not valid JSON: trailing data after the JSON value"},
		{"body over 1 MiB", "POST", b + "loadbalancers", `{"loadbalancer": {"description": "` + strings.Repeat("x", MaxBodyBytes) + `"}}`, 413,
			"Request body is larger than the limit of 1048576 bytes"},
		{"bad member in a batch", "PUT", b + "pools/" + tr.pool + "/members", `{"members": [{"address": "127.0.0.7", "protocol_port": 80}, {"address": "not-an-ip", "protocol_port": 80}]}`, 400,
			"Invalid input for field/attribute address. Value: 'not-an-ip'. Value should be IPv4 or IPv6 format"},
		{"duplicate in a batch", "PUT", b + "pools/" + tr.pool + "/members", `{"members": [{"address": "127.0.0.7", "protocol_port": 80}, {"address": "127.0.0.7", "protocol_port": 80}]}`, 409,
			"Another member on this pool is already using ip address 127.0.0.7 on protocol_port 80"},
		{"update of a missing monitor", "PUT", b + "healthmonitors/" + missingPool, `{"healthmonitor": {"delay": 5}}`, 404,
			"Health Monitor " + missingPool + " not found."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := revision(t, s.store)
			r := s.do(t, c.method, c.path, c.body)
			if r.code != c.code {
				t.Errorf("code %d, want %d: %s", r.code, c.code, r.raw)
			}
			code, msg := r.fault(t)
			if code != "Client" {
				t.Errorf("faultcode %q", code)
			}
			if p, ok := strings.CutSuffix(c.fault, "..."); ok {
				if !strings.HasPrefix(msg, p) {
					t.Errorf("faultstring %q, want prefix %q", msg, p)
				}
			} else if msg != c.fault {
				t.Errorf("faultstring %q\n                want %q", msg, c.fault)
			}
			if after := revision(t, s.store); after != before {
				t.Errorf("revision moved from %d to %d: the bad request changed the store", before, after)
			}
		})
	}
	// Nothing of the tree changed either.
	if list := s.must(t, 200, "GET", b+"pools/"+tr.pool+"/members", nil)["members"].([]any); len(list) != 1 {
		t.Errorf("members after the bad requests: %v", list)
	}
}
