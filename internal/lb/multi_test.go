package lb

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestRunSeveralLoadBalancers: a file with loadbalancers: runs both; each
// listener sends its sessions to its own load balancer's pool "p" (the
// same name in both); the metrics keep their series apart (a/p, b/p);
// each load balancer's stats count only its own sessions; a reload that
// removes one load balancer closes its listener and leaves the other's
// established session open; promtool finds nothing to complain about.
func TestRunSeveralLoadBalancers(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	second := freeAddr(t)
	_, secondPort, _ := strings.Cut(second, ":")
	both := fmt.Sprintf(`admin:
  socket: {SOCKET}
  listen: {ADMIN}
shutdown_grace: 1s
loadbalancers:
  - name: a
    listeners:
      - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: {PORT}, default_pool: p}
    pools:
      - name: p
        lb_algorithm: ROUND_ROBIN
        healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 1}
        members:
          - {name: m, address: 127.0.0.1, protocol_port: %d}
  - name: b
    listeners:
      - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %s, default_pool: p}
    pools:
      - name: p
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: m, address: 127.0.0.1, protocol_port: %d}
`, a.port(), secondPort, b.port())
	lbr := startRunWith(t, both)
	waitFor(t, 10*time.Second, "a's member to be checked ONLINE", func() bool {
		name, c, err := hello(lbr.listen)
		if err == nil {
			c.Close()
		}
		return name == "a"
	})
	if got := whoAnswers(t, lbr.listen, 3); got["a"] != 3 {
		t.Errorf("through a's listener: %v, want a:3", got)
	}
	if got := whoAnswers(t, second, 5); got["b"] != 5 {
		t.Errorf("through b's listener: %v, want b:5", got)
	}

	cfg := lbr.plane.Current()
	if len(cfg.LoadBalancers) != 2 {
		t.Fatalf("%d load balancers run, want 2", len(cfg.LoadBalancers))
	}
	waitFor(t, 10*time.Second, "each load balancer's stats to count its own sessions", func() bool {
		sa, okA := lbr.plane.LoadBalancerStats(cfg.LoadBalancers[0].ID)
		sb, okB := lbr.plane.LoadBalancerStats(cfg.LoadBalancers[1].ID)
		return okA && okB && sa.TotalConnections >= 4 && sb.TotalConnections == 5 && sa.ActiveConnections+sb.ActiveConnections == 0
	})
	st := lbr.plane.OperatingStatuses()
	for _, l := range cfg.LoadBalancers {
		if st[l.ID] == "" || st[l.Listeners[0].ID] == "" || st[l.Pools[0].Members[0].ID] == "" {
			t.Errorf("no operating status for load balancer %s or its objects: %v", l.Name, st)
		}
	}
	if st[cfg.LoadBalancers[1].Pools[0].Members[0].ID] != "NO_MONITOR" || st[cfg.LoadBalancers[0].Pools[0].Members[0].ID] != "ONLINE" {
		t.Errorf("member statuses %v; want a's ONLINE (monitored), b's NO_MONITOR", st)
	}

	resp, err := http.Get("http://" + lbr.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{
		`vitals_lb_listener_connections_total{listener="a/l"} `, `vitals_lb_listener_connections_total{listener="b/l"} 5`,
		`vitals_lb_member_connections_total{member="m",pool="a/p"} `, `vitals_lb_member_connections_total{member="m",pool="b/p"} 5`,
		`vitals_lb_member_up{member="m",pool="a/p"} 1`, `vitals_lb_member_up{member="m",pool="b/p"} 1`,
	} {
		if !strings.Contains(string(body), series+"\n") && !(strings.HasSuffix(series, " ") && strings.Contains(string(body), series)) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	testenv.PromtoolCheckMetrics(t, "the lb's /metrics with two load balancers", body)

	// The status page shows both, each listener and pool named LB/name.
	var page struct {
		Name      string `json:"name"`
		Listeners []struct {
			Name string `json:"name"`
			Pool string `json:"default_pool"`
		} `json:"listeners"`
		Pools []struct {
			Name    string `json:"name"`
			Members []struct {
				Sessions *float64 `json:"sessions"`
			} `json:"members"`
		} `json:"pools"`
	}
	resp, err = http.Get("http://" + lbr.admin + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page.Name != "a, b" || len(page.Listeners) != 2 || page.Listeners[0].Name != "a/l" || page.Listeners[1].Pool != "b/p" ||
		len(page.Pools) != 2 || page.Pools[0].Name != "a/p" || page.Pools[1].Name != "b/p" ||
		len(page.Pools[1].Members) != 1 || page.Pools[1].Members[0].Sessions == nil || *page.Pools[1].Members[0].Sessions != 5 {
		t.Errorf("status page data %+v", page)
	}

	// A session through b stays while a reload removes b.
	name, kept, err := hello(second)
	if err != nil || name != "b" {
		t.Fatalf("session through b: %q, %v", name, err)
	}
	defer kept.Close()
	only := both[:strings.Index(both, "  - name: b\n")]
	lbr.write(t, only)
	lbr.reload <- struct{}{}
	waitFor(t, 10*time.Second, "the reload to remove b", func() bool { return len(lbr.plane.Current().LoadBalancers) == 1 })
	if name, c, err := hello(second); err == nil {
		c.Close()
		t.Errorf("b's listener still serves after b left the file (%q)", name)
	}
	if _, err := fmt.Fprintf(kept, "ping\n"); err != nil {
		t.Errorf("the established session through b was closed by the reload: %v", err)
	}
	echo := make([]byte, 5)
	kept.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(kept, echo); err != nil || string(echo) != "ping\n" {
		t.Errorf("the established session through b no longer answers: %q, %v", echo, err)
	}
	if got := whoAnswers(t, lbr.listen, 2); got["a"] != 2 {
		t.Errorf("through a's listener after the reload: %v", got)
	}
	// With one load balancer left, the names are the file's again.
	resp, err = http.Get("http://" + lbr.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `vitals_lb_member_up{member="m",pool="p"} 1`) || strings.Contains(string(body), `pool="b/p"`) {
		t.Errorf("/metrics after the reload:\n%s", grepLines(string(body), "vitals_lb_member_up"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
