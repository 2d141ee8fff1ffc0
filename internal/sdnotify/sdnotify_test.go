package sdnotify_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/sdnotify"
)

// listen opens a real unixgram socket at addr (a path or an @abstract
// name) and returns a function that reads the next datagram.
func listen(t *testing.T, addr string) func() string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no datagram: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifyPathAndAbstract(t *testing.T) {
	for name, addr := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": "@vitals-sdnotify-test-" + strconv.Itoa(os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			read := listen(t, addr)
			t.Setenv("NOTIFY_SOCKET", addr)
			t.Setenv("WATCHDOG_USEC", "3000000")
			t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
			n, err := sdnotify.FromEnv()
			if err != nil || n == nil {
				t.Fatalf("FromEnv: %v, %v", n, err)
			}
			for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
				if v, ok := os.LookupEnv(k); ok {
					t.Errorf("%s=%q is still in the environment; children would inherit it", k, v)
				}
			}
			if got := n.WatchdogInterval(); got != 1500*time.Millisecond {
				t.Errorf("WatchdogInterval = %s, want half of 3s", got)
			}
			if err := n.Ready("serving"); err != nil {
				t.Fatal(err)
			}
			if got := read(); got != "READY=1\nSTATUS=serving\n" {
				t.Errorf("Ready sent %q", got)
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
				t.Errorf("Reloading sent %q", got)
			}
			n.Watchdog()
			if got := read(); got != "WATCHDOG=1\n" {
				t.Errorf("Watchdog sent %q", got)
			}
			n.Stopping("bye")
			if got := read(); got != "STOPPING=1\nSTATUS=bye\n" {
				t.Errorf("Stopping sent %q", got)
			}
		})
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	n, err := sdnotify.FromEnv()
	if n != nil || err != nil {
		t.Fatalf("FromEnv without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	if err := n.Ready("x"); err != nil {
		t.Error(err)
	}
	if c, stop := n.WatchdogTicker(); c != nil {
		stop()
		t.Error("a ticker without a watchdog")
	}
}

func TestWatchdogForAnotherPID(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "@x")
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	n, err := sdnotify.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if d := n.WatchdogInterval(); d != 0 {
		t.Errorf("WatchdogInterval = %s for a watchdog meant for another process, want 0", d)
	}
}

func TestBadEnvironment(t *testing.T) {
	for _, env := range [][2]string{{"relative/path", ""}, {"@x", "soon"}, {"@x", "0"}} {
		t.Setenv("NOTIFY_SOCKET", env[0])
		t.Setenv("WATCHDOG_USEC", env[1])
		if env[1] == "" {
			os.Unsetenv("WATCHDOG_USEC")
		}
		if _, err := sdnotify.FromEnv(); err == nil {
			t.Errorf("NOTIFY_SOCKET=%q WATCHDOG_USEC=%q: no error", env[0], env[1])
		}
	}
}

func TestSendUnreachable(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody"))
	n, _ := sdnotify.FromEnv()
	if err := n.Ready("x"); err == nil {
		t.Error("Ready to a socket nobody listens on: no error")
	}
}
