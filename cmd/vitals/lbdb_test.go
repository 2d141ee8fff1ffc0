package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"vitals/internal/testenv"
)

// dbLB is a running `vitals lb --db` and a gophercloud client for its
// Octavia API over the admin TCP address.
type dbLB struct {
	v                 *testenv.Vitals
	bin, dir, db, cfg string
	url, token        string
	c                 *gophercloud.ServiceClient
}

// startDBLB starts `vitals lb --db` on a new store in a new directory,
// with a settings file that sets the admin socket, a loopback listen
// address and a token file.
func startDBLB(t *testing.T, bin string) *dbLB {
	t.Helper()
	dir := t.TempDir()
	d := &dbLB{bin: bin, dir: dir, db: filepath.Join(dir, "lb.db"), cfg: filepath.Join(dir, "settings.yaml"), token: rand.Text()}
	d.url = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(d.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := fmt.Sprintf("admin:\n  socket: %s\n  listen: %s\n  token_file: %s\nshutdown_grace: 1s\n",
		filepath.Join(dir, "lb.sock"), strings.TrimPrefix(d.url, "http://"), tokenFile)
	if err := os.WriteFile(d.cfg, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: 10 * time.Second}}
	pc.SetToken(d.token)
	d.c = &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: d.url + "/", ResourceBase: d.url + "/v2.0/", Type: "load-balancer"}
	d.start(t, "lb")
	return d
}

// start starts the process (again) on the same store and waits until the
// API answers.
func (d *dbLB) start(t *testing.T, name string) {
	t.Helper()
	var v *testenv.Vitals
	t.Cleanup(func() { // after the process stopped (cleanups run last first)
		if v != nil && strings.Contains(v.Log(), "WARNING: DATA RACE") {
			t.Errorf("%s (built with VITALS_BUILD_RACE=1) found a data race:\n%s", name, v.Log())
		}
	})
	v = testenv.StartVitals(t, name, d.bin, d.dir, "lb", "--db", d.db, "--config", d.cfg)
	d.v = v
	if err := d.v.WaitReady(func() error {
		_, err := loadbalancers.List(d.c, nil).AllPages(context.Background())
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// poll calls try every 100 ms until it returns nil, for up to limit; the
// test fails with the last error and the lb's log tail.
func (d *dbLB) poll(t *testing.T, what string, limit time.Duration, try func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v\n--- lb log:\n%s", what, limit, err, d.v.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitActive waits for the load balancer to be ACTIVE again after a
// change (Octavia clients do the same between steps); ERROR fails at once.
func (d *dbLB) waitActive(t *testing.T, id string) {
	t.Helper()
	d.poll(t, "load balancer ACTIVE", 15*time.Second, func() error {
		lb, err := loadbalancers.Get(context.Background(), d.c, id).Extract()
		if err != nil {
			return err
		}
		if lb.ProvisioningStatus == "ERROR" {
			t.Fatalf("load balancer %s went ERROR\n--- lb log:\n%s", id, d.v.LogTail())
		}
		if lb.ProvisioningStatus != "ACTIVE" {
			return fmt.Errorf("provisioning_status %s", lb.ProvisioningStatus)
		}
		return nil
	})
}

// memberStatuses reads the members' operating statuses by ID from the
// status tree (GET /loadbalancers/{id}/status).
func (d *dbLB) memberStatuses(t *testing.T, lbID string) map[string]string {
	t.Helper()
	tree, err := loadbalancers.GetStatuses(context.Background(), d.c, lbID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range tree.Loadbalancer.Listeners {
		for _, p := range l.Pools {
			for _, m := range p.Members {
				out[m.ID] = m.OperatingStatus
			}
		}
	}
	return out
}

// waitMembers waits until the status tree shows each member in want.
func (d *dbLB) waitMembers(t *testing.T, lbID string, want map[string]string) {
	t.Helper()
	d.poll(t, fmt.Sprintf("member statuses %v", want), 20*time.Second, func() error {
		got := d.memberStatuses(t, lbID)
		for id, s := range want {
			if got[id] != s {
				return fmt.Errorf("status tree has %v", got)
			}
		}
		return nil
	})
}

// greetings opens n connections through addr and counts the backends'
// names.
func greetings(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("read the greeting through %s: %v", addr, err)
		}
		seen[strings.TrimSpace(line)]++
	}
	return seen
}

// tree is what buildTree created.
type tree struct {
	lb       *loadbalancers.LoadBalancer
	listener *listeners.Listener
	pool     *pools.Pool
	members  []*pools.Member
	monitor  *monitors.Monitor
	addr     string // the listener's address
}

// buildTree creates through the API a load balancer on 127.0.0.1, a TCP
// listener on a free port, a ROUND_ROBIN pool, one member per backend and
// a TCP monitor (1 s delay, one failure marks a member ERROR), waiting
// for ACTIVE after each step.
func buildTree(t *testing.T, d *dbLB, backends ...*testenv.Greeter) tree {
	t.Helper()
	return buildNamedTree(t, d, "lb1", backends...)
}

// buildNamedTree is buildTree with the load balancer named name (the
// listener is still l1, the pool pool1, the monitor hm1).
func buildNamedTree(t *testing.T, d *dbLB, name string, backends ...*testenv.Greeter) tree {
	t.Helper()
	ctx := context.Background()
	var tr tree
	var err error
	tr.lb, err = loadbalancers.Create(ctx, d.c, loadbalancers.CreateOpts{Name: name, VipAddress: "127.0.0.1"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	port := testenv.FreePort(t)
	tr.addr = fmt.Sprintf("127.0.0.1:%d", port)
	tr.listener, err = listeners.Create(ctx, d.c, listeners.CreateOpts{Name: "l1", LoadbalancerID: tr.lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: port}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	tr.pool, err = pools.Create(ctx, d.c, pools.CreateOpts{Name: "pool1", ListenerID: tr.listener.ID, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	for _, b := range backends {
		m, err := pools.CreateMember(ctx, d.c, tr.pool.ID, pools.CreateMemberOpts{Name: b.Name, Address: "127.0.0.1", ProtocolPort: b.Port}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		tr.members = append(tr.members, m)
		d.waitActive(t, tr.lb.ID)
	}
	tr.monitor, err = monitors.Create(ctx, d.c, monitors.CreateOpts{Name: "hm1", PoolID: tr.pool.ID, Type: monitors.TypeTCP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	return tr
}

// TestLBDBGophercloud drives `vitals lb --db` (the real binary) with
// gophercloud: the tree it creates carries real connections to both
// backends; a backend that dies is marked ERROR by its monitor and gets
// no new connections; a cascade delete closes the listener.
func TestLBDBGophercloud(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	a, b := testenv.StartGreeter(t, "a"), testenv.StartGreeter(t, "b")
	tr := buildTree(t, d, a, b)
	ma, mb := tr.members[0].ID, tr.members[1].ID
	d.waitMembers(t, tr.lb.ID, map[string]string{ma: "ONLINE", mb: "ONLINE"})

	if seen := greetings(t, tr.addr, 10); seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 10 {
		t.Fatalf("10 connections through the listener reached %v, want both backends", seen)
	}

	b.Stop()
	d.waitMembers(t, tr.lb.ID, map[string]string{ma: "ONLINE", mb: "ERROR"})
	if seen := greetings(t, tr.addr, 10); seen["a"] != 10 {
		t.Fatalf("after b's monitor marked it ERROR, 10 connections reached %v, want all at a", seen)
	}

	// The rest of gophercloud's acceptance flow: update the load
	// balancer, the stats of the traffic above, a second pool with a batch
	// member update, a PING monitor with http_version replaced by an HTTP
	// monitor.
	ctx := context.Background()
	desc := "updated"
	if lbu, err := loadbalancers.Update(ctx, d.c, tr.lb.ID, loadbalancers.UpdateOpts{Description: &desc}).Extract(); err != nil || lbu.Description != desc {
		t.Fatalf("update the load balancer: %+v %v", lbu, err)
	}
	d.waitActive(t, tr.lb.ID)
	d.poll(t, "stats count the 20 connections", 10*time.Second, func() error {
		st, err := loadbalancers.GetStats(ctx, d.c, tr.lb.ID).Extract()
		if err != nil {
			return err
		}
		lst, err := listeners.GetStats(ctx, d.c, tr.listener.ID).Extract()
		if err != nil {
			return err
		}
		if st.TotalConnections < 20 || lst.TotalConnections < 20 {
			return fmt.Errorf("load balancer stats %+v, listener stats %+v", st, lst)
		}
		return nil
	})
	p2, err := pools.Create(ctx, d.c, pools.CreateOpts{Name: "pool2", LoadbalancerID: tr.lb.ID, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodLeastConnections}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	n1, n2 := "x1", "x2"
	batch := []pools.BatchUpdateMemberOpts{{Name: &n1, Address: "127.0.0.1", ProtocolPort: a.Port}, {Name: &n2, Address: "127.0.0.2", ProtocolPort: a.Port}}
	if err := pools.BatchUpdateMembers(ctx, d.c, p2.ID, batch).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	pages, err := pools.ListMembers(d.c, p2.ID, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := pools.ExtractMembers(pages); err != nil || len(ms) != 2 {
		t.Fatalf("pool2's members after the batch update: %+v %v", ms, err)
	}
	ping, err := monitors.Create(ctx, d.c, monitors.CreateOpts{PoolID: p2.ID, Type: monitors.TypePING, Delay: 2, Timeout: 1, MaxRetries: 2, HTTPVersion: "1.1"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	if err := monitors.Delete(ctx, d.c, ping.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	d.waitActive(t, tr.lb.ID)
	hm, err := monitors.Create(ctx, d.c, monitors.CreateOpts{PoolID: p2.ID, Type: monitors.TypeHTTP, Delay: 2, Timeout: 1, MaxRetries: 2, URLPath: "/health", ExpectedCodes: "200"}).Extract()
	if err != nil || hm.URLPath != "/health" {
		t.Fatalf("HTTP monitor: %+v %v", hm, err)
	}
	d.waitActive(t, tr.lb.ID)
	if err := loadbalancers.Delete(ctx, d.c, tr.lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	d.poll(t, "load balancer gone", 15*time.Second, func() error {
		_, err := loadbalancers.Get(ctx, d.c, tr.lb.ID).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return nil
		}
		return fmt.Errorf("GET the load balancer: %v", err)
	})
	d.poll(t, "listener closed", 15*time.Second, func() error {
		c, err := net.DialTimeout("tcp", tr.addr, time.Second)
		if err == nil {
			c.Close()
			return errors.New("the listener still accepts")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		return nil
	})
}

// TestLBConfigModeAPIReadOnly: with --config the Octavia API serves the
// file's objects read-only: a write gets 403 with a fault saying that the
// file is the source of truth, and GET / is version discovery for API
// clients and the status page for browsers.
func TestLBConfigModeAPIReadOnly(t *testing.T) {
	bin := testenv.BuildVitals(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "lb.sock")
	cfg := filepath.Join(dir, "lb.yaml")
	backend := testenv.StartGreeter(t, "a")
	yaml := fmt.Sprintf("admin:\n  socket: %s\nloadbalancer:\n  name: lb1\n  vip_address: 127.0.0.1\n  listeners:\n    - name: l1\n      protocol: TCP\n      protocol_port: %d\n      default_pool: pool1\n  pools:\n    - name: pool1\n      lb_algorithm: ROUND_ROBIN\n      members:\n        - address: 127.0.0.1\n          protocol_port: %d\n",
		sock, testenv.FreePort(t), backend.Port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	v := testenv.StartVitals(t, "lb", bin, dir, "lb", "--config", cfg)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	do := func(method, path, accept, body string) (int, string, error) {
		req, _ := http.NewRequest(method, "http://lb"+path, strings.NewReader(body))
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, err = bufio.NewReader(resp.Body).WriteTo(&sb)
		return resp.StatusCode, sb.String(), err
	}
	if err := v.WaitReady(func() error {
		code, body, err := do("GET", "/v2.0/lbaas/pools", "application/json", "")
		if err == nil && (code != 200 || !strings.Contains(body, `"name":"pool1"`) || !strings.Contains(body, `"provisioning_status":"ACTIVE"`)) {
			err = fmt.Errorf("GET pools: %d %s", code, body)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	code, body, err := do("POST", "/v2.0/lbaas/loadbalancers", "application/json", `{"loadbalancer": {"name": "x", "vip_address": "127.0.0.1"}}`)
	if err != nil || code != http.StatusForbidden || !strings.Contains(body, `"faultstring":"vitals lb runs from its configuration file (--config), which is the source of truth`) {
		t.Errorf("POST a load balancer in file mode: %d %s %v; want 403 saying the file is the source of truth", code, body, err)
	}
	code, body, err = do("GET", "/", "application/json", "")
	if err != nil || code != 200 || !strings.Contains(body, `"versions"`) {
		t.Errorf("GET / for an API client: %d %.80s %v; want the versions", code, body, err)
	}
	code, body, err = do("GET", "/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "")
	if err != nil || code != 200 || !strings.Contains(body, "<!doctype html>") {
		t.Errorf("GET / for a browser: %d %.80s %v; want the status page", code, body, err)
	}

	// A reload shows in the API: a second member added to the file.
	second := testenv.StartGreeter(t, "b")
	yaml += fmt.Sprintf("        - address: 127.0.0.1\n          protocol_port: %d\n", second.Port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runBin(t, bin, "lb", "reload", "--socket", sock); code != 0 {
		t.Fatalf("vitals lb reload: exit %d %q %q", code, out, errOut)
	}
	code, body, err = do("GET", "/v2.0/lbaas/pools?name=pool1&fields=members", "application/json", "")
	if err != nil || code != 200 || strings.Count(body, `"id"`) != 2 {
		t.Errorf("the API after a reload that added a member: %d %s %v; want the pool with 2 members", code, body, err)
	}
}

// objects reads every object of tr again through the API.
func (d *dbLB) objects(t *testing.T, tr tree) (lb *loadbalancers.LoadBalancer, l *listeners.Listener, p *pools.Pool, ms []*pools.Member, hm *monitors.Monitor) {
	t.Helper()
	ctx := context.Background()
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil && err == nil {
			err = e
		}
	}
	lb, e := loadbalancers.Get(ctx, d.c, tr.lb.ID).Extract()
	must(e)
	l, e = listeners.Get(ctx, d.c, tr.listener.ID).Extract()
	must(e)
	p, e = pools.Get(ctx, d.c, tr.pool.ID).Extract()
	must(e)
	for _, m := range tr.members {
		got, e := pools.GetMember(ctx, d.c, tr.pool.ID, m.ID).Extract()
		must(e)
		ms = append(ms, got)
	}
	hm, e = monitors.Get(ctx, d.c, tr.monitor.ID).Extract()
	must(e)
	if err != nil {
		t.Fatal(err)
	}
	return lb, l, p, ms, hm
}

// TestLBDBPersistence creates a tree through the API, SIGKILLs `vitals lb
// --db` and starts it again on the same store: the same IDs and fields
// come back, the listener carries connections again, and the members
// start OFFLINE and are made ONLINE by their first check.
func TestLBDBPersistence(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	a, b := testenv.StartGreeter(t, "a"), testenv.StartGreeter(t, "b")
	tr := buildTree(t, d, a, b)
	online := map[string]string{tr.members[0].ID: "ONLINE", tr.members[1].ID: "ONLINE"}
	d.waitMembers(t, tr.lb.ID, online)
	lb1, l1, p1, ms1, hm1 := d.objects(t, tr)

	d.v.Signal(t, syscall.SIGKILL)
	d.poll(t, "the first lb exits", 10*time.Second, func() error {
		if !d.v.Exited() {
			return errors.New("still running")
		}
		return nil
	})
	d.start(t, "lb-again")
	d.waitMembers(t, tr.lb.ID, online)
	lb2, l2, p2, ms2, hm2 := d.objects(t, tr)
	same := func(what string, x, y any) {
		t.Helper()
		if fmt.Sprintf("%+v", x) != fmt.Sprintf("%+v", y) {
			t.Errorf("%s after the restart:\n %+v\nbefore:\n %+v", what, y, x)
		}
	}
	same("load balancer", lb1, lb2)
	same("listener", l1, l2)
	same("pool", p1, p2)
	for i := range ms1 {
		same("member "+ms1[i].Name, ms1[i], ms2[i])
	}
	same("health monitor", hm1, hm2)
	if seen := greetings(t, tr.addr, 10); seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("after the restart 10 connections through the listener reached %v, want both backends", seen)
	}
	// The restarted process observed both members anew: each went from
	// OFFLINE to ONLINE by a check.
	var firsts int
	for line := range strings.SplitSeq(d.v.Log(), "\n") {
		if strings.Contains(line, `msg="member status changed"`) && strings.Contains(line, "old=OFFLINE status=ONLINE") {
			firsts++
		}
	}
	if firsts != 2 {
		t.Errorf("the restarted lb logged %d OFFLINE -> ONLINE member transitions, want 2\n--- log:\n%s", firsts, d.v.Log())
	}
}

// TestLBDBConcurrentMembers: 20 clients create and delete members of one
// pool at once for 10 s against `vitals lb --db`. No request gets a 5xx
// (a 409 while the load balancer is PENDING_UPDATE is Octavia's answer,
// and the client retries); at the end the API lists exactly the members
// the clients kept, and the running data plane (the status page's data)
// has exactly those.
func TestLBDBConcurrentMembers(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	tr := buildTree(t, d)
	ctx := context.Background()

	const clients = 20
	type result struct {
		kept           []string
		ops, conflicts int
		err            error
	}
	results := make(chan result, clients)
	stop := time.Now().Add(10 * time.Second)
	for i := range clients {
		go func() {
			var r result
			defer func() { results <- r }()
			retry := func(f func() error) bool {
				for time.Now().Before(stop.Add(20 * time.Second)) {
					err := f()
					if err == nil {
						r.ops++
						return true
					}
					if gophercloud.ResponseCodeIs(err, http.StatusConflict) {
						r.conflicts++
						time.Sleep(5 * time.Millisecond)
						continue
					}
					r.err = err
					return false
				}
				r.err = errors.New("no success within 30 s")
				return false
			}
			for k := 0; time.Now().Before(stop); k++ {
				port := 20000 + i*1000 + k%1000
				var id string
				if !retry(func() error {
					m, err := pools.CreateMember(ctx, d.c, tr.pool.ID, pools.CreateMemberOpts{Address: "127.0.0.1", ProtocolPort: port}).Extract()
					if err == nil {
						id = m.ID
					}
					return err
				}) {
					return
				}
				r.kept = append(r.kept, id)
				if len(r.kept) > 2 {
					old := r.kept[0]
					if !retry(func() error {
						return pools.DeleteMember(ctx, d.c, tr.pool.ID, old).ExtractErr()
					}) {
						return
					}
					r.kept = r.kept[1:]
				}
			}
		}()
	}
	want := map[string]bool{}
	ops, conflicts := 0, 0
	for range clients {
		r := <-results
		if r.err != nil {
			t.Errorf("a client failed: %v", r.err)
		}
		ops += r.ops
		conflicts += r.conflicts
		for _, id := range r.kept {
			want[id] = true
		}
	}
	t.Logf("%d writes succeeded, %d answered 409 and were retried; %d members kept", ops, conflicts, len(want))
	if t.Failed() {
		t.FailNow()
	}
	d.waitActive(t, tr.lb.ID)

	pages, err := pools.ListMembers(d.c, tr.pool.ID, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := pools.ExtractMembers(pages)
	if err != nil {
		t.Fatal(err)
	}
	api := map[string]bool{}
	for _, m := range listed {
		if api[m.ID] {
			t.Errorf("member %s listed twice", m.ID)
		}
		api[m.ID] = true
	}
	if fmt.Sprint(api) != fmt.Sprint(want) {
		t.Errorf("the API lists %d members, the clients kept %d:\n api %v\nkept %v", len(api), len(want), api, want)
	}
	// The data plane: the members of the running pool, from the status
	// page's data (the engine's view of the applied configuration).
	d.poll(t, "the data plane has the API's members", 10*time.Second, func() error {
		var page struct {
			Pools []struct {
				ID      string `json:"id"`
				Members []struct {
					ID string `json:"id"`
				} `json:"members"`
			} `json:"pools"`
		}
		resp, err := http.Get(d.url + "/status.json")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return err
		}
		running := map[string]bool{}
		for _, p := range page.Pools {
			if p.ID == tr.pool.ID {
				for _, m := range p.Members {
					running[m.ID] = true
				}
			}
		}
		if fmt.Sprint(running) != fmt.Sprint(api) {
			return fmt.Errorf("the data plane runs %d members, the API lists %d", len(running), len(api))
		}
		return nil
	})
}

// TestLBDBAuth: over TCP the API needs the token (401 without or with a
// wrong one), over the unix socket it needs none; without a token file
// the API over TCP answers 403, version discovery stays open, and SIGHUP
// re-reads the settings file.
func TestLBDBAuth(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	sock := filepath.Join(d.dir, "lb.sock")
	unix := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	call := func(c *http.Client, method, url, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	create := `{"loadbalancer": {"name": "lb1", "vip_address": "127.0.0.1"}}`
	list := d.url + "/v2.0/lbaas/loadbalancers"
	cases := []struct {
		name        string
		c           *http.Client
		method, url string
		token, body string
		want        int
	}{
		{"TCP read without a token", http.DefaultClient, "GET", list, "", "", http.StatusUnauthorized},
		{"TCP write with a wrong token", http.DefaultClient, "POST", list, "x" + d.token, create, http.StatusUnauthorized},
		{"TCP read with the token", http.DefaultClient, "GET", list, d.token, "", http.StatusOK},
		{"unix socket write without a token", unix, "POST", "http://lb/v2.0/lbaas/loadbalancers", "", create, http.StatusCreated},
	}
	for _, tt := range cases {
		if got := call(tt.c, tt.method, tt.url, tt.token, tt.body); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	req, _ := http.NewRequest("GET", d.url+"/", nil)
	req.Header.Set("Accept", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET / (version discovery) without a token: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	d.v.Signal(t, syscall.SIGHUP)
	d.v.WaitLog(t, "settings reloaded", 10*time.Second)
	// vitals lb reload re-reads the settings too, and refuses a broken
	// file with the reason, keeping the running settings.
	if code, out, errOut := runBin(t, bin, "lb", "reload", "--socket", sock); code != 0 || !strings.Contains(out, "reloaded") {
		t.Errorf("vitals lb reload: exit %d, %q %q", code, out, errOut)
	}
	good, _ := os.ReadFile(d.cfg)
	os.WriteFile(d.cfg, append(good, []byte("loadbalancer:\n  name: x\n")...), 0o600)
	if code, _, errOut := runBin(t, bin, "lb", "reload", "--socket", sock); code != 1 || !strings.Contains(errOut, "loadbalancer is not read with --db") {
		t.Errorf("vitals lb reload with a loadbalancer in the settings: exit %d, %q; want 1 with the reason", code, errOut)
	}
	os.WriteFile(d.cfg, good, 0o600)

	// Without a token file: the API over TCP is closed.
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(dir, "settings.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("admin:\n  socket: %s\n  listen: %s\n", filepath.Join(dir, "lb.sock"), addr)), 0o600)
	v := testenv.StartVitals(t, "lb-tokenless", bin, dir, "lb", "--db", filepath.Join(dir, "lb.db"), "--config", cfg)
	if err := v.WaitReady(func() error {
		resp, err := http.Get("http://" + addr + "/v2.0/lbaas/loadbalancers")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			return fmt.Errorf("GET over TCP without a token file: %d, want 403", resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLBDBClientCommands: vitals lb status, member list, member disable
// and stats work against `vitals lb --db` with names, as with a file: the
// client looks the names up in the Octavia API's lists; the disabled
// member's admin_state_up is stored and the data plane stops sending it
// connections.
func TestLBDBClientCommands(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	a, b := testenv.StartGreeter(t, "a"), testenv.StartGreeter(t, "b")
	tr := buildTree(t, d, a, b)
	d.waitMembers(t, tr.lb.ID, map[string]string{tr.members[0].ID: "ONLINE", tr.members[1].ID: "ONLINE"})
	sock := filepath.Join(d.dir, "lb.sock")
	run := func(want string, args ...string) {
		t.Helper()
		code, out, errOut := runBin(t, bin, append([]string{"lb"}, append(args, "--socket", sock)...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("vitals lb %v: exit %d, stdout %q, stderr %q; want exit 0 and %q", args, code, out, errOut, want)
		}
	}
	run(`loadbalancer "lb1" ONLINE`, "status", "lb1")
	run(tr.members[1].ID, "member", "list", "pool1")
	run("member b of pool pool1: admin_state_up false", "member", "disable", "pool1", "b")
	run("total_connections", "stats", "lb1")
	if code, _, errOut := runBin(t, bin, "lb", "member", "enable", "--socket", sock, "pool1", "nope"); code != exitUsage || !strings.Contains(errOut, "nope") {
		t.Errorf("enable an unknown member: exit %d, %q; want 2 naming it", code, errOut)
	}
	m, err := pools.GetMember(context.Background(), d.c, tr.pool.ID, tr.members[1].ID).Extract()
	if err != nil || m.AdminStateUp {
		t.Fatalf("member b after vitals lb member disable: %+v %v; want admin_state_up false", m, err)
	}
	d.waitActive(t, tr.lb.ID)
	d.poll(t, "no connection to the disabled member", 10*time.Second, func() error {
		if seen := greetings(t, tr.addr, 6); seen["a"] != 6 {
			return fmt.Errorf("6 connections reached %v", seen)
		}
		return nil
	})
}
