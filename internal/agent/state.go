package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vitals/internal/yamlconf"
)

// AdminState is what an operator has set on the agent. It is kept in the
// state file so that it survives a restart.
type AdminState struct {
	// Maintenance makes every health endpoint answer 503 "maintenance"
	// and the agent-check port answer "maint".
	Maintenance bool `json:"maintenance"`
	// Drain makes every health endpoint answer drain_code and the
	// agent-check port answer "drain": existing sessions stay, new ones go
	// elsewhere.
	Drain bool `json:"drain"`
	// Reason, when set, says why maintenance is on although no operator
	// asked: the state file could not be read at start. It clears when an
	// operator sets maintenance.
	Reason string `json:"reason,omitempty"`
}

// tempPrefix starts the names of the temporary files saveState writes.
const tempPrefix = ".agent-state-"

// unreadableState is the reason for maintenance when the state file could
// not be read at start. It names no path or error: health answers show it
// on an unauthenticated port, and the log holds the details.
const unreadableState = "the state file could not be read at start (see the agent's log); check it, then set maintenance off"

// staleTempAge is how old a temporary state file must be to count as left
// by a crash; younger ones may belong to another agent saving right now.
const staleTempAge = time.Minute

// initState reads the state file at start. A file that exists but cannot
// be read or decoded keeps the node out of service: fail-closed is the
// safe side for a node an operator may have drained on purpose, so the
// agent starts in maintenance with a loud error and a reason shown in
// /state and the health answers, until an operator sets maintenance off
// (which rewrites the file). Temporary files left by a crash during a save
// are removed first.
func initState(path string, log *slog.Logger) AdminState {
	if path == "off" {
		return AdminState{}
	}
	removeStaleTemps(path, log)
	st, err := loadState(path)
	if err != nil {
		st = AdminState{Maintenance: true, Reason: unreadableState}
		log.Error("state file unreadable: staying in maintenance until an operator sets it off (vitals agent maintenance off)", "path", path, "err", err)
	}
	return st
}

// removeStaleTemps removes temporary state files older than staleTempAge
// next to path.
func removeStaleTemps(path string, log *slog.Logger) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleTempAge {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			log.Warn("cannot remove a temporary state file left by a crash", "path", p, "err", err)
			continue
		}
		log.Info("removed a temporary state file left by a crash", "path", p)
	}
}

// loadState reads the state file. A missing file, or "off", is the zero
// state.
func loadState(path string) (AdminState, error) {
	var st AdminState
	if path == "off" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, yamlconf.UnwrapPath(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return AdminState{}, fmt.Errorf("corrupt: %w", err)
	}
	return st, nil
}

// saveState writes the state file atomically: a temporary file in the same
// directory, fsynced, then renamed over the old one.
func saveState(path string, st AdminState) error {
	if path == "off" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// State returns the operator's current state.
func (a *Agent) State() AdminState { return *a.admin.Load() }

// SetState changes maintenance and drain and saves them. The new state
// applies at once, also when it cannot be saved; the error then says it
// will not survive a restart.
func (a *Agent) SetState(change func(*AdminState)) (AdminState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := *a.admin.Load()
	old := st
	change(&st)
	a.admin.Store(&st)
	if st != old {
		a.log.Info("operator state changed", "maintenance", st.Maintenance, "drain", st.Drain, "reason", st.Reason)
	}
	path := a.rt.Load().cfg.StateFile
	if err := saveState(path, st); err != nil {
		a.log.Warn("cannot save the state file; the state applies but will not survive a restart", "path", path, "err", err)
		return st, fmt.Errorf("state applied but not saved to %s, so it will not survive a restart: %w", path, err)
	}
	return st, nil
}
