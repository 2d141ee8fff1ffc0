package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestLBBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("loadbalancer:\n  pools:\n    - name: pg\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor:\n        type: TCP\n        http_method: GET\n        delay: 5\n        timeout: 3\n        max_retries: 2\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"lb"}, "missing --config FILE"},
		{"config error names file, line, object and field", []string{"lb", "--config", bad}, bad + `:7: healthmonitor of pool "pg": http_method is not allowed for type TCP`},
		{"missing file", []string{"lb", "--config", filepath.Join(dir, "none.yaml")}, "none.yaml: cannot read: no such file or directory"},
		{"extra argument", []string{"lb", "--config", bad, "more"}, `unexpected argument "more"`},
		{"bad log level", []string{"lb", "--config", bad, "--log-level", "loud"}, `--log-level "loud"`},
		{"status with two endpoints", []string{"lb", "status", "--socket", "/x", "--admin", "127.0.0.1:1"}, "give one of --socket, --config and --admin"},
		{"status with a bad config", []string{"lb", "status", "--config", bad}, "http_method is not allowed for type TCP"},
		{"status unknown flag", []string{"lb", "status", "--colour"}, "flag provided but not defined: -colour"},
		{"member without a verb", []string{"lb", "member"}, "want list, set, enable or disable"},
		{"member with a bad verb", []string{"lb", "member", "drain", "p", "m"}, "want list, set, enable or disable"},
		{"member without the member", []string{"lb", "member", "disable", "p"}, "want POOL and MEMBER"},
		{"member token without admin", []string{"lb", "member", "disable", "--token-file", "/x", "p", "m"}, "--token-file goes with --admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q, want one line containing %q", errOut, tt.want)
			}
		})
	}
}

func TestLBHelpIsHonest(t *testing.T) {
	code, out, _ := runCLI(t, "lb", "--help")
	if code != exitOK || !strings.Contains(out, "SIGHUP reloads the configuration") {
		t.Errorf("exit %d, help:\n%s", code, out)
	}
}

func TestLBStatusWithoutServer(t *testing.T) {
	code, _, errOut := runCLI(t, "lb", "status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != exitFail || !strings.Contains(errOut, "is vitals lb running?") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestLBStatusShowsDegraded is issue item 6: `vitals lb status` for a pool
// with one failing member shows the member ERROR, the pool DEGRADED and the
// load balancer DEGRADED. It runs `vitals lb` in-process with a real
// admin socket, against a backend that answers 200 and one that answers
// 503.
func TestLBStatusShowsDegraded(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(sick.Close)
	port := func(s *httptest.Server) string { _, p, _ := net.SplitHostPort(s.Listener.Addr().String()); return p }

	// A short socket path: t.TempDir can exceed the 107-byte limit.
	dir, err := os.MkdirTemp("", "vitals-lb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "lb.sock")
	cfg := filepath.Join(dir, "lb.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `admin:
  socket: %s
loadbalancer:
  name: lb1
  listeners:
    - name: web
      protocol: TCP
      protocol_port: 8080
      default_pool: web
  pools:
    - name: web
      lb_algorithm: ROUND_ROBIN
      healthmonitor:
        name: web-check
        type: HTTP
        delay: 200ms
        timeout: 150ms
        max_retries: 2
        url_path: /health
      members:
        - name: good
          address: 127.0.0.1
          protocol_port: %s
        - name: bad
          address: 127.0.0.1
          protocol_port: %s
`, sock, port(ok), port(sick)), 0o600)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var lbErr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"lb", "--config", cfg, "--log-level", "warn"}, &bytes.Buffer{}, &lbErr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("vitals lb exited %d: %s", code, lbErr.String())
		}
	})

	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, o, _ := runCLI(t, "lb", "status", "--socket", sock)
		out = o
		if code == exitOK && strings.Contains(out, "ERROR") && strings.Contains(out, `"good" 127.0.0.1:`+port(ok)+" ONLINE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed both members checked; last output:\n%s\nlb stderr: %s", out, lbErr.String())
		}
	}
	want := strings.Join([]string{
		`loadbalancer "lb1" DEGRADED`,
		`└── listener "web" DEGRADED`,
		`    └── pool "web" DEGRADED`,
		`        ├── healthmonitor "web-check" HTTP ONLINE`,
		`        ├── member "good" 127.0.0.1:` + port(ok) + ` ONLINE`,
		`        └── member "bad" 127.0.0.1:` + port(sick) + ` ERROR`,
		``,
	}, "\n")
	if out != want {
		t.Errorf("vitals lb status:\n%s\nwant:\n%s", out, want)
	}

	// --json prints what `openstack loadbalancer status show` prints.
	code, js, _ := runCLI(t, "lb", "status", "--config", cfg, "--json")
	type poolStatus struct {
		OperatingStatus string `json:"operating_status"`
		Members         []struct {
			Name            string `json:"name"`
			OperatingStatus string `json:"operating_status"`
		} `json:"members"`
	}
	var statuses struct {
		LoadBalancer struct {
			OperatingStatus string `json:"operating_status"`
			Listeners       []struct {
				Pools []poolStatus `json:"pools"`
			} `json:"listeners"`
			Pools []poolStatus `json:"pools"` // every pool of the load balancer
		} `json:"loadbalancer"`
	}
	if err := json.Unmarshal([]byte(js), &statuses); code != exitOK || err != nil {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, js)
	}
	l := statuses.LoadBalancer
	if l.OperatingStatus != "DEGRADED" || len(l.Listeners) != 1 || len(l.Listeners[0].Pools) != 1 ||
		l.Listeners[0].Pools[0].OperatingStatus != "DEGRADED" || l.Listeners[0].Pools[0].Members[1].OperatingStatus != "ERROR" ||
		len(l.Pools) != 1 || l.Pools[0].Members[1].OperatingStatus != "ERROR" {
		t.Errorf("--json statuses %+v", l)
	}
	if !strings.HasPrefix(js, "{\n    \"loadbalancer\": {\n        \"id\": ") {
		t.Errorf("--json is not indented by four spaces under \"loadbalancer\":\n%s", js)
	}

	// --healthmonitor prints the Field/Value table of the seed.
	code, table, _ := runCLI(t, "lb", "status", "--socket", sock, "--healthmonitor", "web-check")
	if code != exitOK {
		t.Fatalf("--healthmonitor: exit %d", code)
	}
	for _, row := range []string{
		"| Field               | Value                                |",
		"| name                | web-check                            |",
		"| admin_state_up      | True                                 |",
		"| provisioning_status | ACTIVE                               |",
		"| delay               | 0.2                                  |",
		"| expected_codes      | 200                                  |",
		"| max_retries         | 2                                    |",
		"| http_method         | GET                                  |",
		"| max_retries_down    | 3                                    |",
		"| url_path            | /health                              |",
		"| type                | HTTP                                 |",
		"| operating_status    | ONLINE                               |",
	} {
		if !strings.Contains(table, row+"\n") {
			t.Errorf("table lacks %q:\n%s", row, table)
		}
	}
	// -f json prints the monitor's fields in the API's order, not sorted.
	code, js, _ = runCLI(t, "lb", "status", "--socket", sock, "--healthmonitor", "web-check", "-f", "json")
	if code != exitOK {
		t.Fatalf("--healthmonitor -f json: exit %d", code)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://lb/v2/lbaas/healthmonitors")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		HealthMonitors []json.RawMessage `json:"healthmonitors"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.HealthMonitors) != 1 {
		t.Fatalf("the API's monitor list: %v, %d monitors", err, len(list.HealthMonitors))
	}
	var shown struct {
		HealthMonitor json.RawMessage `json:"healthmonitor"`
	}
	if err := json.Unmarshal([]byte(js), &shown); err != nil {
		t.Fatalf("-f json: %v\n%s", err, js)
	}
	var first struct {
		ID string `json:"id"`
	}
	json.Unmarshal(list.HealthMonitors[0], &first)
	resp, err = hc.Get("http://lb/v2/lbaas/healthmonitors/" + first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var one struct {
		HealthMonitor json.RawMessage `json:"healthmonitor"`
	}
	err = json.NewDecoder(resp.Body).Decode(&one)
	resp.Body.Close()
	if err != nil || first.ID == "" {
		t.Fatalf("the API's monitor %q: %v", first.ID, err)
	}
	if got, want := testenv.JSONKeys(t, shown.HealthMonitor), testenv.JSONKeys(t, one.HealthMonitor); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("-f json fields in the order\n%v\nwant the API's\n%v", got, want)
	}
	if code, _, errOut := runCLI(t, "lb", "status", "--socket", sock, "--healthmonitor", "nope"); code != exitUsage || !strings.Contains(errOut, "Health Monitor nope not found.") {
		t.Errorf("unknown monitor: exit %d, %q", code, errOut)
	}

	// The metrics are on the same endpoint.
	resp, err = hc.Get("http://lb/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`vitals_lb_member_up{member="bad",pool="web"} 0`, `vitals_lb_member_up{member="good",pool="web"} 1`, `vitals_lb_member_status{member="bad",pool="web",status="ERROR"} 1`, `vitals_lb_member_status{member="good",pool="web",status="ONLINE"} 1`, "process_resident_memory_bytes"} {
		if !strings.Contains(metrics.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, %v; want 0600", st.Mode().Perm(), err)
	}

	// An operator takes the failing member out by hand, and puts it back.
	code, out, errOut := runCLI(t, "lb", "member", "disable", "--socket", sock, "web", "bad")
	if code != exitOK || out != "member bad of pool web: admin_state_up false, operating_status OFFLINE\n" {
		t.Errorf("member disable: exit %d, %q, %q", code, out, errOut)
	}
	_, out, _ = runCLI(t, "lb", "status", "--socket", sock)
	if !strings.Contains(out, `member "bad" 127.0.0.1:`+port(sick)+" OFFLINE") || !strings.Contains(out, `pool "web" ONLINE`) {
		t.Errorf("after member disable, status:\n%s", out)
	}
	// The run-time change outlives a reload, in the API's reads too.
	if code, out, errOut := runCLI(t, "lb", "reload", "--socket", sock); code != exitOK {
		t.Fatalf("reload: exit %d, %q, %q", code, out, errOut)
	}
	_, out, _ = runCLI(t, "lb", "member", "list", "--socket", sock, "web", "-f", "value")
	if !strings.Contains(out, " bad 127.0.0.1 "+port(sick)+" 1 False False OFFLINE ACTIVE\n") {
		t.Errorf("after member disable and a reload, member list:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "lb", "member", "enable", "--config", cfg, "web", "nope"); code != exitUsage || !strings.Contains(errOut, "Member nope could not be found in pool web.") {
		t.Errorf("unknown member: exit %d, %q", code, errOut)
	}
	code, out, errOut = runCLI(t, "lb", "member", "enable", "--socket", sock, "web", "127.0.0.1:"+port(sick))
	if code != exitOK || !strings.HasPrefix(out, "member bad of pool web: admin_state_up true, operating_status ") {
		t.Errorf("member enable by address: exit %d, %q, %q", code, out, errOut)
	}
	// Checked again, it is found failing again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, out, _ = runCLI(t, "lb", "status", "--socket", sock)
		if strings.Contains(out, `member "bad" 127.0.0.1:`+port(sick)+" ERROR") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the enabled member was not checked again:\n%s", out)
		}
	}
}
