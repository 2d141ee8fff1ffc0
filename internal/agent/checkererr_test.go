package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"vitals/internal/health"
	"vitals/internal/probe"
	"vitals/internal/statuspage"
	"vitals/internal/testenv"
)

// scriptProber returns scripted results: script[i] is run i+1's outcome,
// 'p' pass, 'f' fail, 'e' a checker error (emfile); past the end the last
// one repeats.
type scriptProber struct {
	mu     sync.Mutex
	script string
	n      int
}

func (s *scriptProber) Probe(ctx context.Context) probe.Result {
	s.mu.Lock()
	c := s.script[min(s.n, len(s.script)-1)]
	s.n++
	n := s.n
	s.mu.Unlock()
	r := probe.Result{Status: probe.Fail, Start: time.Now(), Latency: time.Millisecond, Reason: fmt.Sprintf("run %d failed", n)}
	switch c {
	case 'p':
		r.Status, r.Reason = probe.Pass, fmt.Sprintf("run %d passed", n)
	case 'e':
		r.CheckerError = "emfile"
		r.Reason = fmt.Sprintf("checker error (emfile), not the target's: run %d: socket: too many open files", n)
	}
	return r
}

// TestCheckerErrorKeepsTheCheck: a run that could not be attempted for a
// reason of the agent's own counts neither toward fall nor toward rise,
// nor as a run: the check keeps its result and state, and stays fresh
// while its runs go on. Were checker errors failures, "pfeefef" would be
// down at its 4th run.
func TestCheckerErrorKeepsTheCheck(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []health.State // state after each run
		status probe.Status   // the view at the end
		reason string         // a prefix of the view's reason at the end
	}{
		{"down only on the 3rd real failure", "pfeefef",
			[]health.State{health.Up, health.Up, health.Up, health.Up, health.Up, health.Up, health.Down}, probe.Fail, "run 7 failed"},
		{"only checker errors keep a passing check passing", "peeeeeeeee",
			[]health.State{health.Up, health.Up, health.Up, health.Up, health.Up, health.Up, health.Up, health.Up, health.Up, health.Up}, probe.Pass, "run 1 passed"},
		{"a check not yet run stays so", "eeee",
			[]health.State{health.Unknown, health.Unknown, health.Unknown, health.Unknown}, probe.Fail, "not yet checked: checker error (emfile)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var errs []string
				c := testCheck(t, CheckConfig{Rise: 2, Fall: 3, Interval: time.Second, MaxAge: 3 * time.Second}, &scriptProber{script: tt.script})
				c.onCheckerError = func(name string, r probe.Result) { errs = append(errs, r.CheckerError) }
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { c.run(ctx, true); close(done) }()
				time.Sleep(time.Second) // past the first run's jitter
				for i, want := range tt.want {
					synctest.Wait()
					if got := c.snap.Load().State; got != want {
						t.Errorf("after run %d (%c): state %s, want %s", i+1, tt.script[i], got, want)
					}
					if i < len(tt.want)-1 {
						time.Sleep(time.Second)
					}
				}
				v := c.view(time.Now())
				s := c.snap.Load()
				cancel()
				<-done
				if v.Status != tt.status || !strings.HasPrefix(v.Reason, tt.reason) {
					t.Errorf("view %s %q, want %s %q…", v.Status, v.Reason, tt.status, tt.reason)
				}
				n := strings.Count(tt.script, "e")
				if len(errs) != n || s.CheckerErrors != uint64(n) || s.Runs != uint64(len(tt.script)-n) {
					t.Errorf("%d checker errors reported, %d counted, %d runs; want %d, %d, %d", len(errs), s.CheckerErrors, s.Runs, n, n, len(tt.script)-n)
				}
			})
		})
	}
}

// TestAgentCheckerErrors: through the agent, a check whose runs are all
// checker errors keeps answering 200 from its last real result, the
// errors are logged at most once per checkerErrorLogEvery with the reason
// and a count, counted in vitals_agent_checker_errors_total and shown on
// the status page.
func TestAgentCheckerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := Parse("test.yaml", []byte(`
listen: 127.0.0.1:0
checks:
  - name: db
    type: tcp
    address: 127.0.0.1:5432
    interval: 1s
    timeout: 500ms
    fall: 1
`))
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		var logMu sync.Mutex
		a, err := New(cfg, slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), nil)))
		if err != nil {
			t.Fatal(err)
		}
		c := a.rt.Load().byName["db"]
		c.prober = &scriptProber{script: "pe"}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.run(ctx, true); close(done) }()
		// The first run (a pass) comes within 1s, after a random jitter j;
		// the checker errors follow at j+1s, j+2s, …: 23 or 24 by 25s.
		time.Sleep(25 * time.Second)
		synctest.Wait()
		n := c.snap.Load().CheckerErrors
		resp := get(t, a, http.MethodGet, "/")
		page := a.statusSnapshot()
		metrics := body(t, get(t, a.metrics.handler(), http.MethodGet, "/metrics"))
		cancel()
		<-done

		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET / answered %d after checker errors only, want 200 from the last real result", resp.StatusCode)
		}
		if n < 23 || n > 24 {
			t.Fatalf("%d checker errors in 25s, want 23 or 24", n)
		}
		if want := fmt.Sprintf(`vitals_agent_checker_errors_total{reason="emfile"} %d`, n); !strings.Contains(metrics, want) || !strings.Contains(metrics, `vitals_agent_checker_errors_total{reason="enfile"} 0`) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
		if want := fmt.Sprintf("checker errors: %d (emfile)", n); page.CheckerErrors != want {
			t.Errorf("status page notice %q, want %q", page.CheckerErrors, want)
		}
		if m := page.Pools[0].Members[0]; m.Status != "ONLINE" || m.Last == nil || m.Last.Status != statuspage.CheckLocal {
			t.Errorf("status page check %+v (last %+v), want ONLINE with its last run LOCAL", m, m.Last)
		}
		logMu.Lock()
		out := logs.String()
		logMu.Unlock()
		lines := regexp.MustCompile(`(?m)^.*level=WARN msg="checks could not run.*$`).FindAllString(out, -1)
		// Errors from j+1s to j+23s or more, logged at most every 10s: at
		// j+1s (the first), j+11s and j+21s.
		if len(lines) != 3 {
			t.Fatalf("%d checker-error log lines, want 3:\n%s", len(lines), out)
		}
		for i, want := range []string{"count=1 ", "count=10 ", "count=10 "} {
			if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "reason=emfile") || !strings.Contains(lines[i], "check=db") {
				t.Errorf("line %d lacks %s, reason=emfile or check=db: %s", i, want, lines[i])
			}
		}
		if strings.Contains(out, "check changed state") && strings.Contains(out, "new=down") {
			t.Errorf("the check went down on checker errors:\n%s", out)
		}
	})
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// emfileRole is the child role of TestAgentCheckerErrorRealEMFILE.
const emfileRole = "agent-emfile"

// TestAgentCheckerErrorRealEMFILE runs an agent's TCP check of a healthy
// backend in a child process, exhausts the child's descriptors for real
// (RLIMIT_NOFILE lowered, then filled) for longer than max_age with fall
// 1, then releases them: the agent answers 200 throughout, the check never
// changes state, vitals_agent_checker_errors_total grows, and runs pass
// again after.
func TestAgentCheckerErrorRealEMFILE(t *testing.T) {
	if testenv.ChildRole() == emfileRole {
		agentEMFILEChild(t)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out := string(testenv.RunChild(t, emfileRole, "VITALS_TEST_BACKEND="+ln.Addr().String()))
	for _, want := range []string{"--- PASS: " + t.Name(), "checker errors while exhausted: "} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// agentEMFILEChild is the child of TestAgentCheckerErrorRealEMFILE.
func agentEMFILEChild(t *testing.T) {
	cfg, err := Parse("test.yaml", []byte(`
listen: 127.0.0.1:0
checks:
  - name: db
    type: tcp
    address: `+os.Getenv("VITALS_TEST_BACKEND")+`
    interval: 200ms
    timeout: 100ms
    fall: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	a, err := New(cfg, slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := a.rt.Load().byName["db"]
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.run(ctx, true); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, ok func(*snapshot) bool) *snapshot {
		t.Helper()
		for range 1000 {
			if s := c.snap.Load(); ok(s) {
				return s
			}
			time.Sleep(10 * time.Millisecond)
		}
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("never %s; log:\n%s", what, logs.String())
		return nil
	}
	before := waitFor("up", func(s *snapshot) bool { return s.State == health.Up })
	time.AfterFunc(time.Hour, func() {}).Stop() // the runtime's netpoller is open before the flood
	release, err := testenv.ExhaustFDs(4)
	if err != nil {
		t.Fatal(err)
	}
	// 6 errors at 200ms: over a second, twice max_age (500ms).
	during := waitFor("6 checker errors", func(s *snapshot) bool { return s.CheckerErrors >= 6 })
	code := get(t, a, http.MethodGet, "/").StatusCode
	release()
	after := waitFor("3 more runs", func(s *snapshot) bool { return s.Runs >= during.Runs+3 })
	if code != http.StatusOK {
		t.Errorf("GET / answered %d while the agent was out of descriptors, want 200", code)
	}
	if during.State != health.Up || after.State != health.Up || after.Result.Status != probe.Pass || during.Runs < before.Runs {
		t.Errorf("state %s during, %s after (last %+v), want up throughout", during.State, after.State, after.Result)
	}
	if m := body(t, get(t, a.metrics.handler(), http.MethodGet, "/metrics")); !strings.Contains(m, `vitals_agent_checker_errors_total{reason="emfile"} `) ||
		strings.Contains(m, `vitals_agent_checker_errors_total{reason="emfile"} 0`) {
		t.Errorf("vitals_agent_checker_errors_total{reason=\"emfile\"} did not grow:\n%s", m)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if strings.Contains(out, "check changed state") && strings.Contains(out, "new=down") {
		t.Errorf("the check went down:\n%s", out)
	}
	if !strings.Contains(out, "reason=emfile") {
		t.Errorf("no checker-error log line:\n%s", out)
	}
	fmt.Printf("checker errors while exhausted: %d\n", during.CheckerErrors)
}
