package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"

	"vitals/internal/testenv"
)

// TestLBDBOpenstackCLI runs the real `openstack loadbalancer` commands
// (python3-octaviaclient, admin_token auth, no Keystone) against the real
// `vitals lb --db`: the creates use --wait, so the CLI polls the load
// balancer through the controller's PENDING_UPDATE to ACTIVE; a client
// connection through the listener the CLI created reaches the member; the
// seed's health monitor command creates the monitor unchanged. The load
// balancer itself is created through the API: the CLI's `loadbalancer
// create` looks the VIP subnet up in Neutron.
func TestLBDBOpenstackCLI(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	cli := testenv.NewOpenstackCLI(t, d.url, d.token)
	backend := testenv.StartGreeter(t, "m1")

	lb, err := loadbalancers.Create(context.Background(), d.c, loadbalancers.CreateOpts{Name: "lb1", VipAddress: "127.0.0.1"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, lb.ID)

	var list []map[string]any
	cli.JSON(t, &list, "loadbalancer", "list", "-f", "json")
	if len(list) != 1 || list[0]["id"] != lb.ID || list[0]["name"] != "lb1" || list[0]["provisioning_status"] != "ACTIVE" {
		t.Errorf("loadbalancer list: %v", list)
	}

	port := testenv.FreePort(t)
	var l1 map[string]any
	cli.JSON(t, &l1, "loadbalancer", "listener", "create", "--protocol", "TCP", "--protocol-port", strconv.Itoa(port), "--name", "l1", "--wait", "-f", "json", "lb1")
	if l1["name"] != "l1" || l1["protocol_port"] != float64(port) || l1["loadbalancers"] != lb.ID || l1["provisioning_status"] != "ACTIVE" {
		t.Errorf("listener create --wait: %v", l1)
	}

	var pool1 map[string]any
	cli.JSON(t, &pool1, "loadbalancer", "pool", "create", "--protocol", "TCP", "--lb-algorithm", "ROUND_ROBIN", "--listener", "l1", "--name", "pool1", "--wait", "-f", "json")
	if pool1["name"] != "pool1" || pool1["listeners"] != l1["id"] || pool1["provisioning_status"] != "ACTIVE" {
		t.Errorf("pool create --wait: %v", pool1)
	}

	var m1 map[string]any
	cli.JSON(t, &m1, "loadbalancer", "member", "create", "--address", "127.0.0.1", "--protocol-port", strconv.Itoa(backend.Port), "--name", "m1", "--wait", "-f", "json", "pool1")
	if m1["name"] != "m1" || m1["protocol_port"] != float64(backend.Port) || m1["provisioning_status"] != "ACTIVE" {
		t.Errorf("member create --wait: %v", m1)
	}

	// Traffic: a connection through the CLI's listener reaches the member
	// (no monitor yet, so the member is in rotation from the start).
	addr := "127.0.0.1:" + strconv.Itoa(port)
	d.poll(t, "a connection through l1 reaches m1", 10*time.Second, func() error {
		if seen := greetings(t, addr, 1); seen["m1"] != 1 {
			return fmt.Errorf("the connection reached %v", seen)
		}
		return nil
	})

	// The seed's command, exactly, with --wait (table output).
	out := cli.Must(t, append(strings.Fields("loadbalancer healthmonitor create --delay 15 --max-retries 4 --timeout 10 --type HTTP --url-path /health pool1"), "--wait")...)
	hm := tableFields(string(out))
	for k, want := range map[string]string{"delay": "15", "max_retries": "4", "timeout": "10", "type": "HTTP", "url_path": "/health", "pools": pool1["id"].(string), "provisioning_status": "ACTIVE"} {
		if hm[k] != want {
			t.Errorf("healthmonitor create: %s = %q, want %q\n%s", k, hm[k], want, out)
		}
	}

	var shown map[string]any
	cli.JSON(t, &shown, "loadbalancer", "healthmonitor", "show", hm["id"], "-f", "json")
	if shown["id"] != hm["id"] || shown["delay"] != float64(15) || shown["http_method"] != "GET" || shown["expected_codes"] != "200" {
		t.Errorf("healthmonitor show: %v", shown)
	}

	var members []map[string]any
	cli.JSON(t, &members, "loadbalancer", "member", "list", "pool1", "-f", "json")
	if len(members) != 1 || members[0]["id"] != m1["id"] {
		t.Errorf("member list pool1: %v", members)
	}

	var tree struct {
		LoadBalancer struct {
			ID        string `json:"id"`
			Listeners []struct {
				Name  string `json:"name"`
				Pools []struct {
					Name          string         `json:"name"`
					HealthMonitor map[string]any `json:"health_monitor"`
					Members       []struct {
						Name string `json:"name"`
					} `json:"members"`
				} `json:"pools"`
			} `json:"listeners"`
		} `json:"loadbalancer"`
	}
	cli.JSON(t, &tree, "loadbalancer", "status", "show", "lb1")
	if ls := tree.LoadBalancer.Listeners; tree.LoadBalancer.ID != lb.ID || len(ls) != 1 || ls[0].Name != "l1" || len(ls[0].Pools) != 1 ||
		ls[0].Pools[0].HealthMonitor["id"] != hm["id"] || len(ls[0].Pools[0].Members) != 1 || ls[0].Pools[0].Members[0].Name != "m1" {
		t.Errorf("status show: %+v", tree)
	}

	cli.Must(t, "loadbalancer", "delete", "--cascade", "--wait", "lb1")
	var after []map[string]any
	cli.JSON(t, &after, "loadbalancer", "list", "-f", "json")
	if len(after) != 0 {
		t.Errorf("loadbalancer list after delete --cascade --wait: %v", after)
	}
}

// tableFields parses the CLI's Field | Value table.
func tableFields(out string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(out) {
		cols := strings.Split(line, "|")
		if len(cols) != 4 {
			continue
		}
		m[strings.TrimSpace(cols[1])] = strings.TrimSpace(cols[2])
	}
	return m
}
