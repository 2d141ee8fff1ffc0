package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// scrape returns the body of base/metrics.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// TestOpsMetrics: the maintenance and drain gauges follow the admin state,
// and the Go and process collectors are on /metrics.
func TestOpsMetrics(t *testing.T) {
	dir := t.TempDir()
	a, base, _, _ := opsAgent(t, dir, "")
	has := func(body string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(body, "\n"+l+"\n") {
				t.Errorf("/metrics lacks the line %q", l)
			}
		}
	}
	has(scrape(t, base), "vitals_agent_maintenance 0", "vitals_agent_drain 0")
	if _, err := a.SetState(func(s *AdminState) { s.Maintenance = true }); err != nil {
		t.Fatal(err)
	}
	has(scrape(t, base), "vitals_agent_maintenance 1", "vitals_agent_drain 0")
	if _, err := a.SetState(func(s *AdminState) { s.Maintenance, s.Drain = false, true }); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, base)
	has(body, "vitals_agent_maintenance 0", "vitals_agent_drain 1")
	for _, series := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_open_fds ", "process_resident_memory_bytes "} {
		if !strings.Contains(body, "\n"+series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestMetricsPromtool: promtool check metrics finds nothing to complain
// about in the agent's /metrics, with every series family present: a
// failed and a passed run, probes answered, a status page stream opened.
func TestMetricsPromtool(t *testing.T) {
	dir := t.TempDir()
	_, base, _, _ := opsAgent(t, dir, "")
	os.WriteFile(filepath.Join(dir, "db-down"), nil, 0o644)
	waitCode(t, base+"/health", 503)
	os.Remove(filepath.Join(dir, "db-down"))
	waitCode(t, base+"/health", 200)
	// Open a status page stream so that its series exist.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
		t.Fatalf("/status/events: %v", err)
	}
	body := scrape(t, base)
	cancel()
	resp.Body.Close()
	for _, family := range []string{"vitals_agent_event_subscribers ", "vitals_agent_check_latency_seconds_bucket", "vitals_agent_checker_errors_total", "vitals_agent_maintenance ", "go_goroutines "} {
		if !strings.Contains(body, family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	testenv.PromtoolCheckMetrics(t, "the agent's /metrics", []byte(body))
}
