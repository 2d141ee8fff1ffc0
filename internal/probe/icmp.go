package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ICMP protocol numbers, as icmp.ParseMessage wants them.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// pingSeq numbers echo requests, so that each run of any ping check in this
// process sends a sequence number the others do not.
var pingSeq atomic.Uint32

// errNoICMP is the reason a ping check gives when it can open neither kind
// of ICMP socket.
var errNoICMP = errors.New("cannot open ICMP socket: unprivileged ICMP not permitted (sysctl net.ipv4.ping_group_range) and raw socket needs CAP_NET_RAW")

// icmpListener opens an ICMP endpoint; icmp.ListenPacket is the real one.
type icmpListener func(network, address string) (*icmp.PacketConn, error)

// pingCheck sends one ICMP echo request and waits for the matching reply.
type pingCheck struct {
	host   string       // IP address or name, without a port
	listen icmpListener // icmp.ListenPacket; tests replace it
}

func newPing(s Spec) (checker, error) {
	// "[::1]" is how an IPv6 address is often written; accept it.
	host := strings.TrimSuffix(strings.TrimPrefix(s.Address, "["), "]")
	return &pingCheck{host: host, listen: icmp.ListenPacket}, nil
}

// openICMP opens an ICMP socket for IPv4 or IPv6: first the unprivileged
// datagram kind (Linux's ping socket, allowed by the sysctl
// net.ipv4.ping_group_range), then, if that is not permitted, a raw socket,
// which needs CAP_NET_RAW. raw reports which one it opened. On a ping
// socket the kernel sets the echo ID to the socket's port, so only a raw
// socket's replies can be matched by ID.
func openICMP(listen icmpListener, v6 bool) (pc *icmp.PacketConn, raw bool, err error) {
	dgram, rawNet, wildcard := "udp4", "ip4:icmp", "0.0.0.0"
	if v6 {
		dgram, rawNet, wildcard = "udp6", "ip6:ipv6-icmp", "::"
	}
	pc, derr := listen(dgram, wildcard)
	if derr == nil {
		return pc, false, nil
	}
	// Fall back on any error, not only EPERM/EACCES: a kernel without
	// ping sockets says EPROTONOSUPPORT, and a raw socket may still work.
	pc, rerr := listen(rawNet, wildcard)
	switch {
	case rerr == nil:
		return pc, true, nil
	case !errors.Is(rerr, os.ErrPermission):
		return nil, false, fmt.Errorf("cannot open ICMP socket: %w", rerr)
	case errors.Is(derr, os.ErrPermission):
		return nil, false, errNoICMP
	}
	return nil, false, fmt.Errorf("cannot open ICMP socket: %w (and raw socket needs CAP_NET_RAW)", derr)
}

// check resolves the host, sends the echo request and reads until the
// matching reply arrives. Reasons:
//
//	echo reply from 127.0.0.1                               (pass)
//	host unreachable (ICMP from 192.0.2.1)                  (fail)
//	timeout after 1s during wait for echo reply             (fail, from judge)
//	cannot open ICMP socket: …                              (fail)
func (c *pingCheck) check(ctx context.Context) (string, error) {
	dst, err := c.resolve(ctx)
	if err != nil {
		return "", step("resolve "+c.host, err)
	}
	v6 := !dst.Is4()
	pc, raw, err := openICMP(c.listen, v6)
	if err != nil {
		return "", err
	}
	defer pc.Close()
	if dl, ok := ctx.Deadline(); ok {
		pc.SetDeadline(dl)
	}
	defer wakeOnCancel(ctx, pc)()
	if raw {
		acceptOnlyEchoReplies(pc, v6) // best effort: the matcher filters too
	}

	req := echoProbe{v6: v6, id: mrand.IntN(1 << 16), seq: int(pingSeq.Add(1) & 0xffff), data: make([]byte, 16), checkID: raw}
	rand.Read(req.data)
	msg, err := req.marshal()
	if err != nil {
		return "", err // a bug, not the target's fault
	}
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if raw {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	if _, err := pc.WriteTo(msg, to); err != nil {
		return "", ioStepErr(ctx, "send echo request", err)
	}

	buf := make([]byte, 1500)
	for {
		n, peer, err := pc.ReadFrom(buf)
		if err != nil {
			return "", ioStepErr(ctx, "wait for echo reply", err)
		}
		switch verdict, why := req.classify(buf[:n]); verdict {
		case echoMatched:
			return "echo reply from " + addrIP(peer), nil
		case echoError:
			return "", mismatch("%s (ICMP from %s)", why, addrIP(peer))
		}
	}
}

// resolve returns the host's address, looking a name up if need be and
// preferring IPv4 when a name has both.
func (c *pingCheck) resolve(ctx context.Context) (netip.Addr, error) {
	if a, err := netip.ParseAddr(c.host); err == nil {
		return a.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, c.host)
	if err != nil {
		return netip.Addr{}, err
	}
	var best netip.Addr
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok {
			continue
		}
		a = a.Unmap().WithZone(ip.Zone)
		if a.Is4() {
			return a, nil
		}
		if !best.IsValid() {
			best = a
		}
	}
	if !best.IsValid() {
		return best, fmt.Errorf("no address for %s", c.host)
	}
	return best, nil
}

// acceptOnlyEchoReplies asks the kernel to pass a raw socket only echo
// replies and errors that may be about our request, instead of all the
// host's ICMP traffic.
func acceptOnlyEchoReplies(pc *icmp.PacketConn, v6 bool) {
	if v6 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv6.ICMPType{ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeTimeExceeded} {
			f.Accept(t)
		}
		if p := pc.IPv6PacketConn(); p != nil {
			p.SetICMPFilter(&f)
		}
		return
	}
	var f ipv4.ICMPFilter
	f.SetAll(true)
	for _, t := range []ipv4.ICMPType{ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeDestinationUnreachable, ipv4.ICMPTypeTimeExceeded} {
		f.Accept(t)
	}
	if p := pc.IPv4PacketConn(); p != nil {
		p.SetICMPFilter(&f)
	}
}

// addrIP gives the IP of an address ReadFrom returned.
func addrIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	case nil:
		return "unknown"
	}
	return a.String()
}

// echoProbe identifies one echo request.
type echoProbe struct {
	v6      bool
	id, seq int    // 16-bit echo identifier and sequence number
	data    []byte // the random payload
	checkID bool   // false on ping sockets, where the kernel rewrites the ID
}

// echoVerdict is what one received ICMP message means to an echoProbe.
type echoVerdict uint8

const (
	echoOther   echoVerdict = iota // not about our request: keep reading
	echoMatched                    // the reply to our request
	echoError                      // an ICMP error about our request
)

// marshal encodes the echo request. The kernel fills in the ICMPv6
// checksum.
func (p echoProbe) marshal() ([]byte, error) {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if p.v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: p.id, Seq: p.seq, Data: p.data}}
	return m.Marshal(nil)
}

// classify judges one ICMP message (without IP header) as read from the
// socket. Only an echo reply with our sequence number, payload and (where
// the kernel keeps it) ID matches; our own echo requests, seen on loopback,
// and other processes' traffic are ignored. A destination unreachable or
// time exceeded that quotes our request is an error, described by why.
func (p echoProbe) classify(b []byte) (v echoVerdict, why string) {
	proto := protoICMP
	if p.v6 {
		proto = protoICMPv6
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return echoOther, ""
	}
	switch m.Type {
	case ipv4.ICMPTypeEchoReply, ipv6.ICMPTypeEchoReply:
		e, ok := m.Body.(*icmp.Echo)
		if ok && e.Seq == p.seq && (!p.checkID || e.ID == p.id) && string(e.Data) == string(p.data) {
			return echoMatched, ""
		}
	case ipv4.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeDestinationUnreachable:
		if d, ok := m.Body.(*icmp.DstUnreach); ok && p.quotes(d.Data) {
			return echoError, unreachText(p.v6, m.Code)
		}
	case ipv4.ICMPTypeTimeExceeded, ipv6.ICMPTypeTimeExceeded:
		if d, ok := m.Body.(*icmp.TimeExceeded); ok && p.quotes(d.Data) {
			return echoError, "time exceeded"
		}
	}
	return echoOther, ""
}

// quotes reports whether the invoking packet an ICMP error carries (the IP
// header and at least 8 bytes of ICMP) is our echo request.
func (p echoProbe) quotes(pkt []byte) bool {
	var icmpHdr []byte
	if p.v6 {
		const ipv6HeaderLen = 40
		if len(pkt) < ipv6HeaderLen+8 || pkt[0]>>4 != 6 || pkt[6] != protoICMPv6 {
			return false
		}
		icmpHdr = pkt[ipv6HeaderLen:]
		if icmpHdr[0] != byte(ipv6.ICMPTypeEchoRequest) {
			return false
		}
	} else {
		if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != protoICMP {
			return false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl+8 {
			return false
		}
		icmpHdr = pkt[ihl:]
		if icmpHdr[0] != byte(ipv4.ICMPTypeEcho) {
			return false
		}
	}
	id, seq := int(binary.BigEndian.Uint16(icmpHdr[4:])), int(binary.BigEndian.Uint16(icmpHdr[6:]))
	return seq == p.seq && (!p.checkID || id == p.id)
}

// unreachText names a destination unreachable code.
func unreachText(v6 bool, code int) string {
	if v6 {
		switch code {
		case 0:
			return "no route to host"
		case 1:
			return "administratively prohibited"
		case 3:
			return "host unreachable"
		case 4:
			return "port unreachable"
		}
		return fmt.Sprintf("destination unreachable (code %d)", code)
	}
	switch code {
	case 0:
		return "network unreachable"
	case 1:
		return "host unreachable"
	case 2:
		return "protocol unreachable"
	case 3:
		return "port unreachable"
	case 9, 10, 13:
		return "administratively prohibited"
	}
	return fmt.Sprintf("destination unreachable (code %d)", code)
}
