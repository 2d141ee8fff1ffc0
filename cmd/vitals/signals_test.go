package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// greeter is a loopback backend that says its name, then echoes.
func greeter(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.WriteString(c, name+"\n")
				io.Copy(c, c)
			})
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// session is a client connection through the load balancer.
type session struct {
	c  net.Conn
	rd *bufio.Reader
}

func dialSession(addr string) (*session, string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, "", err
	}
	s := &session{c: c, rd: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	name, err := s.rd.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return s, strings.TrimSpace(name), nil
}

// echo sends a line and expects it back.
func (s *session) echo(line string) error {
	s.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(s.c, line+"\n"); err != nil {
		return err
	}
	got, err := s.rd.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != line {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// TestLBBinarySignals runs the vitals binary as an operator would:
// SIGHUP applies an added member without dropping an established
// session, a bad file on SIGHUP is refused while the old configuration
// keeps serving, and SIGTERM closes the listener at once, lets the
// session finish within shutdown_grace, then exits 0.
func TestLBBinarySignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir, err := os.MkdirTemp("", "vlbsig")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "vitals")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	b1, b2 := greeter(t, "b1"), greeter(t, "b2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cfgPath := filepath.Join(dir, "lb.yaml")
	write := func(members string) {
		t.Helper()
		y := fmt.Sprintf(`admin:
  socket: %s/lb.sock
shutdown_grace: 3s
loadbalancer:
  name: sig
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %s, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      members:
%s`, dir, port, members)
		if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("        - {name: b1, address: 127.0.0.1, protocol_port: %d}\n", b1))

	var logs testenv.SyncBuffer
	cmd := exec.Command(bin, "lb", "--config", cfgPath, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitUntil := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
		}
	}
	var long *session
	waitUntil("a first session", 10*time.Second, func() bool {
		s, name, err := dialSession(addr)
		if err != nil {
			return false
		}
		if name != "b1" {
			t.Fatalf("first session went to %q", name)
		}
		long = s
		return true
	})
	defer long.c.Close()

	// SIGHUP with b2 added: new sessions reach b2, the old one lives on.
	write(fmt.Sprintf("        - {name: b1, address: 127.0.0.1, protocol_port: %d}\n        - {name: b2, address: 127.0.0.1, protocol_port: %d}\n", b1, b2))
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil("a session on b2 after SIGHUP", 10*time.Second, func() bool {
		s, name, err := dialSession(addr)
		if err != nil {
			t.Fatalf("session during reload: %v", err)
		}
		s.c.Close()
		return name == "b2"
	})
	if err := long.echo("after reload"); err != nil {
		t.Fatalf("the established session broke on reload: %v", err)
	}

	// A broken file on SIGHUP: refused, logged, the running one stays.
	if err := os.WriteFile(cfgPath, []byte("loadbalancer: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil("the refused reload in the log", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "reload failed; the running configuration stays")
	})
	seen := map[string]bool{}
	for range 4 {
		s, name, err := dialSession(addr)
		if err != nil {
			t.Fatalf("session after a refused reload: %v", err)
		}
		s.c.Close()
		seen[name] = true
	}
	if !seen["b1"] || !seen["b2"] {
		t.Errorf("after a refused reload sessions went to %v; want both members still", seen)
	}

	// SIGTERM: the listener closes at once; the session may finish.
	cmd.Process.Signal(syscall.SIGTERM)
	termed := time.Now()
	waitUntil("the listener to close", 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if err := long.echo("during grace"); err != nil {
		t.Fatalf("the established session broke at SIGTERM, before shutdown_grace: %v", err)
	}
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("vitals lb exited %s after SIGTERM, before shutdown_grace (3s) with a session open: %v", time.Since(termed), err)
	case <-time.After(time.Second):
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("vitals lb exited with %v; want 0; log:\n%s", err, logs.String())
		}
		t.Logf("exited %s after SIGTERM", time.Since(termed).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("vitals lb did not exit after shutdown_grace")
	}
	long.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := long.rd.ReadByte(); err == nil {
		t.Error("the session is still open after vitals lb exited")
	}
}
