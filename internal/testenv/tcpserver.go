package testenv

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TCPServer is a loopback TCP backend that runs a handler on each
// connection: for the small backends of data-plane tests and benchmarks
// (Greeter is the one that names itself and echoes).
type TCPServer struct {
	Addr string // 127.0.0.1:port
	Port int

	ln net.Listener
	wg sync.WaitGroup
}

// StartTCPServer serves handle on a loopback port, a goroutine per
// connection, which it closes when handle returns; it stops at the test's
// end (closing the listener and waiting for the handlers).
func StartTCPServer(tb testing.TB, handle func(net.Conn)) *TCPServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &TCPServer{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	tb.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return s
}

// Echo echoes until the client closes.
func Echo(c net.Conn) { io.Copy(c, c) }

// OneByte answers the connection's first byte with that byte, then closes
// it, as bench/lbload's backend does for a short connection.
func OneByte(c net.Conn) {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err == nil {
		c.Write(b[:])
	}
}

// AnswerName reads one line and answers with name and a newline (within
// 5 s), then closes.
func AnswerName(name string) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			io.WriteString(c, name+"\n")
		}
	}
}
