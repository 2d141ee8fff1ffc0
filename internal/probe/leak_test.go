package probe

import (
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		testenv.SkipOrFail(t, "no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestNoLeakOverManyRuns runs tcp and http checks (passing, refused, and
// timing out) thousands of times and asserts that neither file
// descriptors nor goroutines pile up: a monitor runs them forever.
func TestNoLeakOverManyRuns(t *testing.T) {
	ok := serveTCP(t, func(c net.Conn) { c.Close() })
	web := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		c.Close()
	})
	hung := serveTCP(t, func(c net.Conn) { hang(c); c.Close() }) // this test counts the server's fds too
	refused := refusedAddr(t)
	probers := []Prober{
		mustProbe(t, "tcp", Spec{Address: ok, Timeout: time.Second}),
		mustProbe(t, "tcp", Spec{Address: refused, Timeout: time.Second}),
		mustProbe(t, "http", Spec{Address: web, Timeout: time.Second}),
		mustProbe(t, "http", Spec{Address: hung, Timeout: 5 * time.Millisecond}),
	}
	run := func(n int) {
		for range n {
			for _, p := range probers {
				p.Probe(t.Context())
			}
		}
	}
	run(50) // warm pools and the poller
	runtime.GC()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	run(300)
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		dfd, dg := openFDs(t)-fds, runtime.NumGoroutine()-gs
		if dfd <= 5 && dg <= 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1,200 runs: %+d open file descriptors, %+d goroutines", dfd, dg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
