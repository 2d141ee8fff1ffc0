package octavia

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	model "vitals/internal/octavia"
	"vitals/internal/store"
	"vitals/internal/store/sqlite"
	"vitals/internal/testenv"
)

// activator is an Applier that plays the controller: shortly after each
// write it sets every PENDING_* object ACTIVE, so that clients see the
// PENDING_* statuses and wait them out, as they do against `vitals lb`.
type activator struct {
	t     *testing.T
	store store.Store
	wg    sync.WaitGroup
}

func (a *activator) Changed(int64) {
	a.wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		if err := a.store.Update(context.Background(), activateAll); err != nil {
			a.t.Errorf("activate: %v", err)
		}
	})
}

// activateAll sets every PENDING_* object ACTIVE.
func activateAll(tx store.Tx) error {
	lbs, err := tx.LoadBalancers()
	if err != nil {
		return err
	}
	for _, lb := range lbs {
		if lb.ProvisioningStatus.Pending() {
			lb.ProvisioningStatus = model.ProvisioningActive
			if err := tx.UpdateLoadBalancer(&lb); err != nil {
				return err
			}
		}
	}
	ls, err := tx.Listeners("")
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.ProvisioningStatus.Pending() {
			l.ProvisioningStatus = model.ProvisioningActive
			if err := tx.UpdateListener(&l); err != nil {
				return err
			}
		}
	}
	ps, err := tx.Pools("")
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.ProvisioningStatus.Pending() {
			p.ProvisioningStatus = model.ProvisioningActive
			if err := tx.UpdatePool(&p); err != nil {
				return err
			}
		}
	}
	ms, err := tx.Members("")
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ProvisioningStatus.Pending() {
			m.ProvisioningStatus = model.ProvisioningActive
			if err := tx.UpdateMember(&m); err != nil {
				return err
			}
		}
	}
	hms, err := tx.HealthMonitors("")
	if err != nil {
		return err
	}
	for _, hm := range hms {
		if hm.ProvisioningStatus.Pending() {
			hm.ProvisioningStatus = model.ProvisioningActive
			if err := tx.UpdateHealthMonitor(&hm); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitLBActive waits (at most 10 s) until the load balancer is ACTIVE, so
// that the next write is not refused with 409 while it is PENDING_UPDATE.
func waitLBActive(t *testing.T, s store.Store, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var status model.ProvisioningStatus
		err := s.View(t.Context(), func(tx store.Tx) error {
			lb, err := tx.LoadBalancer(id)
			status = lb.ProvisioningStatus
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if status == model.ProvisioningActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s still %s after 10 s", id, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpenstackCLI drives the real `openstack loadbalancer` commands
// (python3-octaviaclient) against the API without Keystone: admin_token
// auth with OS_ENDPOINT as the endpoint of every service, an empty HOME
// (no clouds.yaml). The load balancer is created through the API: the
// CLI's `loadbalancer create` looks the VIP subnet up in Neutron.
func TestOpenstackCLI(t *testing.T) {
	const token = "cli-test-token-5f0c2a"
	st, err := sqlite.OpenMemory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	act := &activator{t: t, store: st}
	t.Cleanup(act.wg.Wait) // after the server is closed: no more Changed
	s := newServer(t, Options{Store: st, Token: token, Applier: act})
	cli := testenv.NewOpenstackCLI(t, s.URL, token)

	lb := obj(t, s.must(t, 201, "POST", "/v2.0/lbaas/loadbalancers", M{"loadbalancer": M{"name": "lb1", "vip_address": "127.0.0.1"}}), "loadbalancer")
	lbID := lb["id"].(string)
	waitLBActive(t, st, lbID)

	// loadbalancer list: the one load balancer, ACTIVE.
	var list []map[string]any
	cli.JSON(t, &list, "loadbalancer", "list", "-f", "json")
	if len(list) != 1 || list[0]["id"] != lbID || list[0]["name"] != "lb1" || list[0]["vip_address"] != "127.0.0.1" || list[0]["provisioning_status"] != "ACTIVE" {
		t.Errorf("loadbalancer list: %v", list)
	}

	var provs []map[string]any
	cli.JSON(t, &provs, "loadbalancer", "provider", "list", "-f", "json")
	if len(provs) != 1 || provs[0]["name"] != "vitals" {
		t.Errorf("provider list: %v", provs)
	}

	// loadbalancer show by name: the CLI resolves it with ?name=.
	var shown map[string]any
	cli.JSON(t, &shown, "loadbalancer", "show", "lb1", "-f", "json")
	if shown["id"] != lbID || shown["name"] != "lb1" || shown["provider"] != "vitals" || shown["admin_state_up"] != true {
		t.Errorf("loadbalancer show: %v", shown)
	}

	// listener create --wait: the load balancer goes PENDING_UPDATE and
	// the CLI polls it until ACTIVE.
	port := testenv.FreePort(t)
	var l1 map[string]any
	cli.JSON(t, &l1, "loadbalancer", "listener", "create", "--protocol", "TCP", "--protocol-port", strconv.Itoa(port), "--name", "l1", "--wait", "-f", "json", "lb1")
	if l1["name"] != "l1" || l1["protocol"] != "TCP" || l1["protocol_port"] != float64(port) || l1["loadbalancers"] != lbID || l1["provisioning_status"] != "ACTIVE" {
		t.Errorf("listener create --wait: %v", l1)
	}

	var pool1 map[string]any
	cli.JSON(t, &pool1, "loadbalancer", "pool", "create", "--protocol", "TCP", "--lb-algorithm", "ROUND_ROBIN", "--listener", "l1", "--name", "pool1", "-f", "json")
	if pool1["name"] != "pool1" || pool1["lb_algorithm"] != "ROUND_ROBIN" || pool1["listeners"] != l1["id"] || pool1["loadbalancers"] != lbID {
		t.Errorf("pool create: %v", pool1)
	}
	waitLBActive(t, st, lbID)

	memberPort := testenv.FreePort(t)
	var m1 map[string]any
	cli.JSON(t, &m1, "loadbalancer", "member", "create", "--address", "127.0.0.1", "--protocol-port", strconv.Itoa(memberPort), "--name", "m1", "-f", "json", "pool1")
	if m1["name"] != "m1" || m1["address"] != "127.0.0.1" || m1["protocol_port"] != float64(memberPort) || m1["weight"] != float64(1) {
		t.Errorf("member create: %v", m1)
	}
	waitLBActive(t, st, lbID)

	// The seed's command, exactly (table output).
	out := cli.Must(t, strings.Fields("loadbalancer healthmonitor create --delay 15 --max-retries 4 --timeout 10 --type HTTP --url-path /health pool1")...)
	fieldsOut := tableFields(string(out))
	for k, want := range map[string]string{"delay": "15", "max_retries": "4", "timeout": "10", "type": "HTTP", "url_path": "/health", "pools": pool1["id"].(string), "http_method": "GET", "expected_codes": "200"} {
		if fieldsOut[k] != want {
			t.Errorf("healthmonitor create: %s = %q, want %q\n%s", k, fieldsOut[k], want, out)
		}
	}
	hmID := fieldsOut["id"]
	waitLBActive(t, st, lbID)

	var hm map[string]any
	cli.JSON(t, &hm, "loadbalancer", "healthmonitor", "show", hmID, "-f", "json")
	if hm["id"] != hmID || hm["delay"] != float64(15) || hm["max_retries"] != float64(4) || hm["timeout"] != float64(10) || hm["type"] != "HTTP" || hm["url_path"] != "/health" || hm["provisioning_status"] != "ACTIVE" {
		t.Errorf("healthmonitor show: %v", hm)
	}

	var members []map[string]any
	cli.JSON(t, &members, "loadbalancer", "member", "list", "pool1", "-f", "json")
	if len(members) != 1 || members[0]["id"] != m1["id"] || members[0]["name"] != "m1" || members[0]["protocol_port"] != float64(memberPort) {
		t.Errorf("member list pool1: %v", members)
	}

	var l1Shown map[string]any
	cli.JSON(t, &l1Shown, "loadbalancer", "listener", "show", "l1", "-f", "json")
	if l1Shown["id"] != l1["id"] || l1Shown["default_pool_id"] != pool1["id"] || l1Shown["protocol_port"] != float64(port) {
		t.Errorf("listener show l1: %v", l1Shown)
	}

	// status show prints JSON without -f: the whole tree.
	var tree struct {
		LoadBalancer struct {
			ID        string `json:"id"`
			Listeners []struct {
				Name  string `json:"name"`
				Pools []struct {
					Name          string           `json:"name"`
					HealthMonitor *json.RawMessage `json:"health_monitor"`
					Members       []struct {
						Name string `json:"name"`
					} `json:"members"`
				} `json:"pools"`
			} `json:"listeners"`
		} `json:"loadbalancer"`
	}
	cli.JSON(t, &tree, "loadbalancer", "status", "show", "lb1")
	if tree.LoadBalancer.ID != lbID || len(tree.LoadBalancer.Listeners) != 1 || tree.LoadBalancer.Listeners[0].Name != "l1" ||
		len(tree.LoadBalancer.Listeners[0].Pools) != 1 || tree.LoadBalancer.Listeners[0].Pools[0].HealthMonitor == nil ||
		len(tree.LoadBalancer.Listeners[0].Pools[0].Members) != 1 || tree.LoadBalancer.Listeners[0].Pools[0].Members[0].Name != "m1" {
		t.Errorf("status show: %+v", tree)
	}

	// Deletes: the member by name (waiting for it to go), then the
	// whole tree with --cascade.
	cli.Must(t, "loadbalancer", "member", "delete", "--wait", "pool1", "m1")
	if got := s.must(t, 200, "GET", "/v2.0/lbaas/pools/"+pool1["id"].(string)+"/members", nil)["members"]; len(got.([]any)) != 0 {
		t.Errorf("members after member delete: %v", got)
	}
	waitLBActive(t, st, lbID)
	cli.Must(t, "loadbalancer", "delete", "--cascade", "--wait", "lb1")
	for _, p := range []string{"loadbalancers/" + lbID, "listeners/" + l1["id"].(string), "pools/" + pool1["id"].(string), "healthmonitors/" + hmID} {
		s.must(t, 404, "GET", "/v2.0/lbaas/"+p, nil)
	}

	// A wrong token: the CLI exits non-zero and says why.
	bad := *cli
	bad.Token = "wrong-token-0000"
	if out, err := bad.Run(t.Context(), "loadbalancer", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v\n%s", err, out)
	}
}

// tableFields parses the CLI's Field | Value table.
func tableFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 4 {
			continue
		}
		m[strings.TrimSpace(cols[1])] = strings.TrimSpace(cols[2])
	}
	return m
}
