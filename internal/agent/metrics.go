package agent

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vitals/internal/buildinfo"
	"vitals/internal/probe"
)

// metrics holds the agent's Prometheus series in its own registry.
//
//	vitals_agent_check_up{check}                     1 when the check passes or warns now (after hysteresis and staleness)
//	vitals_agent_check_status{check,status}          1 for the current status: pass, warn or fail
//	vitals_agent_check_result_age_seconds{check}     age of the latest result
//	vitals_agent_check_latency_seconds{check}        histogram of run latencies
//	vitals_agent_check_runs_total{check,result}      runs by result: pass, warn, fail
//	vitals_agent_check_transitions_total{check}      changes of state, the first result (leaving "unknown") included
//	vitals_agent_event_subscribers                   open /status/events streams (statuspage.go; once the first opened)
//	vitals_agent_event_subscribers_dropped_total     streams dropped because a message was not taken in time
//	vitals_agent_http_requests_total{path,code}      probes answered, by path and status code
//	vitals_agent_maintenance                         1 while in maintenance (opsmetrics.go, with go_* and process_*)
//	vitals_agent_drain                               1 while draining (opsmetrics.go)
//	vitals_agent_checker_errors_total{reason}        runs that could not be attempted for a local reason (emfile, …)
//	vitals_agent_check_role{check,role}              1 for the role the latest run read (rolemetrics.go)
//	vitals_agent_check_replication_lag_bytes{check}  PostgreSQL: WAL received but not yet replayed
//	vitals_agent_check_replication_lag_seconds{check} replay delay (MySQL: Seconds_Behind_Source)
//
// and vitals_build_info{version,goversion,revision} (internal/buildinfo), as on the lb.
type metrics struct {
	reg         *prometheus.Registry
	latency     *prometheus.HistogramVec
	runs        *prometheus.CounterVec
	transitions *prometheus.CounterVec
	requests    *prometheus.CounterVec
	checkerErrs *prometheus.CounterVec
	views       atomic.Pointer[func() []View] // set by configure; read at scrape
	h           http.Handler

	// served counters by path and code, cached so a probe costs no label
	// hashing.
	mu      sync.RWMutex
	counter map[servedKey]prometheus.Counter
}

type servedKey struct {
	path string
	code int
}

var (
	descUp     = prometheus.NewDesc("vitals_agent_check_up", "1 when the check passes or warns now, after hysteresis and staleness.", []string{"check"}, nil)
	descStatus = prometheus.NewDesc("vitals_agent_check_status", "1 for the check's current status (pass, warn or fail).", []string{"check", "status"}, nil)
	descAge    = prometheus.NewDesc("vitals_agent_check_result_age_seconds", "Age of the check's latest result.", []string{"check"}, nil)
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vitals_agent_check_latency_seconds",
			Help:    "Latency of check runs.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitals_agent_check_runs_total", Help: "Check runs by result.",
		}, []string{"check", "result"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitals_agent_check_transitions_total", Help: "Changes of a check's state between up and down.",
		}, []string{"check"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitals_agent_http_requests_total", Help: "Health probes answered, by path and status code.",
		}, []string{"path", "code"}),
		checkerErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vitals_agent_checker_errors_total",
			Help: "Check runs that could not be attempted for a reason of the agent's own (emfile, enfile, enobufs, enomem, eaddrnotavail); the checks keep their previous result.",
		}, []string{"reason"}),
		counter: map[servedKey]prometheus.Counter{},
	}
	for _, r := range probe.LocalReasons() {
		m.checkerErrs.WithLabelValues(r) // exported from zero
	}
	m.reg.MustRegister(m.latency, m.runs, m.transitions, m.requests, m.checkerErrs, viewCollector{m})
	m.reg.MustRegister(roleCollector{m}) // rolemetrics.go
	m.reg.MustRegister(buildinfo.Collector())
	m.h = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) handler() http.Handler { return m.h }

// configure points the scrape-time series at the current checks.
func (m *metrics) configure(checks []*check) {
	f := func() []View {
		now := time.Now()
		views := make([]View, len(checks))
		for i, c := range checks {
			views[i] = c.view(now)
		}
		return views
	}
	m.views.Store(&f)
}

// forget drops the series of a check that was removed.
func (m *metrics) forget(name string) {
	m.latency.DeleteLabelValues(name)
	m.transitions.DeleteLabelValues(name)
	for _, r := range []string{"pass", "warn", "fail"} {
		m.runs.DeleteLabelValues(name, r)
	}
}

func (m *metrics) observe(name string, r probe.Result) {
	m.latency.WithLabelValues(name).Observe(r.Latency.Seconds())
	m.runs.WithLabelValues(name, r.Status.String()).Inc()
}

func (m *metrics) transition(name string) { m.transitions.WithLabelValues(name).Inc() }

// checkerError counts one run that could not be attempted, by its
// probe.LocalReason label.
func (m *metrics) checkerError(reason string) { m.checkerErrs.WithLabelValues(reason).Inc() }

// served counts one answered probe.
func (m *metrics) served(path string, code int) {
	k := servedKey{path, code}
	m.mu.RLock()
	c, ok := m.counter[k]
	m.mu.RUnlock()
	if !ok {
		c = m.requests.WithLabelValues(path, strconv.Itoa(code))
		m.mu.Lock()
		m.counter[k] = c
		m.mu.Unlock()
	}
	c.Inc()
}

// viewCollector reads up, status and age at scrape time, so they include
// staleness.
type viewCollector struct{ m *metrics }

func (v viewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descStatus
	ch <- descAge
}

func (v viewCollector) Collect(ch chan<- prometheus.Metric) {
	f := v.m.views.Load()
	if f == nil {
		return
	}
	now := time.Now()
	for _, view := range (*f)() {
		up := 0.0
		if view.Status != probe.Fail {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, view.Name)
		for _, s := range []probe.Status{probe.Pass, probe.Warn, probe.Fail} {
			val := 0.0
			if view.Status == s {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, val, view.Name, s.String())
		}
		if !view.Time.IsZero() {
			ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, now.Sub(view.Time.Add(view.Latency)).Seconds(), view.Name)
		}
	}
}
