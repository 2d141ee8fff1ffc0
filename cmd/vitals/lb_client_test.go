package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// sessions opens n sessions through addr and counts who answered.
func sessions(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("ping\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatalf("session through %s: %v", addr, err)
		}
		got[strings.TrimSpace(line)]++
	}
	return got
}

const lbClientYAML = `admin:
  socket: %s
loadbalancer:
  name: lb1
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      healthmonitor:
        type: tcp
        delay: 200ms
        timeout: 150ms
        max_retries: 1
      members:
        - {name: a, address: 127.0.0.1, protocol_port: %d}
        - {name: b, address: 127.0.0.1, protocol_port: %d, weight: 1}
`

// TestLBClientCommands runs the real binary as the load balancer and as
// the client: member list and member set --weight, stats, reload (good
// and rejected), and every -f format of status, member list and stats.
func TestLBClientCommands(t *testing.T) {
	bin := testenv.BuildVitals(t)
	dir, err := os.MkdirTemp("", "vlbc") // short: a socket path has at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, cfgPath := filepath.Join(dir, "lb.sock"), filepath.Join(dir, "lb.yaml")
	port := testenv.FreePort(t)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	good := fmt.Sprintf(lbClientYAML, sock, port, testenv.StartTCPServer(t, testenv.AnswerName("a")).Port, testenv.StartTCPServer(t, testenv.AnswerName("b")).Port)
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	lbp := testenv.StartVitals(t, "lb", bin, dir, "lb", "--config", cfgPath)

	vitals := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	if err := lbp.WaitReady(func() error {
		code, out, errOut := vitals("lb", "status", "--socket", sock, "-f", "value")
		if code != 0 || strings.Count(out, " ONLINE ACTIVE") != 6 { // lb, listener, pool, monitor, a, b
			return fmt.Errorf("status: exit %d %q %q", code, out, errOut)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// status in every format; the monitor's type: tcp is shown TCP, and
	// its empty name as Octavia shows it.
	code, out, _ := vitals("lb", "status", "--socket", sock, "-f", "value")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	kinds := []string{}
	for _, l := range lines {
		kinds = append(kinds, strings.Fields(l)[0])
	}
	if code != 0 || strings.Join(kinds, " ") != "loadbalancer listener pool healthmonitor member member" || !strings.Contains(lines[3], ` "" ONLINE ACTIVE`) {
		t.Errorf("status -f value: exit %d\n%s", code, out)
	}
	code, out, _ = vitals("lb", "status", "--socket", sock, "-f", "yaml")
	hmYAML := regexp.MustCompile(`\n( +)healthmonitor:\n( +)id: \S+\n( +)name: ""\n( +)type: TCP\n`)
	if code != 0 || !strings.HasPrefix(out, "loadbalancer:\n  id: ") || !strings.Contains(out, "\n  name: lb1\n") || len(hmYAML.FindAllString(out, -1)) != 2 {
		t.Errorf("status -f yaml: exit %d; want the monitor with name \"\" and type TCP under the listener's pool and the pool:\n%s", code, out)
	}
	code, out, _ = vitals("lb", "status", "--socket", sock, "-f", "json")
	if code != 0 || !strings.Contains(out, `"name": "",`) || !strings.Contains(out, `"type": "TCP"`) {
		t.Errorf("status -f json: exit %d\n%s", code, out)
	}
	code, out, _ = vitals("lb", "status", "--socket", sock)
	if code != 0 || !strings.Contains(out, "healthmonitor ") || !strings.Contains(out, " TCP ONLINE") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	// member list in every format.
	code, out, _ = vitals("lb", "member", "list", "--socket", sock, "p")
	if code != 0 || !strings.HasPrefix(out, "+--") || !strings.Contains(out, "| id ") || !strings.Contains(out, "| weight |") || strings.Count(out, "| ONLINE ") != 2 {
		t.Errorf("member list: exit %d\n%s", code, out)
	}
	memberValues := func() []string {
		t.Helper()
		code, out, errOut := vitals("lb", "member", "list", "p", "--socket", sock, "-f", "value")
		if code != 0 {
			t.Fatalf("member list -f value: exit %d %q", code, errOut)
		}
		var rows []string
		for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l) // id name address port weight backup admin_state_up operating provisioning
			if len(f) != 9 {
				t.Fatalf("member list -f value row %q has %d values, want 9", l, len(f))
			}
			rows = append(rows, strings.Join(f[1:], " "))
		}
		return rows
	}
	if got := memberValues(); len(got) != 2 || !strings.HasPrefix(got[0], "a 127.0.0.1 ") || !strings.HasSuffix(got[0], " 1 False True ONLINE ACTIVE") || !strings.HasSuffix(got[1], " 1 False True ONLINE ACTIVE") {
		t.Errorf("member list -f value: %q", got)
	}
	code, out, _ = vitals("lb", "member", "list", "--socket", sock, "-f", "json", "p")
	var members []struct {
		Name   string `json:"name"`
		Weight int    `json:"weight"`
		Status string `json:"operating_status"`
	}
	if err := json.Unmarshal([]byte(out), &members); code != 0 || err != nil || len(members) != 2 || members[1].Name != "b" || members[1].Weight != 1 {
		t.Errorf("member list -f json: exit %d, %v\n%s", code, err, out)
	}
	code, out, _ = vitals("lb", "member", "list", "--socket", sock, "-f", "yaml", "p")
	if code != 0 || !strings.HasPrefix(out, "- id: ") || !strings.Contains(out, "\n  name: b\n") || !strings.Contains(out, "\n  weight: 1\n") {
		t.Errorf("member list -f yaml: exit %d\n%s", code, out)
	}
	if code, _, errOut := vitals("lb", "member", "list", "--socket", sock, "nope"); code != 2 || !strings.Contains(errOut, "Pool nope not found.") {
		t.Errorf("member list of an unknown pool: exit %d %q", code, errOut)
	}

	if got := sessions(t, listen, 10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("before: sessions %v, want a:5 b:5", got)
	}

	// member set --weight 0 drains the member: DRAINING in the status,
	// no new sessions.
	if code, out, errOut := vitals("lb", "member", "set", "--socket", sock, "--weight", "0", "p", "b"); code != 0 || !strings.Contains(out, "weight 0, operating_status DRAINING") {
		t.Errorf("member set --weight 0: exit %d, %q, %q", code, out, errOut)
	}
	if _, out, _ := vitals("lb", "status", "--socket", sock); !strings.Contains(out, `member "b" 127.0.0.1:`) || !strings.Contains(out, " DRAINING\n") {
		t.Errorf("status with b at weight 0:\n%s", out)
	}
	if got := sessions(t, listen, 4); got["a"] != 4 {
		t.Errorf("b drained: sessions %v, want all on a", got)
	}

	// member set --weight: at once, shown in the list, used by the balancer.
	code, out, errOut := vitals("lb", "member", "set", "--socket", sock, "--weight", "3", "p", "b")
	if code != 0 || out != "member b of pool p: weight 3, operating_status ONLINE (until the next reload)\n" {
		t.Errorf("member set --weight 3: exit %d, %q, %q", code, out, errOut)
	}
	if got := memberValues(); !strings.HasPrefix(got[1], "b ") || !strings.Contains(got[1], " 3 False True ONLINE") {
		t.Errorf("after member set, member list: %q", got)
	}
	if got := sessions(t, listen, 8); got["a"] != 2 || got["b"] != 6 {
		t.Errorf("weights 1:3: sessions %v, want a:2 b:6", got)
	}
	for _, bad := range [][]string{{"p", "b"}, {"--weight", "257", "p", "b"}, {"--weight", "1", "p"}} {
		args := append([]string{"lb", "member", "set", "--socket", sock}, bad...)
		if code, out, errOut := vitals(args...); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("vitals %s: exit %d, %q, %q; want 2 and one line", strings.Join(args, " "), code, out, errOut)
		}
	}

	// stats: 22 sessions of 5 bytes in ("ping\n") and 2 out ("a\n").
	var stats map[string]int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, out, errOut = vitals("lb", "stats", "--socket", sock, "-f", "json")
		stats = nil
		if err := json.Unmarshal([]byte(out), &stats); code != 0 || err != nil {
			t.Fatalf("stats -f json: exit %d, %v, %q\n%s", code, err, errOut, out)
		}
		if stats["active_connections"] == 0 && stats["bytes_out"] == 44 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never settled: %v", stats)
		}
	}
	want := map[string]int64{"active_connections": 0, "bytes_in": 110, "bytes_out": 44, "request_errors": 0, "total_connections": 22}
	if fmt.Sprint(stats) != fmt.Sprint(want) {
		t.Errorf("stats %v, want %v", stats, want)
	}
	code, out, _ = vitals("lb", "stats", "--socket", sock, "--listener", "l", "-f", "value")
	if code != 0 || out != "0\n110\n44\n0\n22\n" {
		t.Errorf("stats --listener l -f value: exit %d, %q", code, out)
	}
	code, out, _ = vitals("lb", "stats", "--socket", sock)
	if code != 0 || !strings.Contains(out, "| Field              | Value |") || !strings.Contains(out, "| total_connections  | 22    |") {
		t.Errorf("stats table: exit %d\n%s", code, out)
	}
	code, out, _ = vitals("lb", "stats", "--socket", sock, "-f", "yaml")
	if code != 0 || out != "active_connections: 0\nbytes_in: 110\nbytes_out: 44\nrequest_errors: 0\ntotal_connections: 22\n" {
		t.Errorf("stats -f yaml: exit %d\n%s", code, out)
	}

	// A rejected reload says why, exits 1, and changes nothing.
	broken := strings.Replace(good, "lb_algorithm: ROUND_ROBIN", "lb_algorithm: ROUND_ROBIN\n      fail_open: maybe", 1)
	if err := os.WriteFile(cfgPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = vitals("lb", "reload", "--socket", sock)
	if code != 1 || out != "" || !strings.Contains(errOut, "Reload rejected; the running configuration stays: "+cfgPath+":") || !strings.Contains(errOut, "maybe") {
		t.Errorf("reload of a broken file: exit %d, %q, %q; want 1 and the reason", code, out, errOut)
	}
	if got := memberValues(); !strings.Contains(got[1], " 3 False True ONLINE") {
		t.Errorf("after a rejected reload, member list: %q", got)
	}

	// A good reload: the weight set at run time is back to the file's.
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = vitals("lb", "reload", "--socket", sock)
	if code != 0 || out != "reloaded\n" {
		t.Errorf("reload: exit %d, %q, %q", code, out, errOut)
	}
	if got := memberValues(); !strings.Contains(got[1], " 1 False True ONLINE") {
		t.Errorf("after reload, member list: %q", got)
	}
	if got := sessions(t, listen, 10); got["a"] != 5 || got["b"] != 5 {
		t.Errorf("after reload: sessions %v, want a:5 b:5", got)
	}
	if lbp.Exited() {
		t.Fatalf("vitals lb exited:\n%s", lbp.Log())
	}
}
