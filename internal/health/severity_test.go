package health

import (
	"log/slog"
	"testing"
)

// TestChangeLevel: a change to a worse status logs at WARN, to a better or
// equal one at INFO.
func TestChangeLevel(t *testing.T) {
	warn := map[[2]OperatingStatus]bool{
		{Online, Error}: true, {Online, Degraded}: true, {Online, Offline}: true, {Online, Draining}: true,
		{Offline, Error}: true, {Draining, Error}: true, {Degraded, Error}: true, {NoMonitor, Error}: true,
		{NoMonitor, Draining}: true, {NoMonitor, Offline}: true, {Offline, Degraded}: true, {Draining, Degraded}: true,
		{NoMonitor, Degraded}: true,
	}
	for _, old := range OperatingStatuses() {
		for _, s := range OperatingStatuses() {
			want := slog.LevelInfo
			if warn[[2]OperatingStatus{old, s}] {
				want = slog.LevelWarn
			}
			if got := s.ChangeLevel(old); got != want {
				t.Errorf("%s -> %s logs at %s, want %s", old, s, got, want)
			}
		}
	}
	for _, c := range []struct {
		old, s State
		want   slog.Level
	}{
		{Unknown, Up, slog.LevelInfo}, {Unknown, Down, slog.LevelWarn}, {Up, Down, slog.LevelWarn},
		{Down, Up, slog.LevelInfo}, {Up, Unknown, slog.LevelWarn}, {Down, Unknown, slog.LevelInfo},
	} {
		if got := c.s.ChangeLevel(c.old); got != c.want {
			t.Errorf("%s -> %s logs at %s, want %s", c.old, c.s, got, c.want)
		}
	}
}
