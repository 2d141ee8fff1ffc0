package lb

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"vitals/internal/monitor"
	"vitals/internal/probe"
	"vitals/internal/statuspage"
)

// passThenEMFILE passes its first check, then fails every later one as a
// checker error (emfile).
type passThenEMFILE struct{ n atomic.Int64 }

func (p *passThenEMFILE) Probe(ctx context.Context) probe.Result {
	r := probe.Result{Status: probe.Pass, Start: time.Now(), Reason: "connected"}
	if p.n.Add(1) > 1 {
		r.Status, r.CheckerError = probe.Fail, "emfile"
		r.Reason = "checker error (emfile), not the target's: connect 127.0.0.1:1: socket: too many open files"
	}
	return r
}

// TestStatusPageCheckerErrors: the status page shows checker errors as a
// notice with their count and reason, and a member whose latest attempt
// was one keeps its status, its last check reading LOCAL with the reason.
func TestStatusPageCheckerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := Parse("lb.yaml", []byte(`loadbalancer:
  name: lb1
  listeners:
    - {name: l1, protocol: TCP, protocol_port: 9999, default_pool: p1}
  pools:
    - name: p1
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 1, max_retries_down: 1}
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: 1}
`))
		if err != nil {
			t.Fatal(err)
		}
		eng := monitor.New(monitor.Options{
			Logger:    slog.New(slog.DiscardHandler),
			NewProber: func(string, probe.Spec) (probe.Prober, error) { return &passThenEMFILE{}, nil },
			Jitter:    func(time.Duration) time.Duration { return 0 },
		})
		if err := eng.Update(cfg.MonitorPools()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		time.Sleep(3*time.Second + 100*time.Millisecond) // attempts at 0s (pass), 1s, 2s, 3s
		synctest.Wait()
		page := newStatusPage(func() *Config { return cfg }, eng, nil, func(*http.Request) string { return "" })
		out := page.snapshot("")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		if out.CheckerErrors != "checker errors: 3 (emfile)" {
			t.Errorf("notice %q, want %q", out.CheckerErrors, "checker errors: 3 (emfile)")
		}
		m := out.Pools[0].Members[0]
		if m.Status != "ONLINE" {
			t.Errorf("member %s after one pass and three checker errors with max_retries_down 1, want ONLINE", m.Status)
		}
		if m.Last == nil || m.Last.Status != statuspage.CheckLocal || !strings.Contains(m.Last.Reason, "checker error (emfile)") {
			t.Errorf("last check %+v, want LOCAL with the checker error", m.Last)
		}
		b, _ := json.Marshal(out)
		if !strings.Contains(string(b), `"checker_errors":"checker errors: 3 (emfile)"`) {
			t.Errorf("page JSON lacks checker_errors: %s", b)
		}
	})
}

func TestCheckerErrorsNotice(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]uint64
		want string
	}{
		{nil, ""},
		{map[string]uint64{"emfile": 0}, ""},
		{map[string]uint64{"emfile": 12}, "checker errors: 12 (emfile)"},
		{map[string]uint64{"enobufs": 3, "emfile": 12}, "checker errors: 15 (emfile 12, enobufs 3)"},
	} {
		if got := statuspage.CheckerErrorsNotice(tc.in); got != tc.want {
			t.Errorf("CheckerErrorsNotice(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
