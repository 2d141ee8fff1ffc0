// Package sdnotify tells systemd how a Type=notify service is doing, as
// sd_notify(3) describes: one datagram of newline-separated KEY=VALUE
// assignments to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract name written with a leading "@").
//
// It is a few lines of its own rather than go-systemd's daemon package
// because the environment must be read once and then removed, so that the
// programs an exec check starts do not inherit NOTIFY_SOCKET; go-systemd
// reads it again on every message.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends state changes to the service manager. A nil *Notifier
// (not started by systemd) does nothing: every method is safe on it.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // WATCHDOG_USEC; 0: no watchdog for this process
}

// FromEnv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes
// them from the environment. It returns nil, nil when NOTIFY_SOCKET is not
// set. A watchdog meant for another process (WATCHDOG_PID not ours) is
// ignored.
func FromEnv() (*Notifier, error) {
	sock := os.Getenv("NOTIFY_SOCKET")
	usec, pid := os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		os.Unsetenv(k)
	}
	if sock == "" {
		return nil, nil
	}
	if !strings.HasPrefix(sock, "/") && !strings.HasPrefix(sock, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q is neither a path nor an abstract @name", sock)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}
	if usec != "" && (pid == "" || pid == strconv.Itoa(os.Getpid())) {
		us, err := strconv.ParseUint(usec, 10, 63)
		if err != nil || us == 0 {
			return n, fmt.Errorf("WATCHDOG_USEC %q is not a positive number of microseconds", usec)
		}
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	return n, nil
}

// Send sends the assignments (e.g. "READY=1", "STATUS=serving") in one
// datagram.
func (n *Notifier) Send(assignments ...string) error {
	if n == nil {
		return nil
	}
	if len(assignments) == 0 {
		return errors.New("sdnotify: nothing to send")
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready says the service is up; status is shown by systemctl status.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+status)
}

// Reloading says a reload has begun; send Ready when it ends, whether or
// not it succeeded. MONOTONIC_USEC lets Type=notify-reload match the two.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.Send("RELOADING=1")
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1000, 10))
}

// Stopping says the service is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1", "STATUS="+status)
}

// Watchdog tells the service manager the main loop is alive.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// WatchdogInterval is how often to call Watchdog: half the service's
// WatchdogSec=, as sd_watchdog_enabled(3) advises. 0 when there is no
// watchdog.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 2
}

// WatchdogTicker returns a channel that delivers every WatchdogInterval,
// for the main loop to select on and call Watchdog, and a function that
// stops it. Without a watchdog the channel is nil: it never delivers.
func (n *Notifier) WatchdogTicker() (<-chan time.Time, func()) {
	d := n.WatchdogInterval()
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(d)
	return t.C, t.Stop
}
