package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/health"
	"vitals/internal/probe"
	"vitals/internal/testenv"
)

// TestCheckerErrorNotAMemberFailure: a check that could not run for a
// reason of the engine's own ('e', a checker error) counts neither toward
// max_retries_down nor toward max_retries: the member keeps its status
// and counts, a member not yet checked stays OFFLINE, and the check runs
// again at the next delay. Checks in the transitions count real checks
// only. Were checker errors counted as failures, "pfeefef" would turn the
// member ERROR at its 4th attempt.
func TestCheckerErrorNotAMemberFailure(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		script     string
		want       string // check:OLD>NEW for every transition
		attempt    int    // the attempt, from 1, of the last transition
		status     health.OperatingStatus
	}{
		{"ERROR only on the 3rd real failure", 2, 3, "pfeefef", "1:OFFLINE>ONLINE 4:ONLINE>ERROR", 7, health.Error},
		{"only checker errors keep an ONLINE member ONLINE", 2, 3, "peeeeeeeee", "1:OFFLINE>ONLINE", 1, health.Online},
		{"a member not yet checked stays OFFLINE", 2, 3, "eeeeee", "", 0, health.Offline},
		{"the first real check decides", 2, 3, "eeep", "1:OFFLINE>ONLINE", 4, health.Online},
		{"checker errors do not break a rise", 2, 3, "fpeepf", "1:OFFLINE>ERROR 3:ERROR>ONLINE", 5, health.Online},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const delay, latency = time.Second, 10 * time.Millisecond
				fs := newFakes()
				fs.latency = latency
				fs.script["127.0.0.1:80"] = tt.script
				m := mon(t, TypeTCP, delay, 500*time.Millisecond, tt.rise, tt.fall)
				start := time.Now()
				h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80)}}})
				time.Sleep(time.Duration(len(tt.script)-1)*delay + 2*latency)
				synctest.Wait()
				snap := h.e.Status()
				h.stop(t)

				evs := h.rec.all()
				if got := transitions(evs); got != tt.want {
					t.Errorf("script %s:\n got %s\nwant %s", tt.script, got, tt.want)
				}
				if n := len(evs); n > 0 {
					if want := start.Add(time.Duration(tt.attempt-1)*delay + latency); !evs[n-1].Time.Equal(want) {
						t.Errorf("last transition at +%s, want +%s (attempt %d)", evs[n-1].Time.Sub(start), want.Sub(start), tt.attempt)
					}
				}
				starts := fs.get("127.0.0.1:80").startTimes()
				if len(starts) != len(tt.script) {
					t.Fatalf("%d attempts ran, want %d: a checker error must not stop or delay the schedule", len(starts), len(tt.script))
				}
				for i, s := range starts {
					if want := start.Add(time.Duration(i) * delay); !s.Equal(want) {
						t.Errorf("attempt %d started at +%s, want +%s", i+1, s.Sub(start), want.Sub(start))
					}
				}
				ms := snap.Pools[0].Members[0]
				errs := uint64(strings.Count(tt.script, "e"))
				if ms.Status != tt.status || ms.CheckerErrors != errs || ms.Checks != uint64(len(tt.script))-errs {
					t.Errorf("member %s, %d checks, %d checker errors; want %s, %d, %d", ms.Status, ms.Checks, ms.CheckerErrors, tt.status, uint64(len(tt.script))-errs, errs)
				}
				if lastE := tt.script[len(tt.script)-1] == 'e'; lastE != (ms.LastCheckerError.CheckerError == "emfile") {
					t.Errorf("LastCheckerError = %+v; want it set only when the latest attempt was one", ms.LastCheckerError)
				}
				if snap.CheckerErrors["emfile"] != errs {
					t.Errorf("snapshot CheckerErrors = %v, want emfile=%d", snap.CheckerErrors, errs)
				}
			})
		})
	}
}

// TestCheckerErrorLogAndMetric: checker errors of every member are logged
// by the engine at most once per CheckerErrorLogEvery, at WARN with the
// reason and a count, and counted in vitals_lb_checker_errors_total.
func TestCheckerErrorLogAndMetric(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		fs := newFakes()
		fs.script["127.0.0.1:80"] = "pe"
		fs.script["127.0.0.1:81"] = "e"
		m := mon(t, TypeTCP, delay, 500*time.Millisecond, 2, 3)
		h := startEngine(t, fs, Options{}, []Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("m1", 80), tmember("m2", 81)}}})
		reg := prometheus.NewRegistry()
		reg.MustRegister(h.e.Collector())
		metric := func() float64 {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() != "vitals_lb_checker_errors_total" {
					continue
				}
				for _, mm := range mf.GetMetric() {
					if mm.GetLabel()[0].GetValue() == "emfile" {
						return mm.GetCounter().GetValue()
					}
				}
			}
			t.Fatal("no vitals_lb_checker_errors_total{reason=\"emfile\"}")
			return 0
		}
		synctest.Wait()
		first := metric()
		// Attempts at 0s, 1s, …, 24s: 25 per member, 49 checker errors.
		time.Sleep(24*delay + delay/2)
		synctest.Wait()
		last := metric()
		snap := h.e.Status()
		h.stop(t)

		if first != 1 || last != 49 {
			t.Errorf("vitals_lb_checker_errors_total{reason=emfile} went %v then %v, want 1 then 49", first, last)
		}
		if ms := snap.Pools[0].Members[0]; ms.Status != health.Online {
			t.Errorf("m1 is %s after only checker errors, want ONLINE", ms.Status)
		}
		if ms := snap.Pools[0].Members[1]; ms.Status != health.Offline || ms.Checks != 0 {
			t.Errorf("m2 is %s with %d checks, want OFFLINE (not yet decided) with 0", ms.Status, ms.Checks)
		}
		lines := regexp.MustCompile(`(?m)^.*level=WARN msg="health checks could not run.*$`).FindAllString(h.log.String(), -1)
		// Errors from 0s to 24s, logged at most every 10s: at 0s, 10s, 20s.
		if len(lines) != 3 {
			t.Fatalf("%d checker-error log lines in 25s, want 3 (once per %s):\n%s", len(lines), CheckerErrorLogEvery, strings.Join(lines, "\n"))
		}
		counts := regexp.MustCompile(` count=(\d+) `)
		var logged int
		for i, l := range lines {
			if !strings.Contains(l, "reason=emfile") || !strings.Contains(l, `error="checker error (emfile)`) {
				t.Errorf("line %d lacks the reason: %s", i, l)
			}
			c := counts.FindStringSubmatch(l)
			if c == nil {
				t.Fatalf("line %d has no count: %s", i, l)
			}
			n, _ := strconv.Atoi(c[1])
			if i == 0 && n != 1 || i > 0 && (n < 18 || n > 21) {
				t.Errorf("line %d counts %d errors; want 1 for the first, about 20 (two members over 10s) after", i, n)
			}
			logged += n
		}
		if logged > 49 || logged < 40 {
			t.Errorf("the lines count %d errors in all, want at most 49 and close to it", logged)
		}
		if strings.Contains(h.log.String(), "member status changed") && strings.Contains(h.log.String(), "status=ERROR") {
			t.Errorf("a member turned ERROR on checker errors:\n%s", h.log.String())
		}
	})
}

// emfileRole is the child role of TestCheckerErrorRealEMFILE.
const emfileRole = "monitor-emfile"

// TestCheckerErrorRealEMFILE runs an engine with real TCP checks of a
// healthy member in a child process, exhausts the child's descriptors for
// real (RLIMIT_NOFILE lowered, then filled) while the member is ONLINE
// with max_retries_down 1, then releases them: the member never changes
// status, vitals_lb_checker_errors_total grows, and checks pass again
// after.
func TestCheckerErrorRealEMFILE(t *testing.T) {
	if testenv.ChildRole() == emfileRole {
		emfileChild(t)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out := string(testenv.RunChild(t, emfileRole, "VITALS_TEST_MEMBER="+ln.Addr().String()))
	for _, want := range []string{"--- PASS: " + t.Name(), "checker errors while exhausted: "} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// emfileChild is the child of TestCheckerErrorRealEMFILE.
func emfileChild(t *testing.T) {
	host, port, _ := net.SplitHostPort(os.Getenv("VITALS_TEST_MEMBER"))
	p, _ := strconv.Atoi(port)
	var logs testenv.SyncBuffer
	m := mon(t, TypeTCP, 100*time.Millisecond, 100*time.Millisecond, 1, 1)
	e := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rec := &recorder{}
	e.Subscribe(rec)
	mem := Member{ID: "m1", Name: "m1", Address: host, ProtocolPort: p, Weight: 1, AdminStateUp: true}
	if err := e.Update([]Pool{{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{mem}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// waitFor polls the engine's status until ok, for at most 10s.
	waitFor := func(what string, ok func(Snapshot) bool) Snapshot {
		t.Helper()
		for range 1000 {
			if s := e.Status(); ok(s) {
				return s
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("never %s; log:\n%s", what, logs.String())
		return Snapshot{}
	}
	before := waitFor("ONLINE", func(s Snapshot) bool { return s.Pools[0].Members[0].Status == health.Online })
	time.AfterFunc(time.Hour, func() {}).Stop() // the runtime's netpoller is open before the flood
	release, err := testenv.ExhaustFDs(4)
	if err != nil {
		t.Fatal(err)
	}
	during := waitFor("5 checker errors", func(s Snapshot) bool { return s.CheckerErrors["emfile"] >= 5 })
	release()
	after := waitFor("3 more passing checks", func(s Snapshot) bool {
		return s.Pools[0].Members[0].Checks >= during.Pools[0].Members[0].Checks+3
	})
	if evs := rec.all(); transitions(evs) != "1:OFFLINE>ONLINE" {
		t.Errorf("transitions %s, want only 1:OFFLINE>ONLINE: the flood must not change the member", transitions(evs))
	}
	ms := after.Pools[0].Members[0]
	if ms.Status != health.Online || ms.Last.Status != probe.Pass || ms.LastCheckerError.CheckerError != "" {
		t.Errorf("after the flood: %s, last %+v, last checker error %+v; want ONLINE, passing", ms.Status, ms.Last, ms.LastCheckerError)
	}
	if ms := during.Pools[0].Members[0]; ms.Status != health.Online || ms.Checks < before.Pools[0].Members[0].Checks {
		t.Errorf("during the flood: %s after %d checks, want ONLINE", ms.Status, ms.Checks)
	}
	if !strings.Contains(logs.String(), `msg="health checks could not run for a local reason; members keep their status" reason=emfile`) {
		t.Errorf("no checker-error log line:\n%s", logs.String())
	}
	fmt.Printf("checker errors while exhausted: %d\n", during.CheckerErrors["emfile"])
}
