package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/lb"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/testenv"
)

// echoServer is a real backend: it echoes what it reads.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoes reports whether a connection to addr carries a line there and
// back.
func echoes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return false
	}
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping\n"
}

// eventually polls cond every 50ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10s", what)
}

// TestRunWithRealServer drives lb's real data plane (lb.Server.Apply and
// the monitor engine behind it) from the store: the configuration
// imported into the store serves client connections to a real backend;
// a change to a port that cannot bind is an ERROR that leaves the old
// listener serving; fixing it moves the listener.
func TestRunWithRealServer(t *testing.T) {
	backend := echoServer(t)
	port, port3 := testenv.FreePort(t), testenv.FreePort(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0") // the port that cannot bind
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	file := func(listenPort int) string {
		return fmt.Sprintf(`
loadbalancer:
  name: real
  vip_address: 127.0.0.1
  listeners:
    - {name: front, protocol: TCP, protocol_port: %d, default_pool: echo}
  pools:
    - name: echo
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 200ms, timeout: 100ms, max_retries: 1}
      members:
        - {name: e1, address: 127.0.0.1, protocol_port: %d}
`, listenPort, backend)
	}

	log := slog.New(slog.DiscardHandler)
	eng := monitor.New(monitor.Options{Logger: log})
	srv := lb.NewServer(eng, log)
	ctx, cancel := context.WithCancel(t.Context())
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	defer func() {
		srv.Shutdown(0)
		cancel()
		<-engDone
	}()

	base, err := lb.Parse("base.yaml", []byte(file(port)))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: openMemory(t), rounds: make(chan Round, 100), done: make(chan error, 1)}
	h.ctl = &Controller{Store: h.s, Base: base, Apply: srv.Apply, Log: log, Reconciled: func(r Round) { h.rounds <- r }}
	runCtx, stop := context.WithCancel(t.Context())
	h.cancel = stop
	go func() { h.done <- h.ctl.Run(runCtx) }()
	t.Cleanup(h.stop)

	h.expect(h.next(), 0, true, false, 0)
	tr := h.importYAML(file(port))
	h.expect(h.next(), 1, true, false, 5)
	h.expect(h.next(), 2, false, false, 0)
	front := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, "a connection through the store's listener reaches the backend", func() bool { return echoes(front) })

	h.importYAML(file(busyPort))
	r := h.next()
	h.expect(r, 3, true, true, 1)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "address already in use") {
		t.Errorf("apply error = %v, want the bind failure", r.Err)
	}
	h.expect(h.next(), 4, false, false, 0)
	if s := h.statuses()[tr.Listeners[0].ID]; s != octavia.ProvisioningError {
		t.Errorf("listener is %s, want ERROR", s)
	}
	if !echoes(front) {
		t.Error("the old listener stopped serving after a failed apply")
	}

	h.importYAML(file(port3))
	h.expect(h.next(), 5, true, false, 1)
	h.expect(h.next(), 6, false, false, 0)
	moved := net.JoinHostPort("127.0.0.1", strconv.Itoa(port3))
	eventually(t, "the moved listener serves", func() bool { return echoes(moved) })
	eventually(t, "the old port is closed", func() bool {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if s := h.statuses()[tr.Listeners[0].ID]; s != octavia.ProvisioningActive {
		t.Errorf("listener is %s, want ACTIVE", s)
	}
}
