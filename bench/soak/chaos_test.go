package soak

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Chaos timings.
const (
	hangFor  = detectBound + 3*time.Second // long enough that the member must be ERROR for 3 s of it
	deadFor  = 3 * time.Second             // between a kill and the restart
	flapFor  = 3 * time.Second             // admin-down time of a flap
	stepGap  = time.Second                 // between chaos steps
	eventsN  = 200                         // /events subscribers that never read, per flood
	agentN   = 48                          // agent /status/events subscribers that never read, per flood
	idleN    = 200                         // keep-alive admin connections left idle, per flood
	hammerN  = 4                           // goroutines hammering the admin API, per flood
	floodCap = 2 * time.Minute             // no flood runs longer, whatever VITALS_SOAK says
)

// window is a span in which a database was hung or dead. checkFrom is
// when the detection bound starts counting for it: the start, or a later
// re-enable of the member through the API.
type window struct {
	member, kind string // kind: "hang" or "kill"
	start, end   time.Time
	checkFrom    time.Time
}

// truth is what the chaos did, as the test knows it.
type truth struct {
	mu      sync.Mutex
	windows []window
}

func (tr *truth) add(w window) {
	tr.mu.Lock()
	tr.windows = append(tr.windows, w)
	tr.mu.Unlock()
}

func (tr *truth) all() []window {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]window(nil), tr.windows...)
}

func (tr *truth) count(kind string) int {
	n := 0
	for _, w := range tr.all() {
		if w.kind == kind {
			n++
		}
	}
	return n
}

// chaos runs chaos steps one after another on the test goroutine
// (testenv's helpers call t.Fatal). The steps cycle through the
// databases: hang one, flap one, kill and restart one, and hang one while
// flapping it (a member re-enabled while its database hangs must not come
// back ONLINE).
type chaos struct {
	t     *testing.T
	lb    *lbProc
	tr    *truth
	steps []chaosStep
	next  int // the next step to run
	flaps int // admin flaps made
}

type chaosStep struct {
	est time.Duration // how long the step takes, about
	run func()
}

// firstRound is how many steps, from the first, make one of each kind:
// a hang, a flap and a kill.
const firstRound = 3

func newChaos(t *testing.T, lb *lbProc, dbs []*db, tr *truth) *chaos {
	c := &chaos{t: t, lb: lb, tr: tr}
	byName := map[string]*db{}
	for _, d := range dbs {
		byName[d.name] = d
	}
	hang := func(d *db, flapToo bool) {
		d.pause(t)
		w := window{member: d.name, kind: "hang", start: time.Now()}
		w.checkFrom = w.start
		if flapToo {
			time.Sleep(time.Second)
			setAdmin(t, lb, d, false)
			time.Sleep(time.Second)
			setAdmin(t, lb, d, true)
			w.checkFrom = time.Now()
			c.flaps++
		}
		sleepUntil(w.start.Add(hangFor))
		w.end = time.Now()
		d.resume(t)
		tr.add(w)
	}
	kill := func(d *db) {
		w := window{member: d.name, kind: "kill", start: time.Now()}
		d.kill(t)
		w.checkFrom = time.Now()
		time.Sleep(deadFor)
		d.restart(t)
		w.end = time.Now()
		tr.add(w)
	}
	flap := func(d *db) {
		setAdmin(t, lb, d, false)
		time.Sleep(flapFor)
		setAdmin(t, lb, d, true)
		c.flaps++
	}
	c.steps = []chaosStep{
		{hangFor, func() { hang(byName["pg1"], false) }},
		{flapFor, func() { flap(byName["my1"]) }},
		{deadFor + 10*time.Second, func() { kill(byName["my2"]) }},
		{flapFor, func() { flap(byName["pg2"]) }},
		{hangFor, func() { hang(byName["my1"], false) }},
		{deadFor + 10*time.Second, func() { kill(byName["pg1"]) }},
		{hangFor, func() { hang(byName["pg2"], true) }},
		{hangFor, func() { hang(byName["my2"], true) }},
	}
	return c
}

// run runs n steps, whatever the time.
func (c *chaos) run(n int) {
	for range n {
		c.step()
	}
}

// until runs steps until none fits before quiet.
func (c *chaos) until(quiet time.Time) {
	for !time.Now().Add(c.steps[c.next%len(c.steps)].est).After(quiet) {
		c.step()
	}
}

func (c *chaos) step() {
	c.steps[c.next%len(c.steps)].run()
	c.next++
	// Let the member come back before the next step.
	time.Sleep(stepGap)
}

// setAdmin sets a member's admin_state_up through the API with the token.
func setAdmin(t *testing.T, lb *lbProc, d *db, up bool) {
	t.Helper()
	body := fmt.Sprintf(`{"member": {"admin_state_up": %t}}`, up)
	req, err := http.NewRequest(http.MethodPut, lb.admin+"/v2/lbaas/pools/"+d.pool+"/members/"+d.name, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", lb.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := quickClient.Do(req)
	if err != nil {
		t.Errorf("PUT admin_state_up=%t for %s: %v", up, d.name, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("PUT admin_state_up=%t for %s: %s", up, d.name, resp.Status)
	}
}

// floodStats counts what the floods did.
type floodStats struct {
	rounds          atomic.Int64
	eventsConnected atomic.Int64 // lb /events subscribers answered: a stream, or the cap's 503
	agentConnected  atomic.Int64 // agent /status/events subscribers answered likewise
	idleConnected   atomic.Int64 // idle keep-alive admin connections after one answer
	hammerOK        atomic.Int64 // admin requests answered as expected
	hammerErr       atomic.Int64 // admin requests that failed or were answered wrongly
	hammerMax       atomic.Int64 // slowest admin request, in nanoseconds
}

// flood holds, for dur: eventsN lb /events subscribers and agentN agent
// /status/events subscribers that read their response header and then
// never read again, idleN keep-alive admin connections idle after one
// request, and hammerN goroutines sending status, metrics and
// wrong-token PUT requests. Then it closes everything.
func flood(lb *lbProc, agentDB *db, dur time.Duration, st *floodStats) {
	dur = min(dur, floodCap)
	st.rounds.Add(1)
	end := time.Now().Add(dur)
	adminAddr := strings.TrimPrefix(lb.admin, "http://")
	agentAddr := fmt.Sprintf("127.0.0.1:%d", agentDB.agentPort)
	var mu sync.Mutex
	var conns []net.Conn
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	subscribe := func(addr, path string, n int, ok *atomic.Int64) {
		for range n {
			if time.Now().After(end) {
				return
			}
			c, err := stalledGet(addr, path)
			if errors.Is(err, errOverCap) {
				ok.Add(1) // the cap on streams at work: answered, and nothing held
				continue
			}
			if err != nil {
				continue
			}
			keep(c)
			ok.Add(1)
		}
	}
	// Four connecting goroutines per kind, so that the flood builds up in
	// the first second or two even when the lb answers slowly.
	for range 4 {
		wg.Go(func() { subscribe(adminAddr, "/events", eventsN/4, &st.eventsConnected) })
		wg.Go(func() { subscribe(agentAddr, "/status/events", agentN/4, &st.agentConnected) })
		wg.Go(func() { subscribe(adminAddr, "/status.json", idleN/4, &st.idleConnected) })
	}
	for i := range hammerN {
		wg.Go(func() { hammer(lb, i, end, st) })
	}
	wg.Wait()
	sleepUntil(end)
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
}

// errOverCap is stalledGet's error for an event stream refused with 503
// because the server holds as many streams as it allows.
var errOverCap = errors.New("event stream refused: over the subscriber cap")

// stalledGet sends GET path on a fresh keep-alive connection, reads the
// response header (bounded), and returns the connection without reading
// any further.
func stalledGet(addr, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable && path != "/status.json" {
		c.Close()
		return nil, errOverCap
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if path == "/status.json" { // a plain request: read it all, then idle
		io.Copy(io.Discard, resp.Body)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// hammer sends admin requests in a loop until end: the status JSON, the
// metrics, and a PUT with a wrong token, which must get 401.
func hammer(lb *lbProc, i int, end time.Time, st *floodStats) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	for n := i; time.Now().Before(end); n++ {
		var req *http.Request
		want := http.StatusOK
		switch n % 3 {
		case 0:
			req, _ = http.NewRequest(http.MethodGet, lb.admin+"/status.json", nil)
		case 1:
			req, _ = http.NewRequest(http.MethodGet, lb.admin+"/metrics", nil)
		case 2:
			req, _ = http.NewRequest(http.MethodPut, lb.admin+"/v2/lbaas/pools/pg/members/pg1", strings.NewReader(`{"member": {"admin_state_up": false}}`))
			req.Header.Set("X-Auth-Token", "wrong-token-0123456789")
			want = http.StatusUnauthorized
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			st.hammerErr.Add(1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := int64(time.Since(t0))
		for old := st.hammerMax.Load(); took > old && !st.hammerMax.CompareAndSwap(old, took); old = st.hammerMax.Load() {
		}
		if resp.StatusCode == want {
			st.hammerOK.Add(1)
		} else {
			st.hammerErr.Add(1)
		}
	}
}
