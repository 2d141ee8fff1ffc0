package lb

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// proxyV2Signature starts every PROXY protocol v2 header.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyHeader returns the PROXY protocol header (version 1 or 2) that
// tells a member who the client is: src is the client, dst the listener
// address it connected to. Addresses of mixed families are sent as IPv6
// (IPv4-mapped); an invalid address gives v1's "PROXY UNKNOWN" or v2's
// LOCAL command, as the spec (haproxy doc/proxy-protocol.txt) says.
func proxyHeader(version int, src, dst netip.AddrPort) []byte {
	sa, da := src.Addr(), dst.Addr()
	valid := sa.IsValid() && da.IsValid()
	v4 := valid && sa.Unmap().Is4() && da.Unmap().Is4()
	if v4 {
		sa, da = sa.Unmap(), da.Unmap()
	} else if valid {
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	if version == 1 {
		if !valid {
			return []byte("PROXY UNKNOWN\r\n")
		}
		fam := "TCP6"
		if v4 {
			fam = "TCP4"
		}
		b := make([]byte, 0, 108)
		b = append(b, "PROXY "+fam+" "...)
		b = append(b, sa.String()...)
		b = append(b, ' ')
		b = append(b, da.String()...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(src.Port()), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(dst.Port()), 10)
		return append(b, "\r\n"...)
	}
	b := make([]byte, 0, 16+36)
	b = append(b, proxyV2Signature...)
	switch {
	case !valid:
		return append(b, 0x20, 0x00, 0, 0) // version 2, LOCAL; UNSPEC
	case v4:
		b = append(b, 0x21, 0x11, 0, 12) // version 2, PROXY; AF_INET, STREAM
		s4, d4 := sa.As4(), da.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	default:
		b = append(b, 0x21, 0x21, 0, 36) // AF_INET6, STREAM
		s6, d6 := sa.As16(), da.As16()
		b = append(b, s6[:]...)
		b = append(b, d6[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
