package lb

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"vitals/internal/monitor"
	"vitals/internal/promx"
)

// TestPprofSecondsBounded: /debug/pprof/profile and the delta profiles
// refuse seconds outside 1 to 60 with 400, and serve the bounded ones.
func TestPprofSecondsBounded(t *testing.T) {
	cfg, err := Parse("lb.yaml", []byte("loadbalancer:\n  name: lb1\n  pools:\n    - name: p1\n      lb_algorithm: ROUND_ROBIN\n"))
	if err != nil {
		t.Fatal(err)
	}
	eng := monitor.New(monitor.Options{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(NewAdminHandler(cfg, eng, promx.NewRegistry()))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{
		"/debug/pprof/profile?seconds=0", "/debug/pprof/profile?seconds=61", "/debug/pprof/profile?seconds=-5",
		"/debug/pprof/profile?seconds=abc", "/debug/pprof/profile?seconds=100000000", "/debug/pprof/heap?seconds=3600",
	} {
		code, body := get(path)
		if code != http.StatusBadRequest || !strings.Contains(body, "want a whole number from 1 to 60") {
			t.Errorf("%s: %d %q, want 400 naming the bound", path, code, body)
		}
	}
	if code, _ := get("/debug/pprof/heap"); code != http.StatusOK {
		t.Errorf("heap without seconds: %d, want 200", code)
	}
	if code, body := get("/debug/pprof/profile?seconds=1"); code != http.StatusOK || len(body) == 0 {
		t.Errorf("profile?seconds=1: %d with %d bytes, want a profile", code, len(body))
	}
}
