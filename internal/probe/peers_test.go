package probe

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// serveTCP listens on a free loopback port and runs handle for each
// connection in its own goroutine until the test ends. handle must not
// call t.Fatal. The listener and every open connection are closed in
// t.Cleanup, so a handle that blocks on the connection returns then.
func serveTCP(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// hang accepts and says nothing until the test ends.
func hang(c net.Conn) {
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}

// refusedAddr returns a loopback address on which nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// mustProbe builds a prober of the given kind or fails the test.
func mustProbe(t *testing.T, kind string, s Spec) Prober {
	t.Helper()
	p, err := New(kind, s)
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	return p
}

// runBounded runs p once and fails the test if the probe took longer than
// its timeout plus a generous margin: a probe must never hang.
func runBounded(t *testing.T, p Prober, timeout time.Duration) Result {
	t.Helper()
	r := p.Probe(context.Background())
	if limit := timeout + 2*time.Second; r.Latency > limit {
		t.Errorf("probe took %s, more than its timeout %s plus a 2s margin", r.Latency, timeout)
	}
	return r
}
