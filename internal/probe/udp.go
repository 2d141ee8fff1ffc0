package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// udpCheck is Octavia's UDP-CONNECT, like `nc -uzv -w1`: it sends one
// datagram and passes unless an ICMP port unreachable comes back within the
// timeout. With expect or expect_regex set, it wants a matching reply.
type udpCheck struct {
	addr    string        // host:port
	send    string        // the datagram's payload; "" sends an empty datagram
	want    replyWant     // the reply wanted; unset means silence will do
	timeout time.Duration // the check's timeout, for reasons
}

func newUDP(s Spec) (checker, error) {
	w, err := newReplyWant(s)
	if err != nil {
		return nil, err
	}
	return &udpCheck{addr: s.Address, send: s.Send, want: w, timeout: s.Timeout}, nil
}

// udpMargin is how long before the check's deadline a udp-connect check
// stops waiting: min(50ms, timeout/10), so that silence, which is a pass,
// is judged inside the timeout and never read as a timeout.
func udpMargin(timeout time.Duration) time.Duration {
	return min(50*time.Millisecond, timeout/10)
}

// check sends the datagram and waits. Reasons:
//
//	no ICMP port unreachable within 1s                    (pass)
//	reply received (12 bytes)                             (pass, no expect)
//	reply contains "pong"                                 (pass)
//	udp 127.0.0.1:9: port unreachable (ICMP)              (fail)
//	udp 10.0.0.9:53: host unreachable (ICMP)              (fail)
//	no reply within 1s                                    (fail, with expect)
//	reply "x" does not contain "pong"                     (fail)
func (c *udpCheck) check(ctx context.Context) (string, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(c.timeout)
	}
	within := min(c.timeout, time.Until(dl).Round(time.Millisecond))
	stop := dl.Add(-udpMargin(c.timeout))

	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return "", step("udp "+c.addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(stop)
	defer wakeOnCancel(ctx, conn)()

	if _, err := conn.Write([]byte(c.send)); err != nil {
		return "", c.failed(ctx, err)
	}
	buf := make([]byte, maxReply)
	n, err := conn.Read(buf)
	switch {
	case err == nil && !c.want.set():
		return fmt.Sprintf("reply received (%d bytes)", n), nil
	case err == nil && c.want.match(buf[:n]):
		return c.want.matched(), nil
	case err == nil:
		return "", c.want.mismatch(buf[:n])
	case isTimeout(err) && ctxCanceled(ctx) == nil:
		if c.want.set() {
			return "", mismatch("no reply within %s", within)
		}
		return fmt.Sprintf("no ICMP port unreachable within %s", within), nil
	}
	return "", c.failed(ctx, err)
}

// failed describes a failed write or read: an ICMP error the kernel
// reported on the connected socket, or some other error.
func (c *udpCheck) failed(ctx context.Context, err error) error {
	if cerr := ctxCanceled(ctx); cerr != nil {
		return cerr
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return mismatch("udp %s: port unreachable (ICMP)", c.addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return mismatch("udp %s: %s (ICMP)", c.addr, describe(err))
	}
	return step("udp "+c.addr, err)
}
