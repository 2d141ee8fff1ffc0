package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
	"vitals/internal/octavia"

	"vitals/internal/health"
	"vitals/internal/probe"
	"vitals/internal/testenv"
)

// fakeProber returns scripted results: script[i] is check i+1's outcome,
// 'p' pass, 'w' warn, 'f' fail, 'e' a checker error (emfile); past the
// end the last one repeats. Each
// check takes latency (of fake time, under synctest) unless ctx ends.
type fakeProber struct {
	mu         sync.Mutex
	script     string
	latency    time.Duration
	starts     []time.Time
	running    int
	maxRunning int
}

func (f *fakeProber) Probe(ctx context.Context) probe.Result {
	f.mu.Lock()
	n := len(f.starts)
	start := time.Now()
	f.starts = append(f.starts, start)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	lat, script := f.latency, f.script
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	t := time.NewTimer(lat)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return probe.Result{Status: probe.Fail, Start: start, Latency: time.Since(start), Reason: "canceled"}
	}
	st := probe.Fail
	switch script[min(n, len(script)-1)] {
	case 'p':
		st = probe.Pass
	case 'w':
		st = probe.Warn
	case 'e':
		return probe.Result{Status: probe.Fail, Start: start, Latency: time.Since(start), CheckerError: "emfile",
			Reason: fmt.Sprintf("checker error (emfile), not the target's: fake check %d", n+1)}
	}
	return probe.Result{Status: st, Start: start, Latency: time.Since(start), Reason: fmt.Sprintf("fake check %d: %s", n+1, st)}
}

func (f *fakeProber) startTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.starts...)
}

// fakes hands out one fakeProber per target.
type fakes struct {
	mu      sync.Mutex
	script  map[string]string // target -> script; default "p"
	latency time.Duration
	made    map[string]*fakeProber
	specs   map[string]probe.Spec
}

func newFakes() *fakes {
	return &fakes{script: map[string]string{}, made: map[string]*fakeProber{}, specs: map[string]probe.Spec{}}
}

func (fs *fakes) newProber(kind string, s probe.Spec) (probe.Prober, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	script := fs.script[s.Address]
	if script == "" {
		script = "p"
	}
	p := &fakeProber{script: script, latency: fs.latency}
	fs.made[s.Address] = p
	fs.specs[s.Address] = s
	return p, nil
}

func (fs *fakes) get(target string) *fakeProber {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.made[target]
}

// recorder is a Subscriber that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) MemberChanged(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// transitions renders events as "check:OLD>NEW" for comparison.
func transitions(evs []Event) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, fmt.Sprintf("%d:%s>%s", e.Checks, e.Old, e.New))
	}
	return strings.Join(parts, " ")
}

// mon builds a resolved monitor of the given type.
func mon(t *testing.T, typ string, delay, timeout time.Duration, rise, fall int) *Monitor {
	t.Helper()
	h := octavia.HealthMonitor{Type: typ, Delay: delay, Timeout: timeout, MaxRetries: rise, MaxRetriesDown: fall}
	h.AdminStateUp = true
	m, err := NewMonitor(h, ProtocolTCP, DefaultSettings())
	if err != nil {
		t.Fatalf("resolve monitor: %v", err)
	}
	m.ID, m.Name = "hm-"+typ, "hm"
	return m
}

// member is a checked member on 127.0.0.1:port.
func tmember(id string, port int) Member {
	return Member{ID: id, Name: id, Address: "127.0.0.1", ProtocolPort: port, Weight: 1, AdminStateUp: true}
}

// harness runs an engine in a synctest bubble.
type harness struct {
	e      *Engine
	fakes  *fakes
	rec    *recorder
	log    *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startEngine(t *testing.T, fs *fakes, o Options, pools []Pool) *harness {
	t.Helper()
	h := &harness{fakes: fs, rec: &recorder{}, log: &testenv.SyncBuffer{}}
	o.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.NewProber = fs.newProber
	if o.Jitter == nil {
		o.Jitter = func(time.Duration) time.Duration { return 0 }
	}
	h.e = New(o)
	h.e.Subscribe(h.rec)
	if err := h.e.Update(pools); err != nil {
		t.Fatalf("Update: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.e.Run(ctx) }()
	return h
}

// stop ends Run and waits for it: no goroutine outlives it.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	if err := <-h.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestTrackerThroughEngine is issue item 1: the rise/fall semantics, run
// through the engine under testing/synctest with a fake prober, so that
// each transition is pinned to its check number and its time.
func TestTrackerThroughEngine(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		script     string
		want       string // check:OLD>NEW for every transition
	}{
		{"first pass decides at once", 3, 3, "ppp", "1:OFFLINE>ONLINE"},
		{"first failure decides at once", 3, 3, "fff", "1:OFFLINE>ERROR"},
		{"a warn counts as a pass", 2, 3, "w", "1:OFFLINE>ONLINE"},
		{"exactly max_retries_down consecutive failures turn an ONLINE member ERROR", 2, 3, "pfff", "1:OFFLINE>ONLINE 4:ONLINE>ERROR"},
		{"max_retries_down-1 failures keep it ONLINE", 2, 3, "pffpp", "1:OFFLINE>ONLINE"},
		{"exactly max_retries consecutive passes turn it back", 2, 3, "pfffpp", "1:OFFLINE>ONLINE 4:ONLINE>ERROR 6:ERROR>ONLINE"},
		{"max_retries-1 passes keep it ERROR", 3, 3, "fppf", "1:OFFLINE>ERROR"},
		{"a pass resets the failure count, as HAProxy's", 2, 3, "pffpffpfff", "1:OFFLINE>ONLINE 10:ONLINE>ERROR"},
		{"a failure resets the pass count, as HAProxy's", 3, 2, "fppfppfppp", "1:OFFLINE>ERROR 10:ERROR>ONLINE"},
		{"max_retries_down 1 and max_retries 1 flip on every change", 1, 1, "pfpf", "1:OFFLINE>ONLINE 2:ONLINE>ERROR 3:ERROR>ONLINE 4:ONLINE>ERROR"},
		{"max_retries_down 10", 1, 10, "pfffffffffff", "1:OFFLINE>ONLINE 11:ONLINE>ERROR"},
		{"bounce within the hysteresis", 2, 2, "pfpfpfpf", "1:OFFLINE>ONLINE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const delay, latency = time.Second, 10 * time.Millisecond
				fs := newFakes()
				fs.latency = latency
				fs.script["127.0.0.1:80"] = tt.script
				m := mon(t, TypeTCP, delay, 500*time.Millisecond, tt.rise, tt.fall)
				start := time.Now()
				h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
				// Let exactly len(script) checks run: the last starts at
				// (n-1)·delay and ends latency later.
				time.Sleep(time.Duration(len(tt.script)-1)*delay + 2*latency)
				synctest.Wait()
				h.stop(t)

				if got := transitions(h.rec.all()); got != tt.want {
					t.Errorf("script %s rise %d fall %d:\n got %s\nwant %s", tt.script, tt.rise, tt.fall, got, tt.want)
				}
				starts := fs.get("127.0.0.1:80").startTimes()
				if len(starts) != len(tt.script) {
					t.Fatalf("%d checks ran, want %d", len(starts), len(tt.script))
				}
				for i, s := range starts {
					if want := start.Add(time.Duration(i) * delay); !s.Equal(want) {
						t.Errorf("check %d started at +%s, want +%s", i+1, s.Sub(start), want.Sub(start))
					}
				}
				for _, ev := range h.rec.all() {
					if want := start.Add(time.Duration(ev.Checks-1)*delay + latency); !ev.Time.Equal(want) {
						t.Errorf("transition at check %d happened at +%s, want +%s", ev.Checks, ev.Time.Sub(start), want.Sub(start))
					}
				}
			})
		})
	}
}

// TestScheduleStartToStart: checks start every delay from the start of the
// previous one, not from its end.
func TestScheduleStartToStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 300 * time.Millisecond
		m := mon(t, TypeTCP, time.Second, 500*time.Millisecond, 2, 3)
		start := time.Now()
		h := startEngine(t, fs, Options{Jitter: func(time.Duration) time.Duration { return 250 * time.Millisecond }},
			[]Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
		time.Sleep(4500 * time.Millisecond)
		h.stop(t)
		var got []string
		for _, s := range fs.get("127.0.0.1:80").startTimes() {
			got = append(got, s.Sub(start).String())
		}
		if want := "250ms 1.25s 2.25s 3.25s 4.25s"; strings.Join(got, " ") != want {
			t.Errorf("starts %s, want %s", strings.Join(got, " "), want)
		}
	})
}

// TestOverrunStartsRightAfter: a check that takes longer than delay is
// followed right after it ends, never overlapped.
func TestOverrunStartsRightAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 1500 * time.Millisecond
		m := mon(t, TypeTCP, time.Second, time.Second, 2, 3)
		start := time.Now()
		h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
		time.Sleep(5 * time.Second)
		h.stop(t)
		p := fs.get("127.0.0.1:80")
		var got []string
		for _, s := range p.startTimes() {
			got = append(got, s.Sub(start).String())
		}
		if want := "0s 1.5s 3s 4.5s"; strings.Join(got, " ") != want {
			t.Errorf("starts %s, want %s", strings.Join(got, " "), want)
		}
		if p.maxRunning != 1 {
			t.Errorf("%d checks of one member ran at once, want 1", p.maxRunning)
		}
	})
}

// TestFirstChecksSpread: first checks come at a random jitter within
// min(delay, 1s), so that many members are not probed at once.
func TestFirstChecksSpread(t *testing.T) {
	for _, delay := range []time.Duration{5 * time.Second, 200 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := newFakes()
				fs.latency = time.Millisecond
				m := mon(t, TypeTCP, delay, 100*time.Millisecond, 2, 3)
				var members []Member
				for i := range 1000 {
					members = append(members, tmember(fmt.Sprintf("m%d", i), 1000+i))
				}
				start := time.Now()
				e := New(Options{NewProber: fs.newProber, Logger: slog.New(slog.DiscardHandler)})
				if err := e.Update([]Pool{{ID: "p", Name: "big", AdminStateUp: true, Monitor: m, Members: members}}); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error)
				go func() { done <- e.Run(ctx) }()
				time.Sleep(min(delay, time.Second))
				synctest.Wait()
				window := min(delay, time.Second)
				distinct := map[time.Duration]bool{}
				for i := range 1000 {
					starts := fs.get(fmt.Sprintf("127.0.0.1:%d", 1000+i)).startTimes()
					if len(starts) != 1 {
						t.Fatalf("member %d: %d checks in the first window, want 1", i, len(starts))
					}
					off := starts[0].Sub(start)
					if off < 0 || off >= window {
						t.Errorf("member %d first check at +%s, outside [0, %s)", i, off, window)
					}
					distinct[off] = true
				}
				if len(distinct) < 900 {
					t.Errorf("only %d distinct first-check times for 1000 members", len(distinct))
				}
				cancel()
				<-done
			})
		})
	}
}

// TestConcurrencyBound: no more than MaxConcurrent checks run at once; the
// others wait for a slot and still all run.
func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 100 * time.Millisecond
		m := mon(t, TypeTCP, 10*time.Second, time.Second, 2, 3)
		var members []Member
		for i := range 100 {
			members = append(members, tmember(fmt.Sprintf("m%d", i), 2000+i))
		}
		var mu sync.Mutex
		running, peak := 0, 0
		probes := fs.newProber
		counting := func(kind string, s probe.Spec) (probe.Prober, error) {
			p, err := probes(kind, s)
			return proberFunc(func(ctx context.Context) probe.Result {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				r := p.Probe(ctx)
				mu.Lock()
				running--
				mu.Unlock()
				return r
			}), err
		}
		e := New(Options{NewProber: counting, MaxConcurrent: 10, Jitter: func(time.Duration) time.Duration { return 0 }, Logger: slog.New(slog.DiscardHandler)})
		if err := e.Update([]Pool{{ID: "p", Name: "big", AdminStateUp: true, Monitor: m, Members: members}}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- e.Run(ctx) }()
		time.Sleep(1050 * time.Millisecond)
		synctest.Wait()
		if peak != 10 {
			t.Errorf("peak of %d checks at once, want 10", peak)
		}
		if s := e.Status(); s.Checks != 100 {
			t.Errorf("%d checks done after 10 rounds of 10, want 100", s.Checks)
		}
		cancel()
		<-done
	})
}

type proberFunc func(ctx context.Context) probe.Result

func (f proberFunc) Probe(ctx context.Context) probe.Result { return f(ctx) }

// TestStatusesFromConfiguration covers the statuses that do not come from
// checks: admin down, weight 0, no monitor and a disabled monitor or pool.
func TestStatusesFromConfiguration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = time.Millisecond
		fs.script["127.0.0.1:3"] = "f"
		m := mon(t, TypeTCP, time.Second, 500*time.Millisecond, 2, 3)
		off := *m
		off.AdminStateUp = false
		down, drained, drainedFailing := tmember("down", 2), tmember("drained", 1), tmember("drainedfail", 3)
		down.AdminStateUp = false
		drained.Weight, drainedFailing.Weight = 0, 0
		pools := []Pool{
			{ID: "a", Name: "checked", AdminStateUp: true, Monitor: m, Members: []Member{tmember("up", 4), down, drained, drainedFailing}},
			{ID: "b", Name: "unmonitored", AdminStateUp: true, Members: []Member{tmember("n1", 5), {ID: "n2", Address: "127.0.0.1", ProtocolPort: 6, Weight: 1, AdminStateUp: true}}},
			{ID: "c", Name: "monitor-off", AdminStateUp: true, Monitor: &off, Members: []Member{tmember("x1", 7)}},
			{ID: "d", Name: "pool-off", AdminStateUp: false, Monitor: m, Members: []Member{tmember("y1", 8)}},
		}
		h := startEngine(t, fs, Options{}, pools)
		synctest.Wait()
		// Before any check: checked members are not yet checked.
		if s := h.e.Status(); s.Pools[0].Members[0].Status != health.Offline {
			t.Errorf("before the first check: %s, want OFFLINE", s.Pools[0].Members[0].Status)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		s := h.e.Status()
		h.stop(t)
		want := map[string]health.OperatingStatus{
			"up": health.Online, "down": health.Offline, "drained": health.Draining, "drainedfail": health.Error,
			"n1": health.NoMonitor, "n2": health.NoMonitor, "x1": health.NoMonitor, "y1": health.Offline,
		}
		for _, p := range s.Pools {
			for _, mem := range p.Members {
				if mem.Status != want[mem.ID] {
					t.Errorf("member %s of pool %s: %s, want %s", mem.ID, p.Name, mem.Status, want[mem.ID])
				}
			}
		}
		for _, target := range []string{"127.0.0.1:2", "127.0.0.1:5", "127.0.0.1:6", "127.0.0.1:7", "127.0.0.1:8"} {
			if fs.get(target) != nil {
				t.Errorf("%s was checked; admin-down, unmonitored and disabled members are not", target)
			}
		}
		wantPools := map[string]health.OperatingStatus{"checked": health.Degraded, "unmonitored": health.Online, "monitor-off": health.Online, "pool-off": health.Offline}
		for _, p := range s.Pools {
			if p.Status != wantPools[p.Name] {
				t.Errorf("pool %s: %s, want %s", p.Name, p.Status, wantPools[p.Name])
			}
		}
		if s.Pools[2].MonitorStatus != health.Offline || s.Pools[0].MonitorStatus != health.Online {
			t.Errorf("monitor statuses %s and %s, want ONLINE and OFFLINE", s.Pools[0].MonitorStatus, s.Pools[2].MonitorStatus)
		}
		if got := s.Pools[1].Members[1].Member.label(); got != "127.0.0.1:6" {
			t.Errorf("an unnamed member is labelled %q, want 127.0.0.1:6", got)
		}
	})
}

// TestUpdateKeepsState: a reload keeps the state of members whose check is
// unchanged, restarts those whose check changed, and stops checking those
// that are gone, with an event for every status change.
func TestUpdateKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = time.Millisecond
		m := mon(t, TypeHTTP, time.Second, 500*time.Millisecond, 2, 3)
		pool := func(mon *Monitor, members ...Member) []Pool {
			return []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: mon, Members: members}}
		}
		a, b := tmember("a", 1), tmember("b", 2)
		h := startEngine(t, fs, Options{}, pool(m, a, b))
		time.Sleep(2500 * time.Millisecond) // three checks each
		synctest.Wait()

		// Weight 0 and a new max_retries keep the check: a drains at once.
		m2 := *m
		m2.MaxRetries = 5
		a.Weight = 0
		if err := h.e.Update(pool(&m2, a, b)); err != nil {
			t.Fatal(err)
		}
		s := h.e.Status()
		if got := s.Pools[0].Members[0]; got.Status != health.Draining || got.Checks != 3 {
			t.Errorf("after weight 0: %s with %d checks, want DRAINING with 3", got.Status, got.Checks)
		}
		if got := s.Pools[0].Members[1]; got.Status != health.Online || got.Checks != 3 {
			t.Errorf("unchanged member: %s with %d checks, want ONLINE with 3", got.Status, got.Checks)
		}

		// A new url_path is a new check: members start over, not yet
		// checked. b is removed.
		m3 := m2
		m3.URLPath = "/health"
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if err := h.e.Update(pool(&m3, a)); err != nil {
			t.Fatal(err)
		}
		s = h.e.Status()
		if len(s.Pools[0].Members) != 1 || s.Pools[0].Members[0].Status != health.Offline || s.Pools[0].Members[0].Checks != 0 {
			t.Errorf("after a new url_path: %+v, want one member, OFFLINE, 0 checks", s.Pools[0].Members)
		}
		if got := fs.specs["127.0.0.1:1"].URLPath; got != "/health" {
			t.Errorf("new prober has url_path %q, want /health", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		bChecks := len(fs.get("127.0.0.1:2").startTimes())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		h.stop(t)
		if n := len(fs.get("127.0.0.1:2").startTimes()); n != bChecks {
			t.Errorf("removed member was checked %d more times", n-bChecks)
		}
		want := "1:OFFLINE>ONLINE 1:OFFLINE>ONLINE 3:ONLINE>DRAINING 3:ONLINE>OFFLINE 0:DRAINING>OFFLINE 1:OFFLINE>DRAINING"
		if got := transitions(h.rec.all()); got != want {
			t.Errorf("events\n got %s\nwant %s", got, want)
		}
		for _, ev := range h.rec.all() {
			if ev.Reason == "" {
				t.Errorf("event %+v has no reason", ev)
			}
		}
	})
}

// TestTransitionsAreLogged: every transition is logged with the member,
// pool, old and new status, reason and check count: at WARN to a worse
// status, at INFO to a better one.
func TestTransitionsAreLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = time.Millisecond
		fs.script["127.0.0.1:80"] = "pfffpp"
		m := mon(t, TypeTCP, time.Second, 500*time.Millisecond, 2, 3)
		h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
		time.Sleep(5500 * time.Millisecond)
		h.stop(t)
		log := h.log.String()
		for _, want := range []string{
			`level=INFO msg="member status changed" pool=web member=m1 old=OFFLINE status=ONLINE reason="fake check 1: pass" checks=1`,
			`level=WARN msg="member status changed" pool=web member=m1 old=ONLINE status=ERROR reason="fake check 4: fail" checks=4`,
			`level=WARN msg="pool status changed" pool=web old=ONLINE status=ERROR`,
			`level=INFO msg="member status changed" pool=web member=m1 old=ERROR status=ONLINE reason="fake check 6: pass" checks=6`,
			`level=INFO msg="pool status changed" pool=web old=ERROR status=ONLINE`,
			`level=DEBUG msg="check failed" pool=p member=m1 target=127.0.0.1:80 reason="fake check 2: fail" checks=2`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %s\nlog:\n%s", want, log)
			}
		}
	})
}

// TestOnCheckRunsBeforeTheNextCheck: OnCheck sees every check in order,
// before the member's next check starts.
func TestOnCheckRunsBeforeTheNextCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 10 * time.Millisecond
		var mu sync.Mutex
		var seen []uint64
		m := mon(t, TypeTCP, 100*time.Millisecond, 50*time.Millisecond, 2, 3)
		h := startEngine(t, fs, Options{OnCheck: func(c CheckDone) {
			mu.Lock()
			seen = append(seen, c.Check)
			mu.Unlock()
			time.Sleep(150 * time.Millisecond) // longer than delay: the next check waits
		}}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
		time.Sleep(time.Second)
		h.stop(t)
		starts := fs.get("127.0.0.1:80").startTimes()
		for i := 1; i < len(starts); i++ {
			if d := starts[i].Sub(starts[i-1]); d != 160*time.Millisecond {
				t.Errorf("check %d started %s after the previous one, want 160ms (10ms check + 150ms OnCheck)", i+1, d)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i, c := range seen {
			if c != uint64(i+1) {
				t.Fatalf("OnCheck saw checks %v, want 1, 2, 3, …", seen)
			}
		}
	})
}

// TestRunTwice: Run may be called once.
func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, newFakes(), Options{}, nil)
		synctest.Wait()
		if err := h.e.Run(t.Context()); err != ErrRunning {
			t.Errorf("second Run: %v, want ErrRunning", err)
		}
		h.stop(t)
	})
}

// TestUpdateRejectsDuplicateIDs: member IDs must be unique; a failed
// Update changes nothing.
func TestUpdateRejectsDuplicateIDs(t *testing.T) {
	e := New(Options{NewProber: newFakes().newProber})
	err := e.Update([]Pool{{ID: "p", Name: "web", AdminStateUp: true, Members: []Member{tmember("a", 1), tmember("a", 2)}}})
	if err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("Update: %v, want a duplicate-ID error", err)
	}
	if s := e.Status(); len(s.Pools) != 0 {
		t.Errorf("failed Update left %d pools", len(s.Pools))
	}
}

// TestMemberSize: a member stays within Go's 640-byte size class, the
// allocator's 8-byte header included; one more word puts every member in
// the 704-byte class, 640 KB more at 10,000 members (see the member
// type's comment).
func TestMemberSize(t *testing.T) {
	if n := unsafe.Sizeof(member{}); n > 632 {
		t.Errorf("a member is %d bytes, more than 632 (640 with the allocator's header)", n)
	}
}
