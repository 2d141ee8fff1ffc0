package testenv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HAProxy is a private haproxy started by StartHAProxy, in the foreground
// (-db), with an admin stats socket. It runs as the current user.
//
// Its methods serialize with each other and with cleanup; call them from the
// test goroutine, since they call t.Fatal on failure.
type HAProxy struct {
	StatsSocket string // the admin-level stats socket (unix)
	ConfigPath  string // the full configuration, global section included
	LogFile     string // stdout and stderr, which also receive the global log
	PID         int    // haproxy's PID

	mu   sync.Mutex // serializes Stop and cleanup and guards proc
	proc *process
}

// StartHAProxy writes a configuration made of a global section (an admin
// stats socket in a temp dir, maxconn 1024, logging to stderr so that
// "log global" works) followed by config, the caller's defaults, frontend,
// listen and backend sections. It checks the result with haproxy -c, starts
// haproxy -f <cfg> -db (foreground, no master-worker), waits until the stats
// socket answers, and registers a cleanup that stops it and removes its
// files. It skips the test if haproxy is not installed (see Need).
func StartHAProxy(t testing.TB, config string) *HAProxy {
	t.Helper()
	Need(t, "haproxy")
	bin, err := LookPath("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	base := makeBase(t, "haproxy", nil)
	h := &HAProxy{
		StatsSocket: filepath.Join(base, "stats.sock"),
		ConfigPath:  filepath.Join(base, "haproxy.cfg"),
		LogFile:     filepath.Join(base, "haproxy.log"),
	}
	t.Cleanup(func() { h.cleanup(t) })
	start := time.Now()
	global := fmt.Sprintf(`# written by vitals internal/testenv
global
    stats socket %s mode 600 level admin
    stats timeout 30s
    maxconn 1024
    log stderr format raw local0 info

`, h.StatsSocket)
	writeFile(t, h.ConfigPath, global+config+"\n", nil)
	if out, err := runTool(bin, []string{"-c", "-f", h.ConfigPath}, nil, base); err != nil {
		t.Fatalf("haproxy: invalid configuration: %v\n%s\n--- %s:\n%s", err, out, h.ConfigPath, numbered(global+config))
	}
	proc, err := startProcess("haproxy", bin, []string{"-f", h.ConfigPath, "-db"}, nil, base, h.LogFile)
	if err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	h.mu.Lock()
	h.proc = proc
	h.mu.Unlock()
	if err := proc.poll(func() error {
		_, err := h.command("show info")
		return err
	}); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	h.PID = proc.pid()
	t.Logf("haproxy ready in %s (pid %d, config %s)", time.Since(start).Round(time.Millisecond), h.PID, h.ConfigPath)
	return h
}

// numbered prefixes each line of s with its line number, to match
// haproxy's "[haproxy.cfg:12]" messages.
func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

// Command sends one command (such as "show stat", "show servers state" or
// "disable server be/s1") to the stats socket and returns the whole reply.
// It fails the test if the socket cannot be reached within 30 s.
func (h *HAProxy) Command(t testing.TB, cmd string) string {
	t.Helper()
	out, err := h.command(cmd)
	if err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	return out
}

func (h *HAProxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.StatsSocket, dialTimeout)
	if err != nil {
		return "", fmt.Errorf("stats socket: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(cmdTimeout)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, strings.TrimRight(cmd, "\n")+"\n"); err != nil {
		return "", fmt.Errorf("stats socket %q: %w", cmd, err)
	}
	// Not in interactive mode, haproxy closes the connection after the reply.
	out, err := io.ReadAll(io.LimitReader(c, 64<<20))
	if err != nil {
		return "", fmt.Errorf("stats socket %q: %w", cmd, err)
	}
	return string(out), nil
}

// ServerStatus returns the status column of "show stat" for server in
// backend, such as "UP", "DOWN", "MAINT", "DRAIN", "no check", "UP 1/3" or
// "DOWN 1/2". It fails the test if there is no such server.
func (h *HAProxy) ServerStatus(t testing.TB, backend, server string) string {
	t.Helper()
	status, err := serverStatus(h.Command(t, "show stat"), backend, server)
	if err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	return status
}

// serverStatus finds the status column of backend/server in "show stat"
// CSV output, whose header line is "# pxname,svname,...".
func serverStatus(stat, backend, server string) (string, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(stat, "# ")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return "", fmt.Errorf("show stat: %w (reply %q)", err, stat)
	}
	col := -1
	for i, name := range header {
		if name == "status" {
			col = i
		}
	}
	if col < 2 || header[0] != "pxname" || header[1] != "svname" {
		return "", fmt.Errorf("show stat: unexpected header %q", header)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("show stat: %w", err)
		}
		if len(rec) > col && rec[0] == backend && rec[1] == server {
			return rec[col], nil
		}
	}
	return "", fmt.Errorf("show stat: no server %s/%s", backend, server)
}

// Stop stops haproxy at once (SIGTERM, a hard stop that closes every
// session). It does nothing if haproxy is not running.
func (h *HAProxy) Stop(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.stopLocked(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
}

func (h *HAProxy) stopLocked() error {
	if h.proc == nil {
		return nil
	}
	_, err := h.proc.stop(syscall.SIGTERM)
	return err
}

func (h *HAProxy) cleanup(t testing.TB) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.stopLocked(); err != nil {
		t.Errorf("haproxy cleanup: %v", err)
	}
	_ = os.Remove(h.StatsSocket)
}
