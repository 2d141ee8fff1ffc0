package monitor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

// Collector returns a Prometheus collector of the engine's metrics, read
// from its state at scrape time, so checks pay nothing for them. Per
// member, six series keep a scrape of 10,000 members cheap:
//
//	vitals_lb_member_up{pool,member}                     1 if the member is enabled and passes its monitor (or has none)
//	vitals_lb_member_status{pool,member,status}          1, labelled with the member's current operating status
//	vitals_lb_member_check_latency_seconds{pool,member}  how long the latest check took
//	vitals_lb_member_checks_total{pool,member}           checks completed
//	vitals_lb_member_check_failures_total{pool,member}   checks failed
//	vitals_lb_member_transitions_total{pool,member}      status changes
//	vitals_lb_pool_status{pool,status}                   1 for the pool's operating status, 0 for the others
//	vitals_lb_pool_check_duration_seconds{pool}          histogram of the pool's check durations
//	vitals_lb_checks_total                               checks completed by the engine
//	vitals_lb_checks_running                             checks in flight
//	vitals_lb_check_lateness_seconds                     histogram of how late checks started
//	vitals_lb_checker_errors_total{reason}               checks that could not run for a local reason (emfile, …)
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

var (
	descUp          = prometheus.NewDesc("vitals_lb_member_up", "1 if the member is enabled and passes its health monitor (or has none), else 0.", []string{"pool", "member"}, nil)
	descStatus      = prometheus.NewDesc("vitals_lb_member_status", "1, labelled with the member's current Octavia operating status.", []string{"pool", "member", "status"}, nil)
	descLatency     = prometheus.NewDesc("vitals_lb_member_check_latency_seconds", "How long the member's latest check took.", []string{"pool", "member"}, nil)
	descChecks      = prometheus.NewDesc("vitals_lb_member_checks_total", "Checks of the member completed.", []string{"pool", "member"}, nil)
	descFailures    = prometheus.NewDesc("vitals_lb_member_check_failures_total", "Checks of the member that failed.", []string{"pool", "member"}, nil)
	descTransitions = prometheus.NewDesc("vitals_lb_member_transitions_total", "Changes of the member's operating status.", []string{"pool", "member"}, nil)
	descPoolStatus  = prometheus.NewDesc("vitals_lb_pool_status", "The pool's Octavia operating status: 1 for the current one, 0 for the others.", []string{"pool", "status"}, nil)
	descDuration    = prometheus.NewDesc("vitals_lb_pool_check_duration_seconds", "How long the checks of the pool's members took.", []string{"pool"}, nil)
	descAllChecks   = prometheus.NewDesc("vitals_lb_checks_total", "Checks completed by the engine.", nil, nil)
	descRunning     = prometheus.NewDesc("vitals_lb_checks_running", "Checks in flight.", nil, nil)
	descLateness    = prometheus.NewDesc("vitals_lb_check_lateness_seconds", "How long after their due time checks started.", nil, nil)
	descCheckerErrs = prometheus.NewDesc("vitals_lb_checker_errors_total", "Checks that could not run for a reason of the load balancer's own (emfile, enfile, enobufs, enomem, eaddrnotavail); they leave members' statuses alone.", []string{"reason"}, nil)
)

// Describe sends the descriptors.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descStatus, descLatency, descChecks, descFailures, descTransitions, descPoolStatus, descDuration, descAllChecks, descRunning, descLateness, descCheckerErrs} {
		ch <- d
	}
}

// memberMetrics is what the collector copies of a member under the lock.
type memberMetrics struct {
	labels                      []*dto.LabelPair // member, pool
	up                          bool
	status                      health.OperatingStatus
	latency                     time.Duration
	total, failures, transition uint64
}

// statusLabel is the status label pair of each operating status; it
// sorts after member and pool.
var statusLabel = func() map[health.OperatingStatus]*dto.LabelPair {
	out := map[health.OperatingStatus]*dto.LabelPair{}
	for _, st := range health.OperatingStatuses() {
		out[st] = promx.Labels("status", st.String())[0]
	}
	return out
}()

func statusPair(st health.OperatingStatus) *dto.LabelPair {
	if p, ok := statusLabel[st]; ok {
		return p
	}
	return promx.Labels("status", st.String())[0]
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
	ms := make([]memberMetrics, 0, len(e.byID))
	pools := make([]poolMetrics, 0, len(e.pools))
	for _, p := range e.pools {
		pools = append(pools, poolMetrics{p.cfg.Name, p.status, p.duration})
		for _, m := range p.members {
			up := m.status == health.NoMonitor || (m.status != health.Offline && m.tracker != nil && m.tracker.State() == health.Up)
			if m.prom == nil || m.prom[0].GetValue() != m.label || m.prom[1].GetValue() != p.cfg.Name {
				m.prom = promx.Labels("pool", p.cfg.Name, "member", m.label)
			}
			ms = append(ms, memberMetrics{labels: m.prom, up: up, status: m.status, latency: m.last.Latency, total: m.total, failures: m.failures, transition: m.transitions})
		}
	}
	checks, running, late := e.checks, e.running, e.late
	errs := make([]uint64, len(checkerReasons))
	for i, r := range checkerReasons {
		errs[i] = e.checkerErrs[r]
	}
	e.mu.Unlock()

	for _, m := range ms {
		ch <- promx.Value{Series: descUp, Type: prometheus.GaugeValue, Labels: m.labels, V: b2f(m.up)}
		ch <- promx.Value{Series: descStatus, Type: prometheus.GaugeValue, Labels: []*dto.LabelPair{m.labels[0], m.labels[1], statusPair(m.status)}, V: 1}
		ch <- promx.Value{Series: descLatency, Type: prometheus.GaugeValue, Labels: m.labels, V: m.latency.Seconds()}
		ch <- promx.Value{Series: descChecks, Type: prometheus.CounterValue, Labels: m.labels, V: float64(m.total)}
		ch <- promx.Value{Series: descFailures, Type: prometheus.CounterValue, Labels: m.labels, V: float64(m.failures)}
		ch <- promx.Value{Series: descTransitions, Type: prometheus.CounterValue, Labels: m.labels, V: float64(m.transition)}
	}
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

// checkerReasons are the reason labels of vitals_lb_checker_errors_total,
// each exported from zero so that rates work from the start.
var checkerReasons = probe.LocalReasons()

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
