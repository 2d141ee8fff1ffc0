package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

// PromtoolCheckMetrics runs `promtool check metrics` (Debian's prometheus
// package) on a /metrics body and fails the test with promtool's
// complaints: missing HELP, counters not ending in _total, units in the
// wrong place, and so on. Without promtool the test skips (fails under
// CI=true, see Need).
func PromtoolCheckMetrics(t testing.TB, what string, body []byte) {
	t.Helper()
	Need(t, "promtool")
	path, err := LookPath("promtool")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}
