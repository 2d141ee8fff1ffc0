package main

import (
	"log/slog"

	"vitals/internal/sdnotify"
)

// systemdNotifier reads systemd's notify socket and watchdog from the
// environment (Type=notify units set them) and removes them, so that the
// programs exec checks start do not inherit them. Nil when not started
// by systemd.
func systemdNotifier(log *slog.Logger) *sdnotify.Notifier {
	n, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd notification disabled", "err", err)
	}
	if n != nil {
		log.Info("notifying systemd", "watchdog_interval", n.WatchdogInterval())
	}
	return n
}
