package octavia

import "net/netip"

// BindsCollide reports whether two listeners on the same port bound to
// addresses a and b cannot both open: the same address, or a wildcard
// that takes the port on the other's address too ([::] on every IPv4 and
// IPv6 address, as Go listens dual-stack; 0.0.0.0 on every IPv4 address).
// Addresses that do not parse collide only when equal.
func BindsCollide(a, b string) bool {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX != nil || errY != nil {
		return a == b
	}
	x, y = x.Unmap(), y.Unmap()
	wild := func(w, o netip.Addr) bool {
		return w == netip.IPv6Unspecified() || (w == netip.IPv4Unspecified() && o.Is4())
	}
	return x == y || wild(x, y) || wild(y, x)
}
