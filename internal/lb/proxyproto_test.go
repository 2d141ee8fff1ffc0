package lb

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestProxyHeader checks the headers against the examples and layout of
// haproxy's doc/proxy-protocol.txt.
func TestProxyHeader(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.168.0.1:56324"), netip.MustParseAddrPort("192.168.0.11:443")
	if got := string(proxyHeader(1, src, dst)); got != "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" {
		t.Errorf("v1 TCP4: %q", got)
	}
	s6, d6 := netip.MustParseAddrPort("[2001:db8::1]:1234"), netip.MustParseAddrPort("[::1]:80")
	if got := string(proxyHeader(1, s6, d6)); got != "PROXY TCP6 2001:db8::1 ::1 1234 80\r\n" {
		t.Errorf("v1 TCP6: %q", got)
	}
	if got := string(proxyHeader(1, netip.AddrPort{}, dst)); got != "PROXY UNKNOWN\r\n" {
		t.Errorf("v1 unknown: %q", got)
	}
	want := append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb)
	if got := proxyHeader(2, src, dst); !bytes.Equal(got, want) {
		t.Errorf("v2 TCP4:\n got %x\nwant %x", got, want)
	}
	if got := proxyHeader(2, netip.AddrPort{}, dst); !bytes.Equal(got, []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")) {
		t.Errorf("v2 LOCAL: %x", got)
	}
}

// FuzzProxyHeader: any address pair gives a well-formed header: v1 at
// most 107 bytes ending in CRLF; v2 with the signature and a length that
// matches the family.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, []byte{10, 0, 0, 1}, uint16(1), uint16(2))
	f.Add(make([]byte, 16), []byte{1, 2, 3, 4}, uint16(65535), uint16(0))
	f.Fuzz(func(t *testing.T, a, b []byte, pa, pb uint16) {
		sa, _ := netip.AddrFromSlice(a)
		da, _ := netip.AddrFromSlice(b)
		src, dst := netip.AddrPortFrom(sa, pa), netip.AddrPortFrom(da, pb)
		v1 := proxyHeader(1, src, dst)
		if len(v1) > 107 || !bytes.HasPrefix(v1, []byte("PROXY ")) || !bytes.HasSuffix(v1, []byte("\r\n")) || bytes.Count(v1, []byte("\r\n")) != 1 {
			t.Errorf("bad v1 %q", v1)
		}
		v2 := proxyHeader(2, src, dst)
		if !bytes.HasPrefix(v2, proxyV2Signature) || len(v2) < 16 {
			t.Fatalf("bad v2 %x", v2)
		}
		n := int(binary.BigEndian.Uint16(v2[14:16]))
		if len(v2) != 16+n {
			t.Fatalf("v2 length %d, header %d bytes", n, len(v2))
		}
		switch fam := v2[13]; {
		case fam == 0x11 && n == 12, fam == 0x21 && n == 36, fam == 0x00 && n == 0 && v2[12] == 0x20:
		default:
			t.Errorf("v2 family %#x with length %d", fam, n)
		}
		if n > 0 && binary.BigEndian.Uint16(v2[16+n-4:]) != pa {
			t.Errorf("v2 source port wrong")
		}
	})
}
