package testenv

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on connection floods.
const (
	floodDial     = 2 * time.Second // one flood connection attempt
	maxFloodConns = 10000           // a flood larger than this is a mistake in the test
)

// Flood is a set of connections held open against one address, as an
// attacker that connects and then sends nothing.
type Flood struct {
	conns []net.Conn
	// Reset counts dials that the server reset at once: it accepted and
	// closed the connection (with SO_LINGER 0) before the dial returned,
	// which is a refusal too.
	Reset   int
	Failed  int   // dials that failed otherwise
	DialErr error // the first of those errors
}

// StartFlood opens n connections to addr over network ("tcp" or "unix")
// and holds them, sending nothing, until Close or the end of the test.
func StartFlood(t testing.TB, network, addr string, n int) *Flood {
	t.Helper()
	if n > maxFloodConns {
		t.Fatalf("flood of %d connections: at most %d", n, maxFloodConns)
	}
	f := &Flood{}
	for range n {
		c, err := net.DialTimeout(network, addr, floodDial)
		if errors.Is(err, syscall.ECONNRESET) {
			f.Reset++
			continue
		}
		if err != nil {
			if f.Failed == 0 {
				f.DialErr = err
			}
			f.Failed++
			continue
		}
		f.conns = append(f.conns, c)
	}
	t.Cleanup(f.Close)
	return f
}

// Classify waits up to wait for each connection to be closed by the
// server or to bring data. It returns how many the server refused (closed
// without a byte, or reset while dialing) and how many it kept (data, or
// still open at the end).
func (f *Flood) Classify(wait time.Duration) (refused, kept int) {
	refused = f.Reset
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(wait)
	for _, c := range f.conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			n, err := c.Read(make([]byte, 1))
			var ne net.Error
			closed := n == 0 && err != nil && !(errors.As(err, &ne) && ne.Timeout())
			mu.Lock()
			defer mu.Unlock()
			if closed {
				refused++
			} else {
				kept++
			}
		})
	}
	wg.Wait()
	return refused, kept
}

// Len is the number of connections that were opened, or reset at once
// while dialing.
func (f *Flood) Len() int { return len(f.conns) + f.Reset }

// Close closes every connection of the flood.
func (f *Flood) Close() {
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}
