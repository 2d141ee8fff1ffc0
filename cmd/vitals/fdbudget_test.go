package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	lbmodel "vitals/internal/lb"
	"vitals/internal/testenv"
)

// Must-hold 1 of issue 10: a process with a low descriptor limit, flooded
// past it, refuses what is over its budget, never blames its members for
// its own exhaustion, and recovers when the flood ends.
const (
	floodNoFile = 256 // RLIMIT_NOFILE of the process under test
	floodConns  = 400 // connections per flooded listener
	floodHold   = 4 * time.Second
)

// unixGet GETs path over the unix socket sock.
func unixGet(sock, path string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	defer c.CloseIdleConnections()
	return get(c, "http://lb"+path)
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// counter reads one sample matching re (with one number group) from a
// Prometheus text body; -1 when absent.
func counter(body string, re *regexp.Regexp) int {
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return int(n)
}

// TestLBDescriptorFlood: vitals lb with RLIMIT_NOFILE 256, its admin TCP
// listener and its data-plane listener each flooded with 400 idle
// connections. Clients over the budget are closed at once and counted as
// fd_budget; no accept or check hits EMFILE; the members' TCP checks stay
// ONLINE throughout; the operator's unix socket keeps answering; and after
// the flood new sessions and admin requests succeed.
func TestLBDescriptorFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testenv.BuildVitals(t)
	dir, err := os.MkdirTemp("", "vfd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b1, b2 := greeter(t, "b1"), greeter(t, "b2")
	adminPort, dataPort := testenv.FreePort(t), testenv.FreePort(t)
	sock := filepath.Join(dir, "lb.sock")
	cfg := fmt.Sprintf(`admin:
  socket: %s
  listen: 127.0.0.1:%d
shutdown_grace: 1s
loadbalancer:
  name: fd
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 500ms, timeout: 400ms, max_retries: 1, max_retries_down: 1}
      members:
        - {name: b1, address: 127.0.0.1, protocol_port: %d}
        - {name: b2, address: 127.0.0.1, protocol_port: %d}
`, sock, adminPort, dataPort, b1, b2)
	cfgPath := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := testenv.StartVitalsLimited(t, floodNoFile, "lb", bin, t.TempDir(), "lb", "--config", cfgPath)
	lb.WaitLog(t, "descriptor budget", 30*time.Second)
	if n := lb.NoFile(t); n != floodNoFile {
		t.Fatalf("vitals lb runs with RLIMIT_NOFILE %d, want %d", n, floodNoFile)
	}
	m := regexp.MustCompile(`descriptor budget.* max_sessions=(\d+)`).FindStringSubmatch(lb.Log())
	if m == nil {
		t.Fatalf("no max_sessions in the budget line; log:\n%s", lb.Log())
	}
	maxSessions, _ := strconv.Atoi(m[1])
	if maxSessions < 1 || maxSessions >= floodConns || 2*maxSessions >= floodNoFile {
		t.Fatalf("budget of %d sessions under a limit of %d; want some, and fewer than the flood", maxSessions, floodNoFile)
	}
	const changed = "member status changed"
	deadline := time.Now().Add(20 * time.Second)
	online := regexp.MustCompile(`member status changed.* status=ONLINE`)
	for len(online.FindAllString(lb.Log(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("members not ONLINE within 20s; log:\n%s", lb.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := strings.Count(lb.Log(), changed)
	dataAddr := fmt.Sprintf("127.0.0.1:%d", dataPort)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", adminPort)

	admin := testenv.StartFlood(t, "tcp", adminAddr, floodConns)
	data := testenv.StartFlood(t, "tcp", dataAddr, floodConns)
	t.Logf("flood: %d admin and %d data connections opened (%d and %d dials failed: %v, %v); lb holds %d descriptors of %d",
		admin.Len(), data.Len(), admin.Failed, data.Failed, admin.DialErr, data.DialErr, lb.OpenFiles(t), floodNoFile)
	dataRefused, dataKept := data.Classify(2 * time.Second)
	if dataKept > maxSessions || dataKept < 1 {
		t.Errorf("%d data sessions were served during the flood; want 1 to the budget of %d", dataKept, maxSessions)
	}
	if dataRefused < data.Len()-maxSessions {
		t.Errorf("%d of %d data clients were refused at once; want at least %d", dataRefused, data.Len(), data.Len()-maxSessions)
	}
	adminRefused, _ := admin.Classify(time.Second)
	if adminRefused < floodConns/2 {
		t.Errorf("only %d of %d idle admin connections were closed at once; want most (connection cap)", adminRefused, floodConns)
	}
	// The operator's socket answers during the flood, and the refusals are
	// counted.
	time.Sleep(floodHold) // several check rounds under the flood
	code, body, err := unixGet(sock, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("metrics over the unix socket during the flood: %d %v", code, err)
	}
	re := regexp.MustCompile(`vitals_lb_listener_connections_rejected_total\{[^}]*reason="fd_budget"[^}]*\} (\S+)`)
	if n := counter(body, re); n < dataRefused {
		t.Errorf("fd_budget rejections counted: %d; want at least the %d refused clients", n, dataRefused)
	}
	if !strings.Contains(lb.Log(), "descriptor budget reached: refusing new client connections") {
		t.Error("the refusals were not logged")
	}

	admin.Close()
	data.Close()
	// Recovery: a new session reaches a member, the admin TCP port answers.
	deadline = time.Now().Add(15 * time.Second)
	for {
		s, name, err := dialSession(dataAddr)
		if err == nil {
			s.c.Close()
			if name != "b1" && name != "b2" {
				t.Fatalf("session after the flood greeted by %q", name)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after the flood ended: %v; log:\n%s", err, lb.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	code, body, err = get(hc, "http://"+adminAddr+"/v2/lbaas/loadbalancers/"+lbmodel.DeriveID("loadbalancer", "fd")+"/status")
	if err != nil || code != 200 || strings.Count(body, `"ONLINE"`) < 3 {
		t.Fatalf("admin status after the flood: %d %v %s", code, err, body)
	}
	logs := lb.Log()
	if after := strings.Count(logs, changed); after != before {
		t.Errorf("a member changed status during the flood (%d status lines, %d before); log:\n%s", after, before, logs)
	}
	if strings.Contains(logs, "too many open files") {
		t.Errorf("vitals lb ran out of descriptors despite its budget; log:\n%s", logs)
	}
}

// TestAgentDescriptorFlood: vitals agent with RLIMIT_NOFILE 256, its
// health and agent-check ports each flooded with 400 connections, three
// times over. Connections over each port's cap are closed at once, the
// agent never hits EMFILE, its TCP check stays passing throughout (its
// metrics listener says so during the flood), and after the flood the
// health port and the agent-check port answer again.
func TestAgentDescriptorFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testenv.BuildVitals(t)
	dir := t.TempDir()
	backend := greeter(t, "db")
	health, agentCheck, metrics := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
admin_socket: "off"
state_file: "off"
shutdown_delay: 0s
agent_check:
  listen: 127.0.0.1:%d
metrics:
  listen: 127.0.0.1:%d
checks:
  - name: db
    type: tcp
    address: 127.0.0.1:%d
    interval: 500ms
    timeout: 400ms
    fall: 1
`, health, agentCheck, metrics, backend)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := testenv.StartVitalsLimited(t, floodNoFile, "agent", bin, t.TempDir(), "agent", "--config", cfgPath)
	ag.WaitLog(t, "descriptor budget", 30*time.Second)
	if n := ag.NoFile(t); n != floodNoFile {
		t.Fatalf("vitals agent runs with RLIMIT_NOFILE %d, want %d", n, floodNoFile)
	}
	m := regexp.MustCompile(`health_max_connections=(\d+) max_connections_per_listener=(\d+)`).FindStringSubmatch(ag.Log())
	if m == nil {
		t.Fatalf("no connection caps in the budget line; log:\n%s", ag.Log())
	}
	maxConns, _ := strconv.Atoi(m[1])
	side, _ := strconv.Atoi(m[2])
	if maxConns < 1 || maxConns+3*side >= floodNoFile {
		t.Fatalf("connection caps %d (health) and %d under a limit of %d", maxConns, side, floodNoFile)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	healthURL := fmt.Sprintf("http://127.0.0.1:%d/health", health)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _, err := get(hc, healthURL); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not healthy within 20s; log:\n%s", ag.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	hc.CloseIdleConnections()
	const changed = "check changed state"
	before := strings.Count(ag.Log(), changed)
	upRe := regexp.MustCompile(`vitals_agent_check_up\{check="db"\} (\S+)`)

	for round := range 3 {
		hf := testenv.StartFlood(t, "tcp", fmt.Sprintf("127.0.0.1:%d", health), floodConns)
		af := testenv.StartFlood(t, "tcp", fmt.Sprintf("127.0.0.1:%d", agentCheck), floodConns)
		refused, kept := hf.Classify(time.Second)
		t.Logf("round %d: health port refused %d, kept %d of %d (%d dials failed: %v); agent holds %d descriptors", round+1, refused, kept, hf.Len(), hf.Failed, hf.DialErr, ag.OpenFiles(t))
		if refused < hf.Len()-maxConns-floodConns/10 {
			t.Errorf("round %d: %d of %d health connections were closed at once; want all but the cap of %d", round+1, refused, hf.Len(), maxConns)
		}
		code, body, err := get(hc, fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
		if err != nil || code != 200 || counter(body, upRe) != 1 {
			t.Errorf("round %d: metrics listener during the flood: %d %v, check_up %d", round+1, code, err, counter(body, upRe))
		}
		hc.CloseIdleConnections()
		time.Sleep(time.Second) // two check intervals under the flood
		hf.Close()
		af.Close()
	}

	deadline = time.Now().Add(15 * time.Second)
	for {
		code, _, err := get(hc, healthURL)
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health port after the flood: %d %v; log:\n%s", code, err, ag.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", agentCheck), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(reply), "up ") {
		t.Errorf("agent-check reply after the flood: %q, want up", reply)
	}
	logs := ag.Log()
	if after := strings.Count(logs, changed); after != before {
		t.Errorf("the check changed state during the flood (%d lines, %d before); log:\n%s", after, before, logs)
	}
	if strings.Contains(logs, "too many open files") {
		t.Errorf("vitals agent ran out of descriptors despite its caps; log:\n%s", logs)
	}
}
