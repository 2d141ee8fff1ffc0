package agent

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/probe"
	"vitals/internal/statuspage"
	"vitals/internal/testenv"
)

// TestStatusPage: /status serves the shared page pointed at
// /status/events, whose first event lists the endpoints and checks.
func TestStatusPage(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n  - name: m\n    type: file\n    path: /nonexistent-vitals\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-src="/status/events"`) || !strings.Contains(string(body), "EventSource") {
		t.Fatalf("/status: %d %.200s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data: {"kind":"agent"`, `"name":"/health"`, `"name":"m"`} {
		if !strings.Contains(line, want) {
			t.Errorf("first event lacks %s: %s", want, line)
		}
	}
}

// TestStatusEventsCap: /status/events is bounded as the lb's /events is:
// past statuspage.DefaultMaxSubscribers open streams one more is answered
// 503 with Retry-After, and the open streams show in
// vitals_agent_event_subscribers.
func TestStatusEventsCap(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n  - name: m\n    type: file\n    path: /nonexistent-vitals\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := range statuspage.DefaultMaxSubscribers {
		resp := open()
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != 200 || err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("stream %d: %d %q %v", i, resp.StatusCode, line, err)
		}
	}
	resp := open()
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("one stream over the cap: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	mfs, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "vitals_agent_event_subscribers" {
			got = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if got != statuspage.DefaultMaxSubscribers {
		t.Errorf("vitals_agent_event_subscribers %v, want %d", got, statuspage.DefaultMaxSubscribers)
	}
}

// TestStatusPageHistory: the agent's page holds every one of 20
// consecutive runs of a check, in order, although it is built only once,
// after them; and shows how far the check is toward its next change of
// state.
func TestStatusPageHistory(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n  - name: m\n    type: file\n    path: /nonexistent-vitals\n    rise: 2\n    fall: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := a.rt.Load().checks[0]
	fp := &fakeProber{}
	c.prober = fp
	const pattern = "PWFPFFFPPFWPFFFFPPFF" // 20 runs, ending 2 failures into a fall of 3
	want := map[byte]string{'P': "PASS", 'W': "WARN", 'F': "FAIL"}
	status := map[byte]probe.Status{'P': probe.Pass, 'W': probe.Warn, 'F': probe.Fail}
	var starts []time.Time
	for i := range len(pattern) {
		fp.set(status[pattern[i]], "")
		starts = append(starts, c.runOnce(t.Context()).Start)
	}
	m := a.statusSnapshot().Pools[0].Members[0]
	if len(m.History) != len(pattern) {
		t.Fatalf("history holds %d runs, want all %d: %+v", len(m.History), len(pattern), m.History)
	}
	for i, h := range m.History {
		if h.Status != want[pattern[i]] || !h.Time.Equal(starts[i].Truncate(time.Millisecond)) {
			t.Errorf("run %d: %s at %s, want %s at %s", i, h.Status, h.Time, want[pattern[i]], starts[i])
		}
	}
	if m.Progress == nil || m.Progress.Text != "2 of 3 failures" || m.Progress.Toward != "ERROR" || m.AdminState != "enabled" {
		t.Errorf("progress %+v, admin state %q; want 2 of 3 failures toward ERROR, enabled", m.Progress, m.AdminState)
	}
}

// TestStatusEventsCapFromConfig: max_event_subscribers, read from the
// configuration file, caps /status/events: with 2, a third stream is
// answered 503 and a new one is accepted after one of the two left.
func TestStatusEventsCapFromConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:0\nmax_event_subscribers: 2\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n  - name: m\n    type: file\n    path: /nonexistent-vitals\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	testenv.CheckEventCap(t, srv.URL+"/status/events", 2)
}
