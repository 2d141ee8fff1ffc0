package monitor

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/health"
	"vitals/internal/probe"
	"vitals/internal/promx"
)

// latencyBuckets are the upper bounds, in seconds, of the check duration
// and lateness histograms.
var latencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// histogram counts durations into latencyBuckets. It is a plain value
// updated under Engine.mu, with no allocation and no atomics per check;
// the collector turns it into a Prometheus histogram at scrape time.
type histogram struct {
	counts [len(latencyBuckets) + 1]uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64                         // seconds
	n      uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i]++
	h.sum += s
	h.n++
}

// buckets returns the cumulative counts Prometheus wants.
func (h *histogram) buckets() map[float64]uint64 {
	b := make(map[float64]uint64, len(latencyBuckets))
	var c uint64
	for i, le := range latencyBuckets {
		c += h.counts[i]
		b[le] = c
	}
	return b
}

// Collector returns a Prometheus collector of the engine's metrics but
// the per-member ones (MemberSeries), read from its state at scrape
// time, so checks pay nothing for them:
//
//	vitals_lb_pool_status{pool,status}                   1 for the pool's operating status, 0 for the others
//	vitals_lb_pool_check_duration_seconds{pool}          histogram of the pool's check durations
//	vitals_lb_checks_total                               checks completed by the engine
//	vitals_lb_checks_running                             checks in flight
//	vitals_lb_check_lateness_seconds                     histogram of how late checks started
//	vitals_lb_checker_errors_total{reason}               checks that could not run for a local reason (emfile, …)
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

var (
	descPoolStatus  = prometheus.NewDesc("vitals_lb_pool_status", "The pool's Octavia operating status: 1 for the current one, 0 for the others.", []string{"pool", "status"}, nil)
	descDuration    = prometheus.NewDesc("vitals_lb_pool_check_duration_seconds", "How long the checks of the pool's members took.", []string{"pool"}, nil)
	descAllChecks   = prometheus.NewDesc("vitals_lb_checks_total", "Checks completed by the engine.", nil, nil)
	descRunning     = prometheus.NewDesc("vitals_lb_checks_running", "Checks in flight.", nil, nil)
	descLateness    = prometheus.NewDesc("vitals_lb_check_lateness_seconds", "How long after their due time checks started.", nil, nil)
	descCheckerErrs = prometheus.NewDesc("vitals_lb_checker_errors_total", "Checks that could not run for a reason of the load balancer's own (emfile, enfile, enobufs, enomem, eaddrnotavail); they leave members' statuses alone.", []string{"reason"}, nil)
)

// Describe sends the descriptors.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPoolStatus, descDuration, descAllChecks, descRunning, descLateness, descCheckerErrs} {
		ch <- d
	}
}

type poolMetrics struct {
	name     string
	status   health.OperatingStatus
	duration histogram
}

// Collect copies the state under the lock and builds the metrics after.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	e.mu.Lock()
	pools := make([]poolMetrics, 0, len(e.pools))
	for _, p := range e.pools {
		pools = append(pools, poolMetrics{p.cfg.Name, p.status, p.duration})
	}
	checks, running, late := e.checks, e.running, e.late
	errs := make([]uint64, len(checkerReasons))
	for i, r := range checkerReasons {
		errs[i] = e.checkerErrs[r]
	}
	e.mu.Unlock()

	for _, p := range pools {
		for _, s := range health.OperatingStatuses() {
			ch <- prometheus.MustNewConstMetric(descPoolStatus, prometheus.GaugeValue, b2f(p.status == s), p.name, s.String())
		}
		ch <- prometheus.MustNewConstHistogram(descDuration, p.duration.n, p.duration.sum, p.duration.buckets(), p.name)
	}
	ch <- prometheus.MustNewConstMetric(descAllChecks, prometheus.CounterValue, float64(checks))
	ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstHistogram(descLateness, late.n, late.sum, late.buckets())
	for i, r := range checkerReasons {
		ch <- prometheus.MustNewConstMetric(descCheckerErrs, prometheus.CounterValue, float64(errs[i]), r)
	}
}

// MemberSeries returns the engine's per-member families, which
// promx.Registry writes straight to a scrape's response:
//
//	vitals_lb_member_up{pool,member}                     1 if the member is enabled and passes its monitor (or has none)
//	vitals_lb_member_status{pool,member,status}          1, labelled with the member's current operating status
//	vitals_lb_member_check_latency_seconds{pool,member}  how long the latest check took
//	vitals_lb_member_checks_total{pool,member}           checks completed
//	vitals_lb_member_check_failures_total{pool,member}   checks failed
//	vitals_lb_member_transitions_total{pool,member}      status changes
//
// A scrape copies every member's values under the engine's lock, as one
// snapshot, into a pooled slice (72 bytes a member), and writes
// them after releasing it.
func (e *Engine) MemberSeries() promx.Streamer {
	return &promx.Set[memberRow]{
		Labels:      [2]string{"member", "pool"},
		LabelValues: func(r *memberRow) (string, string) { return r.Member, r.Pool },
		Families:    memberFamilies,
		Snapshot:    e.memberRows,
	}
}

// memberRow is what a scrape copies of a member under the engine's lock.
type memberRow struct {
	Pool, Member                  string
	Latency                       time.Duration // of the latest check
	Checks, Failures, Transitions uint64
	Status                        health.OperatingStatus
	Up                            bool
}

// memberFamilies declares the per-member families: the one list from
// which their text, descriptors and client_model form are derived.
var memberFamilies = []promx.Family[memberRow]{
	{Name: "vitals_lb_member_up", Help: "1 if the member is enabled and passes its health monitor (or has none), else 0.", Type: promx.Gauge,
		Value: func(r *memberRow) float64 { return b2f(r.Up) }},
	{Name: "vitals_lb_member_status", Help: "1, labelled with the member's current Octavia operating status.", Type: promx.Gauge,
		Label: "status", LabelValue: func(r *memberRow) string { return r.Status.String() },
		Value: func(*memberRow) float64 { return 1 }},
	{Name: "vitals_lb_member_check_latency_seconds", Help: "How long the member's latest check took.", Type: promx.Gauge,
		Value: func(r *memberRow) float64 { return r.Latency.Seconds() }},
	{Name: "vitals_lb_member_checks_total", Help: "Checks of the member completed.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.Checks) }},
	{Name: "vitals_lb_member_check_failures_total", Help: "Checks of the member that failed.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.Failures) }},
	{Name: "vitals_lb_member_transitions_total", Help: "Changes of the member's operating status.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.Transitions) }},
}

// memberRowPool holds the slices scrapes copy members into.
var memberRowPool sync.Pool

// memberRows calls with with a copy of every member's values, taken in
// one hold of the engine's lock, in configuration order.
func (e *Engine) memberRows(with func([]memberRow)) {
	p, _ := memberRowPool.Get().(*[]memberRow)
	if p == nil {
		p = new([]memberRow)
	}
	rows := (*p)[:0]
	e.mu.Lock()
	rows = slices.Grow(rows, len(e.byID))
	for _, ps := range e.pools {
		for _, m := range ps.members {
			rows = append(rows, memberRow{
				Pool: ps.cfg.Name, Member: m.label,
				Latency: m.lastLatency, Checks: m.total, Failures: m.failures, Transitions: m.transitions,
				Status: m.status,
				Up:     m.status == health.NoMonitor || (m.status != health.Offline && m.tracker != nil && m.tracker.State() == health.Up),
			})
		}
	}
	e.mu.Unlock()
	with(rows)
	clear(rows) // the names of members removed since must not stay
	*p = rows[:0]
	memberRowPool.Put(p)
}

// checkerReasons are the reason labels of vitals_lb_checker_errors_total,
// each exported from zero so that rates work from the start.
var checkerReasons = probe.LocalReasons()

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
