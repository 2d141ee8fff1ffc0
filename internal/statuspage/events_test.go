package statuspage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// source is a page whose data the test changes; every build stamps a new
// Time, as the real pages do.
type source struct {
	mu      sync.Mutex
	version int
	pad     string
	calls   atomic.Int64
}

func (s *source) snap(key string) Page {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return Page{Kind: "lb", Name: fmt.Sprintf("%s-v%d%s", key, s.version, s.pad), Time: time.Now()}
}

func (s *source) bump() {
	s.mu.Lock()
	s.version++
	s.mu.Unlock()
}

// drain takes what is waiting for s without blocking.
func drain(s *subscriber) *message {
	select {
	case m := <-s.ch:
		return m
	default:
		return nil
	}
}

// TestBroadcasterSendsOnlyChanges: a page whose only change is its Time is
// built every interval but not sent again; a real change is sent once.
func TestBroadcasterSendsOnlyChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{}
		b := NewBroadcaster(src.snap, Options{})
		s := b.subscribe("")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		first := drain(s)
		if first == nil || !strings.Contains(string(first.data), `"name":"-v0"`) || !strings.Contains(string(first.data), `"time":`) {
			t.Fatalf("first message: %v", first)
		}
		time.Sleep(2 * time.Second) // 8 builds with only a new Time
		synctest.Wait()
		if n := src.calls.Load(); n < 8 {
			t.Fatalf("%d builds in 2 s, want at least 8", n)
		}
		if m := drain(s); m != nil {
			t.Fatalf("resent an unchanged page: %s", m.data)
		}
		src.bump()
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if m := drain(s); m == nil || !strings.Contains(string(m.data), `"name":"-v1"`) {
			t.Fatalf("after a change: %v", m)
		}
		b.unsubscribe(s)
		time.Sleep(time.Second)
		synctest.Wait()
		calls := src.calls.Load()
		time.Sleep(time.Second)
		synctest.Wait()
		if src.calls.Load() != calls {
			t.Error("the build loop still runs with no subscribers")
		}
	})
}

// TestBroadcasterSharesOneEncoding: many subscribers of one key cost one
// build per interval, and all get the very same encoded bytes.
func TestBroadcasterSharesOneEncoding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &source{}
		b := NewBroadcaster(src.snap, Options{MaxSubscribers: 50})
		var subs []*subscriber
		for range 20 {
			subs = append(subs, b.subscribe("k"))
		}
		other := b.subscribe("other")
		time.Sleep(time.Second)
		synctest.Wait()
		// One build at start, perhaps one more on a wake, then one per 250 ms,
		// for each of two keys: far fewer than one per subscriber.
		if n := src.calls.Load(); n > 2*6 {
			t.Errorf("%d builds in 1 s for 21 subscribers of 2 keys, want at most 12", n)
		}
		if n := b.encodes.Load(); n > 2*6 {
			t.Errorf("%d encodings, want at most 12", n)
		}
		src.bump()
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		var first *message
		for i, s := range subs {
			m := drain(s)
			if m == nil {
				t.Fatalf("subscriber %d got nothing", i)
			}
			if first == nil {
				first = m
			}
			if &m.data[0] != &first.data[0] {
				t.Fatalf("subscriber %d got its own encoding", i)
			}
		}
		if m := drain(other); m == nil || !strings.Contains(string(m.data), `"other-v1"`) {
			t.Fatalf("the other key's subscriber got %v", m)
		}
		for _, s := range append(subs, other) {
			b.unsubscribe(s)
		}
		synctest.Wait() // the loop ends
	})
}

// get opens an event stream and returns its response.
func get(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
	}
}

// TestBroadcasterCap: one stream over the cap is answered 503 with
// Retry-After and a closed connection; a slot frees when a stream ends.
func TestBroadcasterCap(t *testing.T) {
	src := &source{}
	subs := prometheus.NewGauge(prometheus.GaugeOpts{Name: "subs"})
	b := NewBroadcaster(src.snap, Options{MaxSubscribers: 2, Keepalive: 50 * time.Millisecond, Subscribers: subs})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.ServeHTTP(w, r, "") }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var open []*http.Response
	for range 2 {
		resp := get(t, ctx, srv.URL)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: {") {
			t.Fatalf("first line %q, %v", line, err)
		}
		// The keepalive comes when nothing changed.
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == ": ping\n" {
				break
			}
		}
		open = append(open, resp)
	}
	if got := testutil.ToFloat64(subs); got != 2 {
		t.Fatalf("subscriber gauge %v, want 2", got)
	}
	resp := get(t, ctx, srv.URL)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("over the cap: %d Retry-After=%q close=%v %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	open[0].Body.Close()
	waitFor(t, "a closed stream frees its slot", func() bool { return b.Subscribers() == 1 })
	resp = get(t, ctx, srv.URL)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %d", resp.StatusCode)
	}
	open[1].Body.Close()
}

// stalledClient connects with a small receive buffer, sends the request
// and never reads.
func stalledClient(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBroadcasterDropsStalledReader: a real TCP client on a real loopback
// server that never reads is dropped once a write stalls past the write
// timeout: its handler ends, the server closes the connection and the drop
// is counted, while a reading subscriber keeps getting every change.
func TestBroadcasterDropsStalledReader(t *testing.T) {
	src := &source{pad: strings.Repeat("x", 64<<10)}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	b := NewBroadcaster(src.snap, Options{Interval: 10 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, Dropped: dropped})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.ServeHTTP(w, r, "") }), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	stop := make(chan struct{})
	var changes sync.WaitGroup
	changes.Add(1)
	go func() { // the data changes on every build
		defer changes.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				src.bump()
			}
		}
	}()
	defer func() { close(stop); changes.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader := get(t, ctx, "http://"+l.Addr().String()+"/")
	defer reader.Body.Close()
	var got atomic.Int64
	go func() {
		r := bufio.NewReaderSize(reader.Body, 128<<10)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "data: ") {
				got.Add(1)
			}
		}
	}()

	c := stalledClient(t, l.Addr().String(), "/")
	defer c.Close()
	waitFor(t, "both subscribed", func() bool { return b.Subscribers() == 2 })
	start := time.Now()
	waitFor(t, "the stalled subscriber dropped", func() bool { return b.Subscribers() == 1 })
	t.Logf("stalled subscriber dropped after %v (write timeout 300ms)", time.Since(start).Round(time.Millisecond))
	if n := testutil.ToFloat64(dropped); n != 1 {
		t.Fatalf("dropped counter %v, want 1", n)
	}
	// The server closed the stalled connection: reading what was buffered
	// ends in EOF or a reset, not a timeout.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the stalled connection open: %v", err)
	}
	before := got.Load()
	waitFor(t, "the reading subscriber keeps getting changes", func() bool { return got.Load() >= before+10 })
	if b.Subscribers() != 1 || testutil.ToFloat64(dropped) != 1 {
		t.Fatalf("the reading subscriber was dropped too: %d open, %v dropped", b.Subscribers(), testutil.ToFloat64(dropped))
	}
}

// TestBroadcasterOutlivesServerTimeouts: a stream on a server with short
// read and write timeouts (as a hardened admin server has) stays open past
// them and still delivers changes: each message sets its own write
// deadline, and net/http clears the read deadline once the request is in.
func TestBroadcasterOutlivesServerTimeouts(t *testing.T) {
	src := &source{}
	b := NewBroadcaster(src.snap, Options{Interval: 10 * time.Millisecond})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.ServeHTTP(w, r, "") }),
		ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := get(t, ctx, "http://"+l.Addr().String()+"/")
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := r.ReadString('\n')
		if err != nil || !strings.Contains(line, fmt.Sprintf(`"name":"-v%d"`, i)) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		r.ReadString('\n')                 // the blank line
		time.Sleep(300 * time.Millisecond) // past both timeouts
		src.bump()
	}
}
