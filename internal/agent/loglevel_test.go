package agent

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTransitionLogLevels: a check that turns down is logged at WARN, one
// that comes back up (and the first pass) at INFO.
func TestTransitionLogLevels(t *testing.T) {
	dir := t.TempDir()
	_, url, logs := stateAgent(t, dir, filepath.Join(dir, "agent.state"))
	waitCode(t, url+"/health", http.StatusOK)
	down := filepath.Join(dir, "db-down")
	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitCode(t, url+"/health", http.StatusServiceUnavailable)
	if err := os.Remove(down); err != nil {
		t.Fatal(err)
	}
	waitCode(t, url+"/health", http.StatusOK)
	var got []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `msg="check changed state"`) {
			level, _, _ := strings.Cut(strings.TrimPrefix(line[strings.Index(line, "level="):], "level="), " ")
			_, rest, _ := strings.Cut(line, " old=")
			old, rest, _ := strings.Cut(rest, " new=")
			newState, _, _ := strings.Cut(rest, " ")
			got = append(got, level+" "+old+">"+newState)
		}
	}
	want := "INFO unknown>up, WARN up>down, INFO down>up"
	if strings.Join(got, ", ") != want {
		t.Errorf("transitions logged as %q, want %q\n%s", strings.Join(got, ", "), want, logs.String())
	}
}
