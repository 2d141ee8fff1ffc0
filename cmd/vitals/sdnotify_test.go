package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// notifySocket is a fake systemd: a real unixgram socket at addr (a path
// or an @abstract name) whose datagrams arrive on a channel.
func notifySocket(t *testing.T, addr string) <-chan string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default: // a test that stopped reading does not block this goroutine
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs
}

// expectMsg waits up to limit for a datagram that starts with prefix,
// skipping WATCHDOG=1 pings, and returns it.
func expectMsg(t *testing.T, msgs <-chan string, prefix string, limit time.Duration, logs *testenv.SyncBuffer) string {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case m := <-msgs:
			if m == "WATCHDOG=1\n" && prefix != "WATCHDOG=1" {
				continue
			}
			if !strings.HasPrefix(m, prefix) {
				t.Fatalf("got %q, want a message starting %q; log:\n%s", m, prefix, logs.String())
			}
			return m
		case <-timeout:
			t.Fatalf("no %q within %s; log:\n%s", prefix, limit, logs.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSystemdNotify runs the real binary as a Type=notify unit runs it:
// NOTIFY_SOCKET (a path for the agent, an abstract name for the lb) and
// WATCHDOG_USEC=1s in its environment. Each server sends READY=1 only
// once its listeners answer, WATCHDOG=1 about every 0.5 s, RELOADING=1
// then READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM before exiting
// 0. Its /metrics has vitals_build_info with the stamped version, and the
// programs its exec checks start do not inherit NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vitals")
	const stamp = "v0.0.0-notify-test"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+stamp, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// start runs bin with the notify environment; it returns the logs and
	// a channel that delivers the exit.
	start := func(t *testing.T, socket string, args ...string) (*exec.Cmd, *testenv.SyncBuffer, <-chan error) {
		var logs testenv.SyncBuffer
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+socket, "WATCHDOG_USEC=1000000")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited, done := make(chan error, 1), make(chan struct{})
		go func() { exited <- cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-done
		})
		return cmd, &logs, exited
	}
	buildInfo := func(t *testing.T, url string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `vitals_build_info{goversion="go`) || !strings.Contains(string(body), `version="`+stamp+`"} 1`) {
			t.Errorf("%s has no vitals_build_info with version %q:\n%s", url, stamp, grepLines(string(body), "build_info"))
		}
	}
	// lifecycle: READY with the listener open, build info, then ready
	// (a check of the caller's), watchdog pings, reload, stop.
	lifecycle := func(t *testing.T, cmd *exec.Cmd, logs *testenv.SyncBuffer, exited <-chan error, msgs <-chan string, listener, metrics string, ready func()) {
		t.Helper()
		expectMsg(t, msgs, "READY=1\nSTATUS=serving", 60*time.Second, logs)
		// A reset also proves the listener is open: the lb's listener
		// accepts, finds its member refusing (port 9) and resets the
		// client, which a loaded machine may do before Dial returns.
		if c, err := net.DialTimeout("tcp", listener, 2*time.Second); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("READY=1 came before %s accepted connections: %v", listener, err)
		} else if err == nil {
			c.Close()
		}
		buildInfo(t, metrics)
		ready()
		for range 2 {
			expectMsg(t, msgs, "WATCHDOG=1", 5*time.Second, logs)
		}
		cmd.Process.Signal(syscall.SIGHUP)
		expectMsg(t, msgs, "RELOADING=1\nMONOTONIC_USEC=", 10*time.Second, logs)
		expectMsg(t, msgs, "READY=1\nSTATUS=configuration reloaded", 10*time.Second, logs)
		cmd.Process.Signal(syscall.SIGTERM)
		expectMsg(t, msgs, "STOPPING=1", 10*time.Second, logs)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v; log:\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("still running 30 s after SIGTERM; log:\n%s", logs.String())
		}
	}

	t.Run("agent", func(t *testing.T) {
		socket := filepath.Join(dir, "notify-agent")
		msgs := notifySocket(t, socket)
		listen := freeAddr(t)
		inherited := filepath.Join(dir, "inherited")
		cfg := filepath.Join(dir, "agent.yaml")
		y := fmt.Sprintf(`listen: %s
admin_socket: off
state_file: off
shutdown_delay: 0s
checks:
  - name: env
    type: exec
    command: [/bin/sh, -c, 'echo "NOTIFY_SOCKET=$NOTIFY_SOCKET WATCHDOG_USEC=$WATCHDOG_USEC" > %s']
    interval: 1s
    timeout: 1s
`, listen, inherited)
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, logs, exited := start(t, socket, "agent", "--config", cfg)
		lifecycle(t, cmd, logs, exited, msgs, listen, "http://"+listen+"/metrics", func() {
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, err := os.ReadFile(inherited)
				if err == nil && len(b) > 0 {
					if got := strings.TrimSpace(string(b)); got != "NOTIFY_SOCKET= WATCHDOG_USEC=" {
						t.Errorf("an exec check's program inherited %q", got)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the exec check did not run within 10 s; log:\n%s", logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	})

	t.Run("lb", func(t *testing.T) {
		socket := fmt.Sprintf("@vitals-notify-test-%d", os.Getpid())
		msgs := notifySocket(t, socket)
		listen, admin := freeAddr(t), freeAddr(t)
		host, port, _ := net.SplitHostPort(listen)
		cfg := filepath.Join(dir, "lb.yaml")
		y := fmt.Sprintf(`admin:
  socket: %s/lb.sock
  listen: %s
shutdown_grace: 1s
loadbalancer:
  name: notify
  listeners:
    - {name: l, protocol: TCP, address: %s, protocol_port: %s, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: m, address: 127.0.0.1, protocol_port: 9}
`, dir, admin, host, port)
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, logs, exited := start(t, socket, "lb", "--config", cfg)
		lifecycle(t, cmd, logs, exited, msgs, listen, "http://"+admin+"/metrics", func() {})
		if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
			c.Close()
			t.Error("the admin listener still accepts after exit")
		}
	})
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			b.WriteString(line)
		}
	}
	return b.String()
}
