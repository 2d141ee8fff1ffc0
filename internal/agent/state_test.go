package agent

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// stateAgent starts an agent whose state file is statePath, logging to
// the returned buffer, and returns it with its base URL.
func stateAgent(t *testing.T, dir, statePath string) (*Agent, string, *testenv.SyncBuffer) {
	t.Helper()
	cfg, err := Parse("state.yaml", []byte("listen: 127.0.0.1:0\nadmin_socket: "+filepath.Join(dir, "agent.sock")+
		"\nstate_file: "+statePath+"\nshutdown_delay: 0s\nchecks:\n  - name: db\n    type: file\n    path: "+filepath.Join(dir, "db-down")+
		"\n    interval: 100ms\n    timeout: 50ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	a, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	waitListening(t, "unix", filepath.Join(dir, "agent.sock"))
	return a, "http://" + ln.Addr().String(), logs
}

// TestCorruptStateFileKeepsMaintenance: a state file that cannot be decoded
// keeps the node out of service with a loud error and a visible reason
// until an operator sets maintenance off, which rewrites the file. Stale
// temporary files from a crashed save are removed at start; a fresh one
// (another agent saving now) is left alone.
func TestCorruptStateFileKeepsMaintenance(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "agent.state")
	if err := os.WriteFile(state, []byte(`{"maintenance":tr`), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, tempPrefix+"123")
	fresh := filepath.Join(dir, tempPrefix+"456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	a, base, logs := stateAgent(t, dir, state)
	if st := a.State(); !st.Maintenance || st.Reason != unreadableState {
		t.Fatalf("state after a corrupt file %+v, want maintenance with the reason", st)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "path="+state) || !strings.Contains(l, "corrupt") {
		t.Errorf("no ERROR log naming the path and the corruption:\n%s", l)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	if b := waitCode(t, base+"/health?verbose", 503); !strings.Contains(b, "state file could not be read") {
		t.Errorf("health body does not say why: %q", b)
	}
	admin := NewAdminClient(filepath.Join(dir, "agent.sock"))
	if body, err := admin.Do(t.Context(), "GET", "/state"); err != nil || !strings.Contains(body, `"reason":"the state file could not be read`) {
		t.Errorf("/state %s (%v), want the reason", body, err)
	}
	// Draining does not clear it: only maintenance off does.
	if _, err := admin.Do(t.Context(), "POST", "/drain?state=off"); err != nil {
		t.Fatal(err)
	}
	if st := a.State(); !st.Maintenance {
		t.Fatal("drain off took the node out of maintenance")
	}
	if _, err := admin.Do(t.Context(), "POST", "/maintenance?state=off"); err != nil {
		t.Fatal(err)
	}
	waitCode(t, base+"/health", 200)
	b, err := os.ReadFile(state)
	if err != nil || strings.TrimSpace(string(b)) != `{"maintenance":false,"drain":false}` {
		t.Errorf("state file after maintenance off: %q (%v)", b, err)
	}
}

// TestFailedStateSaveIsLogged: a save that fails is logged with the path
// and the error, and the new state still applies.
func TestFailedStateSaveIsLogged(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(blocker, "agent.state") // its directory is a file
	a, _, logs := stateAgent(t, dir, state)
	st, err := a.SetState(func(s *AdminState) { s.Drain = true })
	if err == nil || !st.Drain || !a.State().Drain {
		t.Fatalf("SetState = %+v, %v; want drain applied and an error", st, err)
	}
	l := logs.String()
	if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "cannot save the state file") || !strings.Contains(l, "path="+state) || !strings.Contains(l, "not a directory") {
		t.Errorf("failed save not logged with path and error:\n%s", l)
	}
}

// TestMissingStateFileIsInService: no state file is the zero state, not
// maintenance.
func TestMissingStateFileIsInService(t *testing.T) {
	dir := t.TempDir()
	a, base, _ := stateAgent(t, dir, filepath.Join(dir, "none.state"))
	if st := a.State(); st != (AdminState{}) {
		t.Fatalf("state %+v, want zero", st)
	}
	waitCode(t, base+"/health", 200)
}
