package monitor

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"vitals/internal/octavia"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"vitals/internal/health"
	"vitals/internal/promx"
)

// TestBuildTree: the tree has Octavia's shape and statuses: one failing
// member makes its pool, its listener and the load balancer DEGRADED.
func TestBuildTree(t *testing.T) {
	m := &Monitor{HealthMonitor: octavia.HealthMonitor{Meta: octavia.Meta{ID: "hm1", Name: "hm", AdminStateUp: true}, Type: TypeHTTP}}
	snap := Snapshot{Pools: []PoolSnapshot{
		{ID: "p1", Name: "web", AdminStateUp: true, Status: health.Degraded, Monitor: m, MonitorStatus: health.Online, Members: []MemberSnapshot{
			{Member: Member{ID: "m1", Address: "192.0.2.20", ProtocolPort: 80}, Status: health.Error},
			{Member: Member{ID: "m2", Name: "b", Address: "192.0.2.21", ProtocolPort: 80}, Status: health.Online},
		}},
		{ID: "p2", Name: "spare", AdminStateUp: true, Status: health.Online},
	}}
	lb := TreeLoadBalancer{ID: "lb1", Name: "lb", AdminStateUp: true, Listeners: []TreeListener{{ID: "l1", Name: "http", AdminStateUp: true, PoolIDs: []string{"p1"}}}}
	b, err := json.Marshal(BuildTree(lb, snap))
	if err != nil {
		t.Fatal(err)
	}
	pool := `{"id":"p1","name":"web","operating_status":"DEGRADED","provisioning_status":"ACTIVE",` +
		`"healthmonitor":{"id":"hm1","name":"hm","type":"HTTP","operating_status":"ONLINE","provisioning_status":"ACTIVE"},` +
		`"members":[{"id":"m1","name":"","operating_status":"ERROR","provisioning_status":"ACTIVE","address":"192.0.2.20","protocol_port":80},` +
		`{"id":"m2","name":"b","operating_status":"ONLINE","provisioning_status":"ACTIVE","address":"192.0.2.21","protocol_port":80}]}`
	spare := `{"id":"p2","name":"spare","operating_status":"ONLINE","provisioning_status":"ACTIVE","healthmonitor":{},"members":[]}`
	want := `{"statuses":{"loadbalancer":{"id":"lb1","name":"lb","operating_status":"DEGRADED","provisioning_status":"ACTIVE",` +
		`"listeners":[{"id":"l1","name":"http","operating_status":"DEGRADED","provisioning_status":"ACTIVE","pools":[` + pool + `],"l7policies":[]}],` +
		`"pools":[` + pool + `,` + spare + `]}}}`
	if string(b) != want {
		t.Errorf("tree\n got %s\nwant %s", b, want)
	}

	lb.AdminStateUp = false
	off := BuildTree(lb, snap).Statuses.LoadBalancer
	if off.OperatingStatus != health.Offline || off.Listeners[0].OperatingStatus != health.Offline || off.Pools[0].OperatingStatus != health.Offline {
		t.Errorf("disabled load balancer: %s, listener %s, pool %s; want all OFFLINE", off.OperatingStatus, off.Listeners[0].OperatingStatus, off.Pools[0].OperatingStatus)
	}
}

// TestCollector: the metrics follow the engine's state.
func TestCollector(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 3 * time.Millisecond
		fs.script["127.0.0.1:2"] = "pfff"
		m := mon(t, TypeTCP, time.Second, 500*time.Millisecond, 2, 3)
		h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("a", 1), tmember("b", 2)}}})
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		ped := prometheus.NewPedanticRegistry()
		ped.MustRegister(h.e.Collector())
		if _, err := ped.Gather(); err != nil {
			t.Errorf("pedantic gather: %v", err)
		}
		r := promx.NewRegistry()
		r.MustRegister(h.e.Collector())
		r.MustStream(h.e.MemberSeries())
		reg := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return r.GatherAll(nil) })
		want := `
# HELP vitals_lb_checks_total Checks completed by the engine.
# TYPE vitals_lb_checks_total counter
vitals_lb_checks_total 8
# HELP vitals_lb_member_check_failures_total Checks of the member that failed.
# TYPE vitals_lb_member_check_failures_total counter
vitals_lb_member_check_failures_total{member="a",pool="web"} 0
vitals_lb_member_check_failures_total{member="b",pool="web"} 3
# HELP vitals_lb_member_transitions_total Changes of the member's operating status.
# TYPE vitals_lb_member_transitions_total counter
vitals_lb_member_transitions_total{member="a",pool="web"} 1
vitals_lb_member_transitions_total{member="b",pool="web"} 2
# HELP vitals_lb_member_up 1 if the member is enabled and passes its health monitor (or has none), else 0.
# TYPE vitals_lb_member_up gauge
vitals_lb_member_up{member="a",pool="web"} 1
vitals_lb_member_up{member="b",pool="web"} 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vitals_lb_checks_total", "vitals_lb_member_check_failures_total", "vitals_lb_member_transitions_total", "vitals_lb_member_up"); err != nil {
			t.Error(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, mf := range mfs {
			seen[mf.GetName()] = true
			switch mf.GetName() {
			case "vitals_lb_member_status":
				got := map[string]string{}
				for _, mt := range mf.GetMetric() {
					var member, status string
					for _, l := range mt.GetLabel() {
						switch l.GetName() {
						case "member":
							member = l.GetValue()
						case "status":
							status = l.GetValue()
						}
					}
					got[member] = status
				}
				if got["a"] != "ONLINE" || got["b"] != "ERROR" || len(got) != 2 {
					t.Errorf("member statuses %v, want a ONLINE and b ERROR, one series each", got)
				}
			case "vitals_lb_member_check_latency_seconds":
				for _, mt := range mf.GetMetric() {
					if v := mt.GetGauge().GetValue(); v != 0.003 {
						t.Errorf("latest latency %v, want 0.003", v)
					}
				}
			case "vitals_lb_pool_check_duration_seconds":
				hist := mf.GetMetric()[0].GetHistogram()
				if hist.GetSampleCount() != 8 || hist.GetBucket()[2].GetCumulativeCount() != 0 || hist.GetBucket()[3].GetCumulativeCount() != 8 {
					t.Errorf("pool duration histogram %v", hist)
				}
			case "vitals_lb_pool_status":
				for _, mt := range mf.GetMetric() {
					if mt.GetGauge().GetValue() == 1 && mt.GetLabel()[1].GetValue() != "DEGRADED" {
						t.Errorf("pool status %v", mt)
					}
				}
			}
		}
		for _, name := range []string{"vitals_lb_member_status", "vitals_lb_member_check_latency_seconds", "vitals_lb_pool_check_duration_seconds", "vitals_lb_pool_status", "vitals_lb_checks_running", "vitals_lb_check_lateness_seconds"} {
			if !seen[name] {
				t.Errorf("no %s", name)
			}
		}
		h.stop(t)
	})
}

// TestHealthMonitorStatusJSON: a pool without a monitor shows {}, and an
// unnamed monitor shows "name": "" as Octavia does, not no name at all.
func TestHealthMonitorStatusJSON(t *testing.T) {
	none, err := json.Marshal(HealthMonitorStatus{})
	if err != nil || string(none) != "{}" {
		t.Errorf("no monitor: %s %v, want {}", none, err)
	}
	b, err := json.Marshal(HealthMonitorStatus{ID: "hm1", Type: TypeHTTP, OperatingStatus: "ONLINE", ProvisioningStatus: Active})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"hm1","name":"","type":"HTTP","operating_status":"ONLINE","provisioning_status":"ACTIVE"}`
	if string(b) != want {
		t.Errorf("unnamed monitor: %s, want %s", b, want)
	}
}
