package demo

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// fast is a short timeline for tests.
func fast() Options {
	return Options{Warmup: time.Second, HangFor: 12 * time.Second, KillFor: 3 * time.Second, Settle: 500 * time.Millisecond}
}

// TestDemoScript is acceptance item 1: through real sessions, the hung
// backend got failed sessions through the TCP-monitored pool and none
// through the agent-monitored pool.
func TestDemoScript(t *testing.T) {
	var out bytes.Buffer
	o := fast()
	o.Out = &out
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
