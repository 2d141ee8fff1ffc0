package probe

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveUDP listens on a free loopback UDP port and calls handle for each
// datagram until the test ends; a nil handle reads nothing, leaving the
// port open and silent. handle must not call t.Fatal.
func serveUDP(t *testing.T, handle func(pc net.PacketConn, b []byte, from net.Addr)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	if handle != nil {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				handle(pc, buf[:n], from)
			}
		})
	}
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

// closedUDPAddr returns a loopback UDP address on which nothing listens, so
// the kernel answers with ICMP port unreachable.
func closedUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// udpReply answers every datagram with reply.
func udpReply(reply string) func(net.PacketConn, []byte, net.Addr) {
	return func(pc net.PacketConn, b []byte, from net.Addr) {
		pc.WriteTo([]byte(reply), from)
	}
}

// udpCount answers every datagram with "got N bytes".
func udpCount(pc net.PacketConn, b []byte, from net.Addr) {
	pc.WriteTo(fmt.Appendf(nil, "got %d bytes", len(b)), from)
}

func TestUDP(t *testing.T) {
	const timeout = 300 * time.Millisecond
	silent := func(t *testing.T) string { return serveUDP(t, nil) }
	serve := func(f func(net.PacketConn, []byte, net.Addr)) func(t *testing.T) string {
		return func(t *testing.T) string { return serveUDP(t, f) }
	}
	tests := []struct {
		name   string
		addr   func(t *testing.T) string
		spec   Spec
		status Status
		reason string // see checkReason; "%s" is the address
	}{
		{"closed port", closedUDPAddr, Spec{}, Fail, "udp %s: port unreachable (ICMP)"},
		{"closed port with send", closedUDPAddr, Spec{Send: "hello"}, Fail, "udp %s: port unreachable (ICMP)"},
		{"closed port with expect", closedUDPAddr, Spec{Expect: "pong"}, Fail, "udp %s: port unreachable (ICMP)"},
		{"open silent port", silent, Spec{}, Pass, "no ICMP port unreachable within 300ms"},
		{"reply without expect", serve(udpCount), Spec{Send: "ping"}, Pass, "reply received (11 bytes)"},
		{"empty datagram", serve(udpCount), Spec{Expect: "got 0 bytes"}, Pass, `reply contains "got 0 bytes"`},
		{"expect", serve(udpReply("pong 42")), Spec{Send: "ping", Expect: "pong"}, Pass, `reply contains "pong"`},
		{"expect regex", serve(udpReply("pong 42")), Spec{Send: "ping", ExpectRegex: `^pong \d+$`}, Pass, `reply matches /^pong \d+$/`},
		{"expect mismatch", serve(udpReply("nope")), Spec{Send: "ping", Expect: "pong"}, Fail, `reply "nope" does not contain "pong"`},
		{"regex mismatch", serve(udpReply("pong")), Spec{Send: "ping", ExpectRegex: `^pong \d+$`}, Fail, `reply "pong" does not match /^pong \d+$/`},
		{"expect and silence", silent, Spec{Send: "ping", Expect: "pong"}, Fail, "no reply within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.spec
			s.Address, s.Timeout = tt.addr(t), timeout
			r := runBounded(t, mustProbe(t, "udp-connect", s), timeout)
			if r.Status != tt.status {
				t.Errorf("status %s, want %s (reason %q)", r.Status, tt.status, r.Reason)
			}
			want := tt.reason
			if strings.HasPrefix(want, "udp ") {
				want = fmt.Sprintf(want, s.Address)
			}
			checkReason(t, r.Reason, want)
			// Silence is judged at the timeout, not long after it (a
			// generous margin: a loaded machine wakes the probe late).
			if limit := timeout + 2*time.Second; r.Latency > limit {
				t.Errorf("probe took %s, more than its timeout %s plus 2s", r.Latency, timeout)
			}
		})
	}
}

func TestUDPMargin(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{10 * time.Second, 50 * time.Millisecond},
		{time.Second, 50 * time.Millisecond},
		{300 * time.Millisecond, 30 * time.Millisecond},
		{time.Millisecond, 100 * time.Microsecond},
	} {
		if got := udpMargin(tt.timeout); got != tt.want {
			t.Errorf("udpMargin(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
}
