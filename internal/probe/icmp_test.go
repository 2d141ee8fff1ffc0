package probe

import (
	"encoding/binary"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"vitals/internal/testenv"
)

// needICMP skips the test when this machine lets us open no ICMP socket of
// the given family, unless CI is "true", where that is a failure.
func needICMP(t *testing.T, v6 bool) {
	t.Helper()
	pc, _, err := openICMP(icmp.ListenPacket, v6)
	if err == nil {
		pc.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI: %v", err)
	}
	t.Skipf("no ICMP socket: %v (needs root, CAP_NET_RAW or sysctl net.ipv4.ping_group_range)", err)
}

// allowPingSockets permits ping sockets (net.ipv4.ping_group_range, which
// covers IPv6 too) to this process's group in the current network
// namespace, which must be a private one.
func allowPingSockets(t *testing.T) {
	t.Helper()
	const sysctl = "/proc/sys/net/ipv4/ping_group_range"
	gid := strconv.Itoa(os.Getgid())
	if err := os.WriteFile(sysctl, []byte(gid+" "+gid), 0o644); err != nil {
		t.Fatalf("write %s: %v", sysctl, err)
	}
}

// haveIPv6Loopback reports whether ::1 is configured.
func haveIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// denyICMP is an icmpListener that refuses the networks in deny as an
// unprivileged process would be refused, and opens the others for real.
func denyICMP(deny ...string) icmpListener {
	return func(network, address string) (*icmp.PacketConn, error) {
		for _, d := range deny {
			if strings.HasPrefix(network, d) {
				errno := syscall.EACCES // what a ping socket outside ping_group_range gets
				if strings.HasPrefix(network, "ip") {
					errno = syscall.EPERM // what a raw socket without CAP_NET_RAW gets
				}
				return nil, os.NewSyscallError("socket", errno)
			}
		}
		return icmp.ListenPacket(network, address)
	}
}

func TestPing(t *testing.T) {
	const timeout = 2 * time.Second
	tests := []struct {
		name   string
		host   string
		listen icmpListener
	}{
		{"ipv4", "127.0.0.1", icmp.ListenPacket},
		{"ipv4 other loopback", "127.0.0.2", icmp.ListenPacket},
		{"ipv4 name", "localhost", icmp.ListenPacket},
		{"ipv4 raw fallback", "127.0.0.1", denyICMP("udp")},
		{"ipv4 unprivileged only", "127.0.0.1", denyICMP("ip")},
		{"ipv6", "::1", icmp.ListenPacket},
		{"ipv6 raw fallback", "::1", denyICMP("udp")},
		{"ipv6 unprivileged only", "::1", denyICMP("ip")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v6 := strings.Contains(tt.host, ":")
			pc, _, err := openICMP(tt.listen, v6)
			if err != nil && strings.HasSuffix(tt.name, "unprivileged only") {
				// Ping sockets are not permitted to this process here:
				// permit them to its group in a private network namespace,
				// whose sysctls are its own.
				if !testenv.InPrivateNetwork(t) {
					return
				}
				allowPingSockets(t)
				pc, _, err = openICMP(tt.listen, v6)
			}
			if v6 && !haveIPv6Loopback() {
				testenv.SkipOrFail(t, "no IPv6 loopback (::1)")
			}
			if err != nil {
				needICMP(t, v6)
				t.Fatalf("openICMP: %v", err)
			}
			pc.Close()
			p := timed{c: &pingCheck{host: tt.host, listen: tt.listen}, timeout: timeout}
			r := runBounded(t, p, timeout)
			want := "echo reply from " + tt.host
			if tt.host == "localhost" {
				want = "echo reply from 127.0.0.1"
			}
			if r.Status != Pass || r.Reason != want {
				t.Errorf("got %s %q, want pass %q", r.Status, r.Reason, want)
			}
		})
	}
}

// TestPingNew checks that the registry builds ping checks that run.
func TestPingNew(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1", "echo reply from 127.0.0.1"},
		{"[::1]", "echo reply from ::1"},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			v6 := strings.Contains(tt.addr, ":")
			if v6 && !haveIPv6Loopback() {
				testenv.SkipOrFail(t, "no IPv6 loopback (::1)")
			}
			needICMP(t, v6)
			r := runBounded(t, mustProbe(t, "ping", Spec{Address: tt.addr, Timeout: time.Second}), time.Second)
			if r.Status != Pass || r.Reason != tt.want {
				t.Errorf("got %s %q, want pass %q", r.Status, r.Reason, tt.want)
			}
		})
	}
}

// TestPingNoSocket checks that a host that allows no ICMP socket gives a
// failed Result with a reason that says how to fix it.
func TestPingNoSocket(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		p := timed{c: &pingCheck{host: host, listen: denyICMP("udp", "ip")}, timeout: time.Second}
		r := p.Probe(t.Context())
		if r.Status != Fail || r.Reason != errNoICMP.Error() {
			t.Errorf("%s: got %s %q, want fail %q", host, r.Status, r.Reason, errNoICMP)
		}
	}
}

func TestOpenICMPOrder(t *testing.T) {
	var tried []string
	fake := func(network, address string) (*icmp.PacketConn, error) {
		tried = append(tried, network+" "+address)
		return nil, os.NewSyscallError("socket", syscall.EPERM)
	}
	for _, tt := range []struct {
		v6   bool
		want string
	}{
		{false, "udp4 0.0.0.0,ip4:icmp 0.0.0.0"},
		{true, "udp6 ::,ip6:ipv6-icmp ::"},
	} {
		tried = nil
		if _, _, err := openICMP(fake, tt.v6); err != errNoICMP {
			t.Errorf("v6=%v: err %v, want errNoICMP", tt.v6, err)
		}
		if got := strings.Join(tried, ","); got != tt.want {
			t.Errorf("v6=%v: tried %s, want %s", tt.v6, got, tt.want)
		}
	}
	// A raw socket failing for another reason than permission says so.
	_, _, err := openICMP(func(network, _ string) (*icmp.PacketConn, error) {
		if strings.HasPrefix(network, "udp") {
			return nil, os.NewSyscallError("socket", syscall.EACCES)
		}
		return nil, os.NewSyscallError("socket", syscall.EAFNOSUPPORT)
	}, true)
	if err == nil || !strings.Contains(err.Error(), "address family not supported") {
		t.Errorf("err %v, want the raw socket's error", err)
	}
}

// echoMsg marshals an ICMP message for the classify tests.
func echoMsg(t *testing.T, typ icmp.Type, code int, body icmp.MessageBody) []byte {
	t.Helper()
	b, err := (&icmp.Message{Type: typ, Code: code, Body: body}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoking builds the packet an ICMP error quotes: an IP header and the
// first 8 bytes of an echo request.
func invoking(v6 bool, typ byte, id, seq int) []byte {
	var ip []byte
	if v6 {
		ip = make([]byte, 40)
		ip[0], ip[6] = 6<<4, protoICMPv6
	} else {
		ip = make([]byte, 20)
		ip[0], ip[9] = 4<<4|5, protoICMP
	}
	h := make([]byte, 8)
	h[0] = typ
	binary.BigEndian.PutUint16(h[4:], uint16(id))
	binary.BigEndian.PutUint16(h[6:], uint16(seq))
	return append(ip, h...)
}

func TestICMPEchoClassify(t *testing.T) {
	data := []byte("0123456789abcdef")
	other := []byte("fedcba9876543210")
	for _, v6 := range []bool{false, true} {
		var reply, request, unreach, exceeded icmp.Type = ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeEcho, ipv4.ICMPTypeDestinationUnreachable, ipv4.ICMPTypeTimeExceeded
		reqType := byte(ipv4.ICMPTypeEcho)
		hostCode := 1
		if v6 {
			reply, request, unreach, exceeded = ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeTimeExceeded
			reqType = byte(ipv6.ICMPTypeEchoRequest)
			hostCode = 3
		}
		p := echoProbe{v6: v6, id: 0x1234, seq: 7, data: data, checkID: true}
		tests := []struct {
			name    string
			msg     []byte
			checkID bool
			want    echoVerdict
			why     string
		}{
			{"right one", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x1234, Seq: 7, Data: data}), true, echoMatched, ""},
			{"wrong seq", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x1234, Seq: 8, Data: data}), true, echoOther, ""},
			{"wrong payload", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x1234, Seq: 7, Data: other}), true, echoOther, ""},
			{"short payload", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x1234, Seq: 7, Data: data[:8]}), true, echoOther, ""},
			{"wrong id on raw socket", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x4321, Seq: 7, Data: data}), true, echoOther, ""},
			{"rewritten id on ping socket", echoMsg(t, reply, 0, &icmp.Echo{ID: 0x4321, Seq: 7, Data: data}), false, echoMatched, ""},
			{"our own echo request", echoMsg(t, request, 0, &icmp.Echo{ID: 0x1234, Seq: 7, Data: data}), true, echoOther, ""},
			{"garbage", []byte{0, 1}, true, echoOther, ""},
			{"empty", nil, true, echoOther, ""},
			{"unreachable about us", echoMsg(t, unreach, hostCode, &icmp.DstUnreach{Data: invoking(v6, reqType, 0x1234, 7)}), true, echoError, "host unreachable"},
			{"unreachable about another seq", echoMsg(t, unreach, hostCode, &icmp.DstUnreach{Data: invoking(v6, reqType, 0x1234, 9)}), true, echoOther, ""},
			{"unreachable about another id", echoMsg(t, unreach, hostCode, &icmp.DstUnreach{Data: invoking(v6, reqType, 0x9999, 7)}), true, echoOther, ""},
			{"unreachable about a reply", echoMsg(t, unreach, hostCode, &icmp.DstUnreach{Data: invoking(v6, 0, 0x1234, 7)}), true, echoOther, ""},
			{"unreachable truncated", echoMsg(t, unreach, hostCode, &icmp.DstUnreach{Data: invoking(v6, reqType, 0x1234, 7)[:20]}), true, echoOther, ""},
			{"time exceeded about us", echoMsg(t, exceeded, 0, &icmp.TimeExceeded{Data: invoking(v6, reqType, 0x1234, 7)}), true, echoError, "time exceeded"},
		}
		for _, tt := range tests {
			name := "ipv4/"
			if v6 {
				name = "ipv6/"
			}
			t.Run(name+tt.name, func(t *testing.T) {
				p := p
				p.checkID = tt.checkID
				got, why := p.classify(tt.msg)
				if got != tt.want || why != tt.why {
					t.Errorf("classify = %d %q, want %d %q", got, why, tt.want, tt.why)
				}
			})
		}
	}
}

// TestICMPEchoMarshal checks that a request round-trips through the parser the
// matcher uses, and that its reply (the same message with the reply type)
// matches.
func TestICMPEchoMarshal(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := echoProbe{v6: v6, id: 99, seq: 65535, data: []byte("payload-16-bytes"), checkID: true}
		b, err := p.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := p.classify(b); got != echoOther {
			t.Errorf("v6=%v: own request classified %d, want echoOther", v6, got)
		}
		b[0] = byte(ipv4.ICMPTypeEchoReply)
		if v6 {
			b[0] = byte(ipv6.ICMPTypeEchoReply)
		}
		if got, _ := p.classify(b); got != echoMatched {
			t.Errorf("v6=%v: reply classified %d, want echoMatched", v6, got)
		}
	}
}
