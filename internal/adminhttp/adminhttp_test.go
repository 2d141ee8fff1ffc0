package adminhttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffDoublesCapsAndResets(t *testing.T) {
	var b Backoff
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Fatalf("failure %d: wait %v, want %v", i+1, got, w)
		}
	}
	for range 20 {
		b.Next()
	}
	if got := b.Next(); got != time.Second {
		t.Fatalf("after many failures: wait %v, want the 1s cap", got)
	}
	b.Reset()
	if got := b.Next(); got != 5*time.Millisecond {
		t.Fatalf("after Reset: wait %v, want 5ms", got)
	}
}

func TestBackoffWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b Backoff
		for range 12 {
			b.Next()
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		if b.Wait(ctx) {
			t.Fatal("Wait reported a live context after cancel")
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Fatalf("Wait returned after %v, want at the cancel (10ms)", d)
		}
	})
}

func TestIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	_, err = ln.Accept()
	if !IsClosed(err) {
		t.Fatalf("IsClosed(%v) = false after Close", err)
	}
	if IsClosed(fmt.Errorf("accept: %w", errors.New("too many open files"))) {
		t.Fatal("IsClosed is true for another error")
	}
}

func TestRaiseNoFile(t *testing.T) {
	n, err := RaiseNoFile()
	if err != nil || n < 64 {
		t.Fatalf("RaiseNoFile() = %d, %v; want a real limit", n, err)
	}
}

func TestCaps(t *testing.T) {
	for _, c := range []struct{ limit, want int }{{64, 8}, {256, 32}, {1024, 128}, {4096, 256}, {1 << 20, 256}} {
		if got := ConnCap(c.limit); got != c.want {
			t.Errorf("ConnCap(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
	// 256 descriptors, 100 reserved, 4 listeners: 39 each less the margin.
	if got := ShareCap(256, 100, 4); got != 32 {
		t.Errorf("ShareCap(256, 100, 4) = %d, want 32 (ConnCap bounds it)", got)
	}
	if got := ShareCap(256, 180, 4); got != 15 {
		t.Errorf("ShareCap(256, 180, 4) = %d, want 15", got)
	}
	if got := ShareCap(100, 200, 4); got != 8 {
		t.Errorf("ShareCap(100, 200, 4) = %d, want the floor 8", got)
	}
}

func TestBudgetAcquireReleaseResize(t *testing.T) {
	b := NewBudget(100, 60, 2, nil)
	if b.Max() != 20 || b.Reserve() != 60 || b.Limit() != 100 {
		t.Fatalf("budget max %d reserve %d limit %d; want 20, 60, 100", b.Max(), b.Reserve(), b.Limit())
	}
	for i := range 20 {
		if !b.Acquire() {
			t.Fatalf("session %d refused under the budget", i+1)
		}
	}
	if b.Acquire() {
		t.Fatal("session 21 accepted over a budget of 20")
	}
	if b.Used() != 20 {
		t.Fatalf("used %d after a refusal, want 20", b.Used())
	}
	b.Release()
	if !b.Acquire() {
		t.Fatal("a released session's descriptors were not given back")
	}
	b.Resize(90)
	if b.Max() != 5 || b.Acquire() {
		t.Fatalf("after Resize(90): max %d, and a session was accepted with 20 held", b.Max())
	}
	b.Resize(200)
	if b.Max() != 0 {
		t.Fatalf("a reserve over the limit leaves %d sessions, want 0", b.Max())
	}
	var nb *Budget
	if !nb.Acquire() {
		t.Fatal("a nil budget refused")
	}
	nb.Release()
	nb.Refused("x")
}

// syncBuf is a log sink for one test.
type syncBuf struct {
	mu sync.Mutex
	sb strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.String()
}

func TestBudgetRefusedLogsOncePerSecondWithCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncBuf
		b := NewBudget(100, 100, 2, slog.New(slog.NewTextHandler(&out, nil)))
		b.Refused("l") // logged at once: refused=1
		for range 50 {
			b.Refused("l") // within the second: counted, flushed at its end
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(700 * time.Millisecond) // t=1.2s: the flush has run
		b.Refused("l")                     // within the second after the flush
		b.Refused("l")
		time.Sleep(2 * time.Second) // quiet: one more flush, then nothing
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := []string{"refused=1 ", "refused=50 ", "refused=2 "}
		if len(lines) != len(want) {
			t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), out.String())
		}
		for i, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Fatalf("line %d lacks %q (the count since the line before):\n%s", i+1, w, out.String())
			}
		}
		if !strings.Contains(lines[0], "descriptor budget reached") || !strings.Contains(lines[0], "nofile=100") {
			t.Fatalf("log line lacks its message or limit: %s", lines[0])
		}
	})
}

func TestLimitClosesOverCapAndFreesOnClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(inner, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", inner.Addr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	s1, s2 := <-accepted, <-accepted
	// Over the cap: reset while dialing, or closed at once after.
	if over, err := net.DialTimeout("tcp", inner.Addr().String(), 2*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		if err != nil {
			t.Fatal(err)
		}
		defer over.Close()
		over.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := over.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("a connection over the cap was not closed at once: %v", err)
		}
	}
	if l.Rejected() != 1 || l.Active() != 2 {
		t.Fatalf("rejected %d active %d, want 1 and 2", l.Rejected(), l.Active())
	}
	s1.Close()
	s1.Close() // a second Close does not free a second slot
	dial()
	s3 := <-accepted
	if l.Active() != 2 {
		t.Fatalf("active %d after close and a new accept, want 2", l.Active())
	}
	s2.Close()
	s3.Close()
	if l.Active() != 0 {
		t.Fatalf("active %d after closing all, want 0", l.Active())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestServerDropsIdleAndSlowClients: a connection that sends nothing, or
// stalls in its headers, or idles after a request, is closed by the
// server's timeouts; oversized headers are refused.
func TestServerDropsIdleAndSlowClients(t *testing.T) {
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		Options{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 1024})
	if srv.WriteTimeout != DefaultWriteTimeout || srv.MaxHeaderBytes != 1024 {
		t.Fatalf("write timeout %v, header cap %d", srv.WriteTimeout, srv.MaxHeaderBytes)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(Limit(ln, 16))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	closedWithin := func(name string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if isTimeout(err) {
			t.Errorf("%s: still open after 5s; the server's timeouts did not close it", name)
		}
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin("silent", dial())
	slow := dial()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n")
	closedWithin("stalled headers", slow)

	idle := dial()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request on a fresh connection: %v", err)
	}
	closedWithin("idle keep-alive", idle)

	big := dial()
	fmt.Fprintf(big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 8<<10))
	big.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(big), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %v %v, want 431", resp, err)
	}
}

// TestStreamOutlivesTimeouts: a handler that calls Stream keeps streaming
// past the server's read and write timeouts.
func TestStreamOutlivesTimeouts(t *testing.T) {
	const ticks = 8
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Stream(w)
		for i := range ticks {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			fmt.Fprintf(w, "tick %d\n", i)
			w.(http.Flusher).Flush()
		}
	}), Options{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if n := strings.Count(string(b), "tick"); n != ticks {
		t.Fatalf("stream cut after %d of %d ticks (800ms against 200ms timeouts): %q", n, ticks, b)
	}
}
