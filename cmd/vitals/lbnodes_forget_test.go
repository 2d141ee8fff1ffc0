package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vitals/internal/lb"
	"vitals/internal/testenv"
)

// inProcessLB is a `vitals lb` run in this test process by run(), as the
// binary runs it; stop cancels it and waits for it to return.
type inProcessLB struct {
	name   string
	sock   string
	log    *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startInProcessLB runs `vitals lb args...` until the test ends (or stop).
func startInProcessLB(t *testing.T, name, sock string, args ...string) *inProcessLB {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcessLB{name: name, sock: sock, log: &testenv.SyncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		p.done <- run(ctx, append([]string{"lb", "--log-level", "warn"}, args...), &bytes.Buffer{}, p.log)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the lb and waits (up to 20 s) for run to return.
func (p *inProcessLB) stop(t *testing.T) {
	t.Helper()
	if p.done == nil {
		return
	}
	p.cancel()
	select {
	case code := <-p.done:
		if code != exitOK {
			t.Errorf("%s: vitals lb exited %d\n%s", p.name, code, p.log.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s: vitals lb did not stop within 20s\n%s", p.name, p.log.String())
	}
	p.done = nil
}

// nodesJSON runs `vitals lb nodes -f json` with the endpoint args.
func nodesJSON(t *testing.T, ep ...string) ([]lb.NodeSummary, error) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"lb", "nodes", "-f", "json"}, ep...)...)
	if code != exitOK {
		return nil, fmt.Errorf("vitals lb nodes: exit %d: %s", code, errOut)
	}
	var nodes []lb.NodeSummary
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		return nil, fmt.Errorf("vitals lb nodes -f json: %v: %s", err, out)
	}
	return nodes, nil
}

func nodeNames(nodes []lb.NodeSummary) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names
}

// TestLBNodeListAndForget: two vitals lb --db postgres://… nodes; `vitals lb
// nodes` lists both (table and json); forget refuses a live node, the
// node that answers, an unknown name, and a request over TCP without the
// admin token; once a node is stopped it turns not alive, and forget
// removes it from the list and from the per-node status view.
func TestLBNodeListAndForget(t *testing.T) {
	pg := testenv.StartPostgres(t)
	_, dsn := pg.NewDatabase(t)
	dir, err := os.MkdirTemp("", "vitals-nodes") // a short socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pwFile, tokenFile := filepath.Join(dir, "pgpassword"), filepath.Join(dir, "token")
	token := rand.Text()
	os.WriteFile(pwFile, []byte(pg.SuperPassword+"\n"), 0o600)
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	start := func(name, settings string) *inProcessLB {
		sock := filepath.Join(dir, name+".sock")
		file := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(file, []byte("admin:\n  socket: "+sock+"\n"+settings+"shutdown_grace: 1s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A short heartbeat and timeout, so that a stopped node is gone in
		// about a second.
		return startInProcessLB(t, name, sock, "--db", dsn, "--db-password-file", pwFile, "--node", name,
			"--node-heartbeat", "200ms", "--node-timeout", "1s", "--config", file)
	}
	a := start("a", "  listen: "+adminAddr+"\n  token_file: "+tokenFile+"\n")
	b := start("b", "")
	onA := []string{"--socket", a.sock}

	var nodes []lb.NodeSummary
	poll(t, "both nodes listed alive and serving", 30*time.Second, func() error {
		nodes, err = nodesJSON(t, onA...)
		if err != nil {
			return err
		}
		if len(nodes) != 2 || !nodes[0].Alive || !nodes[1].Alive || !nodes[0].Serving || !nodes[1].Serving {
			return fmt.Errorf("nodes %+v", nodes)
		}
		return nil
	})
	if got := nodeNames(nodes); !slices.Equal(got, []string{"a", "b"}) || !nodes[0].Self || nodes[1].Self {
		t.Errorf("vitals lb nodes on a: %v, self %v %v; want a (self) and b", got, nodes[0].Self, nodes[1].Self)
	}
	code, table, errOut := runCLI(t, append([]string{"lb", "nodes"}, onA...)...)
	if code != exitOK || !strings.Contains(table, "| name ") || !strings.Contains(table, "| vrrp_role ") || strings.Count(table, "| True  | ") < 2 {
		t.Errorf("vitals lb nodes (table): exit %d\n%s%s", code, table, errOut)
	}
	for _, n := range []string{"a", "b"} {
		if !strings.Contains(table, "| "+n+" ") {
			t.Errorf("the table has no row for node %s:\n%s", n, table)
		}
	}

	// A load balancer, so that the per-node status view has a tree.
	api := &lbNode{name: "a", sock: a.sock}
	var created struct {
		LB struct {
			ID string `json:"id"`
		} `json:"loadbalancer"`
	}
	if code, err := api.apiCall("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "lb1", "vip_address": "127.0.0.1"}}, &created); err != nil || code != 201 {
		t.Fatalf("create a load balancer: %d %v", code, err)
	}
	perNode := func() []string {
		t.Helper()
		var v struct {
			Nodes []struct {
				Name string `json:"name"`
			} `json:"vitals_nodes"`
		}
		if code, err := api.apiCall("GET", "/v2/lbaas/loadbalancers/"+created.LB.ID+"/status?per_node=true", nil, &v); err != nil || code != 200 {
			t.Fatalf("per-node status view: %d %v", code, err)
		}
		var names []string
		for _, n := range v.Nodes {
			names = append(names, n.Name)
		}
		return names
	}

	refusals := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"live node", append([]string{"lb", "nodes", "forget", "b"}, onA...), exitFail, []string{"the node is alive", "stop its vitals lb first", "--node-timeout"}},
		{"itself", append([]string{"lb", "nodes", "forget", "a"}, onA...), exitFail, []string{"cannot forget itself", "another node"}},
		{"unknown name", append([]string{"lb", "nodes", "forget", "nosuch"}, onA...), exitUsage, []string{"Node nosuch not found"}},
		{"over TCP without the token", []string{"lb", "nodes", "forget", "--admin", adminAddr, "b"}, exitFail, []string{"needs the admin token"}},
		{"list over TCP without the token", []string{"lb", "nodes", "--admin", adminAddr}, exitFail, []string{"needs the admin token"}},
		{"empty name", append([]string{"lb", "nodes", "forget", ""}, onA...), exitUsage, []string{"not an empty one"}},
		{"no name", append([]string{"lb", "nodes", "forget"}, onA...), exitUsage, []string{"want the NAME of a node"}},
	}
	for _, r := range refusals {
		t.Run("refuses "+r.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, r.args...)
			if code != r.code || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d", code, out, errOut, r.code)
			}
			for _, s := range r.contains {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q does not say %q", errOut, s)
				}
			}
			if strings.Count(errOut, "not found") > 1 {
				t.Errorf("stderr %q says \"not found\" more than once", errOut)
			}
		})
	}
	if got, err := nodesJSON(t, onA...); err != nil || !slices.Equal(nodeNames(got), []string{"a", "b"}) {
		t.Fatalf("after the refusals: %v %v, want a and b still", nodeNames(got), err)
	}

	// The endpoint itself: the token over TCP, bad input, the status codes.
	raw := func(method, path, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+adminAddr+path, nil)
		if tok != "" {
			req.Header.Set("X-Auth-Token", tok)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var f struct {
			Fault string `json:"faultstring"`
		}
		json.NewDecoder(resp.Body).Decode(&f)
		return resp.StatusCode, f.Fault
	}
	for _, c := range []struct {
		method, path, token string
		code                int
		fault               string
	}{
		{"GET", "/nodes", "", 401, "needs the admin token"},
		{"GET", "/nodes", "wrong-token-0123456789", 401, "needs the admin token"},
		{"DELETE", "/nodes/b", "", 401, "needs the admin token"},
		{"DELETE", "/nodes/", "", 401, "needs the admin token"},
		{"GET", "/nodes", token, 200, ""},
		{"DELETE", "/nodes/b", token, 409, "the node is alive"},
		{"DELETE", "/nodes/nosuch", token, 404, "Node nosuch not found"},
		{"DELETE", "/nodes/%01bad", token, 400, "control characters"},
		{"DELETE", "/nodes/%20b", token, 400, "white space"},
		{"DELETE", "/nodes/" + strings.Repeat("x", 300), token, 400, "at most 255 bytes"},
		{"DELETE", "/nodes/", token, 400, "Want a node name"},
	} {
		if code, fault := raw(c.method, c.path, c.token); code != c.code || !strings.Contains(fault, c.fault) {
			t.Errorf("%s %s (token %q): %d %q, want %d %q", c.method, c.path, c.token, code, fault, c.code, c.fault)
		}
	}
	tcp := []string{"--admin", adminAddr, "--token-file", tokenFile}
	if got, err := nodesJSON(t, tcp...); err != nil || len(got) != 2 {
		t.Errorf("vitals lb nodes over TCP with the token: %v %v", nodeNames(got), err)
	}

	// b stops: it turns not alive, and stays listed until forgotten.
	if names := perNode(); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("per-node view before b stops: %v", names)
	}
	b.stop(t)
	poll(t, "b not alive after it stopped", 15*time.Second, func() error {
		nodes, err := nodesJSON(t, onA...)
		if err != nil {
			return err
		}
		if len(nodes) != 2 || nodes[1].Name != "b" || nodes[1].Alive || !nodes[0].Alive {
			return fmt.Errorf("nodes %+v", nodes)
		}
		return nil
	})
	if names := perNode(); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("per-node view after b stopped, before forget: %v (a gone node stays until forgotten)", names)
	}
	code, out, errOut := runCLI(t, append([]string{"lb", "nodes", "forget", "b"}, onA...)...)
	if code != exitOK || !strings.HasPrefix(out, "forgot node b (last seen ") || errOut != "" {
		t.Fatalf("forget b after it stopped: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got, err := nodesJSON(t, onA...); err != nil || !slices.Equal(nodeNames(got), []string{"a"}) {
		t.Errorf("vitals lb nodes after forget b: %v %v, want a only", nodeNames(got), err)
	}
	if names := perNode(); !slices.Equal(names, []string{"a"}) {
		t.Errorf("per-node view after forget b: %v, want a only", names)
	}
	code, _, errOut = runCLI(t, append([]string{"lb", "nodes", "forget", "b"}, onA...)...)
	if code != exitUsage || !strings.Contains(errOut, "Node b not found") {
		t.Errorf("forget b twice: exit %d, stderr %q; want exit 2, not found", code, errOut)
	}
	if strings.Contains(a.log.String(), "panic") {
		t.Errorf("a's log:\n%s", a.log.String())
	}
}

// TestLBNoNodesWithoutSharedStore: a vitals lb without a shared store (a
// SQLite --db, a --config file) has no nodes, and vitals lb nodes and
// nodes forget say so, with exit 1, over the socket; over TCP without the
// token the request is refused first, as every admin action is.
func TestLBNoNodesWithoutSharedStore(t *testing.T) {
	dir, err := os.MkdirTemp("", "vitals-nodes") // a short socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	backend := testenv.StartGreeter(t, "m")
	sqliteSock, fileSock := filepath.Join(dir, "sqlite.sock"), filepath.Join(dir, "file.sock")
	fileAdmin := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	settings, cfg := filepath.Join(dir, "settings.yaml"), filepath.Join(dir, "lb.yaml")
	os.WriteFile(settings, []byte("admin:\n  socket: "+sqliteSock+"\nshutdown_grace: 1s\n"), 0o600)
	os.WriteFile(cfg, fmt.Appendf(nil, `admin:
  socket: %s
  listen: %s
shutdown_grace: 1s
loadbalancers:
  - name: one
    vip_address: 127.0.0.1
    listeners:
      - {name: web, protocol: TCP, protocol_port: %d, default_pool: web}
    pools:
      - name: web
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: m, address: 127.0.0.1, protocol_port: %d}
`, fileSock, fileAdmin, testenv.FreePort(t), backend.Port), 0o600)
	startInProcessLB(t, "sqlite", sqliteSock, "--db", filepath.Join(dir, "lb.db"), "--config", settings)
	startInProcessLB(t, "file", fileSock, "--config", cfg)

	for _, c := range []struct {
		mode string
		ep   []string
		want string
	}{
		{"sqlite", []string{"--socket", sqliteSock}, "not a node of a shared store"},
		{"config", []string{"--socket", fileSock}, "not a node of a shared store"},
		{"config over TCP without a token", []string{"--admin", fileAdmin}, "needs the admin token"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			poll(t, "the admin endpoint answers", 30*time.Second, func() error {
				_, _, errOut := runCLI(t, append([]string{"lb", "nodes"}, c.ep...)...)
				if strings.Contains(errOut, "connect") {
					return fmt.Errorf("%s", errOut)
				}
				return nil
			})
			for _, args := range [][]string{{"lb", "nodes"}, {"lb", "nodes", "forget", "b"}} {
				code, out, errOut := runCLI(t, append(args, c.ep...)...)
				if code != exitFail || out != "" || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line saying %q", args, code, out, errOut, c.want)
				}
			}
		})
	}
}

// TestLBNodeUsage: a wrong use of vitals lb nodes is one line on stderr
// and exit 2, before any endpoint is asked.
func TestLBNodeUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lb", "nodes", "bogus"}, `vitals lb nodes: unexpected argument "bogus" (usage: vitals lb nodes [forget NAME] `},
		{[]string{"lb", "nodes", "-f", "xml"}, `vitals lb nodes: invalid value "xml" for flag -f`},
		{[]string{"lb", "nodes", "forget", "a", "b"}, `vitals lb nodes forget: unexpected argument "b"`},
		{[]string{"lb", "nodes", "forget", "--token-file", "t", "a"}, "vitals lb nodes forget: --token-file goes with --admin"},
	} {
		code, out, errOut := runCLI(t, c.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line starting %q", c.args, code, out, errOut, c.want)
		}
	}
}
