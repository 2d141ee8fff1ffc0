package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// mirrorHold holds the file mirror of an in-process `vitals lb --config`
// back (mirrorHook) until release.
type mirrorHold struct {
	mu      sync.Mutex
	gate    chan struct{} // the mirror waits for this to close
	entered chan struct{} // a receive for every copy that reached the hook
}

// holdMirror installs the hook, holding; it is removed when the test ends
// (after the lb stopped: call it before starting the lb).
func holdMirror(t *testing.T) *mirrorHold {
	h := &mirrorHold{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	mirrorHook = func(ctx context.Context) {
		h.mu.Lock()
		gate := h.gate
		h.mu.Unlock()
		h.entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	t.Cleanup(func() { mirrorHook = nil; h.release() })
	return h
}

// release lets the mirror go on, and every copy after.
func (h *mirrorHold) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.gate:
	default:
		close(h.gate)
	}
}

// hold holds the next copies back again, and forgets the copies that
// reached the hook before.
func (h *mirrorHold) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = make(chan struct{})
	for {
		select {
		case <-h.entered:
		default:
			return
		}
	}
}

// waitEntered waits until a copy reached the hook.
func (h *mirrorHold) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror never started a copy")
	}
}

// mirrorLB is an in-process `vitals lb --config` with one HTTP-checked
// member, "m1" in pool "web", and a client for its admin socket.
type mirrorLB struct {
	sock, cfg, yaml string
	hc              *http.Client
	lbErr           *testenv.SyncBuffer
}

func startMirrorLB(t *testing.T) *mirrorLB {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	dir, err := os.MkdirTemp("", "vitals-lb") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &mirrorLB{sock: filepath.Join(dir, "lb.sock"), cfg: filepath.Join(dir, "lb.yaml"), lbErr: &testenv.SyncBuffer{}}
	m.yaml = fmt.Sprintf(`admin:
  socket: %s
shutdown_grace: 1s
loadbalancer:
  name: lb1
  listeners:
    - name: l1
      protocol: TCP
      protocol_port: %d
      default_pool: web
  pools:
    - name: web
      lb_algorithm: ROUND_ROBIN
      healthmonitor:
        type: HTTP
        delay: 200ms
        timeout: 150ms
        max_retries: 1
        url_path: /
      members:
        - name: m1
          address: 127.0.0.1
          protocol_port: %s
          weight: 1
`, m.sock, testenv.FreePort(t), port)
	m.write(t, m.yaml)
	m.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", m.sock)
	}}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"lb", "--config", m.cfg, "--log-level", "warn"}, &bytes.Buffer{}, m.lbErr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("vitals lb exited %d: %s", code, m.lbErr.String())
			}
		case <-time.After(20 * time.Second): // a held mirror must not hold the shutdown
			t.Errorf("vitals lb did not stop within 20 s of its context's end:\n%s", m.lbErr.String())
		}
	})
	return m
}

func (m *mirrorLB) write(t *testing.T, yaml string) {
	t.Helper()
	if err := os.WriteFile(m.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (m *mirrorLB) do(method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, "http://lb"+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// until calls try every 50 ms until it returns nil, for up to 10 s.
func (m *mirrorLB) until(t *testing.T, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v\n--- lb log:\n%s", what, err, m.lbErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memberUp waits until /metrics (the admin endpoint's own, not the API)
// shows m1 checked and up.
func (m *mirrorLB) memberUp(t *testing.T) {
	t.Helper()
	m.until(t, "member m1 checked ONLINE", func() error {
		code, body, err := m.do("GET", "/metrics", "")
		if err == nil && (code != 200 || !strings.Contains(body, `vitals_lb_member_up{member="m1",pool="web"} 1`)) {
			err = fmt.Errorf("GET /metrics: %d, no vitals_lb_member_up 1 for m1", code)
		}
		return err
	})
}

type apiAnswer struct {
	code int
	body string
	err  error
}

// getAsync GETs path on a goroutine; the answer comes on the channel.
func (m *mirrorLB) getAsync(path string) <-chan apiAnswer {
	ch := make(chan apiAnswer, 1)
	go func() {
		code, body, err := m.do("GET", path, "")
		ch <- apiAnswer{code, body, err}
	}()
	return ch
}

// members returns the members of pool web as the API lists them.
func (m *mirrorLB) members(t *testing.T, a apiAnswer) []map[string]any {
	t.Helper()
	if a.err != nil || a.code != 200 {
		t.Fatalf("GET members: %d %s %v", a.code, a.body, a.err)
	}
	var v struct {
		Members []map[string]any `json:"members"`
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatalf("GET members: %v: %s", err, a.body)
	}
	return v.Members
}

// notYet fails if ch has an answer now: a read must wait for the held
// mirror. It gives a wrong answer a moment to arrive first.
func notYet(t *testing.T, ch <-chan apiAnswer, what string) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("%s answered while the mirror was held: %d %s %v", what, a.code, a.body, a.err)
	case <-time.After(500 * time.Millisecond):
	}
}

func answer(t *testing.T, ch <-chan apiAnswer) apiAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("the API never answered after the mirror was released")
		return apiAnswer{}
	}
}

// TestLBMirrorDoesNotDelayFirstCheck: in --config mode the API's copy of
// the file is built beside the lb: the first check runs (and the member
// is ONLINE) while the copy is held back; an API read waits for it, and
// shows the file once it is done.
func TestLBMirrorDoesNotDelayFirstCheck(t *testing.T) {
	h := holdMirror(t)
	m := startMirrorLB(t)
	h.waitEntered(t)
	m.memberUp(t) // with the mirror in line, the admin endpoint never opens
	pools := m.getAsync("/v2/lbaas/pools")
	notYet(t, pools, "GET pools")
	h.release()
	if a := answer(t, pools); a.err != nil || a.code != 200 || !strings.Contains(a.body, `"name":"web"`) {
		t.Fatalf("GET pools once the mirror is done: %d %s %v; want pool web", a.code, a.body, a.err)
	}
}

// TestLBMirrorReadYourWrites: a read that comes after a reload, or after
// a member's run-time change, shows it, never the configuration before,
// even while the copy is still being built.
func TestLBMirrorReadYourWrites(t *testing.T) {
	h := holdMirror(t)
	h.release()
	m := startMirrorLB(t)
	m.memberUp(t)
	var pools struct {
		Pools []struct{ ID string } `json:"pools"`
	}
	if a := answer(t, m.getAsync("/v2/lbaas/pools")); a.err != nil || a.code != 200 || json.Unmarshal([]byte(a.body), &pools) != nil || len(pools.Pools) != 1 {
		t.Fatalf("GET pools: %d %s %v", a.code, a.body, a.err)
	}
	path := "/v2/lbaas/pools/" + pools.Pools[0].ID + "/members"
	first := m.members(t, answer(t, m.getAsync(path)))
	if len(first) != 1 || first[0]["name"] != "m1" || first[0]["weight"] != 1.0 {
		t.Fatalf("members before the reload: %v", first)
	}

	// A reload that renames the member and sets its weight.
	h.hold()
	m.write(t, strings.Replace(strings.Replace(m.yaml, "name: m1", "name: m1-renamed", 1), "weight: 1", "weight: 7", 1))
	if code, body, err := m.do("POST", "/reload", ""); err != nil || code != 200 {
		t.Fatalf("POST /reload: %d %s %v", code, body, err)
	}
	h.waitEntered(t) // the copy of the reloaded file is held
	after := m.getAsync(path)
	notYet(t, after, "GET members after the reload")
	h.release()
	got := m.members(t, answer(t, after))
	if len(got) != 1 || got[0]["name"] != "m1-renamed" || got[0]["weight"] != 7.0 {
		t.Fatalf("members right after the reload: %v; want m1-renamed with weight 7", got)
	}

	// A member's weight set at run time through the admin endpoint.
	h.hold()
	id, _ := got[0]["id"].(string)
	if code, body, err := m.do("PUT", path+"/"+id, `{"member": {"weight": 3}}`); err != nil || code != 200 {
		t.Fatalf("PUT the member's weight: %d %s %v", code, body, err)
	}
	h.waitEntered(t)
	after = m.getAsync(path)
	notYet(t, after, "GET members after the member PUT")
	h.release()
	got = m.members(t, answer(t, after))
	if len(got) != 1 || got[0]["weight"] != 3.0 {
		t.Fatalf("members right after the member PUT: %v; want weight 3", got)
	}
}

// TestLBMirrorBound: a read that waits longer than mirrorWaitBound for the
// copy answers 503 with a fault that says so, not a stale or empty copy;
// once the copy is done, reads answer again.
func TestLBMirrorBound(t *testing.T) {
	old := mirrorWaitBound
	mirrorWaitBound = 2 * time.Second
	t.Cleanup(func() { mirrorWaitBound = old })
	h := holdMirror(t)
	m := startMirrorLB(t)
	h.waitEntered(t)
	m.memberUp(t)
	a := answer(t, m.getAsync("/v2/lbaas/pools"))
	if a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, `"faultstring":"The Octavia API's copy of the configuration file is still being built`) || !strings.Contains(a.body, `"faultcode":"Server"`) {
		t.Fatalf("GET pools with the mirror held past the bound: %d %s %v; want 503, a server fault saying the copy is still being built", a.code, a.body, a.err)
	}
	h.release()
	m.until(t, "GET pools once the mirror is done", func() error {
		code, body, err := m.do("GET", "/v2/lbaas/pools", "")
		if err == nil && (code != 200 || !strings.Contains(body, `"name":"web"`)) {
			err = fmt.Errorf("%d %s", code, body)
		}
		return err
	})
}
