package testenv

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestTCPServerHandlers runs each small backend over a real loopback
// connection.
func TestTCPServerHandlers(t *testing.T) {
	dial := func(t *testing.T, s *TCPServer) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	t.Run("echo", func(t *testing.T) {
		c := dial(t, StartTCPServer(t, Echo))
		for _, msg := range []string{"a", "hello", "again"} {
			io.WriteString(c, msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
				t.Fatalf("echo of %q: %q, %v", msg, got, err)
			}
		}
	})
	t.Run("one byte", func(t *testing.T) {
		c := dial(t, StartTCPServer(t, OneByte))
		io.WriteString(c, "s")
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "s" {
			t.Fatalf("one byte: %q, %v; want \"s\" then EOF", got, err)
		}
	})
	t.Run("answer name", func(t *testing.T) {
		s := StartTCPServer(t, AnswerName("b2"))
		c := dial(t, s)
		io.WriteString(c, "who\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "b2\n" {
			t.Fatalf("answer: %q, %v; want \"b2\\n\"", line, err)
		}
		if s.Port == 0 || s.Addr == "" {
			t.Errorf("server address %q port %d", s.Addr, s.Port)
		}
	})
}
