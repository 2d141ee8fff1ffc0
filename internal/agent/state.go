package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return AdminState{}, fmt.Errorf("%s: %w", path, err)
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
	f, err := os.CreateTemp(filepath.Dir(path), ".agent-state-*")
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
		a.log.Info("operator state changed", "maintenance", st.Maintenance, "drain", st.Drain)
	}
	path := a.rt.Load().cfg.StateFile
	if err := saveState(path, st); err != nil {
		return st, fmt.Errorf("state applied but not saved to %s, so it will not survive a restart: %w", path, err)
	}
	return st, nil
}
