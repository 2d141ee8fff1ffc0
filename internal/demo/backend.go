package demo

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Mode is how a simulated backend behaves.
type Mode string

// The modes a simulated backend can be switched between.
const (
	Healthy  Mode = "healthy"  // answers "PING" with "PONG <name>" at once
	Hung     Mode = "hung"     // accepts TCP connections and never answers
	Refusing Mode = "refusing" // closes its listeners: connects are refused (killed)
	Slow     Mode = "slow"     // answers after SlowDelay
)

// ParseMode returns the mode called s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Healthy, Hung, Refusing, Slow:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (healthy, hung, refusing or slow)", s)
}

// SlowDelay is how long a slow backend takes to answer: more than the
// deep check's timeout, less than a client's patience.
const SlowDelay = 700 * time.Millisecond

// Port roles: each backend listens on one port per pool, so that it can
// tell which pool sent a session, and one for its agent's deep check.
const (
	portTCPPool = iota
	portHTTPPool
	portCheck
	numPorts
)

// simBackend is a loopback server speaking a line protocol: "PING\n" is
// answered "PONG <name>\n".
type simBackend struct {
	name  string
	ports [numPorts]int

	mu      sync.Mutex
	mode    Mode
	lns     [numPorts]net.Listener
	conns   map[net.Conn]struct{}
	wake    chan struct{} // closed and replaced when the mode changes
	stopped bool
	wg      sync.WaitGroup
}

func newSimBackend(name string) (*simBackend, error) {
	b := &simBackend{name: name, mode: Healthy, conns: map[net.Conn]struct{}{}, wake: make(chan struct{})}
	for i := range numPorts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Close()
			return nil, err
		}
		b.lns[i] = ln
		b.ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for i := range numPorts {
		b.serve(i, b.lns[i])
	}
	return b, nil
}

func (b *simBackend) serve(role int, ln net.Listener) {
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.stopped {
				b.mu.Unlock()
				c.Close()
				return
			}
			b.conns[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Go(func() { b.handle(role, c) })
		}
	})
}

func (b *simBackend) handle(role int, c net.Conn) {
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		for {
			b.mu.Lock()
			mode, wake := b.mode, b.wake
			b.mu.Unlock()
			if mode == Hung {
				// Hold the connection, say nothing, until the mode changes
				// or the peer gives up.
				if !waitOrClosed(c, wake) {
					return
				}
				continue
			}
			if mode == Slow {
				time.Sleep(SlowDelay)
			}
			break
		}
		if strings.TrimSpace(line) != "PING" {
			fmt.Fprintf(c, "ERR unknown command\n")
			continue
		}
		if _, err := fmt.Fprintf(c, "PONG %s\n", b.name); err != nil {
			return
		}
	}
}

// waitOrClosed waits until wake closes (true) or c's peer closes (false).
func waitOrClosed(c net.Conn, wake <-chan struct{}) bool {
	closed := make(chan struct{})
	go func() {
		var one [1]byte
		c.SetReadDeadline(time.Time{})
		c.Read(one[:]) // returns when the peer closes or sends more
		close(closed)
	}()
	select {
	case <-wake:
		c.SetReadDeadline(time.Now()) // unblock the reader
		<-closed
		c.SetReadDeadline(time.Time{})
		return true
	case <-closed:
		return false
	}
}

func (b *simBackend) Name() string          { return b.name }
func (b *simBackend) PoolPort(role int) int { return b.ports[role] }
func (b *simBackend) CheckYAML(interval, timeout time.Duration) string {
	return fmt.Sprintf("    type: tcp\n    address: 127.0.0.1:%d\n    send: \"PING\\n\"\n    expect: PONG\n    interval: %s\n    timeout: %s\n    fall: 1\n",
		b.ports[portCheck], interval, timeout)
}

// Mode returns the backend's mode.
func (b *simBackend) Mode() Mode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

// SetMode switches the backend. Refusing closes its listeners and drops
// its connections (a killed server); leaving it listens again on the same
// ports (a restart).
func (b *simBackend) SetMode(m Mode) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || m == b.mode {
		return nil
	}
	if m == Refusing {
		for i, ln := range b.lns {
			if ln != nil {
				ln.Close()
				b.lns[i] = nil
			}
		}
		for c := range b.conns {
			c.Close()
		}
	} else if b.mode == Refusing {
		for i := range numPorts {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", b.ports[i]))
			if err != nil {
				return fmt.Errorf("%s: listen again: %w", b.name, err)
			}
			b.lns[i] = ln
			b.serve(i, ln)
		}
	}
	b.mode = m
	close(b.wake)
	b.wake = make(chan struct{})
	return nil
}

func (b *simBackend) Close() {
	b.mu.Lock()
	b.stopped = true
	for _, ln := range b.lns {
		if ln != nil {
			ln.Close()
		}
	}
	for c := range b.conns {
		c.Close()
	}
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
	b.wg.Wait()
}
