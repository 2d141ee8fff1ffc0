package lb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runningLB is a whole `vitals lb` (RunWith) for a test: its admin socket,
// admin TCP address and first listener.
type runningLB struct {
	socket, admin, listen, file string
	reload                      chan struct{}
	plane                       *Plane // as RunOptions.Attach got it
}

// write writes yml to the configuration file, with {SOCKET}, {ADMIN} and
// {PORT} replaced by the admin socket, admin address and listener port.
func (r *runningLB) write(t *testing.T, yml string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.listen)
	yml = strings.NewReplacer("{SOCKET}", r.socket, "{ADMIN}", r.admin, "{PORT}", port).Replace(yml)
	if err := os.WriteFile(r.file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startRunWith writes yml (see write) and runs it.
func startRunWith(t *testing.T, yml string) *runningLB {
	t.Helper()
	dir, err := os.MkdirTemp("", "vlb") // short: a socket path has at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &runningLB{socket: filepath.Join(dir, "lb.sock"), admin: freeAddr(t), file: filepath.Join(dir, "lb.yaml"), reload: make(chan struct{}, 1)}
	r.listen = freeAddr(t)
	r.write(t, yml)
	cfg, err := LoadFile(r.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	planes := make(chan *Plane, 1)
	go func() {
		done <- RunWith(ctx, cfg, log, RunOptions{Reload: r.reload, Load: func() (*Config, error) { return LoadFile(r.file) },
			Attach: func(p *Plane) (http.Handler, error) { planes <- p; return p.Admin, nil }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "the admin endpoint to answer", func() bool {
		resp, err := http.Get("http://" + r.admin + "/status.json")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	r.plane = <-planes
	return r
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// put sends a PUT to the admin TCP address and returns the code and the
// body, or its faultstring when it has one.
func put(t *testing.T, addr, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var f struct{ Faultstring string }
	if json.Unmarshal(b, &f) == nil && f.Faultstring != "" {
		return resp.StatusCode, f.Faultstring
	}
	return resp.StatusCode, string(b)
}

// whoAnswers opens n connections through addr and counts the backends
// that greet them.
func whoAnswers(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		got[strings.TrimSpace(line)]++
	}
	return got
}

// controlYAML is a load balancer over backends a and b, with admin
// %s, a's port, a's weight and b's port to fill in.
const controlYAML = `admin:
  socket: {SOCKET}
  listen: {ADMIN}
  %s
loadbalancer:
  name: lb1
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: {PORT}, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: a, address: 127.0.0.1, protocol_port: %d, weight: %d}
        - {name: b, address: 127.0.0.1, protocol_port: %d}
`

// TestMemberAdminStateUp: a member's admin_state_up set through the admin
// API takes it out of rotation (OFFLINE, no new connections) and back,
// over the unix socket freely and over TCP only with the admin token; the
// change outlives a reload; bad requests get 4xx and change nothing.
func TestMemberAdminStateUp(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	dir := t.TempDir()
	token := "0123456789abcdef0123456789abcdef"
	tokenFile := filepath.Join(dir, "admin.token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	lbr := startRunWith(t, fmt.Sprintf(controlYAML, "token_file: "+tokenFile, a.port(), 1, b.port()))

	if got := whoAnswers(t, lbr.listen, 10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("before: sessions %v, want a:5 b:5", got)
	}

	path := "/v2/lbaas/pools/p/members/b"
	disable := `{"member": {"admin_state_up": false}}`
	for _, tc := range []struct {
		name, path, token, body string
		code                    int
		msg                     string
	}{
		{"no token", path, "", disable, 401, "Missing or wrong X-Auth-Token."},
		{"wrong token", path, "0123456789abcdef0123456789abcdeX", disable, 401, "Missing or wrong X-Auth-Token."},
		{"not JSON", path, token, `{"member": `, 400, "Invalid input: unexpected EOF."},
		{"other field", path, token, `{"member": {"name": "x"}}`, 400, `json: unknown field "name"`},
		{"weight out of range", path, token, `{"member": {"weight": 300}}`, 400, "member.weight must be from 0 to 256, got 300."},
		{"no change", path, token, `{"member": {}}`, 400, "member.admin_state_up or member.weight is required"},
		{"string", path, token, `{"member": {"admin_state_up": "no"}}`, 400, "Invalid input"},
		{"no such pool", "/v2/lbaas/pools/nope/members/b", token, disable, 404, "Pool nope could not be found."},
		{"no such member", "/v2/lbaas/pools/p/members/zz", token, disable, 404, "Member zz could not be found in pool p."},
	} {
		code, body := put(t, lbr.admin, tc.path, tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.msg)
		}
		if strings.Contains(body, token) {
			t.Errorf("%s: the answer shows the token", tc.name)
		}
	}
	if got := whoAnswers(t, lbr.listen, 4); got["b"] != 2 {
		t.Fatalf("refused requests changed something: sessions %v", got)
	}

	// With the token, over TCP.
	code, body := put(t, lbr.admin, path, token, disable)
	var v struct{ Member MemberView }
	json.Unmarshal([]byte(body), &v)
	if code != 200 || v.Member.AdminStateUp || v.Member.OperatingStatus != "OFFLINE" || v.Member.Name != "b" {
		t.Fatalf("disable b: %d %s", code, body)
	}
	if got := whoAnswers(t, lbr.listen, 6); got["a"] != 6 {
		t.Errorf("b disabled: sessions %v, want all on a", got)
	}
	var page struct {
		Admin string `json:"admin"`
		Pools []struct {
			Members []struct {
				Name   string `json:"name"`
				Up     *bool  `json:"admin_state_up"`
				Status string `json:"operating_status"`
			} `json:"members"`
		} `json:"pools"`
	}
	resp, err := http.Get("http://" + lbr.admin + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page.Admin != "token" || len(page.Pools) != 1 || len(page.Pools[0].Members) != 2 {
		t.Fatalf("status page data: %+v", page)
	}
	if m := page.Pools[0].Members[1]; m.Name != "b" || m.Up == nil || *m.Up || m.Status != "OFFLINE" {
		t.Errorf("status page shows b as %+v, want admin_state_up false, OFFLINE", m)
	}

	// A reload (a's weight 1 -> 3) keeps b disabled.
	lbr.write(t, fmt.Sprintf(controlYAML, "token_file: "+tokenFile, a.port(), 3, b.port()))
	lbr.reload <- struct{}{}
	c := NewClient(lbr.socket, "")
	waitFor(t, 10*time.Second, "the reload", func() bool {
		m := runningMember(lbr, "p", "a")
		return m != nil && m.WeightOr1() == 3
	})
	if got := whoAnswers(t, lbr.listen, 6); got["a"] != 6 {
		t.Errorf("after reload: sessions %v, want all on a (b stays disabled)", got)
	}

	// Over the unix socket no token is needed.
	m, err := c.SetMemberAdminStateUp(context.Background(), "p", "b", true)
	if err != nil || !m.AdminStateUp || m.OperatingStatus == "OFFLINE" {
		t.Fatalf("enable b over the socket: %+v, %v", m, err)
	}
	if got := whoAnswers(t, lbr.listen, 8); got["a"] != 6 || got["b"] != 2 {
		t.Errorf("b enabled again: sessions %v, want a:6 b:2 (weights 3:1)", got)
	}
}

// TestMemberAdminStateUpReadOnly: without token_file, the TCP admin
// address refuses changes with 403, and the status page offers none.
func TestMemberAdminStateUpReadOnly(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	lbr := startRunWith(t, fmt.Sprintf(controlYAML, "", a.port(), 1, b.port()))
	code, body := put(t, lbr.admin, "/v2/lbaas/pools/p/members/b", "anything-at-all-0123", `{"member": {"admin_state_up": false}}`)
	if code != 403 || !strings.Contains(body, "admin.token_file") {
		t.Errorf("PUT without a configured token: %d %s, want 403 naming admin.token_file", code, body)
	}
	resp, err := http.Get("http://" + lbr.admin + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	var page map[string]any
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if _, ok := page["admin"]; ok {
		t.Errorf("read-only status page data has admin %v", page["admin"])
	}
	if got := whoAnswers(t, lbr.listen, 4); got["b"] != 2 {
		t.Errorf("sessions %v, want b still in rotation", got)
	}
}

// TestWithMemberAdminLeavesTheFileAlone: the running configuration is a
// copy; the file's stays as loaded, so that setting a member back to what
// the file says clears the change.
func TestWithMemberAdminLeavesTheFileAlone(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(lbYAML(8080, "", "      lb_algorithm: ROUND_ROBIN\n", "{name: a, address: 127.0.0.1, protocol_port: 1}")))
	if err != nil {
		t.Fatal(err)
	}
	id := cfg.LoadBalancers[0].Pools[0].Members[0].ID
	run := withMemberChanges(cfg, map[string]bool{id: false}, nil)
	if run.LoadBalancers[0].Pools[0].Members[0].Up() {
		t.Error("the running configuration has the member up")
	}
	if !cfg.LoadBalancers[0].Pools[0].Members[0].Up() || cfg.LoadBalancers[0] == run.LoadBalancers[0] {
		t.Error("the file's configuration was changed")
	}
}

// TestMemberWeightReloadAndStats: a weight set through the admin API is
// applied at once and lasts until a reload; POST /reload answers with the
// verdict (409 and the reason for a broken file, which changes nothing);
// the stats count the sessions.
func TestMemberWeightReloadAndStats(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	good := fmt.Sprintf(controlYAML, "", a.port(), 1, b.port())
	lbr := startRunWith(t, good)
	c := NewClient(lbr.socket, "")
	ctx := context.Background()

	m, err := c.SetMemberWeight(ctx, "p", "b", 3)
	if err != nil || m.Weight != 3 || m.Name != "b" {
		t.Fatalf("set b's weight to 3: %+v, %v", m, err)
	}
	if got := whoAnswers(t, lbr.listen, 8); got["a"] != 2 || got["b"] != 6 {
		t.Errorf("weights 1:3: sessions %v, want a:2 b:6", got)
	}
	if ma, mb := runningMember(lbr, "p", "a"), runningMember(lbr, "p", "b"); ma.WeightOr1() != 1 || mb.WeightOr1() != 3 {
		t.Errorf("running weights a:%d b:%d, want 1 and 3", ma.WeightOr1(), mb.WeightOr1())
	}
	if _, err := c.SetMemberWeight(ctx, "nope", "b", 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("a member of an unknown pool: %v, want ErrNotFound", err)
	}

	// The stats the Octavia API serves (Plane.LoadBalancerStats,
	// ListenerStats) count the sessions.
	run := lbr.plane.Current().LoadBalancers[0]
	var s Stats
	waitFor(t, 10*time.Second, "the stats to count 8 finished sessions", func() bool {
		var ok bool
		s, ok = lbr.plane.LoadBalancerStats(run.ID)
		return ok && s.TotalConnections == 8 && s.ActiveConnections == 0
	})
	if ls, ok := lbr.plane.ListenerStats(run.Listeners[0].ID); !ok || ls != s {
		t.Errorf("listener stats %+v, %v; want the load balancer's %+v (one listener)", ls, ok, s)
	}
	if _, ok := lbr.plane.ListenerStats("nope"); ok {
		t.Error("stats of an unknown listener")
	}
	if _, ok := lbr.plane.LoadBalancerStats("nope"); ok {
		t.Error("stats of an unknown load balancer")
	}

	// Over TCP without admin.token_file, reload is refused like any change.
	resp, err := http.Post("http://"+lbr.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /reload over TCP without a token: %s, want 403", resp.Status)
	}

	lbr.write(t, strings.Replace(good, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: FASTEST", 1))
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "Reload rejected; the running configuration stays: ") || !strings.Contains(err.Error(), "FASTEST") {
		t.Errorf("reload of a broken file: %v", err)
	}
	if got := whoAnswers(t, lbr.listen, 4); got["a"] != 1 || got["b"] != 3 {
		t.Errorf("after a rejected reload: sessions %v, want a:1 b:3 (weights kept)", got)
	}
	lbr.write(t, good)
	if err := c.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := whoAnswers(t, lbr.listen, 4); got["a"] != 2 || got["b"] != 2 {
		t.Errorf("after reload: sessions %v, want a:2 b:2 (the file's weights)", got)
	}
}

// runningMember is the member of the running configuration, by pool and
// member name, or nil.
func runningMember(r *runningLB, pool, member string) *Member {
	_, m, err := findMember(r.plane.Current(), pool, member)
	if err != nil {
		return nil
	}
	return m
}
