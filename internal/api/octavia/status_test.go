package octavia

import (
	"encoding/json"
	"testing"

	model "vitals/internal/octavia"
)

type fixedStatuses map[string]model.OperatingStatus

func (f fixedStatuses) OperatingStatus(_ Kind, id string) (model.OperatingStatus, bool) {
	s, ok := f[id]
	return s, ok
}

type fixedStats map[string]Stats

func (f fixedStats) LoadBalancerStats(id string) (Stats, bool) { s, ok := f[id]; return s, ok }
func (f fixedStats) ListenerStats(id string) (Stats, bool)     { s, ok := f[id]; return s, ok }

func TestStatusTree(t *testing.T) {
	st := fixedStatuses{}
	sts := fixedStats{}
	s := newServer(t, Options{Statuses: st, Stats: sts})
	tr := createTree(t, s, "/v2.0")

	// Without observations: the stored OFFLINE.
	tree := obj(t, obj(t, s.must(t, 200, "GET", "/v2.0/lbaas/loadbalancers/"+tr.lb+"/status", nil), "statuses"), "loadbalancer")
	if tree["operating_status"] != "OFFLINE" || tree["provisioning_status"] != "ACTIVE" || tree["name"] != "lb1" {
		t.Errorf("load balancer node: %v", tree)
	}

	st[tr.lb] = model.OperatingOnline
	st[tr.member] = model.OperatingError
	body := s.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+tr.lb+"/status", nil)
	tree = obj(t, obj(t, body, "statuses"), "loadbalancer")
	if tree["operating_status"] != "ONLINE" {
		t.Errorf("observed status not shown: %v", tree)
	}
	listeners := tree["listeners"].([]any)
	if len(listeners) != 1 {
		t.Fatalf("listeners: %v", listeners)
	}
	pool := listeners[0].(map[string]any)["pools"].([]any)[0].(map[string]any)
	for _, key := range []string{"health_monitor", "healthmonitor"} {
		hm := obj(t, pool, key)
		if hm["id"] != tr.monitor || hm["type"] != "HTTP" {
			t.Errorf("%s: %v", key, hm)
		}
	}
	m := pool["members"].([]any)[0].(map[string]any)
	if m["id"] != tr.member || m["operating_status"] != "ERROR" || m["address"] != "127.0.0.2" || m["protocol_port"] != json.Number("80") {
		t.Errorf("member node: %v", m)
	}
	// Shows and lists carry the observed status too.
	if got := obj(t, s.must(t, 200, "GET", "/v2/lbaas/pools/"+tr.pool+"/members/"+tr.member, nil), "member"); got["operating_status"] != "ERROR" {
		t.Errorf("member show: %v", got["operating_status"])
	}

	// A pool without a monitor has neither key.
	s.must(t, 204, "DELETE", "/v2/lbaas/healthmonitors/"+tr.monitor, nil)
	tree = obj(t, obj(t, s.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+tr.lb+"/status", nil), "statuses"), "loadbalancer")
	pool = tree["listeners"].([]any)[0].(map[string]any)["pools"].([]any)[0].(map[string]any)
	if _, ok := pool["health_monitor"]; ok {
		t.Errorf("health_monitor without a monitor: %v", pool)
	}
	// Unobserved members of a pool without a monitor are NO_MONITOR;
	// before, with the monitor, they were the stored OFFLINE.
	delete(st, tr.member)
	m = pool["members"].([]any)[0].(map[string]any)
	if m["operating_status"] != "ERROR" {
		t.Errorf("observed member: %v", m["operating_status"])
	}
	tree = obj(t, obj(t, s.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+tr.lb+"/status", nil), "statuses"), "loadbalancer")
	m = tree["listeners"].([]any)[0].(map[string]any)["pools"].([]any)[0].(map[string]any)["members"].([]any)[0].(map[string]any)
	if m["operating_status"] != "NO_MONITOR" {
		t.Errorf("member without a monitor in the tree: %v", m["operating_status"])
	}
	if got := obj(t, s.must(t, 200, "GET", "/v2/lbaas/pools/"+tr.pool+"/members/"+tr.member, nil), "member"); got["operating_status"] != "NO_MONITOR" {
		t.Errorf("member without a monitor: %v", got["operating_status"])
	}

	// Stats: zeros when none, the source's otherwise.
	zero := obj(t, s.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+tr.lb+"/stats", nil), "stats")
	if zero["total_connections"] != json.Number("0") || len(zero) != 5 {
		t.Errorf("zero stats: %v", zero)
	}
	sts[tr.listener] = Stats{ActiveConnections: 2, BytesIn: 10, BytesOut: 20, TotalConnections: 7}
	ls := obj(t, s.must(t, 200, "GET", "/v2/lbaas/listeners/"+tr.listener+"/stats", nil), "stats")
	if ls["total_connections"] != json.Number("7") || ls["bytes_out"] != json.Number("20") {
		t.Errorf("listener stats: %v", ls)
	}
	if r := s.do(t, "GET", "/v2/lbaas/listeners/"+tr.lb+"/stats", ""); r.code != 404 {
		t.Errorf("stats of a missing listener: %d", r.code)
	}
}
