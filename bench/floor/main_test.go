package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestFloorProxies checks that both floor proxies are correct proxies, so
// that the benchmarks compare vitals with a baseline that does the same
// work: concurrent connections each send 16 MiB (more than the socket
// buffers hold, so writes block and resume) to an echo backend, half-close,
// and must read back exactly what they sent, then EOF.
func TestFloorProxies(t *testing.T) {
	bin := testenv.BuildCommand(t, "vitals/bench/floor")
	backend := testenv.StartTCPServer(t, testenv.Echo)
	for _, mode := range [][]string{{"-mode", "loop", "-loops", "2"}, {"-mode", "uring", "-loops", "2"}, {"-mode", "goroutine"}} {
		t.Run(mode[1], func(t *testing.T) {
			port := testenv.FreePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			p := testenv.StartVitals(t, "floor "+mode[1], bin, t.TempDir(), append([]string{"-listen", addr, "-backend", backend.Addr}, mode...)...)
			if err := p.WaitReady(func() error {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					if err := echoThrough(addr, 16<<20, uint64(i)); err != nil {
						t.Errorf("connection %d: %v", i, err)
					}
				})
			}
			wg.Wait()
		})
	}
}

// echoThrough sends n random bytes through addr, half-closes, and checks
// that the same bytes and then EOF come back.
func echoThrough(addr string, n int, seed uint64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second)) // a bound, not a measure
	sent := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range sent {
		sent[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(sent)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	// Read only after a pause: the proxy's writes to this client then
	// block (16 MiB is more than its send buffer and ours hold), and its
	// copy must keep what it could not write and resume.
	time.Sleep(500 * time.Millisecond)
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, sent) {
		return fmt.Errorf("got %d bytes back, not the %d sent", len(got), len(sent))
	}
	return nil
}

// TestFloorTakesLoopbackOnly: floor is a benchmark and refuses any other
// address.
func TestFloorTakesLoopbackOnly(t *testing.T) {
	for _, a := range []string{"127.0.0.1:80", "127.1.2.3:9"} {
		if _, err := loopback(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"10.0.0.1:80", "[::1]:80", "0.0.0.0:80", "localhost:80", "127.0.0.1"} {
		if _, err := loopback(a); err == nil {
			t.Errorf("%s was taken", a)
		}
	}
}
