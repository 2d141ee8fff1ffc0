package demo

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vitals/internal/health"
	"vitals/internal/monitor"
)

// fast is a short timeline for tests.
func fast() Options {
	return Options{Warmup: time.Second, HangFor: 12 * time.Second, KillFor: 3 * time.Second, Settle: 500 * time.Millisecond}
}

// TestDemoScript is acceptance item 1: through real sessions, the hung
// backend got failed sessions through the TCP-monitored pool and none
// through the agent-monitored pool. And the first seconds tell the truth:
// every member of the agent-monitored pool goes OFFLINE -> ONLINE first,
// none to ERROR before the script starts (an agent answers only once it
// has checked its backend).
func TestDemoScript(t *testing.T) {
	var out bytes.Buffer
	o := fast()
	o.Out = &out
	var mu sync.Mutex
	var events []monitor.Event
	o.OnEvent = func(e monitor.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	sum, err := Run(ctx, o)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
	if sum.TCPHungFailed == 0 {
		t.Error("the TCP pool sent no failed session to the hung backend")
	}
	if sum.TCPHungFailedAfterDetection == 0 {
		t.Error("the TCP pool sent no failed session to the hung backend after the HTTP monitor had taken it out")
	}
	if sum.HTTPDetectedAfter == 0 {
		t.Error("the HTTP monitor never took the hung backend out")
	}
	if sum.HTTPHungFailed != 0 {
		t.Errorf("%d sessions through the HTTP pool failed while b2 was hung; want 0", sum.HTTPHungFailed)
	}
	if sum.TCPDetected {
		t.Error("the TCP monitor marked the hung backend ERROR; it cannot see a hang")
	}
	if sum.TCPOK == 0 || sum.HTTPOK == 0 {
		t.Errorf("sessions ok: tcp %d, http %d; want both > 0", sum.TCPOK, sum.HTTPOK)
	}
	for _, want := range []string{"SCRIPT: b2 hangs", "agent-monitored  b2: ONLINE -> ERROR", "SUMMARY", "kept it ONLINE", "; 0 failed sessions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkFirstSeconds(t, out.String(), events)
}

// checkFirstSeconds asserts that no member of the agent-monitored pool went
// to ERROR before the script started, in the transitions the demo printed
// before its first SCRIPT line, and that each member's first transition
// was OFFLINE -> ONLINE.
func checkFirstSeconds(t *testing.T, out string, events []monitor.Event) {
	t.Helper()
	before, _, ok := strings.Cut(out, "SCRIPT:")
	if !ok {
		t.Fatal("the output has no SCRIPT line")
	}
	for line := range strings.SplitSeq(before, "\n") {
		if strings.Contains(line, HTTPPool) && strings.Contains(line, "-> "+health.Error.String()) {
			t.Errorf("before the script: %s", strings.TrimSpace(line))
		}
	}
	first := map[string]monitor.Event{}
	for _, e := range events {
		if _, seen := first[e.Member]; e.Pool == HTTPPool && !seen {
			first[e.Member] = e
		}
	}
	for _, m := range []string{"b1", "b2", "b3"} {
		e, ok := first[m]
		if !ok || e.Old != health.Offline || e.New != health.Online {
			t.Errorf("%s %s: first transition %s -> %s (%s), want OFFLINE -> ONLINE", HTTPPool, m, e.Old, e.New, e.Reason)
		}
	}
}

// TestDemoPostgres is acceptance item 4: the same script with private
// PostgreSQL servers; a hang is SIGSTOP of the postmaster.
func TestDemoPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three PostgreSQL servers")
	}
	if _, err := PostgresBinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var out bytes.Buffer
	o := fast()
	o.Out, o.Postgres = &out, true
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sum, err := Run(ctx, o)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.TCPHungFailedAfterDetection == 0 {
		t.Error("the TCP pool had no failed session while b2 was hung and the HTTP pool had taken it out")
	}
	if sum.HTTPDetectedAfter == 0 {
		t.Error("the HTTP monitor never took the hung server out")
	}
	if sum.HTTPHungFailed != 0 {
		t.Errorf("%d sessions through the HTTP pool failed while the server was hung; want 0", sum.HTTPHungFailed)
	}
	if sum.TCPOK == 0 || sum.HTTPOK == 0 {
		t.Errorf("sessions ok: tcp %d, http %d; want both > 0", sum.TCPOK, sum.HTTPOK)
	}
}

// TestDemoFirstSeconds starts the scene alone with agents that check every
// 2 s, whose first run used to come after a jitter of up to a second, as
// the monitor's first check does: the monitor then often asked an agent
// before it had checked and marked the member ERROR. Now an agent answers
// only once it has checked, so each agent-monitored member goes OFFLINE ->
// ONLINE.
func TestDemoFirstSeconds(t *testing.T) {
	o := fast()
	o.AgentInterval = 2 * time.Second
	var mu sync.Mutex
	var events []monitor.Event
	o.OnEvent = func(e monitor.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	o.defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := startScene(ctx, &o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if err := waitAll(ctx, s, health.Online, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	checkFirstSeconds(t, "SCRIPT:", events)
}
