package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Greeter is a loopback TCP backend that writes its name and a newline to
// each connection, then echoes: a client learns which backend a load
// balancer chose from the first line.
type Greeter struct {
	Name string
	Addr string // 127.0.0.1:port
	Port int

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	once  sync.Once
}

// StartGreeter starts a Greeter; it stops at the test's end, or at Stop.
func StartGreeter(t testing.TB, name string) *Greeter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ServeGreeter(t, name, ln)
}

// ServeGreeter runs a Greeter on ln (for example one opened in a network
// namespace with Netns.Listen); it stops at the test's end, or at Stop.
func ServeGreeter(t testing.TB, name string, ln net.Listener) *Greeter {
	t.Helper()
	g := &Greeter{Name: name, Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(g.Stop)
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns[c] = true
			g.mu.Unlock()
			g.wg.Go(func() {
				defer c.Close()
				io.WriteString(c, name+"\n")
				io.Copy(c, c)
			})
		}
	})
	return g
}

// Stop closes the listener and every connection, as a backend that dies
// does: connects to its port are refused from now on.
func (g *Greeter) Stop() {
	g.once.Do(func() {
		g.ln.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
}
