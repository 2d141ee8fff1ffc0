package lb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestMetricsPromtool: promtool check metrics finds nothing to complain
// about in the lb's /metrics, with every series family present: sessions
// through a monitored pool, a status page stream open.
func TestMetricsPromtool(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	lbr := startRunWith(t, fmt.Sprintf(`admin:
  socket: {SOCKET}
  listen: {ADMIN}
loadbalancer:
  name: lb1
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: {PORT}, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 1}
      members:
        - {name: a, address: 127.0.0.1, protocol_port: %d}
        - {name: b, address: 127.0.0.1, protocol_port: %d}
`, a.port(), b.port()))
	seen := map[string]bool{}
	waitFor(t, 10*time.Second, "sessions through the lb to both members", func() bool {
		if name, c, err := hello(lbr.listen); err == nil {
			c.Close()
			seen[name] = true
		}
		return seen["a"] && seen["b"]
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lbr.admin+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatalf("/events: %v", err)
	}
	mresp, err := http.Get("http://" + lbr.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	cancel()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{"vitals_lb_member_bytes_in_total", "vitals_lb_event_subscribers ", "vitals_lb_member_up", "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(string(body), family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	testenv.PromtoolCheckMetrics(t, "the lb's /metrics", body)
}
