package octavia

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// Golden pairs: the request bodies gophercloud sends and the response
// bodies it expects, taken from gophercloud v2.16.0,
// openstack/loadbalancer/v2/{loadbalancers,listeners,pools,monitors}/testing/fixtures_test.go
// (Apache License 2.0, (c) the gophercloud authors). Each request is
// sent verbatim; a success must answer with every attribute of the
// fixture's response, of the same JSON kind, echoing the request's
// values. Requests using what vitals does not serve (TLS, HTTP pools,
// additional VIPs) pin the 501 instead.

const (
	gcLB       = "36e08a3e-a78f-4b40-a229-1e7e23eee1ab"
	gcPool     = "84f1b61f-58c4-45bf-a8a9-2dafb9e5214d"
	gcPool2    = "332abe93-f488-41ba-870b-2ac66be7f853"
	gcListener = "36e08a3e-a78f-4b40-a229-1e7e23eee1ac"
)

const gcMonitorCreate = `{
	"healthmonitor": {
		"type":"HTTP",
		"pool_id":"84f1b61f-58c4-45bf-a8a9-2dafb9e5214d",
		"project_id":"453105b9-1754-413f-aab1-55f1af620750",
		"delay":20,
		"domain_name": "www.example.com",
		"name":"db",
		"http_version": 1.1,
		"timeout":10,
		"max_retries":5,
		"max_retries_down":4,
		"url_path":"/check",
		"expected_codes":"200-299"
	}
}`

const gcMonitorResponse = `{
	"healthmonitor": {
		"admin_state_up":true,
		"project_id":"83657cfcdfe44cd5920adaf26c48ceea",
		"delay":5,
		"domain_name": "www.example.com",
		"name":"db",
		"expected_codes":"200",
		"max_retries":2,
		"max_retries_down":4,
		"http_method":"GET",
		"http_version": 1.1,
		"timeout":2,
		"url_path":"/",
		"type":"HTTP",
		"pools": [{"id": "d459f7d8-c6ee-439d-8713-d3fc08aeed8d"}],
		"id":"5d4b5228-33b0-4e60-b225-9b727c1a20e7",
		"tags":[]
	}
}`

const gcMonitorUpdate = `{
	"healthmonitor": {
		"name": "NewHealthmonitorName",
		"delay": 3,
		"timeout": 20,
		"max_retries": 10,
		"max_retries_down": 8,
		"url_path": "/another_check",
		"expected_codes": "301"
	}
}`

const gcLBCreate = `{
	"loadbalancer": {
		"name": "db_lb",
		"vip_port_id": "2bf413c8-41a9-4477-b505-333d5cbe8b55",
		"vip_subnet_id": "9cedb85d-0759-4898-8a4b-fa5a5ea10086",
		"vip_address": "10.30.176.48",
		"flavor_id": "bba40eb2-ee8c-11e9-81b4-2a2ae2dbcce4",
		"provider": "haproxy",
		"admin_state_up": true,
		"tags": ["test", "stage"],
		"additional_vips": [{"subnet_id": "0d4f6a08-60b7-44ab-8903-f7d76ec54095", "ip_address" : "192.168.10.10"}]
	}
}`

const gcLBUpdate = `{
	"loadbalancer": {
		"name": "NewLoadbalancerName",
		"tags": ["test"]
	}
}`

const gcLBResponse = `{
	"loadbalancer": {
		"id": "36e08a3e-a78f-4b40-a229-1e7e23eee1ab",
		"project_id": "54030507-44f7-473c-9342-b4d14a95f692",
		"created_at": "2019-06-30T04:15:37",
		"updated_at": "2019-06-30T05:18:49",
		"name": "NewLoadbalancerName",
		"description": "lb config for the db tier",
		"vip_subnet_id": "9cedb85d-0759-4898-8a4b-fa5a5ea10086",
		"vip_address": "10.30.176.48",
		"vip_port_id": "2bf413c8-41a9-4477-b505-333d5cbe8b55",
		"flavor_id": "bba40eb2-ee8c-11e9-81b4-2a2ae2dbcce4",
		"provider": "haproxy",
		"admin_state_up": true,
		"provisioning_status": "PENDING_CREATE",
		"operating_status": "OFFLINE",
		"tags": ["test"]
	}
}`

const gcListenerCreate = `{
	"listener": {
		"loadbalancer_id": "79e05663-7f03-45d2-a092-8b94062f22ab",
		"protocol": "TCP",
		"name": "db",
		"admin_state_up": true,
		"default_tls_container_ref": "2c433435-20de-4411-84ae-9cc8917def76",
		"default_pool_id": "41efe233-7591-43c5-9cf7-923964759f9e",
		"protocol_port": 3306,
		"insert_headers": {
			"X-Forwarded-For": "true"
		},
		"allowed_cidrs": [
			"192.0.2.0/24",
			"198.51.100.0/24"
		],
		"tls_versions": ["TLSv1.2"]
	}
}`

const gcListenerResponse = `{
	"listener": {
		"id": "36e08a3e-a78f-4b40-a229-1e7e23eee1ab",
		"project_id": "310df60f-2a10-4ee5-9554-98393092194c",
		"name": "db",
		"description": "listener config for the db tier",
		"loadbalancers": [{"id": "79e05663-7f03-45d2-a092-8b94062f22ab"}],
		"protocol": "TCP",
		"protocol_port": 3306,
		"default_pool_id": "41efe233-7591-43c5-9cf7-923964759f9e",
		"connection_limit": 2000,
		"admin_state_up": true,
		"default_tls_container_ref": "2c433435-20de-4411-84ae-9cc8917def76",
		"sni_container_refs": ["3d328d82-2547-4921-ac2f-61c3b452b5ff", "b3cfd7e3-8c19-455c-8ebb-d78dfd8f7e7d"],
		"timeout_client_data": 50000,
		"timeout_member_data": 50000,
		"timeout_member_connect": 5000,
		"timeout_tcp_inspect": 0,
		"insert_headers": {
			"X-Forwarded-For": "true"
		},
		"allowed_cidrs": [
			"192.0.2.0/24",
			"198.51.100.0/24"
		],
		"tls_versions": ["TLSv1.2"]
	}
}`

const gcPoolCreate = `{
	"pool": {
		"lb_algorithm": "ROUND_ROBIN",
		"protocol": "HTTP",
		"name": "Example pool",
		"project_id": "2ffc6e22aae24e4795f87155d24c896f",
		"loadbalancer_id": "79e05663-7f03-45d2-a092-8b94062f22ab"
	}
}`

const gcPoolUpdate = `{
	"pool": {
		"name": "NewPoolName",
		"lb_algorithm": "LEAST_CONNECTIONS"
	}
}`

const gcPoolResponse = `{
	"pool": {
		"lb_algorithm":"LEAST_CONNECTION",
		"protocol":"HTTP",
		"description":"",
		"healthmonitor_id": "5f6c8345-28d8-4f84-a246-e04380b0461d",
		"members":[{"id": "67306cda-815d-4354-9fe4-59e09da9c3c5"}],
		"listeners":[{"id": "2a280670-c202-4b0b-a562-34077415aabf"}],
		"loadbalancers":[{"id": "79e05663-7f03-45d2-a092-8b94062f22ab"}],
		"id":"c3741b06-df4d-4715-b142-276b6bce75ab",
		"name":"db",
		"admin_state_up":true,
		"project_id":"83657cfcdfe44cd5920adaf26c48ceea",
		"provider": "haproxy"
	}
}`

const gcMemberCreate = `{
	"member": {
		"address": "10.0.2.11",
		"weight": 10,
		"name": "db",
		"subnet_id": "1981f108-3c48-48d2-b908-30f7d28532c9",
		"project_id": "2ffc6e22aae24e4795f87155d24c896f",
		"protocol_port": 80
	}
}`

const gcMemberUpdate = `{
	"member": {
		"name": "newMemberName",
		"weight": 4
	}
}`

const gcMemberResponse = `{
	"member": {
		"id": "fad389a3-9a4a-4762-a365-8c7038508b5d",
		"address": "10.0.2.11",
		"weight": 10,
		"name": "db",
		"subnet_id": "1981f108-3c48-48d2-b908-30f7d28532c9",
		"project_id": "2ffc6e22aae24e4795f87155d24c896f",
		"admin_state_up":false,
		"protocol_port": 80,
		"provisioning_status": "ACTIVE",
		"created_at": "2018-08-23T20:05:21",
		"updated_at": "2018-08-23T21:22:53",
		"operating_status": "ONLINE",
		"backup": false,
		"monitor_address": "192.168.1.111",
		"monitor_port": 80
	}
}`

// notOctavias are attributes in gophercloud's fixtures that Octavia's
// responses do not have (a pool has no provider).
var notOctavias = map[string][]string{"pool": {"provider"}}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	}
	return "object"
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return m
}

// sameShape checks that got has every attribute of the fixture, of the
// same kind where both are set, and the values the request set.
func sameShape(t *testing.T, key string, fixture, request string, got map[string]any) {
	t.Helper()
	want := decodeJSON(t, fixture)[key].(map[string]any)
	gotObj := toObject(got[key])
	for k, v := range want {
		if slices.Contains(notOctavias[key], k) {
			continue
		}
		g, ok := gotObj[k]
		if !ok {
			t.Errorf("%s: no attribute %q", key, k)
			continue
		}
		if g != nil && v != nil && kind(g) != kind(v) {
			t.Errorf("%s.%s: %s %v, fixture has %s %v", key, k, kind(g), g, kind(v), v)
		}
	}
	if request == "" {
		return
	}
	for k, v := range decodeJSON(t, request)[key].(map[string]any) {
		if k == "pool_id" {
			continue // shown as pools: [{"id": ...}]
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(gotObj[k])
		var x, y any
		json.Unmarshal(a, &x)
		json.Unmarshal(b, &y)
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s.%s: sent %s, got %s", key, k, a, b)
		}
	}
}

func TestGophercloudFixtures(t *testing.T) {
	s := newServer(t, Options{})
	// The parents the fixtures refer to, with their IDs.
	err := s.store.Update(t.Context(), func(tx store.Tx) error {
		lb := model.NewLoadBalancer()
		lb.ID, lb.ProvisioningStatus, lb.Description = gcLB, model.ProvisioningActive, "lb config for the db tier"
		lb.VIPSubnetID, lb.VIPAddress, lb.VIPPortID = "9cedb85d-0759-4898-8a4b-fa5a5ea10086", "10.30.176.48", "2bf413c8-41a9-4477-b505-333d5cbe8b55"
		if err := tx.CreateLoadBalancer(&lb); err != nil {
			return err
		}
		for _, id := range []string{gcPool, gcPool2} {
			p := model.NewPool()
			p.ID, p.LoadBalancerID, p.Protocol, p.LBAlgorithm, p.ProvisioningStatus = id, gcLB, "TCP", "ROUND_ROBIN", model.ProvisioningActive
			if err := tx.CreatePool(&p); err != nil {
				return err
			}
		}
		l := model.NewListener()
		l.ID, l.LoadBalancerID, l.Protocol, l.ProtocolPort, l.ProvisioningStatus = gcListener, gcLB, "TCP", 3306, model.ProvisioningActive
		l.Name, l.AllowedCIDRs, l.DefaultPoolID = "db", []string{"192.0.2.0/24", "198.51.100.0/24"}, gcPool
		return tx.CreateListener(&l)
	})
	if err != nil {
		t.Fatal(err)
	}
	const b = "/v2.0/lbaas/"

	hm := s.must(t, 201, "POST", b+"healthmonitors", gcMonitorCreate)
	sameShape(t, "healthmonitor", gcMonitorResponse, gcMonitorCreate, hm)
	id := obj(t, hm, "healthmonitor")["id"].(string)
	// Octavia would take timeout 20 with delay 3; vitals refuses a
	// timeout longer than the delay (internal/octavia's rule).
	r := s.do(t, "PUT", b+"healthmonitors/"+id, gcMonitorUpdate)
	if _, msg := r.fault(t); r.code != 400 || msg != "Validation failure: timeout 20 is longer than delay 3; a check must end before the next one is due" {
		t.Errorf("monitor update fixture: %d %s", r.code, r.raw)
	}

	sameShape(t, "loadbalancer", gcLBResponse, gcLBUpdate, s.must(t, 200, "PUT", b+"loadbalancers/"+gcLB, gcLBUpdate))
	sameShape(t, "listener", gcListenerResponse, "", s.must(t, 200, "GET", b+"listeners/"+gcListener, nil))
	sameShape(t, "pool", gcPoolResponse, gcPoolUpdate, s.must(t, 200, "PUT", b+"pools/"+gcPool, gcPoolUpdate))
	m := s.must(t, 201, "POST", b+"pools/"+gcPool2+"/members", gcMemberCreate)
	sameShape(t, "member", gcMemberResponse, gcMemberCreate, m)
	mid := obj(t, m, "member")["id"].(string)
	sameShape(t, "member", gcMemberResponse, gcMemberUpdate, s.must(t, 200, "PUT", b+"pools/"+gcPool2+"/members/"+mid, gcMemberUpdate))

	for _, c := range []struct{ name, path, body, fault string }{
		{"load balancer with additional VIPs", b + "loadbalancers", gcLBCreate, "Provider 'vitals' does not support a requested option: loadbalancer additional_vips"},
		{"TLS listener", b + "listeners", gcListenerCreate, "Provider 'vitals' does not support a requested option: listener "},
		{"HTTP pool", b + "pools", gcPoolCreate, "Provider 'vitals' does not support a requested option: pool protocol HTTP; use one of TCP, UDP, PROXY, PROXYV2"},
	} {
		r := s.do(t, "POST", c.path, c.body)
		if _, msg := r.fault(t); r.code != 501 || len(msg) < len(c.fault) || msg[:len(c.fault)] != c.fault {
			t.Errorf("%s: %d %s", c.name, r.code, r.raw)
		}
	}
}
