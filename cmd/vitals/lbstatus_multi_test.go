package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestLBStatusEveryLoadBalancer: with a file of two load balancers,
// `vitals lb status` prints both trees, each with its pools, the one no
// listener uses included; `-f json` prints a list; a load balancer named
// prints its own tree only.
func TestLBStatusEveryLoadBalancer(t *testing.T) {
	backend := testenv.StartGreeter(t, "a")
	dir, err := os.MkdirTemp("", "vitals-lb") // a short socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, cfg := filepath.Join(dir, "lb.sock"), filepath.Join(dir, "lb.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `admin:
  socket: %s
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
      - name: spare
        lb_algorithm: ROUND_ROBIN
        healthmonitor: {name: spare-check, type: TCP, delay: 1, timeout: 1, max_retries: 1}
        members:
          - {name: s, address: 127.0.0.1, protocol_port: %d}
  - name: two
    vip_address: 127.0.0.1
    listeners:
      - {name: web, protocol: TCP, protocol_port: %d, default_pool: web}
    pools:
      - name: web
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: m, address: 127.0.0.1, protocol_port: %d}
`, sock, testenv.FreePort(t), backend.Port, backend.Port, testenv.FreePort(t), backend.Port), 0o600)

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
	want := strings.Join([]string{
		`loadbalancer "one" ONLINE`,
		`├── listener "web" ONLINE`,
		`│   └── pool "web" ONLINE`,
		`│       └── member "m" 127.0.0.1:` + fmt.Sprint(backend.Port) + ` NO_MONITOR`,
		`└── pool "spare" ONLINE`,
		`    ├── healthmonitor "spare-check" TCP ONLINE`,
		`    └── member "s" 127.0.0.1:` + fmt.Sprint(backend.Port) + ` ONLINE`,
		``,
		`loadbalancer "two" ONLINE`,
		`└── listener "web" ONLINE`,
		`    └── pool "web" ONLINE`,
		`        └── member "m" 127.0.0.1:` + fmt.Sprint(backend.Port) + ` NO_MONITOR`,
		``,
	}, "\n")
	// The tree and the pools no listener uses come from separate
	// requests, and the first checks land between them: wait for the
	// whole output to settle on what every status converges to.
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, o, _ := runCLI(t, "lb", "status", "--socket", sock)
		out = o
		if code == exitOK && out == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vitals lb status never settled:\n%s\nwant:\n%s\nlb stderr: %s", out, want, lbErr.String())
		}
	}
	if code, js, _ := runCLI(t, "lb", "status", "--socket", sock, "-f", "json"); code != exitOK || !strings.HasPrefix(js, "[") || strings.Count(js, `"loadbalancer"`) != 2 {
		t.Errorf("status -f json: exit %d\n%s", code, js)
	}
	if code, o, _ := runCLI(t, "lb", "status", "--socket", sock, "two"); code != exitOK || !strings.HasPrefix(o, `loadbalancer "two" ONLINE`) || strings.Contains(o, `"one"`) {
		t.Errorf("status two: exit %d\n%s", code, o)
	}
}
