package lb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/monitor"
	"vitals/internal/testenv"
)

// The data plane's benchmarks count what a session costs in allocations
// (allocs/op, with -benchmem) and, under strace -c -f, in system calls;
// bench/lb.sh and bench/pgbench.sh compare the speed with HAProxy on a
// quiet machine. Each has a "direct" twin without the lb: the difference
// is the lb's share (the client and the backend live in the same process).

// benchLB runs an lb with one listener and one member (no monitor) at
// backend and returns the listener's address.
func benchLB(b *testing.B, backend *testenv.TCPServer) string {
	port := backend.Port
	lb := startLB(b, lbYAML(testenv.FreePort(b), "", "      lb_algorithm: ROUND_ROBIN\n", "{name: m, address: 127.0.0.1, protocol_port: "+strconv.Itoa(port)+"}"))
	return lb.addr
}

// BenchmarkShortConnection is bench/lb.sh's short connection: connect,
// one byte each way, close.
func BenchmarkShortConnection(b *testing.B) {
	backend := testenv.StartTCPServer(b, testenv.OneByte)
	for _, path := range []string{"direct", "lb"} {
		b.Run(path, func(b *testing.B) {
			addr := backend.Addr
			if path == "lb" {
				addr = benchLB(b, backend)
			}
			b.ReportAllocs()
			var buf [1]byte
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.(*net.TCPConn).SetLinger(0)
				if _, err := c.Write([]byte("s")); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf[:]); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkSmallMessages is a pooled database connection's traffic: one
// connection, a 100-byte request and its 100-byte echo per op.
func BenchmarkSmallMessages(b *testing.B) {
	backend := testenv.StartTCPServer(b, testenv.Echo)
	for _, path := range []string{"direct", "lb"} {
		b.Run(path, func(b *testing.B) {
			addr := backend.Addr
			if path == "lb" {
				addr = benchLB(b, backend)
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			msg := make([]byte, 100)
			got := make([]byte, 100)
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemberMemory is what a member costs at 10,000 members, in
// the shape of bench/monitor.sh (100 pools of 100, half HTTP and half
// TCP monitors, delay 1s), in the lb's and the engine's live heap once
// every member has been checked a few times (against closed loopback
// ports: the checks fail at once). Run it with -benchtime 1x; it reports
// heap-bytes/member (the live heap after a GC) and B/op and allocs/op
// for building the whole set. BENCH_HEAP_PROFILE=file writes the heap
// profile at the moment of the measurement (with -memprofilerate 512).
func BenchmarkMemberMemory(b *testing.B) {
	const pools, per = 100, 100
	cfg := membersConfig(b, pools, per)
	log := slog.New(slog.DiscardHandler)
	var perMember float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		eng := monitor.New(monitor.Options{Logger: log})
		srv := NewServer(eng, log)
		if err := srv.Apply(cfg); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			eng.Run(ctx)
			close(done)
		}()
		time.Sleep(3500 * time.Millisecond) // the first check within 1s, then every 1s
		runtime.GC()
		runtime.ReadMemStats(&after)
		perMember = float64(after.HeapAlloc-before.HeapAlloc) / (pools * per)
		if path := os.Getenv("BENCH_HEAP_PROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		if eng.Status().Checks < pools*per {
			b.Fatalf("only %d checks in 3.5s", eng.Status().Checks)
		}
		srv.Shutdown(0)
		cancel()
		<-done
	}
	b.ReportMetric(perMember, "heap-bytes/member")
}

// membersConfig is bench/monitor.sh's shape: pools of per members each,
// half with HTTP and half with TCP monitors, delay 1s, every member at a
// closed loopback port.
func membersConfig(b *testing.B, pools, per int) *Config {
	var y strings.Builder
	y.WriteString("loadbalancer:\n  pools:\n")
	for i := range pools {
		kind := "TCP"
		if i%2 == 0 {
			kind = "HTTP"
		}
		fmt.Fprintf(&y, "    - name: p%d\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor: {type: %s, delay: 1, timeout: 1, max_retries: 2, max_retries_down: 3}\n      members:\n", i, kind)
		for j := range per {
			fmt.Fprintf(&y, "        - {name: m%d, address: 127.0.0.%d, protocol_port: %d}\n", j, 2+i%200, 1+j)
		}
	}
	cfg, err := Parse("members.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIdleSessions is what an idle session costs: the growth of
// the goroutine stacks and of the live heap with 1,000 sessions open
// (each sent one byte and got it back), per session, once they have been
// idle for longer than parkAfter (the lb's directions parked). The lb's
// share is lb minus direct (the clients and the echo backend are in this
// process too). With the directions parked, goroutines/session is the
// same as direct's, but stack-bytes/session stays about 2 KB higher even
// after debug.FreeOSMemory, most likely stack spans the live echo
// goroutines share with freed stacks: in a process of its own
// (bench/lb.sh) the lb's stacks in use grew 228 bytes per idle session.
// Run it with -benchtime 1x.
func BenchmarkIdleSessions(b *testing.B) {
	const n = 1000
	backend := testenv.StartTCPServer(b, testenv.Echo)
	for _, path := range []string{"direct", "lb"} {
		b.Run(path, func(b *testing.B) {
			addr := backend.Addr
			if path == "lb" {
				addr = benchLB(b, backend)
			}
			var stack, heap, gs float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				conns := make([]net.Conn, 0, n)
				var buf [1]byte
				for range n {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Write([]byte("i")); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf[:]); err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
				}
				time.Sleep(parkAfter + time.Second)
				runtime.GC()
				runtime.ReadMemStats(&after)
				gs = float64(runtime.NumGoroutine()-g0) / n
				stack = float64(int64(after.StackInuse)-int64(before.StackInuse)) / n
				heap = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				if p := os.Getenv("BENCH_HEAP_PROFILE"); p != "" && path == "lb" {
					writeHeapProfile(b, p)
				}
				for _, c := range conns {
					c.Close()
				}
			}
			b.ReportMetric(stack, "stack-bytes/session")
			b.ReportMetric(heap, "heap-bytes/session")
			b.ReportMetric(gs, "goroutines/session")
		})
	}
}
