package lb

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/monitor"
	"vitals/internal/promx"
	"vitals/internal/testenv"
)

// TestStatusPage: / serves the embedded page (no external URLs), and
// /events streams the tree as JSON.
func TestStatusPage(t *testing.T) {
	cfg, err := Parse("lb.yaml", []byte(`loadbalancer:
  name: lb1
  listeners:
    - {name: l1, protocol: TCP, protocol_port: 9999, default_pool: p1}
  pools:
    - name: p1
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng := monitor.New(monitor.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Update(cfg.MonitorPools()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAdminHandler(cfg, eng, promx.NewRegistry()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "EventSource") {
		t.Fatalf("/: %d %.200s", resp.StatusCode, body)
	}
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("the page refers to %q: it must have no external assets", bad)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"lb"`, `"name":"lb1"`, `"name":"m1"`, `"operating_status":"NO_MONITOR"`} {
		if !strings.Contains(line, want) {
			t.Errorf("first event lacks %s: %s", want, line)
		}
	}
}

// TestEventSubscriberCapFromConfig: admin.max_event_subscribers, read from
// the configuration file, caps /events: with 2, a third stream is answered
// 503 and a new one is accepted after one of the two left.
func TestEventSubscriberCapFromConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lb.yaml")
	if err := os.WriteFile(file, []byte(`admin:
  max_event_subscribers: 2
loadbalancer:
  listeners:
    - {name: l1, protocol: TCP, protocol_port: 9999, default_pool: p1}
  pools:
    - name: p1
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: 1}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	eng := monitor.New(monitor.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Update(cfg.MonitorPools()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAdminHandler(cfg, eng, promx.NewRegistry()))
	defer srv.Close()
	testenv.CheckEventCap(t, srv.URL+"/events", 2)
}
