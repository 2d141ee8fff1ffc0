package probe

import (
	"bufio"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// replyTo answers the first line a client sends with reply, then keeps the
// connection open (or closes it, when close is set).
func replyTo(reply string, close bool) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return
		}
		c.Write([]byte(reply))
		if close {
			c.Close()
			return
		}
		hang(c)
	}
}

// trickle writes msg one byte every 50ms, then keeps the connection open.
func trickle(msg string) func(net.Conn) {
	return func(c net.Conn) {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; msg == "" || i < len(msg); i++ {
			<-tick.C
			b := byte('.')
			if msg != "" {
				b = msg[i]
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
		hang(c)
	}
}

func TestTCP(t *testing.T) {
	const timeout = 300 * time.Millisecond
	big := strings.Repeat("a", 70<<10)
	tests := []struct {
		name   string
		handle func(net.Conn) // nil: nothing listens
		spec   Spec
		status Status
		reason string // see checkReason
	}{
		{"connect", hang, Spec{}, Pass, "connected"},
		{"refused", nil, Spec{}, Fail, "connect 127.0.0.1:*"},
		{"send only", hang, Spec{Send: "PING\r\n"}, Pass, "connected, sent 6 bytes"},
		{"banner", func(c net.Conn) { c.Write([]byte("+OK ready\r\n")); hang(c) }, Spec{Expect: "+OK"}, Pass, `reply contains "+OK"`},
		{"send expect", replyTo("+PONG\r\n", false), Spec{Send: "PING\r\n", Expect: "PONG"}, Pass, `reply contains "PONG"`},
		{"send regex", replyTo("+PONG\r\n", false), Spec{Send: "PING\r\n", ExpectRegex: `^\+PONG\r?\n$`}, Pass, `reply matches /^\+PONG\r?\n$/`},
		{"reply in pieces", trickle("+PONG\r\n"), Spec{Send: "PING\r\n", Expect: "+PONG\r\n", Timeout: 5 * time.Second}, Pass, `reply contains "+PONG\r\n"`},
		{"mismatch then close", replyTo("-ERR unknown command\r\n", true), Spec{Send: "PING\r\n", Expect: "+PONG"}, Fail, `reply "-ERR unknown command\r\n" does not contain "+PONG"`},
		{"regex mismatch then close", replyTo("-ERR\r\n", true), Spec{Send: "PING\r\n", ExpectRegex: `^\+PONG`}, Fail, `reply "-ERR\r\n" does not match /^\+PONG/`},
		{"mismatch then hang", replyTo("-ERR\r\n", false), Spec{Send: "PING\r\n", Expect: "+PONG"}, Fail, "timeout after 300ms during read reply"},
		{"hang", hang, Spec{Send: "PING\r\n", Expect: "+PONG"}, Fail, "timeout after 300ms during read reply"},
		{"trickle never matching", trickle(""), Spec{Send: "PING\r\n", Expect: "+PONG"}, Fail, "timeout after 300ms during read reply"},
		{"closed after accept", func(c net.Conn) { c.Close() }, Spec{Expect: "+OK"}, Fail, "read reply: connection closed by peer"},
		{"reset after accept", func(c net.Conn) {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}, Spec{Expect: "+OK"}, Fail, "*: connection reset by peer"}, // the RST may beat the dial's own check
		{"64 KiB without a match", func(c net.Conn) { c.Write([]byte(big)); hang(c) }, Spec{Expect: "b"}, Fail, `reply "` + strings.Repeat("a", 60) + `"… does not contain "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.spec
			if s.Timeout == 0 {
				s.Timeout = timeout
			}
			if tt.handle != nil {
				s.Address = serveTCP(t, tt.handle)
			} else {
				s.Address = refusedAddr(t)
			}
			r := runBounded(t, mustProbe(t, "tcp", s), s.Timeout)
			if r.Status != tt.status {
				t.Errorf("status %s, want %s (reason %q)", r.Status, tt.status, r.Reason)
			}
			checkReason(t, r.Reason, tt.reason)
			if tt.name == "refused" && !strings.HasSuffix(r.Reason, ": connection refused") {
				t.Errorf("reason %q does not end in %q", r.Reason, ": connection refused")
			}
		})
	}
}

// checkReason compares a reason with want: exactly, or by prefix when want
// ends in "*", or by suffix when it starts with "*".
func checkReason(t *testing.T, got, want string) {
	t.Helper()
	if alts := strings.Split(want, " || "); len(alts) > 1 {
		if !slices.Contains(alts, got) {
			t.Errorf("reason %q, want one of %q", got, alts)
		}
		return
	}
	if sfx, ok := strings.CutPrefix(want, "*"); ok {
		if !strings.HasSuffix(got, sfx) {
			t.Errorf("reason %q, want suffix %q", got, sfx)
		}
		return
	}
	if p, ok := strings.CutSuffix(want, "*"); ok {
		if !strings.HasPrefix(got, p) {
			t.Errorf("reason %q, want prefix %q", got, p)
		}
		return
	}
	if got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

func TestTCPCanceled(t *testing.T) {
	accepted := make(chan struct{}, 1)
	addr := serveTCP(t, func(c net.Conn) {
		accepted <- struct{}{}
		hang(c)
	})
	p := mustProbe(t, "tcp", Spec{Address: addr, Timeout: time.Minute, Expect: "x"})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-accepted
		cancel()
	}()
	r := p.Probe(ctx)
	if r.Status != Fail || r.Reason != "canceled" {
		t.Errorf("got %s %q, want fail \"canceled\"", r.Status, r.Reason)
	}
	if r.Latency > 10*time.Second {
		t.Errorf("probe took %s after cancel", r.Latency)
	}
}

func TestTCPReplyWantSpec(t *testing.T) {
	for _, kind := range []string{"tcp", "udp-connect"} {
		for _, tt := range []struct {
			name string
			spec Spec
		}{
			{"both", Spec{Expect: "a", ExpectRegex: "a"}},
			{"bad regex", Spec{ExpectRegex: "(a"}},
		} {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				s := tt.spec
				s.Address, s.Timeout = "127.0.0.1:9", time.Second
				_, err := New(kind, s)
				fe, ok := errors.AsType[*FieldError](err)
				if !ok || fe.Field != "expect_regex" {
					t.Errorf("New: %v, want a FieldError on expect_regex", err)
				}
			})
		}
	}
}

func TestTCPReadStreamReply(t *testing.T) {
	re, err := newReplyWant(Spec{ExpectRegex: `PONG\r\n`})
	if err != nil {
		t.Fatal(err)
	}
	sub := replyWant{substr: "PONG\r\n"}
	tests := []struct {
		name    string
		want    replyWant
		in      string
		matched bool
		reply   string
	}{
		{"regex one byte at a time", re, "+PONG\r\nextra", true, "+PONG\r\n"},
		{"substring one byte at a time", sub, "+PONG\r\nextra", true, "+PONG\r\n"},
		{"eof before match", re, "+PON", false, "+PON"},
		{"limit", sub, strings.Repeat("x", maxReply+10), false, strings.Repeat("x", maxReply)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, matched, _ := readStreamReply(iotest.OneByteReader(strings.NewReader(tt.in)), tt.want)
			if matched != tt.matched || string(reply) != tt.reply {
				t.Errorf("got %v %.20q (len %d), want %v %.20q (len %d)", matched, reply, len(reply), tt.matched, tt.reply, len(tt.reply))
			}
		})
	}
}

func TestTCPClipQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"a\r\n", `"a\r\n"`},
		{strings.Repeat("x", 60), `"` + strings.Repeat("x", 60) + `"`},
		{strings.Repeat("x", 61), `"` + strings.Repeat("x", 60) + `"…`},
		{strings.Repeat("x", 59) + "é!", `"` + strings.Repeat("x", 59) + `"…`}, // no half rune
		{"\x00\xff", `"\x00\xff"`},
	}
	for _, tt := range tests {
		if got := clipQuote([]byte(tt.in)); got != tt.want {
			t.Errorf("clipQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
