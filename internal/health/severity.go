package health

import "log/slog"

// How bad each status is, for the level of the line that logs a change:
// a change to a worse status is a WARN, to a better or equal one an INFO.
// ONLINE and NO_MONITOR take traffic; DRAINING and OFFLINE (weight 0,
// admin down, not yet checked) take none by decision or for lack of a
// verdict; DEGRADED has lost some members; ERROR failed its checks.
var operatingSeverity = [...]uint8{Online: 0, NoMonitor: 0, Draining: 1, Offline: 1, Degraded: 2, Error: 3}

func (s OperatingStatus) severity() uint8 {
	if int(s) < len(operatingSeverity) {
		return operatingSeverity[s]
	}
	return 3
}

// ChangeLevel is the log level of a change from old to s: WARN when s is
// worse (ONLINE = NO_MONITOR < DRAINING = OFFLINE < DEGRADED < ERROR),
// INFO otherwise.
func (s OperatingStatus) ChangeLevel(old OperatingStatus) slog.Level {
	if s.severity() > old.severity() {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// stateSeverity orders a tracker's states: up < unknown < down.
var stateSeverity = [...]uint8{Up: 0, Unknown: 1, Down: 2}

// ChangeLevel is the log level of a change from old to s: WARN when s is
// worse (up < unknown < down), INFO otherwise.
func (s State) ChangeLevel(old State) slog.Level {
	if int(s) < len(stateSeverity) && int(old) < len(stateSeverity) && stateSeverity[s] > stateSeverity[old] {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
