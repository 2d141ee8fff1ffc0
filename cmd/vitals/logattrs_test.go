package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLogDurationsInSeconds: both log formats write durations as seconds in
// a float, also inside groups and through slog.Any, and leave other values
// alone.
func TestLogDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("check", "latency", 12300*time.Microsecond, "any", any(2*time.Second), "count", 3,
		"g", map[string]string{"k": "v"})
	log.WithGroup("member").Info("transition", "after", 1500*time.Millisecond)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["latency"] != 0.0123 || first["any"] != 2.0 || first["count"] != 3.0 {
		t.Errorf("latency %v any %v count %v; want 0.0123, 2, 3 (%s)", first["latency"], first["any"], first["count"], lines[0])
	}
	if !strings.Contains(lines[0], `"latency":0.0123`) {
		t.Errorf("JSON line %s does not have \"latency\":0.0123", lines[0])
	}
	if !strings.Contains(lines[1], `"member":{"after":1.5}`) {
		t.Errorf("grouped duration: %s", lines[1])
	}

	buf.Reset()
	log, err = newLogger(&buf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("check", "latency", 12300*time.Microsecond, "reason", "timeout after 1s")
	if s := buf.String(); !strings.Contains(s, "latency=0.0123 ") || !strings.Contains(s, `reason="timeout after 1s"`) {
		t.Errorf("text line %q: want latency=0.0123 and the reason unchanged", s)
	}
}
