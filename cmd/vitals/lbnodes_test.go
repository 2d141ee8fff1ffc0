package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/testenv"
)

// The several-nodes test (issue "Several vitals lb nodes, one
// configuration"): three vitals lb nodes in network namespaces on one
// bridge share a private PostgreSQL (through its unix socket, which every
// namespace sees), keepalived from deploy/keepalived moves the VIP, two
// backend hosts run greeters, and a client host connects. One topology,
// one subtest per "must hold" item, in order.

const (
	nodeHeartbeat = 300 * time.Millisecond
	nodeTimeout   = 2 * time.Second
	lbPort        = 8080
	backendPort   = 7000
)

// lbNode is one vitals lb node: its namespace, directory and process.
type lbNode struct {
	name     string
	ns       *testenv.Netns
	dir      string
	sock     string
	settings string
	v        *testenv.Vitals
}

// apiCall sends a request to the node's admin socket and decodes the JSON
// answer; it returns the status code.
func (n *lbNode) apiCall(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.sock)
	}}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequest(method, "http://vitals"+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// must sends a request that must answer want.
func (n *lbNode) must(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	var out map[string]any
	code, err := n.apiCall(method, path, body, &out)
	if err != nil || code != want {
		t.Fatalf("%s: %s %s: %d %v %v, want %d\n--- log:\n%s", n.name, method, path, code, out, err, want, n.v.LogTail())
	}
	return out
}

// applied is the revision the node runs (GET /vrrp/check), or -1.
func (n *lbNode) applied() int64 {
	var v struct {
		Applied int64 `json:"applied_revision"`
	}
	if code, err := n.apiCall("GET", "/vrrp/check", nil, &v); err != nil || code != 200 {
		return -1
	}
	return v.Applied
}

// poll retries try every 50 ms until it succeeds or limit passes.
func poll(t *testing.T, what string, limit time.Duration, try func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < limit {
		if err = try(); err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, limit, err)
	return 0
}

// greet connects from ns to addr and returns the backend's name.
func greet(ns *testenv.Netns, addr string) (string, error) {
	c, err := ns.Dial(addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

// greetMany makes n connections and counts the backends that answered.
func greetMany(ns *testenv.Netns, addr string, n int) (map[string]int, error) {
	got := map[string]int{}
	for range n {
		b, err := greet(ns, addr)
		if err != nil {
			return got, err
		}
		got[b]++
	}
	return got, nil
}

type nodesEnv struct {
	t        *testing.T
	bin      string
	dsn      string
	pg       *testenv.Postgres
	lan      *testenv.LAN
	vip      string
	nodes    []*lbNode
	client   *testenv.Netns
	backends map[string]*testenv.Netns
	greeters map[string]*testenv.Greeter
}

// startNode starts (or restarts) vitals lb on n and waits until it serves.
func (c *nodesEnv) startNode(t *testing.T, n *lbNode) {
	t.Helper()
	t.Cleanup(func() { // after the process stopped (cleanups run last first)
		if v := n.v; v != nil && strings.Contains(v.Log(), "WARNING: DATA RACE") {
			t.Errorf("%s (built with VITALS_BUILD_RACE=1) found a data race:\n%s", n.name, v.Log())
		}
	})
	n.v = n.ns.StartIn(t, "vitals "+n.name, n.dir, c.bin, "lb", "--db", c.dsn, "--node", n.name,
		"--node-heartbeat", nodeHeartbeat.String(), "--node-timeout", nodeTimeout.String(), "--config", n.settings)
	if err := n.v.WaitReady(func() error {
		if n.applied() < 0 {
			return errors.New("not serving yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v\n--- log:\n%s", n.name, err, n.v.LogTail())
	}
}

func (c *nodesEnv) newNode(t *testing.T, name string, octet int) *lbNode {
	t.Helper()
	n := &lbNode{name: name, ns: c.lan.Host(t, name, octet), dir: t.TempDir()}
	n.sock = filepath.Join(n.dir, "lb.sock")
	n.settings = filepath.Join(n.dir, "settings.yaml")
	if err := os.WriteFile(n.settings, []byte("admin:\n  socket: "+n.sock+"\nshutdown_grace: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Listeners bind the VIP on every node, as deploy/keepalived/90-vitals-vip.conf allows.
	n.ns.Exec(t, "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1")
	return n
}

// revision is the store's revision, read from PostgreSQL.
func (c *nodesEnv) revision(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rev int64
	if err := conn.QueryRow(ctx, "SELECT value FROM revision WHERE id = 1").Scan(&rev); err != nil {
		t.Fatal(err)
	}
	return rev
}

// waitApplied waits until every node in ns runs revision rev and returns
// how long that took.
func (c *nodesEnv) waitApplied(t *testing.T, rev int64, limit time.Duration, ns ...*lbNode) time.Duration {
	t.Helper()
	return poll(t, fmt.Sprintf("revision %d on every node", rev), limit, func() error {
		for _, n := range ns {
			if a := n.applied(); a < rev {
				return fmt.Errorf("%s runs revision %d", n.name, a)
			}
		}
		return nil
	})
}

// waitActive waits until the load balancer is ACTIVE, and then checks that
// every live node runs the revision that made it so.
func (c *nodesEnv) waitActive(t *testing.T, via *lbNode, lbID string, live ...*lbNode) {
	t.Helper()
	poll(t, "load balancer ACTIVE", 15*time.Second, func() error {
		out := via.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+lbID, nil)
		st := out["loadbalancer"].(map[string]any)["provisioning_status"]
		if st == "ERROR" {
			t.Fatalf("load balancer went ERROR")
		}
		if st != "ACTIVE" {
			return fmt.Errorf("provisioning_status %v", st)
		}
		return nil
	})
	// ACTIVE is written after every live node ran the write's revision;
	// the ACTIVE write itself is one more.
	rev := c.revision(t) - 1
	for _, n := range live {
		if a := n.applied(); a < rev {
			t.Errorf("ACTIVE while %s runs revision %d < %d", n.name, a, rev)
		}
	}
}

// master returns the node that holds the VIP, or nil.
func (c *nodesEnv) master(t *testing.T) *lbNode {
	t.Helper()
	for _, n := range c.nodes {
		if strings.Contains(n.ns.Exec(t, "ip", "-4", "-o", "addr", "show", "dev", "eth0"), " "+c.vip+"/") {
			return n
		}
	}
	return nil
}

// startGreeter runs a greeter named name on the backend host name.
func (c *nodesEnv) startGreeter(t *testing.T, name string) {
	t.Helper()
	ns := c.backends[name]
	// On the test's T: a greeter outlives the subtest that starts it.
	c.greeters[name] = testenv.ServeGreeter(c.t, name, ns.Listen(t, fmt.Sprintf("%s:%d", ns.IP, backendPort)))
}

// keepalived renders deploy/keepalived/keepalived.conf.in for n and
// starts keepalived in n's namespace.
func (c *nodesEnv) keepalived(t *testing.T, n *lbNode, priority int) {
	t.Helper()
	tmpl, err := os.ReadFile("../../deploy/keepalived/keepalived.conf.in")
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, o := range c.nodes {
		if o != n {
			peers = append(peers, o.ns.IP)
		}
	}
	notify, err := filepath.Abs("../../deploy/keepalived/vrrp-notify")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"NODE_NAME": n.name, "NODE_IP": n.ns.IP, "PEER_IPS": strings.Join(peers, "\n        "),
		"PRIORITY": fmt.Sprint(priority), "INTERFACE": "eth0", "VIP": c.vip + "/24", "VRID": "51",
		"VITALS": c.bin, "SOCKET": n.sock,
		// keepalived runs the notify string split on spaces: env passes
		// the binary's place to the script.
		"NOTIFY": "/usr/bin/env VITALS=" + c.bin + " " + notify,
	}
	conf := os.Expand(string(tmpl), func(k string) string {
		v, ok := vars[k]
		if !ok {
			t.Fatalf("keepalived.conf.in: unknown variable %s", k)
		}
		return v
	})
	// The recipe runs the scripts as the vitals user, and keepalived's
	// script security refuses scripts under /tmp (world-writable): this
	// test runs as root with its binary in a temp dir.
	conf = strings.Replace(conf, "script_user vitals vitals", "script_user root", 1)
	conf = strings.Replace(conf, "    enable_script_security\n", "", 1)
	path := filepath.Join(n.dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ka, err := testenv.LookPath("keepalived")
	if err != nil {
		t.Fatal(err)
	}
	n.ns.StartIn(t, "keepalived "+n.name, n.dir, ka, "--dont-fork", "--log-console", "--log-detail", "--vrrp", "--no-syslog",
		"--use-file", path, "--pid", filepath.Join(n.dir, "keepalived.pid"), "--vrrp_pid", filepath.Join(n.dir, "vrrp.pid"),
		"--checkers_pid", filepath.Join(n.dir, "checkers.pid"))
}

// TestLBNodes is the several-nodes test; see the top of the file.
func TestLBNodes(t *testing.T) {
	testenv.NeedNetns(t)
	testenv.Need(t, "keepalived", "nft", "postgres", "initdb")
	start := time.Now()
	c := &nodesEnv{t: t, bin: testenv.BuildVitals(t), backends: map[string]*testenv.Netns{}, greeters: map[string]*testenv.Greeter{}}
	c.pg = testenv.StartPostgres(t)
	db, _ := c.pg.NewDatabase(t)
	// Over the unix socket (trust), which every namespace sees.
	c.dsn = fmt.Sprintf("postgres:///%s?host=%s&port=%d&user=%s&sslmode=disable", db, c.pg.SocketDir, c.pg.Port, c.pg.Super)
	prefix := fmt.Sprintf("10.213.%d", 1+os.Getpid()%250)
	c.vip = prefix + ".100"
	c.lan = testenv.NewLAN(t, prefix)
	for i := range 3 {
		c.nodes = append(c.nodes, c.newNode(t, fmt.Sprintf("n%d", i+1), 11+i))
	}
	for i, name := range []string{"b1", "b2"} {
		c.backends[name] = c.lan.Host(t, name, 21+i)
		c.startGreeter(t, name)
	}
	c.client = c.lan.Host(t, "c", 31)
	for _, n := range c.nodes {
		c.startNode(t, n)
	}
	for i, n := range c.nodes {
		c.keepalived(t, n, 150-50*i)
	}
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	t.Logf("topology up in %s: nodes %s %s %s, VIP %s", time.Since(start).Round(time.Millisecond), n1.ns.IP, n2.ns.IP, n3.ns.IP, c.vip)

	// The load balancer and its listener, on every address (the VIP, and
	// each node's own, so that the test can reach every node).
	lbID := n2.must(t, 201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "lb", "vip_address": c.vip}})["loadbalancer"].(map[string]any)["id"].(string)
	c.waitActive(t, n2, lbID, c.nodes...)
	listenerID := n2.must(t, 201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
		"name": "l", "loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": lbPort, "bind_address": "0.0.0.0"}})["listener"].(map[string]any)["id"].(string)
	c.waitActive(t, n2, lbID, c.nodes...)
	var poolID string
	members := map[string]string{} // backend name → member ID

	t.Run("1_config_reaches_every_node", func(t *testing.T) {
		poolID = n2.must(t, 201, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{
			"name": "p", "listener_id": listenerID, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})["pool"].(map[string]any)["id"].(string)
		took := c.waitApplied(t, c.revision(t), 2*time.Second, n1, n3)
		t.Logf("pool applied on n1 and n3 %s after the write on n2", took.Round(time.Millisecond))
		c.waitActive(t, n2, lbID, c.nodes...)
		n2.must(t, 202, "PUT", "/v2/lbaas/pools/"+poolID+"/members", map[string]any{"members": []any{
			map[string]any{"name": "b1", "address": c.backends["b1"].IP, "protocol_port": backendPort},
			map[string]any{"name": "b2", "address": c.backends["b2"].IP, "protocol_port": backendPort},
		}})
		took = c.waitApplied(t, c.revision(t), 2*time.Second, n1, n3)
		t.Logf("members applied on n1 and n3 %s after the write on n2", took.Round(time.Millisecond))
		for _, n := range c.nodes {
			got, err := greetMany(c.client, fmt.Sprintf("%s:%d", n.ns.IP, lbPort), 6)
			if err != nil || got["b1"] == 0 || got["b2"] == 0 {
				t.Fatalf("through %s: %v, %v; want both backends", n.name, got, err)
			}
		}
		c.waitActive(t, n2, lbID, c.nodes...)
		list := n2.must(t, 200, "GET", "/v2/lbaas/pools/"+poolID+"/members", nil)
		for _, m := range list["members"].([]any) {
			m := m.(map[string]any)
			members[m["name"].(string)] = m["id"].(string)
		}
		n2.must(t, 201, "POST", "/v2/lbaas/healthmonitors", map[string]any{"healthmonitor": map[string]any{
			"pool_id": poolID, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}})
		c.waitActive(t, n2, lbID, c.nodes...)
		c.waitPerNode(t, n2, lbID, "both members ONLINE on every node", func(per map[string]map[string]string) error {
			for _, n := range c.nodes {
				if per[n.name][members["b1"]] != "ONLINE" || per[n.name][members["b2"]] != "ONLINE" {
					return fmt.Errorf("%s sees %v", n.name, per[n.name])
				}
			}
			return nil
		})

		// Disabled through node 3: no node sends it a new connection.
		n3.must(t, 200, "PUT", "/v2/lbaas/pools/"+poolID+"/members/"+members["b2"], map[string]any{"member": map[string]any{"admin_state_up": false}})
		c.waitApplied(t, c.revision(t), 5*time.Second, c.nodes...)
		for _, n := range c.nodes {
			got, err := greetMany(c.client, fmt.Sprintf("%s:%d", n.ns.IP, lbPort), 10)
			if err != nil || got["b2"] != 0 || got["b1"] != 10 {
				t.Errorf("through %s after disabling b2: %v, %v; want b1 only", n.name, got, err)
			}
		}
		c.waitActive(t, n3, lbID, c.nodes...)
		n1.must(t, 200, "PUT", "/v2/lbaas/pools/"+poolID+"/members/"+members["b2"], map[string]any{"member": map[string]any{"admin_state_up": true}})
		c.waitActive(t, n1, lbID, c.nodes...)
	})
	if poolID == "" || len(members) != 2 {
		t.Fatal("no pool: the later items need it")
	}

	t.Run("2_vip_moves_when_master_dies", func(t *testing.T) {
		var m *lbNode
		poll(t, "a MASTER holds the VIP", 20*time.Second, func() error {
			if m = c.master(t); m == nil {
				return errors.New("no node holds the VIP")
			}
			return nil
		})
		vipAddr := fmt.Sprintf("%s:%d", c.vip, lbPort)
		if _, err := greet(c.client, vipAddr); err != nil {
			t.Fatalf("through the VIP on %s: %v", m.name, err)
		}
		// A client connects every 50 ms throughout.
		var ok, failed atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := greet(c.client, vipAddr); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
		m.v.Signal(t, syscall.SIGKILL)
		killed := time.Now()
		var next *lbNode
		took := poll(t, "the VIP on another node", 5*time.Second, func() error {
			if next = c.master(t); next == nil || next == m {
				return errors.New("not moved yet")
			}
			return nil
		})
		t.Logf("SIGKILL of %s's vitals: the VIP moved to %s in %s", m.name, next.name, took.Round(time.Millisecond))
		// New connections succeed through the new MASTER.
		poll(t, "connections through the new MASTER", 5*time.Second, func() error {
			got, err := greetMany(c.client, vipAddr, 5)
			if err != nil {
				return err
			}
			if got["b1"]+got["b2"] != 5 {
				return fmt.Errorf("%v", got)
			}
			return nil
		})
		close(stop)
		wg.Wait()
		t.Logf("client connects to the VIP from the kill until the new MASTER served (%s): %d failed, %d succeeded",
			time.Since(killed).Round(time.Millisecond), failed.Load(), ok.Load())
		m.v.Wait(5 * time.Second)
		c.startNode(c.t, m) // back for the next items, so it outlives this subtest
		poll(t, "a MASTER holds the VIP", 10*time.Second, func() error {
			if c.master(t) == nil {
				return errors.New("no node holds the VIP")
			}
			return nil
		})
	})

	t.Run("3_store_outage", func(t *testing.T) {
		c.waitActive(t, n1, lbID, c.nodes...)
		c.pg.Stop(t)
		down := time.Now()
		for _, n := range c.nodes {
			poll(t, n.name+" reports the store down", 5*time.Second, func() error {
				var b strings.Builder
				if _, err := metricsOf(n, &b); err != nil {
					return err
				}
				if !strings.Contains(b.String(), "\nvitals_lb_store_up 0\n") {
					return errors.New("vitals_lb_store_up is not 0")
				}
				var page map[string]any
				if _, err := n.apiCall("GET", "/status.json", nil, &page); err != nil {
					return err
				}
				if !strings.Contains(fmt.Sprint(page["store_notice"]), "unreachable") {
					return fmt.Errorf("the status page's store_notice is %q", page["store_notice"])
				}
				return nil
			})
		}
		// Writes fail with a clear 503 fault, and change nothing.
		var fault map[string]any
		code, err := n2.apiCall("PUT", "/v2/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"name": "during-outage"}}, &fault)
		if err != nil || code != 503 || !strings.Contains(fmt.Sprint(fault["faultstring"]), "unreachable") {
			t.Errorf("write during the outage: %d %v %v; want 503 with a fault saying the store is unreachable", code, fault, err)
		}
		// Every node keeps proxying, and keeps checking: b2 dies and is
		// taken out everywhere.
		c.greeters["b2"].Stop()
		for _, n := range c.nodes {
			addr := fmt.Sprintf("%s:%d", n.ns.IP, lbPort)
			poll(t, "b2 out of rotation on "+n.name, 8*time.Second, func() error {
				got, err := greetMany(c.client, addr, 6)
				if err != nil {
					return err
				}
				if got["b1"] != 6 {
					return fmt.Errorf("%v", got)
				}
				return nil
			})
			poll(t, n.name+" checks b2 down during the outage", 5*time.Second, func() error {
				if !memberDownLocally(t, n, `"b2"`) {
					return errors.New("vitals_lb_member_up of b2 is not 0")
				}
				return nil
			})
		}
		if d := 10*time.Second - time.Since(down); d > 0 {
			time.Sleep(d)
		}
		c.pg.Restart(t)
		c.startGreeter(t, "b2")
		// After the outage a write reaches every node.
		poll(t, "a write after the outage", 15*time.Second, func() error {
			code, err := n2.apiCall("PUT", "/v2/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"name": "after-outage"}}, nil)
			if err != nil || code != 200 {
				return fmt.Errorf("%d %v", code, err)
			}
			return nil
		})
		c.waitApplied(t, c.revision(t), 10*time.Second, c.nodes...)
		c.waitActive(t, n2, lbID, c.nodes...)
		for _, n := range c.nodes {
			var b strings.Builder
			if _, err := metricsOf(n, &b); err != nil || !strings.Contains(b.String(), "\nvitals_lb_store_up 1\n") {
				t.Errorf("%s: vitals_lb_store_up not back to 1 (%v)", n.name, err)
			}
		}
	})

	t.Run("4_late_node_and_gone_node", func(t *testing.T) {
		n4 := c.newNode(t, "n4", 14)
		c.startNode(t, n4)
		rev := c.revision(t)
		c.waitApplied(t, rev, 5*time.Second, n4)
		poll(t, "n4 proxies to both backends", 5*time.Second, func() error {
			got, err := greetMany(c.client, fmt.Sprintf("%s:%d", n4.ns.IP, lbPort), 6)
			if err != nil || got["b1"] == 0 || got["b2"] == 0 {
				return fmt.Errorf("%v %v", got, err)
			}
			return nil
		})
		nodeView := func(name string) (map[string]any, bool) {
			out := n1.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+lbID+"/status?per_node=true", nil)
			for _, v := range out["vitals_nodes"].([]any) {
				if v := v.(map[string]any); v["name"] == name {
					return v, true
				}
			}
			return nil, false
		}
		poll(t, "n4 in the store, alive", 5*time.Second, func() error {
			if v, ok := nodeView("n4"); !ok || v["alive"] != true {
				return fmt.Errorf("n4: %v", v)
			}
			return nil
		})
		n4.v.Signal(t, syscall.SIGTERM)
		stopped := time.Now()
		poll(t, "n4 shown gone", nodeTimeout+5*time.Second, func() error {
			if v, ok := nodeView("n4"); !ok || v["alive"] != false {
				return fmt.Errorf("n4: %v", v)
			}
			return nil
		})
		t.Logf("n4 stopped; shown gone after %s (timeout %s)", time.Since(stopped).Round(time.Millisecond), nodeTimeout)
		// A gone node holds no revision back.
		n1.must(t, 200, "PUT", "/v2/lbaas/pools/"+poolID, map[string]any{"pool": map[string]any{"name": "p"}})
		c.waitActive(t, n1, lbID, c.nodes...)
	})

	t.Run("5_active_view_and_per_node_view", func(t *testing.T) {
		m := c.master(t)
		if m == nil || m == n3 {
			t.Fatalf("MASTER is %v; want n1 or n2 (n3 has the lowest priority)", m)
		}
		// n3 alone cannot reach b1.
		n3.ns.Exec(t, "nft", "add table inet vitalstest")
		n3.ns.Exec(t, "nft", "add chain inet vitalstest out { type filter hook output priority 0 ; }")
		n3.ns.Exec(t, "nft", fmt.Sprintf("add rule inet vitalstest out ip daddr %s tcp dport %d drop", c.backends["b1"].IP, backendPort))
		b1 := members["b1"]
		per := c.waitPerNode(t, n1, lbID, "n3 sees b1 down, the others up", func(per map[string]map[string]string) error {
			if per["n3"][b1] != "ERROR" || per["n1"][b1] != "ONLINE" || per["n2"][b1] != "ONLINE" {
				return fmt.Errorf("b1 per node: n1 %s, n2 %s, n3 %s", per["n1"][b1], per["n2"][b1], per["n3"][b1])
			}
			return nil
		})
		t.Logf("b1 per node: n1 %s, n2 %s, n3 %s", per["n1"][b1], per["n2"][b1], per["n3"][b1])
		// The status tree, asked on n3, answers with the MASTER's view.
		poll(t, "n3's status tree shows the MASTER's view", 5*time.Second, func() error {
			got := memberStatusIn(n3.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+lbID+"/status", nil), b1)
			if got != "ONLINE" {
				return fmt.Errorf("b1 is %s in n3's status tree, want the MASTER %s's ONLINE", got, m.name)
			}
			return nil
		})
		n3.ns.Exec(t, "nft", "delete table inet vitalstest")
	})
	t.Run("6_node_fails_to_apply", func(t *testing.T) {
		// Port 9090 is taken on n3 only: a listener there cannot start on n3.
		held := n3.ns.Listen(t, "0.0.0.0:9090")
		defer held.Close()
		c.waitActive(t, n1, lbID, c.nodes...)
		id := n1.must(t, 201, "POST", "/v2/lbaas/listeners", map[string]any{"listener": map[string]any{
			"name": "busy", "loadbalancer_id": lbID, "protocol": "TCP", "protocol_port": 9090, "bind_address": "0.0.0.0"}})["listener"].(map[string]any)["id"].(string)
		poll(t, "the listener ERROR", 10*time.Second, func() error {
			out := n2.must(t, 200, "GET", "/v2/lbaas/listeners/"+id, nil)
			if st := out["listener"].(map[string]any)["provisioning_status"]; st != "ERROR" {
				return fmt.Errorf("listener %v", st)
			}
			return nil
		})
		// n3 says which revision failed, and why; n1 and n2 run it.
		var failed int64
		c.waitPerNode(t, n1, lbID, "n3's apply error in vitals_nodes", func(map[string]map[string]string) error {
			out := n1.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+lbID+"/status?per_node=true", nil)
			for _, v := range out["vitals_nodes"].([]any) {
				if v := v.(map[string]any); v["name"] == "n3" {
					f, _ := v["failed_revision"].(float64)
					if failed = int64(f); failed == 0 || !strings.Contains(fmt.Sprint(v["apply_error"]), "9090") {
						return fmt.Errorf("n3: %v", v)
					}
					return nil
				}
			}
			return errors.New("n3 missing")
		})
		c.waitApplied(t, failed, 5*time.Second, n1, n2)
		if a := n3.applied(); a >= failed {
			t.Errorf("n3 says it runs revision %d, which it could not apply", a)
		}
		// Taking the listener out brings every node, n3 too, back in step.
		n1.must(t, 204, "DELETE", "/v2/lbaas/listeners/"+id, nil)
		c.waitActive(t, n1, lbID, c.nodes...)
	})
	t.Logf("several-nodes test: %s in all", time.Since(start).Round(time.Millisecond))
}

// waitPerNode polls the per-node status extension (asked on via) until
// ok accepts the live nodes' statuses (node → object ID → status).
func (c *nodesEnv) waitPerNode(t *testing.T, via *lbNode, lbID, what string, ok func(map[string]map[string]string) error) map[string]map[string]string {
	t.Helper()
	var per map[string]map[string]string
	poll(t, what, 10*time.Second, func() error {
		out := via.must(t, 200, "GET", "/v2/lbaas/loadbalancers/"+lbID+"/status?per_node=true", nil)
		per = map[string]map[string]string{}
		for _, v := range out["vitals_nodes"].([]any) {
			v := v.(map[string]any)
			if v["alive"] != true {
				continue
			}
			st := map[string]string{}
			for id, s := range v["operating_statuses"].(map[string]any) {
				st[id] = fmt.Sprint(s)
			}
			per[v["name"].(string)] = st
		}
		return ok(per)
	})
	return per
}

// metricsOf writes the node's /metrics into b.
func metricsOf(n *lbNode, b *strings.Builder) (int, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.sock)
	}}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://vitals/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b.WriteString("\n")
	_, err = io.Copy(b, resp.Body)
	return resp.StatusCode, err
}

// memberDownLocally reads the node's own view of a member from its
// metrics: its vitals_lb_member_up line (the member label holds one of
// names) says 0.
func memberDownLocally(t *testing.T, n *lbNode, names ...string) bool {
	t.Helper()
	var b strings.Builder
	if _, err := metricsOf(n, &b); err != nil {
		t.Logf("%s: metrics: %v", n.name, err)
		return false
	}
	for line := range strings.Lines(b.String()) {
		if !strings.HasPrefix(line, "vitals_lb_member_up{") {
			continue
		}
		for _, name := range names {
			if strings.Contains(line, name) {
				return strings.HasSuffix(strings.TrimSpace(line), " 0")
			}
		}
	}
	t.Logf("%s: no vitals_lb_member_up line for %v in\n%s", n.name, names, b.String())
	return false
}

// memberStatusIn finds a member's operating status in a status tree.
func memberStatusIn(tree map[string]any, id string) string {
	lb := tree["statuses"].(map[string]any)["loadbalancer"].(map[string]any)
	for _, l := range lb["listeners"].([]any) {
		for _, p := range l.(map[string]any)["pools"].([]any) {
			for _, m := range p.(map[string]any)["members"].([]any) {
				if m := m.(map[string]any); m["id"] == id {
					return fmt.Sprint(m["operating_status"])
				}
			}
		}
	}
	return "missing"
}
