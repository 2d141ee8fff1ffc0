package soak

import (
	"bufio"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// usage is one process's resources at one moment; -1: not read.
type usage struct {
	rss        int64 // bytes
	fds        int
	goroutines int // the lb's go_goroutines; -1 for agents, which export no Go metrics
}

// sample is every watched process's usage at one moment, by name.
type sample map[string]usage

// sampler reads the lb's and the agents' usage once a second and keeps
// the peaks.
type sampler struct {
	lb     *lbProc
	pids   map[string]int // "lb", "agent pg1", ...
	mu     sync.Mutex
	peak   sample
	series []sample // one per run tick, for the log
}

func newSampler(lb *lbProc, dbs []*db) *sampler {
	s := &sampler{lb: lb, pids: map[string]int{"lb": lb.proc.PID}, peak: sample{}}
	for _, d := range dbs {
		s.pids[d.agent.Name] = d.agent.PID
	}
	return s
}

// read takes one sample.
func (s *sampler) read() sample {
	out := sample{}
	for name, pid := range s.pids {
		u := usage{rss: -1, fds: -1, goroutines: -1}
		if rss, err := testenv.ProcRSS(pid); err == nil {
			u.rss = rss
		}
		if n, err := testenv.ProcFDs(pid); err == nil {
			u.fds = n
		}
		if name == "lb" {
			if n, err := goroutines(s.lb.admin + "/metrics"); err == nil {
				u.goroutines = n
			}
		}
		out[name] = u
	}
	s.mu.Lock()
	for name, u := range out {
		p := s.peak[name]
		p.rss, p.fds, p.goroutines = max(p.rss, u.rss), max(p.fds, u.fds), max(p.goroutines, u.goroutines)
		s.peak[name] = p
	}
	s.mu.Unlock()
	return out
}

// run samples once a second until end, for the peaks.
func (s *sampler) run(end time.Time) {
	for time.Now().Before(end) {
		u := s.read()
		s.mu.Lock()
		s.series = append(s.series, u)
		s.mu.Unlock()
		time.Sleep(time.Second)
	}
}

// logSeries logs every process's RSS, descriptors and goroutines every
// 5 samples, so that a failure shows a trend and not only two points.
func (s *sampler) logSeries(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.pids))
	for name := range s.pids {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		var b strings.Builder
		for i := 0; i < len(s.series); i += 5 {
			u := s.series[i][name]
			fmt.Fprintf(&b, " %.1f/%d", mib(u.rss), u.fds)
			if u.goroutines >= 0 {
				fmt.Fprintf(&b, "/%d", u.goroutines)
			}
		}
		t.Logf("%s every 5th sample (about 5 s), RSS MiB/fds[/goroutines]:%s", name, b.String())
	}
}

// settle takes five samples 200 ms apart and returns their medians, so
// that the sessions in flight at one instant do not decide the figure.
func (s *sampler) settle(t *testing.T) sample {
	var all []sample
	for range 5 {
		all = append(all, s.read())
		time.Sleep(200 * time.Millisecond)
	}
	out := sample{}
	for name := range s.pids {
		var rss []int64
		var fds, gor []int
		for _, a := range all {
			rss, fds, gor = append(rss, a[name].rss), append(fds, a[name].fds), append(gor, a[name].goroutines)
		}
		slices.Sort(rss)
		slices.Sort(fds)
		slices.Sort(gor)
		out[name] = usage{rss: rss[2], fds: fds[2], goroutines: gor[2]}
		if rss[2] < 0 || fds[2] < 0 || (name == "lb" && gor[2] < 0) {
			t.Errorf("%s: could not read its resources: %+v", name, out[name])
		}
	}
	return out
}

// goroutines reads go_goroutines from a Prometheus text endpoint.
func goroutines(url string) (int, error) {
	resp, err := quickClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, err
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoMetric
}

// errNoMetric: the lb's /metrics lacks go_goroutines.
var errNoMetric = errors.New("go_goroutines not in /metrics")

// Flatness: the end value may exceed the warm-up value by flatRatio, or
// by a floor when that is more: counts (goroutines, descriptors) by
// flatFloor, since a few sessions in flight move them by a handful, and
// RSS by rssFloor.
//
// rssFloor is the Go runtime's minimum heap goal: with GOGC=100 a Go
// process collects only once its heap reaches max(2 × live heap, 4 MiB),
// and keeps the pages it used for reuse (the scavenger returns only what
// lies above the goal). Measured in this soak with GODEBUG=gctrace=1 and
// /proc/PID/status: an agent's live heap after each collection is 0-1 MB,
// it allocates 25-50 KB/s, so it collects for the first time after 20 to
// more than 60 s, and until then its RssAnon climbs steadily by garbage
// (2.3 to 5.4 MB over a minute) although nothing is kept; within a 60 s
// run that cannot be told from a leak by RSS, and the climb is bounded by
// the 4 MiB goal. A MySQL agent alone, checked and asked every 500 ms for
// 8 minutes, collected every 112 s with under 1 MB live each time, and
// its RSS rose from 15.8 to 21.7 MB over its first two collections (4
// minutes), then stayed between 21.3 and 21.8 MB: so in the 5-minute soak
// an agent whose first collection comes after the warm-up sample (at
// 1 minute) ends up to about 3.5 MB above it. The lb's live heap stays at 2 MB over 158 collections,
// its goroutines and descriptors return to their warm-up values, and its
// heap profiles (/debug/pprof/heap) after warm-up and at the end hold
// nothing of ours that grew; its RSS rose only when the first flood (400
// connections) lifted the heap to 14 MB, after which the runtime keeps
// metadata for that peak, which is why the warm-up sample is taken after
// every kind of chaos has happened once (TestSoak). With that warm-up the
// lb stays within 10%; the agents may not, by up to rssFloor.
const (
	flatRatio = 0.10
	flatFloor = 20
	rssFloor  = 4 << 20
)

// checkResources asserts flat usage from warm-up to the end and returns
// the figures as key=value pairs for the SOAK line.
func checkResources(t *testing.T, warm, end sample, peak sample) string {
	var b strings.Builder
	names := make([]string, 0, len(warm))
	for name := range warm {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		w, e, p := warm[name], end[name], peak[name]
		key := strings.ReplaceAll(name, " ", "_")
		if limit := w.rss + max(int64(float64(w.rss)*flatRatio), rssFloor); e.rss > limit {
			t.Errorf("%s: RSS grew from %.1f MiB after warm-up to %.1f MiB at the end (limit %.1f MiB; peak %.1f MiB)",
				name, mib(w.rss), mib(e.rss), mib(limit), mib(p.rss))
		}
		if limit := countLimit(w.fds); e.fds > limit {
			t.Errorf("%s: descriptors grew from %d after warm-up to %d at the end (limit %d; peak %d)", name, w.fds, e.fds, limit, p.fds)
		}
		fmt.Fprintf(&b, " %s_rss_mib=%.1f/%.1f/%.1f %s_fds=%d/%d/%d", key, mib(w.rss), mib(e.rss), mib(p.rss), key, w.fds, e.fds, p.fds)
		if name == "lb" {
			if limit := countLimit(w.goroutines); e.goroutines > limit {
				t.Errorf("%s: goroutines grew from %d after warm-up to %d at the end (limit %d; peak %d)", name, w.goroutines, e.goroutines, limit, p.goroutines)
			}
			fmt.Fprintf(&b, " %s_goroutines=%d/%d/%d", key, w.goroutines, e.goroutines, p.goroutines)
		}
	}
	return strings.TrimSpace(b.String())
}

func countLimit(warm int) int { return max(warm+int(float64(warm)*flatRatio), warm+flatFloor) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// peaks returns the highest values seen.
func (s *sampler) peaks() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := sample{}
	for k, v := range s.peak {
		out[k] = v
	}
	return out
}
