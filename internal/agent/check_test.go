package agent

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"vitals/internal/probe"
)

// fakeProber returns scripted results. Each run takes `took` of (fake)
// time; while blocked is set, runs wait for ctx to end.
type fakeProber struct {
	mu      sync.Mutex
	status  probe.Status
	reason  string
	took    time.Duration
	starts  []time.Time
	running atomic.Int32
	overlap atomic.Bool
	block   chan struct{} // when not nil, runs wait on it (or ctx)
}

func (f *fakeProber) set(s probe.Status, reason string) {
	f.mu.Lock()
	f.status, f.reason = s, reason
	f.mu.Unlock()
}

func (f *fakeProber) Probe(ctx context.Context) probe.Result {
	if f.running.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.running.Add(-1)
	start := time.Now()
	f.mu.Lock()
	f.starts = append(f.starts, start)
	st, reason, took, block := f.status, f.reason, f.took, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	if took > 0 {
		time.Sleep(took)
	}
	return probe.Result{Status: st, Start: start, Latency: time.Since(start), Reason: reason}
}

func testCheck(t *testing.T, cfg CheckConfig, p probe.Prober) *check {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "db"
	}
	for _, f := range []*int{&cfg.Rise, &cfg.Fall} {
		if *f == 0 {
			*f = 1
		}
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 2*cfg.Interval + cfg.Timeout
	}
	c, err := newCheckWith(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestScheduleStartToStartWithoutOverlap(t *testing.T) {
	tests := []struct {
		name string
		took time.Duration // how long each run takes
		want time.Duration // start-to-start gap after the first run
	}{
		{"fast runs keep the interval", 10 * time.Millisecond, 2 * time.Second},
		{"slow runs still start every interval", 1500 * time.Millisecond, 2 * time.Second},
		{"runs longer than the interval never overlap", 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fp := &fakeProber{status: probe.Pass, took: tt.took}
				c := testCheck(t, CheckConfig{Interval: 2 * time.Second}, fp)
				ctx, cancel := context.WithCancel(t.Context())
				begin := time.Now()
				done := make(chan struct{})
				go func() { c.run(ctx, true); close(done) }()
				time.Sleep(20 * time.Second)
				cancel()
				<-done
				fp.mu.Lock()
				starts := fp.starts
				fp.mu.Unlock()
				if len(starts) < 5 {
					t.Fatalf("%d runs in 20s", len(starts))
				}
				if first := starts[0].Sub(begin); first >= time.Second {
					t.Errorf("first run after %s, want a jitter under 1s", first)
				}
				for i := 1; i < len(starts); i++ {
					if gap := starts[i].Sub(starts[i-1]); gap != tt.want {
						t.Errorf("run %d started %s after the previous one, want %s", i, gap, tt.want)
					}
				}
				if fp.overlap.Load() {
					t.Error("runs overlapped")
				}
			})
		})
	}
}

func TestFirstRunsAreSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		begin := time.Now()
		probers := make([]*fakeProber, 50)
		for i := range probers {
			probers[i] = &fakeProber{status: probe.Pass}
			c := testCheck(t, CheckConfig{Interval: 10 * time.Second}, probers[i])
			wg.Go(func() { c.run(ctx, true) })
		}
		time.Sleep(1500 * time.Millisecond)
		cancel()
		wg.Wait()
		distinct := map[time.Duration]bool{}
		for i, fp := range probers {
			if len(fp.starts) != 1 {
				t.Fatalf("check %d ran %d times in 1.5s, want exactly 1 (interval 10s)", i, len(fp.starts))
			}
			first := fp.starts[0].Sub(begin)
			if first >= time.Second {
				t.Errorf("check %d first ran after %s, want within 1s", i, first)
			}
			distinct[first] = true
		}
		if len(distinct) < 40 {
			t.Errorf("50 checks started at only %d distinct moments; first runs are not spread", len(distinct))
		}
	})
}

func TestStaleResultFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fp := &fakeProber{status: probe.Pass, reason: "ok"}
		c := testCheck(t, CheckConfig{Interval: time.Second, Spec: probe.Spec{Timeout: 500 * time.Millisecond}, MaxAge: 3 * time.Second}, fp)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go c.run(ctx, true)
		time.Sleep(1500 * time.Millisecond)
		if v := c.view(time.Now()); v.Status != probe.Pass {
			t.Fatalf("healthy check reads %s (%s)", v.Status, v.Reason)
		}
		// The checker gets stuck: no more results arrive.
		fp.mu.Lock()
		fp.block = make(chan struct{})
		fp.mu.Unlock()
		time.Sleep(5 * time.Second)
		v := c.view(time.Now())
		if v.Status != probe.Fail || !strings.HasPrefix(v.Reason, "stale: last result") {
			t.Errorf("stuck checker reads %s %q, want fail with reason stale", v.Status, v.Reason)
		}
		close(fp.block)
	})
}

func TestViewBeforeFirstRunFails(t *testing.T) {
	c := testCheck(t, CheckConfig{}, &fakeProber{status: probe.Pass})
	if v := c.view(time.Now()); v.Status != probe.Fail || v.Reason != "not yet checked" {
		t.Errorf("unchecked view %s %q, want fail \"not yet checked\"", v.Status, v.Reason)
	}
}

func TestViewHysteresis(t *testing.T) {
	fp := &fakeProber{status: probe.Pass, reason: "ok"}
	c := testCheck(t, CheckConfig{Rise: 2, Fall: 2}, fp)
	ctx := t.Context()
	steps := []struct {
		status     probe.Status
		wantStatus probe.Status
		wantReason string
	}{
		{probe.Pass, probe.Pass, "ok"},
		{probe.Fail, probe.Pass, "failing (1 of 2 failures): boom"},
		{probe.Fail, probe.Fail, "boom"},
		{probe.Pass, probe.Fail, "recovering (1 of 2 passes): ok"},
		{probe.Pass, probe.Pass, "ok"},
		{probe.Warn, probe.Warn, "slow"},
	}
	for i, s := range steps {
		reason := map[probe.Status]string{probe.Pass: "ok", probe.Fail: "boom", probe.Warn: "slow"}[s.status]
		fp.set(s.status, reason)
		c.runOnce(ctx)
		v := c.view(time.Now())
		if v.Status != s.wantStatus || v.Reason != s.wantReason {
			t.Errorf("step %d (%s): view %s %q, want %s %q", i, s.status, v.Status, v.Reason, s.wantStatus, s.wantReason)
		}
	}
}
