package lb

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestEndLogOncePerSecondPerReason: sessions the lb ends make at most one
// line per second and reason, each with the count since the previous
// line of that reason.
func TestEndLogOncePerSecondPerReason(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var e endLog
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 500 write stalls and 500 idle member timeouts over 2.5 s.
	for i := range 1000 {
		r := endWriteStall
		if i%2 == 1 {
			r = endMemberData
		}
		e.ended(log, "pg", "db1", r, t0.Add(time.Duration(i)*2500*time.Microsecond))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6 (each reason at 0 s, 1 s, 2 s):\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"closed=1", "closed=1", "closed=200", "closed=200", "closed=200", "closed=200"} {
		reason := []string{"timeout_write_stall", "timeout_member_data"}[i%2]
		if !strings.Contains(lines[i], "level=INFO") || !strings.Contains(lines[i], "listener=pg") || !strings.Contains(lines[i], "reason="+reason) || !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q, want INFO for listener pg, reason %s and %s", i, lines[i], reason, want)
		}
	}
}
