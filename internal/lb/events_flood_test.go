package lb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vitals/internal/statuspage"
)

// floodYAML is a load balancer with a listener over the echo backend (a's
// port) and a big pool of members whose checks fail at once (connection
// refused on a closed port), so the status page is large and changes on
// every tick. %s: the big pool's members.
const floodYAML = `admin:
  socket: {SOCKET}
  listen: {ADMIN}
loadbalancer:
  name: lb1
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: {PORT}, default_pool: p}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: echo, address: 127.0.0.1, protocol_port: %d}
    - name: big
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 1s, timeout: 500ms, max_retries: 1}
      members:
%s`

// TestEventsFloodMustHold is issue 10, must-hold item 2: 500 clients that
// GET /events and never read, for 10 s. The subscriber cap admits 32 and
// refuses the rest with 503; the admitted ones are dropped once their
// writes stall past the write timeout; every one of the 500 connections
// is closed by the server; the lb's memory grows by less than 50 MB; and
// the admin API and the data plane keep answering (their p99 under the
// flood is logged against idle; see bench/events.sh for the 2x figure).
// Under the race detector, RSS is logged but only the Go heap is bounded.
func TestEventsFloodMustHold(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s flood")
	}
	echo := startBackend(t, "echo")
	closed := freeAddr(t) // nothing listens there: checks fail at once
	_, closedPort, _ := net.SplitHostPort(closed)
	var members strings.Builder
	const n = 300
	for i := range n {
		fmt.Fprintf(&members, "        - {name: m%03d, address: 127.0.%d.%d, protocol_port: %s}\n", i, 1+i/200, 1+i%200, closedPort)
	}
	lbr := startRunWith(t, fmt.Sprintf(floodYAML, echo.port(), members.String()))

	// Let every member collect a few checks, so the page is big.
	waitFor(t, 10*time.Second, "a big status page", func() bool {
		resp, err := http.Get("http://" + lbr.admin + "/status.json")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return len(b) > 150<<10
	})

	// Sample memory every 250 ms and the subscriber gauge (a /metrics
	// scrape) every 500 ms, idle and under the flood alike, so that the scrapes weigh on both
	// latency measurements; the maxima count only under the flood.
	var mu sync.Mutex
	var flooding bool
	var heapMax, rssMax uint64
	var subsMax float64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for i := 0; ; i++ {
			h, r := memNow()
			var s float64
			if i%2 == 0 { // a scrape costs the lb more than the rest
				s, _ = readMetric(lbr.admin, "vitals_lb_event_subscribers")
			}
			mu.Lock()
			if flooding {
				heapMax, rssMax, subsMax = max(heapMax, h), max(rssMax, r), max(subsMax, s)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		sampler.Wait()
	}()
	idleAdmin, idleData := latencies(t, lbr, nil)
	runtime.GC()
	heap0, rss0 := memNow()
	mu.Lock()
	flooding = true
	mu.Unlock()

	const clients = 500
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for range clients {
		c, err := net.DialTimeout("tcp", lbr.admin, 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /events HTTP/1.1\r\nHost: lb\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("500 clients connected in %v", time.Since(start).Round(time.Millisecond))

	floodAdmin, floodData := latencies(t, lbr, func() bool { return time.Since(start) < 10*time.Second })
	if d := 10*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	close(stop)
	sampler.Wait()
	mu.Lock()
	defer mu.Unlock()

	// Every stalled subscriber is gone within the write timeout plus slack:
	// stalls start within the first seconds, so by the end of the 10 s
	// flood (and at most a few seconds more on a loaded machine) none is
	// left.
	waitFor(t, 5*time.Second, "the stalled subscribers to be dropped", func() bool {
		return metric(t, lbr.admin, "vitals_lb_event_subscribers") == 0
	})
	dropped := metric(t, lbr.admin, "vitals_lb_event_subscribers_dropped_total")
	t.Logf("subscribers: at most %v open at once, %v dropped, all gone %v after the flood began", subsMax, dropped, time.Since(start).Round(time.Millisecond))
	if subsMax > statuspage.DefaultMaxSubscribers || subsMax < 1 {
		t.Errorf("at most %v subscribers open at once, want 1 to the cap %d", subsMax, statuspage.DefaultMaxSubscribers)
	}
	if dropped < subsMax {
		t.Errorf("%v stalled subscribers dropped, want every admitted one (%v)", dropped, subsMax)
	}

	// The server closed every connection: what each holds is a 503 or a
	// stream, then EOF, not a connection still open.
	var refused, streams int
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		status, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("client %d: no response: %v", i, err)
		}
		switch {
		case strings.HasPrefix(status, "HTTP/1.1 503 "):
			refused++
		case strings.HasPrefix(status, "HTTP/1.1 200 "):
			streams++
		default:
			t.Fatalf("client %d: %q", i, status)
		}
		_, err = io.Copy(io.Discard, r)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("client %d (%q): the server left the connection open: %v", i, strings.TrimSpace(status), err)
		}
	}
	t.Logf("%d refused with 503, %d streams dropped", refused, streams)
	if streams < 1 || streams > statuspage.DefaultMaxSubscribers || refused != clients-streams {
		t.Errorf("%d streams and %d refusals, want at most %d streams and the rest refused", streams, refused, statuspage.DefaultMaxSubscribers)
	}

	const mb = 1 << 20
	t.Logf("memory: heap in use %d -> max %d MB, RSS %d -> max %d MB", heap0/mb, heapMax/mb, rss0/mb, rssMax/mb)
	if rssMax > rss0+50*mb && !raceEnabled {
		t.Errorf("RSS grew by %d MB under the flood, want < 50 MB", (rssMax-rss0)/mb)
	}
	if heapMax > heap0+50*mb {
		t.Errorf("heap grew by %d MB under the flood, want < 50 MB", (heapMax-heap0)/mb)
	}

	// Latency: logged with their ratio; asserted here only as "kept
	// answering" (a shared 2-core machine makes tight ratios flaky); the
	// 2x figure is measured by bench/events.sh into bench/RESULTS.md.
	ia, fa, id, fd := p99(idleAdmin), p99(floodAdmin), p99(idleData), p99(floodData)
	t.Logf("admin p99 idle %v, flood %v (x%.2f, %d requests); data-plane echo p99 idle %v, flood %v (x%.2f, %d sessions)",
		ia, fa, float64(fa)/float64(ia), len(floodAdmin), id, fd, float64(fd)/float64(id), len(floodData))
	t.Logf("EVENTS-BENCH admin_idle_p99=%v admin_flood_p99=%v data_idle_p99=%v data_flood_p99=%v rss_growth_mb=%d heap_growth_mb=%d dropped=%v refused=%d\n",
		ia, fa, id, fd, (rssMax-min(rss0, rssMax))/mb, (heapMax-min(heap0, heapMax))/mb, dropped, refused)
	if len(floodAdmin) < 50 || len(floodData) < 50 {
		t.Errorf("only %d admin requests and %d sessions answered in the flood", len(floodAdmin), len(floodData))
	}
	for _, c := range [][2]time.Duration{{ia, fa}, {id, fd}} {
		if c[1] > max(2*c[0], c[0]+2*time.Second) {
			t.Errorf("p99 under the flood %v, idle %v: starved", c[1], c[0])
		}
	}
	if os.Getenv("VITALS_EVENTS_STRICT") != "" { // bench/events.sh
		for _, c := range [][2]time.Duration{{ia, fa}, {id, fd}} {
			if c[1] > max(2*c[0], c[0]+50*time.Millisecond) {
				t.Errorf("p99 under the flood %v, idle %v: over max(2x idle, idle+50ms)", c[1], c[0])
			}
		}
	}
}

// latencies times 200 admin requests (GET /, the status page's HTML: a
// cheap answer, so that what is timed is the admin server under the flood,
// not the cost of a big /metrics) and
// 200 data-plane sessions (connect, greeting, one echoed line), spaced 20
// ms apart, while more() (nil: always).
func latencies(t *testing.T, lbr *runningLB, more func() bool) (admin, data []time.Duration) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 200 {
		if more != nil && !more() {
			break
		}
		t0 := time.Now()
		resp, err := cl.Get("http://" + lbr.admin + "/")
		if err != nil {
			t.Fatalf("admin request: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("admin request: %d", resp.StatusCode)
		}
		admin = append(admin, time.Since(t0))

		t0 = time.Now()
		c, err := net.DialTimeout("tcp", lbr.listen, 10*time.Second)
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		greet, err := r.ReadString('\n')
		if err == nil {
			_, err = io.WriteString(c, "ping\n")
		}
		var line string
		if err == nil {
			line, err = r.ReadString('\n')
		}
		c.Close()
		if err != nil || greet != "echo\n" || line != "ping\n" {
			t.Fatalf("session: %q %q %v", greet, line, err)
		}
		data = append(data, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	return admin, data
}

// p99 is the 99th percentile of d.
func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// memNow is this process's Go heap in use and resident set, in bytes.
func memNow() (heap, rss uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return ms.HeapInuse, rss
}

// metric reads one unlabelled series from the admin endpoint's /metrics.
func metric(t *testing.T, admin, name string) float64 {
	t.Helper()
	v, err := readMetric(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readMetric(admin, name string) (float64, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}
