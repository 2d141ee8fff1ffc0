package lb

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"vitals/internal/monitor"
	"vitals/internal/probe"
	"vitals/internal/promx"
	"vitals/internal/statuspage"
)

// patternProber passes or fails its checks in the order of pattern ('P'
// pass, 'F' fail, 'E' a checker error), then passes; check i (from 0)
// takes i+1 ms.
type patternProber struct {
	mu      sync.Mutex
	pattern string
	n       int
}

func (p *patternProber) Probe(ctx context.Context) probe.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.n
	p.n++
	r := probe.Result{Status: probe.Pass, Start: time.Now(), Latency: time.Duration(i+1) * time.Millisecond, Reason: "connected"}
	if i < len(p.pattern) {
		switch p.pattern[i] {
		case 'F':
			r.Status, r.Reason = probe.Fail, "connection refused"
		case 'E':
			r.Status, r.CheckerError, r.Reason = probe.Fail, "emfile", "checker error (emfile), not the target's"
		}
	}
	return r
}

// historyLB is a load balancer with one pool p1 whose monitor checks its
// one member m1 (weight 5, backup) every second, max_retries 2 and
// max_retries_down 3, with prober pr.
func historyLB(t *testing.T, pr probe.Prober) (*Config, *monitor.Engine) {
	t.Helper()
	cfg, err := Parse("lb.yaml", []byte(`loadbalancer:
  name: lb1
  listeners:
    - {name: l1, protocol: TCP, protocol_port: 9999, default_pool: p1}
  pools:
    - name: p1
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 1, timeout: 1, max_retries: 2, max_retries_down: 3}
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: 1, weight: 5, backup: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng := monitor.New(monitor.Options{
		Logger:    slog.New(slog.DiscardHandler),
		NewProber: func(string, probe.Spec) (probe.Prober, error) { return pr, nil },
		Jitter:    func(time.Duration) time.Duration { return 0 },
	})
	if err := eng.Update(cfg.MonitorPools()); err != nil {
		t.Fatal(err)
	}
	return cfg, eng
}

// statusJSON reads GET /status.json from h, the page's data source.
func statusJSON(t *testing.T, h http.Handler) statuspage.Page {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status.json", nil))
	if rec.Code != 200 {
		t.Fatalf("/status.json: %d %s", rec.Code, rec.Body)
	}
	var p statuspage.Page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, rec.Body)
	}
	return p
}

// TestStatusPageHistoryHoldsEveryCheck: the history in the page's JSON is
// every one of 20 consecutive checks, in order, with its time and latency,
// although the page is built only once, after all of them. (A history
// sampled by page builds would hold one.)
func TestStatusPageHistoryHoldsEveryCheck(t *testing.T) {
	const pattern = "PPFPFFFPPFEPFFFFPPPF" // 20 checks, a checker error among them
	want := map[byte]string{'P': "PASS", 'F': "FAIL", 'E': statuspage.CheckLocal}
	synctest.Test(t, func(t *testing.T) {
		cfg, eng := historyLB(t, &patternProber{pattern: pattern})
		h := NewAdminHandler(cfg, eng, promx.NewRegistry())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		begin := time.Now()
		go func() { done <- eng.Run(ctx) }()
		time.Sleep(19*time.Second + 500*time.Millisecond) // checks at 0s, 1s, … 19s
		synctest.Wait()
		page := statusJSON(t, h)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}

		hist := page.Pools[0].Members[0].History
		if len(hist) != len(pattern) {
			t.Fatalf("history holds %d checks, want all %d: %+v", len(hist), len(pattern), hist)
		}
		for i, c := range hist {
			wantTime := begin.Add(time.Duration(i) * time.Second)
			wantLatency := float64(i + 1)
			if c.Status != want[pattern[i]] || !c.Time.Equal(wantTime) || c.LatencyMS != wantLatency {
				t.Errorf("check %d: %s at +%s taking %.1f ms, want %s at +%s taking %.1f ms",
					i, c.Status, c.Time.Sub(begin), c.LatencyMS, want[pattern[i]], wantTime.Sub(begin), wantLatency)
			}
		}
	})
}

// TestStatusPageMemberDetails: the page's JSON shows a member's weight,
// backup, admin state, bytes and since, and how far it is toward its next
// transition, check by check: "2 of 3 failures" just before it goes
// ERROR, "1 of 2 passes" on its way back.
func TestStatusPageMemberDetails(t *testing.T) {
	steps := []struct {
		result   byte
		status   string
		progress string
		toward   string
	}{
		{'P', "ONLINE", "0 of 3 failures", "ERROR"},
		{'F', "ONLINE", "1 of 3 failures", "ERROR"},
		{'F', "ONLINE", "2 of 3 failures", "ERROR"},
		{'F', "ERROR", "0 of 2 passes", "ONLINE"},
		{'P', "ERROR", "1 of 2 passes", "ONLINE"},
		{'F', "ERROR", "0 of 2 passes", "ONLINE"}, // a failure resets the passes
		{'P', "ERROR", "1 of 2 passes", "ONLINE"},
		{'P', "ONLINE", "0 of 3 failures", "ERROR"},
	}
	var pattern []byte
	for _, s := range steps {
		pattern = append(pattern, s.result)
	}
	synctest.Test(t, func(t *testing.T) {
		cfg, eng := historyLB(t, &patternProber{pattern: string(pattern)})
		h := NewAdminHandler(cfg, eng, promx.NewRegistry())
		m := statusJSON(t, h).Pools[0].Members[0]
		if m.Progress != nil || m.Status != "OFFLINE" {
			t.Errorf("before the first check: %s, progress %+v; want OFFLINE and none", m.Status, m.Progress)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		begin := time.Now()
		go func() { done <- eng.Run(ctx) }()
		since := begin
		prev := "OFFLINE"
		for i, s := range steps {
			time.Sleep(time.Duration(i)*time.Second + 500*time.Millisecond - time.Since(begin)) // check i ran at i s
			synctest.Wait()
			m := statusJSON(t, h).Pools[0].Members[0]
			if s.status != prev {
				since = begin.Add(time.Duration(i)*time.Second + time.Duration(i+1)*time.Millisecond) // when check i ended
				prev = s.status
			}
			if m.Status != s.status || m.Progress == nil || m.Progress.Text != s.progress || m.Progress.Toward != s.toward {
				t.Errorf("after check %d (%c): %s, progress %+v; want %s, %q toward %s", i, s.result, m.Status, m.Progress, s.status, s.progress, s.toward)
			}
			if !m.Since.Equal(since) {
				t.Errorf("after check %d: since +%s, want +%s", i, m.Since.Sub(begin), since.Sub(begin))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if m.Weight == nil || *m.Weight != 5 || m.Backup == nil || !*m.Backup || m.AdminState != "enabled" {
			t.Errorf("weight %v, backup %v, admin state %q; want 5, true, enabled", m.Weight, m.Backup, m.AdminState)
		}
		if m.BytesIn == nil || m.BytesOut == nil {
			t.Errorf("bytes in %v, out %v; want both (0)", m.BytesIn, m.BytesOut)
		}
	})
}

func TestAdminState(t *testing.T) {
	for _, tc := range []struct {
		m    monitor.Member
		want string
	}{
		{monitor.Member{AdminStateUp: true, Weight: 1}, "enabled"},
		{monitor.Member{AdminStateUp: true, Weight: 0}, "drain"},
		{monitor.Member{AdminStateUp: false, Weight: 0}, "disabled"},
		{monitor.Member{AdminStateUp: false, Weight: 3}, "disabled"},
	} {
		if got := adminState(tc.m); got != tc.want {
			t.Errorf("adminState(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
