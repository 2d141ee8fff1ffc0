// Package soak is the soak test of issue 10: a `vitals lb` and one `vitals
// agent` per database, in front of two private PostgreSQL and two private
// MariaDB servers, under steady client load, while the test hangs, kills
// and restarts databases, reloads the lb every 10 s, flaps members' admin
// state through the API and floods the admin and event endpoints. See
// TestSoak for what it asserts; bench/soak.sh runs it for 5 minutes and
// writes its figures to bench/RESULTS.md.
package soak

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"vitals/internal/testenv"
)

// Timings of the checks, shared by the configurations and the detection
// bound, so that the bound follows the configuration.
const (
	agentInterval  = 500 * time.Millisecond // agent check interval
	agentTimeout   = 400 * time.Millisecond // agent check timeout (fall 1)
	monDelay       = 500 * time.Millisecond // lb HTTP monitor delay
	monTimeout     = 400 * time.Millisecond // lb HTTP monitor timeout
	monRetriesDown = 2                      // lb max_retries_down
	detectSlack    = 2 * time.Second        // scheduling slack on a loaded 2-core machine
	reloadEvery    = 10 * time.Second       // SIGHUP period
	startSlack     = 250 * time.Millisecond // a session starting this soon after a transition may still race it
)

// detectBound is how long a member may stay ONLINE after its database
// hangs or dies: the agent's next check plus its timeout, then
// max_retries_down monitor checks of delay each plus one timeout, plus
// slack.
const detectBound = agentInterval + agentTimeout + monDelay*monRetriesDown + monTimeout + detectSlack

// duration is how long the soak runs: VITALS_SOAK (a Go duration), 60 s
// by default.
func duration(t *testing.T) time.Duration {
	s := os.Getenv("VITALS_SOAK")
	if s == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 30*time.Second {
		t.Fatalf("VITALS_SOAK=%q: want a duration of at least 30s, e.g. VITALS_SOAK=5m", s)
	}
	return d
}

// db is one database behind the lb: its server, its agent and how the
// test hangs, kills and restarts it.
type db struct {
	name      string // member name: pg1, pg2, my1, my2
	pool      string // "pg" or "my"
	port      int    // the database's port, which a session reports
	agentPort int
	agent     *testenv.Vitals
	pause     func(testing.TB)
	resume    func(testing.TB)
	kill      func(testing.TB)
	restart   func(testing.TB)
}

// TestSoak runs the soak for VITALS_SOAK (default 60 s) and asserts:
//   - no session reached a member that was ERROR (or OFFLINE: admin down
//     or not yet checked) from startSlack before the session began until
//     it ended (the lb picks the member somewhere in between);
//   - no member was ONLINE while its database had been hung or dead for
//     longer than detectBound;
//   - no session failed unless it overlapped a window in which a member of
//     its pool was hung or dead (extended by detectBound after recovery);
//   - the lb's RSS, goroutines and descriptors, and each agent's RSS and
//     descriptors, end within 10% of their value after warm-up (the
//     medians of five samples, taken once every kind of chaos has
//     happened and at least a fifth of the run has passed), or within a
//     floor when that is more: 20 goroutines or descriptors (sessions in
//     flight), 4 MiB of RSS (the Go runtime's minimum heap goal; see
//     rssFloor); only growth fails, shrinking is fine;
//   - and minimum counts, so that it cannot pass by doing nothing.
//
// It prints one line starting with "SOAK " holding the figures, which
// bench/soak.sh copies into bench/RESULTS.md.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: runs for a minute")
	}
	testenv.Need(t, "postgres", "initdb", "mariadbd", "mariadb-install-db")
	total := duration(t)
	mysql.SetLogger(log.New(io.Discard, "", 0)) // failed sessions are counted, not printed
	bin := testenv.BuildVitals(t)
	dir, err := os.MkdirTemp("", "vsoak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	dbs, pw := startDatabases(t, bin, dir)
	lb := startLB(t, bin, dir, dbs)
	for _, d := range dbs {
		waitOnline(t, lb, d.pool, d.name)
	}
	t.Logf("topology ready: %d databases, agents and the lb; soaking for %s (detection bound %s)", len(dbs), total, detectBound)

	start := time.Now()
	end := start.Add(total)
	quiet := end.Add(-max(total/5, 12*time.Second)) // chaos ends here; the rest is load and reloads only

	var wg sync.WaitGroup
	rec := &recorder{}
	for _, pool := range []string{"pg", "my"} {
		for range clientsPerPool {
			wg.Go(func() { runClient(rec, pool, lb, pw, end) })
		}
	}
	sampler := newSampler(lb, dbs)
	wg.Go(func() { sampler.run(end) })
	reloads := &counter{}
	wg.Go(func() { reloadLoop(lb, reloads, end) })

	// Warm-up: every kind of chaos once, and at least a fifth of the
	// run, so that the reference sample is taken from processes that have
	// run every code path and held their peak load once (see rssFloor): a
	// flood beside a hang, a flap, a kill and restart, and at least one
	// reload.
	truth := &truth{}
	floods := &floodStats{}
	floodDur := max(5*time.Second, total/30)
	var warmFlood sync.WaitGroup
	warmFlood.Go(func() { sleepUntil(start.Add(2 * time.Second)); flood(lb, dbs[0], floodDur, floods) })
	ch := newChaos(t, lb, dbs, truth)
	ch.run(firstRound)
	warmFlood.Wait()
	sleepUntil(start.Add(max(total/5, reloadEvery+2*time.Second)))
	time.Sleep(2 * time.Second) // the last step's member comes back
	warmAt := time.Since(start)
	warmSample := sampler.settle(t)

	// Chaos until quiet: the other steps, and a flood every 25 s.
	for at := time.Now().Add(3 * time.Second); at.Add(floodDur).Before(quiet); at = at.Add(25 * time.Second) {
		wg.Go(func() { sleepUntil(at); flood(lb, dbs[0], floodDur, floods) })
	}
	ch.until(quiet)
	flaps := ch.flaps

	// Quiet: load and reloads go on; the end sample is taken at the end.
	sleepUntil(end.Add(-time.Second))
	endSample := sampler.settle(t)
	wg.Wait()

	sampler.logSeries(t)
	tl := parseTimeline(t, lb.proc.Log())
	v := judge(t, rec, tl, truth, dbs, lb)
	checkMinimums(t, rec, truth, flaps, floods, reloads.n.Load(), total, tl, v, dbs)
	t.Logf("warm-up sample at %s (after every kind of chaos once), end sample at %s", warmAt.Round(time.Second), total)
	res := checkResources(t, warmSample, endSample, sampler.peaks())
	if endSample["lb"].goroutines > warmSample["lb"].goroutines {
		t.Logf("lb goroutines %d after warm-up, %d at the end; where they are:\n%s",
			warmSample["lb"].goroutines, endSample["lb"].goroutines, goroutineDump(lb))
	}
	if t.Failed() {
		t.Logf("lb log, without the member transitions:\n%s", withoutTransitions(lb.proc.Log()))
		t.Logf("chaos: %+v", truth.all())
	}
	fmt.Printf("SOAK duration=%s sessions=%d failed=%d failed_excused=%d failed_healthy=%d to_error=%d to_offline=%d "+
		"session_p50=%s session_p99=%s false_online=%d hangs=%d kills=%d flaps=%d reloads=%d floods=%d admin_ok=%d admin_err=%d admin_max=%s "+
		"detect_max=%s detect_bound=%s %s\n",
		total, v.sessions, v.failed, v.excused, v.failedHealthy, v.toError, v.toOffline, v.p50, v.p99,
		v.falseOnline, truth.count("hang"), truth.count("kill"), flaps, reloads.n.Load(), floods.rounds.Load(),
		floods.hammerOK.Load(), floods.hammerErr.Load(), time.Duration(floods.hammerMax.Load()).Round(time.Millisecond),
		v.detectMax.Round(time.Millisecond), detectBound, res)
}

// goroutineDump returns the lb's goroutines grouped by stack
// (/debug/pprof/goroutine?debug=1), at most 16 KiB of it.
func goroutineDump(lb *lbProc) string {
	resp, err := quickClient.Get(lb.admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return string(b)
}

// withoutTransitions drops the "member status changed" lines of a log.
func withoutTransitions(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `"member status changed"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// clientsPerPool is how many client goroutines run sessions in each pool.
const clientsPerPool = 3

// sleepUntil sleeps until at (at once if it has passed).
func sleepUntil(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}

// startDatabases starts two PostgreSQL and two MariaDB servers, gives the
// role health the same password on all four (a session may land on either
// member), and starts an agent beside each.
func startDatabases(t *testing.T, bin, dir string) ([]*db, string) {
	pg1, pg2 := testenv.StartPostgres(t), testenv.StartPostgres(t)
	my1, my2 := testenv.StartMariaDB(t), testenv.StartMariaDB(t)
	pw := pg1.Password
	pg2.Exec(t, "ALTER ROLE health PASSWORD '"+pw+"'")
	for _, m := range []*testenv.MariaDB{my1, my2} {
		m.Exec(t, fmt.Sprintf("ALTER USER 'health'@'%%' IDENTIFIED BY '%[1]s'; ALTER USER 'health'@'127.0.0.1' IDENTIFIED BY '%[1]s'; ALTER USER 'health'@'localhost' IDENTIFIED BY '%[1]s'", pw))
	}
	dbs := []*db{
		{name: "pg1", pool: "pg", port: pg1.Port, pause: pg1.Pause, resume: pg1.Resume, kill: pg1.Kill, restart: pg1.Restart},
		{name: "pg2", pool: "pg", port: pg2.Port, pause: pg2.Pause, resume: pg2.Resume, kill: pg2.Kill, restart: pg2.Restart},
		{name: "my1", pool: "my", port: my1.Port, pause: my1.Pause, resume: my1.Resume, kill: my1.Kill, restart: my1.Restart},
		{name: "my2", pool: "my", port: my2.Port, pause: my2.Pause, resume: my2.Resume, kill: my2.Kill, restart: my2.Restart},
	}
	for _, d := range dbs {
		d.agentPort = testenv.FreePort(t)
		kind := map[string]string{"pg": "postgres", "my": "mysql"}[d.pool]
		cfg := filepath.Join(dir, "agent-"+d.name+".yaml")
		writeFile(t, cfg, fmt.Sprintf(`listen: 127.0.0.1:%d
admin_socket: "off"
state_file: "off"
shutdown_delay: 0s
checks:
  - name: db
    type: %s
    address: 127.0.0.1:%d
    user: health
    password: %q
    database: app
    interval: %s
    timeout: %s
`, d.agentPort, kind, d.port, pw, agentInterval, agentTimeout))
		d.agent = testenv.StartVitals(t, "agent "+d.name, bin, dir, "agent", "--config", cfg, "--log-format", "json")
	}
	for _, d := range dbs {
		url := fmt.Sprintf("http://127.0.0.1:%d/health", d.agentPort)
		if err := d.agent.WaitReady(func() error { return httpOK(url) }); err != nil {
			t.Fatalf("agent %s: %v", d.name, err)
		}
	}
	return dbs, pw
}

// lbProc is the running lb and how to reach it.
type lbProc struct {
	proc      *testenv.Vitals
	admin     string         // http://127.0.0.1:PORT
	token     string         // the admin token
	ports     map[string]int // pool -> listener port
	cfg       string         // the configuration file, rewritten on each reload
	cfgText   []byte
	portOfMbr map[int]string // database port -> member name
}

// startLB writes lb.yaml with a pg and a my listener and pool, each pool
// checking its members through their agents (HTTP /health), and starts
// `vitals lb`.
func startLB(t *testing.T, bin, dir string, dbs []*db) *lbProc {
	lb := &lbProc{
		ports:     map[string]int{"pg": testenv.FreePort(t), "my": testenv.FreePort(t)},
		token:     "soak-token-0123456789abcdef",
		cfg:       filepath.Join(dir, "lb.yaml"),
		portOfMbr: map[int]string{},
	}
	adminPort := testenv.FreePort(t)
	lb.admin = "http://127.0.0.1:" + strconv.Itoa(adminPort)
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, lb.token+"\n")
	members := map[string]string{}
	for _, d := range dbs {
		members[d.pool] += fmt.Sprintf("        - {name: %s, address: 127.0.0.1, protocol_port: %d, monitor_port: %d}\n", d.name, d.port, d.agentPort)
		lb.portOfMbr[d.port] = d.name
	}
	pool := func(name string) string {
		return fmt.Sprintf(`    - name: %s
      lb_algorithm: ROUND_ROBIN
      on_member_down: shutdown_sessions
      healthmonitor: {type: HTTP, delay: %s, timeout: %s, max_retries: 1, max_retries_down: %d, url_path: /health}
      members:
%s`, name, monDelay, monTimeout, monRetriesDown, members[name])
	}
	lb.cfgText = fmt.Appendf(nil, `admin:
  socket: %s/lb.sock
  listen: 127.0.0.1:%d
  token_file: %s
shutdown_grace: 2s
loadbalancer:
  name: soak
  listeners:
    - {name: pg, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: pg, timeout_member_connect: 1s}
    - {name: my, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: my, timeout_member_connect: 1s}
  pools:
%s%s`, dir, adminPort, tokenFile, lb.ports["pg"], lb.ports["my"], pool("pg"), pool("my"))
	writeFile(t, lb.cfg, string(lb.cfgText))
	lb.proc = testenv.StartVitals(t, "lb", bin, dir, "lb", "--config", lb.cfg, "--log-format", "json")
	if err := lb.proc.WaitReady(func() error { return httpOK(lb.admin + "/status.json") }); err != nil {
		t.Fatalf("lb: %v", err)
	}
	return lb
}

// waitOnline waits (bounded) until the lb reports member ONLINE.
func waitOnline(t *testing.T, lb *lbProc, pool, member string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if s, err := memberStatus(lb, pool, member); err == nil && s == "ONLINE" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s never ONLINE within 30s\n--- lb log:\n%s", member, lb.proc.LogTail())
		}
	}
}

// reloadLoop sends SIGHUP to the lb every reloadEvery until end, after
// rewriting its (unchanged) file, as a configuration manager would.
func reloadLoop(lb *lbProc, n *counter, end time.Time) {
	tick := time.NewTicker(reloadEvery)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			if now.After(end.Add(-time.Second)) {
				return
			}
			if err := os.WriteFile(lb.cfg, lb.cfgText, 0o600); err != nil {
				continue
			}
			if syscall.Kill(lb.proc.PID, syscall.SIGHUP) == nil {
				n.n.Add(1)
			}
		case <-time.After(time.Until(end)):
			return
		}
	}
}

// httpOK GETs url with a short timeout and wants 200.
func httpOK(url string) error {
	resp, err := quickClient.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// quickClient bounds every request the harness makes.
var quickClient = &http.Client{Timeout: 3 * time.Second}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
