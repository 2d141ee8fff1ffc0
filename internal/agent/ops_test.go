package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsAgent starts a real agent on loopback with its admin socket, state
// file and agent-check port in a temp dir. It returns the agent, the base
// URL, the agent-check address and a function that stops Serve and waits
// for it to return.
func opsAgent(t *testing.T, dir, extra string) (*Agent, string, string, func() error) {
	t.Helper()
	acl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acAddr := acl.Addr().String()
	acl.Close()
	yml := `listen: 127.0.0.1:0
admin_socket: ` + filepath.Join(dir, "agent.sock") + `
state_file: ` + filepath.Join(dir, "agent.state") + `
shutdown_delay: 0s
agent_check:
  listen: ` + acAddr + `
checks:
  - name: db
    type: file
    path: ` + filepath.Join(dir, "db-down") + `
    interval: 100ms
    timeout: 50ms
` + extra
	cfg, err := Parse("ops.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	base := "http://" + ln.Addr().String()
	waitCode(t, base+"/health", 200)
	waitListening(t, "unix", filepath.Join(dir, "agent.sock"))
	waitListening(t, "tcp", acAddr)
	return a, base, acAddr, stop
}

// waitListening polls until something accepts connections at addr, for at
// most 5 s: the side listeners open just after the health listener.
func waitListening(t *testing.T, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s %s after 5s: %v", network, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCode polls url until it answers code, for at most 5 s.
func waitCode(t *testing.T, url string, code int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = resp.Status + " " + string(b)
			if resp.StatusCode == code {
				return string(b)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within 5s; last: %s", url, code, last)
	return ""
}

// agentCheckLine reads the one line the agent-check port answers.
func agentCheckLine(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("agent-check read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestMaintenanceAndDrain(t *testing.T) {
	dir := t.TempDir()
	a, base, ac, stop := opsAgent(t, dir, "drain_code: 404\n")
	admin := NewAdminClient(filepath.Join(dir, "agent.sock"))
	ctx := t.Context()

	if got := agentCheckLine(t, ac); got != "up ready 100%" {
		t.Errorf("healthy agent-check %q, want \"up ready 100%%\"", got)
	}
	if _, err := admin.Do(ctx, "POST", "/maintenance?state=on"); err != nil {
		t.Fatal(err)
	}
	if b := waitCode(t, base+"/health", 503); !strings.Contains(b, "maintenance") {
		t.Errorf("maintenance body %q", b)
	}
	if got := agentCheckLine(t, ac); !strings.HasPrefix(got, "maint") {
		t.Errorf("maintenance agent-check %q, want maint", got)
	}
	admin.Do(ctx, "POST", "/maintenance?state=off")
	admin.Do(ctx, "POST", "/drain?state=on")
	waitCode(t, base+"/health", 404)
	if got := agentCheckLine(t, ac); !strings.HasPrefix(got, "drain") {
		t.Errorf("drain agent-check %q, want drain", got)
	}
	if st, _ := admin.Do(ctx, "GET", "/state"); st != `{"maintenance":false,"drain":true}` {
		t.Errorf("state %s", st)
	}
	if _, err := admin.Do(ctx, "POST", "/drain?state=maybe"); err == nil {
		t.Error("state=maybe accepted")
	}
	if fi, err := os.Stat(filepath.Join(dir, "agent.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	// The state survives a restart.
	stop()
	a2, base2, ac2, _ := opsAgentNoWait(t, dir, "drain_code: 404\n")
	_ = a
	if st := a2.State(); !st.Drain || st.Maintenance {
		t.Fatalf("after restart state %+v, want drain only", st)
	}
	waitCode(t, base2+"/health", 404)
	if got := agentCheckLine(t, ac2); !strings.HasPrefix(got, "drain") {
		t.Errorf("after restart agent-check %q, want drain", got)
	}
	if _, err := NewAdminClient(filepath.Join(dir, "agent.sock")).Do(ctx, "POST", "/drain?state=off"); err != nil {
		t.Fatal(err)
	}
	waitCode(t, base2+"/health", 200)
}

// opsAgentNoWait is opsAgent for a restart: the agent may start draining.
func opsAgentNoWait(t *testing.T, dir, extra string) (*Agent, string, string, func() error) {
	t.Helper()
	acl, _ := net.Listen("tcp", "127.0.0.1:0")
	acAddr := acl.Addr().String()
	acl.Close()
	yml := "listen: 127.0.0.1:0\nadmin_socket: " + filepath.Join(dir, "agent.sock") + "\nstate_file: " + filepath.Join(dir, "agent.state") +
		"\nshutdown_delay: 0s\nagent_check:\n  listen: " + acAddr + "\nchecks:\n  - name: db\n    type: file\n    path: " + filepath.Join(dir, "db-down") + "\n    interval: 100ms\n    timeout: 50ms\n" + extra
	cfg, err := Parse("ops.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	stop := func() error { cancel(); return <-done }
	t.Cleanup(func() { stop() })
	waitListening(t, "unix", filepath.Join(dir, "agent.sock"))
	waitListening(t, "tcp", acAddr)
	return a, "http://" + ln.Addr().String(), acAddr, stop
}

func TestAgentCheckReportsFailure(t *testing.T) {
	dir := t.TempDir()
	_, base, ac, _ := opsAgent(t, dir, "")
	if err := os.WriteFile(filepath.Join(dir, "db-down"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitCode(t, base+"/health", 503)
	got := agentCheckLine(t, ac)
	if !strings.HasPrefix(got, "down # db: maintenance file ") {
		t.Errorf("failing agent-check %q, want \"down # db: maintenance file ...\"", got)
	}
}

func TestAgentCheckWithAgentSend(t *testing.T) {
	_, _, ac, _ := opsAgent(t, t.TempDir(), "")
	c, err := net.Dial("tcp", ac)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, "hello from haproxy\n") // HAProxy's agent-send string
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "up ready 100%\n" {
		t.Errorf("with agent-send: %q, %v", line, err)
	}
}

func TestLoadWeight(t *testing.T) {
	for _, tt := range []struct {
		load, max float64
		min, want int
	}{
		{0, 2, 10, 100}, {1, 2, 10, 55}, {2, 2, 10, 10}, {8, 2, 10, 10}, {-1, 2, 10, 100}, {0.5, 2, 1, 75},
	} {
		if got := loadWeight(tt.load, tt.max, tt.min); got != tt.want {
			t.Errorf("loadWeight(%g, %g, %d) = %d, want %d", tt.load, tt.max, tt.min, got, tt.want)
		}
	}
}

func TestShutdownDelayAnswers503WithoutResets(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse("s.yaml", []byte("listen: 127.0.0.1:0\nadmin_socket: off\nstate_file: off\nshutdown_delay: 4s\nchecks:\n  - name: db\n    type: file\n    path: "+filepath.Join(dir, "x")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String() + "/health"
	waitCode(t, url, 200)
	client := &http.Client{Timeout: 10 * time.Second}
	cancel()
	began := time.Now()
	codes := map[int]int{}
	// Probe for half the delay: a probe sent then still has 2s to be
	// answered before the listener closes.
	for time.Since(began) < 2*time.Second {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("probe during the shutdown delay failed: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		time.Sleep(10 * time.Millisecond)
	}
	if codes[503] == 0 || codes[200] > 1 {
		t.Errorf("answers during the delay: %v, want all 503 (at most one 200 racing the signal)", codes)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
		if d := time.Since(began); d < 4*time.Second-100*time.Millisecond {
			t.Errorf("Serve returned after %s, before the 4s shutdown delay", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the shutdown delay")
	}
	if _, err := client.Get(url); err == nil || !errors.Is(err, syscall.ECONNREFUSED) && !strings.Contains(err.Error(), "refused") {
		t.Errorf("after exit: %v, want connection refused", err)
	}
}

func TestReloadKeepsUnchangedChecks(t *testing.T) {
	dir := t.TempDir()
	a, base, _, _ := opsAgent(t, dir, "")
	before := a.rt.Load().byName["db"]
	waitRuns := func(c *check, n uint64) {
		deadline := time.Now().Add(5 * time.Second)
		for c.snap.Load().Runs < n {
			if time.Now().After(deadline) {
				t.Fatalf("check %s ran %d times, want %d", c.cfg.Name, c.snap.Load().Runs, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRuns(before, 2)
	cfg := *a.rt.Load().cfg
	cfg.Checks = append([]CheckConfig{}, cfg.Checks...)
	extra := cfg.Checks[0]
	extra.Name = "cache"
	extra.Path = filepath.Join(dir, "cache-down")
	cfg.Checks = append(cfg.Checks, extra)
	cfg.Endpoints = nil
	if err := cfg.finish("reload.yaml", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if a.rt.Load().byName["db"] != before {
		t.Error("the unchanged check was replaced; its state was lost")
	}
	waitCode(t, base+"/health/cache", 200)

	// A broken configuration is rejected and the old one keeps serving.
	a.SetReloader(func() (*Config, error) { return Parse("bad.yaml", []byte("checks: [")) })
	if err := a.Reload(); err == nil {
		t.Fatal("broken config accepted")
	}
	waitCode(t, base+"/health/cache", 200)

	// Removing a check stops it and removes its path.
	a.SetReloader(func() (*Config, error) {
		c := *a.rt.Load().cfg
		c.Checks = c.Checks[:1]
		c.Endpoints = nil
		return &c, c.finish("smaller.yaml", nil)
	})
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	waitCode(t, base+"/health/cache", 404)
}

func TestMetricsParse(t *testing.T) {
	dir := t.TempDir()
	_, base, _, _ := opsAgent(t, dir, "")
	os.WriteFile(filepath.Join(dir, "db-down"), nil, 0o644)
	waitCode(t, base+"/health", 503)
	os.Remove(filepath.Join(dir, "db-down"))
	waitCode(t, base+"/health", 200)

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := families[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		check  func(float64) bool
		want   string
	}{
		{"vitals_agent_check_up", map[string]string{"check": "db"}, func(v float64) bool { return v == 1 }, "1"},
		{"vitals_agent_check_status", map[string]string{"check": "db", "status": "pass"}, func(v float64) bool { return v == 1 }, "1"},
		{"vitals_agent_check_transitions_total", map[string]string{"check": "db"}, func(v float64) bool { return v == 3 }, "3 (unknown→up→down→up)"},
		{"vitals_agent_check_runs_total", map[string]string{"check": "db", "result": "fail"}, func(v float64) bool { return v >= 1 }, "≥ 1"},
		{"vitals_agent_check_latency_seconds", map[string]string{"check": "db"}, func(v float64) bool { return v >= 2 }, "≥ 2 samples"},
		{"vitals_agent_check_result_age_seconds", map[string]string{"check": "db"}, func(v float64) bool { return v >= 0 && v < 5 }, "0..5"},
		{"vitals_agent_http_requests_total", map[string]string{"path": "/health", "code": "503"}, func(v float64) bool { return v >= 1 }, "≥ 1"},
	} {
		v, ok := value(tt.name, tt.labels)
		if !ok || !tt.check(v) {
			t.Errorf("%s%v = %v (present %v), want %s", tt.name, tt.labels, v, ok, tt.want)
		}
	}
}
