package lb

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestCopyTurnsBetweenReadAndSplice sends a bulk transfer, then small
// request/answer exchanges, then bulk again through one session to an
// echo member: each direction turns to splice for the bulk, back to read
// and write for the small messages (backToRead short splices in a row),
// and to splice again, and every byte arrives in order and is counted.
func TestCopyTurnsBetweenReadAndSplice(t *testing.T) {
	echo := startBackendOn(t, "echo", "127.0.0.1:0", true)
	lb := startLB(t, lbYAML(testenv.FreePort(t), "", "      lb_algorithm: ROUND_ROBIN\n", memberLine(echo, "")))
	c, err := net.DialTimeout("tcp", lb.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var sent int64
	exchange := func(msg []byte) {
		t.Helper()
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			errc <- err
		}()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read back %d bytes: %v", len(msg), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes came back changed", len(msg))
		}
		sent += int64(len(msg))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		return b
	}
	splice0, read0 := turns.toSplice.Load(), turns.toRead.Load()
	exchange(random(4 << 20))
	if d := turns.toSplice.Load() - splice0; d < 2 {
		t.Errorf("after 4 MiB each way, %d directions turned to splice; want both", d)
	}
	for range 2 * backToRead {
		exchange(random(100))
	}
	if d := turns.toRead.Load() - read0; d < 2 {
		t.Errorf("after %d small exchanges, %d directions turned back to read; want both", 2*backToRead, d)
	}
	exchange(random(4 << 20))
	if d := turns.toSplice.Load() - splice0; d < 4 {
		t.Errorf("after bulk, small and bulk again, %d turns to splice; want 4", d)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
		t.Fatalf("after the client's FIN: %d more bytes, %v; want EOF", n, err)
	}
	waitNoSessions(t, lb, 5*time.Second)
	mm := lb.srv.met.member("p", "echo")
	if in, out := int64(mm.bytesIn.Load()), int64(mm.bytesOut.Load()); in != sent || out != sent {
		t.Errorf("member counted %d bytes in and %d out; want %d each", in, out, sent)
	}
}
