package lb

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRejectLogOncePerSecond: refused connections make at most one line
// per second, each with the count since the previous line.
func TestRejectLogOncePerSecond(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var r rejectLog
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	logged := 0
	// 1,000 refusals over 2.5 s, one every 2.5 ms.
	for i := range 1000 {
		if r.refused(log, "127.0.0.1:19000", 100, false, t0.Add(time.Duration(i)*2500*time.Microsecond)) {
			logged++
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if logged != 3 || len(lines) != 3 {
		t.Fatalf("%d lines (refused reported %d), want 3 (at 0 s, 1 s, 2 s):\n%s", len(lines), logged, buf.String())
	}
	for i, want := range []string{"refused=1", "refused=400", "refused=400"} {
		if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], "connections refused over connection_limit") ||
			!strings.Contains(lines[i], "listener=127.0.0.1:19000") || !strings.Contains(lines[i], "connection_limit=100") || !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q, want WARN with listener, limit and %s", i, lines[i], want)
		}
	}
	// The 199 after the last line are reported with the next one.
	buf.Reset()
	if !r.refused(log, "127.0.0.1:19000", 100, true, t0.Add(time.Hour)) || !strings.Contains(buf.String(), "refused=200") || !strings.Contains(buf.String(), "the listener is disabled") {
		t.Errorf("next line %q, want refused=200 for a disabled listener", buf.String())
	}
}
