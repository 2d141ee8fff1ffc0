package lb

import "github.com/prometheus/client_golang/prometheus"

// metrics are the data plane's Prometheus metrics, per listener, pool and
// member. Byte counters advance when a copy returns: at the end of a
// session, or at each idle-timeout window when timeouts are set.
type metrics struct {
	listenerActive   *prometheus.GaugeVec
	listenerTotal    *prometheus.CounterVec
	listenerRejected *prometheus.CounterVec
	listenerBytesIn  *prometheus.CounterVec
	listenerBytesOut *prometheus.CounterVec
	listenerClosed   *prometheus.CounterVec
	poolRetries      *prometheus.CounterVec
	poolNoMember     *prometheus.CounterVec
	memberActive     *prometheus.GaugeVec
	memberTotal      *prometheus.CounterVec
	memberSelected   *prometheus.CounterVec
	memberConnectErr *prometheus.CounterVec
	memberBytesIn    *prometheus.CounterVec
	memberBytesOut   *prometheus.CounterVec
	memberShutdown   *prometheus.CounterVec
}

// memberMetrics are one member's series, resolved once.
type memberMetrics struct {
	active                      prometheus.Gauge
	total, selected, connectErr prometheus.Counter
	bytesIn, bytesOut, shutdown prometheus.Counter
}

// listenerMetrics are one listener's series, resolved once.
type listenerMetrics struct {
	active                               prometheus.Gauge
	total, overLimit, noMember, fdBudget prometheus.Counter
	bytesIn, bytesOut                    prometheus.Counter
	// closed counts the sessions the lb ended, by endReason; nil for the
	// reasons that are not the lb's (endReasons' byLB).
	closed [numEndReasons]prometheus.Counter
}

func newMetrics() *metrics {
	lv := []string{"listener"}
	pv := []string{"pool"}
	mv := []string{"pool", "member"}
	return &metrics{
		listenerActive:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vitals_lb_listener_connections_active", Help: "Client connections the listener holds now."}, lv),
		listenerTotal:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_connections_total", Help: "Client connections the listener accepted and served."}, lv),
		listenerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_connections_rejected_total", Help: "Client connections closed at once: reason connection_limit, fd_budget (no descriptors left outside the reserve for health checks and admin), no_member (nothing usable, fail closed) or connect_failed (every try failed)."}, []string{"listener", "reason"}),
		listenerBytesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_bytes_in_total", Help: "Bytes from clients to members through the listener."}, lv),
		listenerBytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_bytes_out_total", Help: "Bytes from members to clients through the listener."}, lv),
		listenerClosed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_sessions_closed_total", Help: "Established sessions the lb ended itself, by reason: " + endReasonsHelp() + "."}, []string{"listener", "reason"}),
		poolRetries:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_pool_retries_total", Help: "Connects retried on another member after a connect failure."}, pv),
		poolNoMember:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_pool_no_member_total", Help: "New connections that found no usable member."}, pv),
		memberActive:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vitals_lb_member_connections_active", Help: "Sessions established with the member now."}, mv),
		memberTotal:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_connections_total", Help: "Sessions established with the member."}, mv),
		memberSelected:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_selected_total", Help: "Times the balancer chose the member, retries included."}, mv),
		memberConnectErr: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_connect_errors_total", Help: "Failed connects to the member."}, mv),
		memberBytesIn:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_bytes_in_total", Help: "Bytes from clients to the member."}, mv),
		memberBytesOut:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_bytes_out_total", Help: "Bytes from the member to clients."}, mv),
		memberShutdown:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_member_sessions_shutdown_total", Help: "Sessions closed because the member turned ERROR (on_member_down: shutdown_sessions)."}, mv),
	}
}

// Describe and Collect make metrics a prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.listenerActive, m.listenerTotal, m.listenerRejected, m.listenerBytesIn, m.listenerBytesOut, m.listenerClosed, m.poolRetries, m.poolNoMember,
		m.memberActive, m.memberTotal, m.memberSelected, m.memberConnectErr, m.memberBytesIn, m.memberBytesOut, m.memberShutdown}
}

func (m *metrics) member(pool, label string) *memberMetrics {
	return &memberMetrics{
		active: m.memberActive.WithLabelValues(pool, label), total: m.memberTotal.WithLabelValues(pool, label),
		selected: m.memberSelected.WithLabelValues(pool, label), connectErr: m.memberConnectErr.WithLabelValues(pool, label),
		bytesIn: m.memberBytesIn.WithLabelValues(pool, label), bytesOut: m.memberBytesOut.WithLabelValues(pool, label),
		shutdown: m.memberShutdown.WithLabelValues(pool, label),
	}
}

func (m *metrics) listener(label string) *listenerMetrics {
	lm := &listenerMetrics{
		active: m.listenerActive.WithLabelValues(label), total: m.listenerTotal.WithLabelValues(label),
		overLimit: m.listenerRejected.WithLabelValues(label, "connection_limit"), noMember: m.listenerRejected.WithLabelValues(label, "no_member"),
		fdBudget: m.listenerRejected.WithLabelValues(label, "fd_budget"),
		bytesIn:  m.listenerBytesIn.WithLabelValues(label), bytesOut: m.listenerBytesOut.WithLabelValues(label),
	}
	for r, e := range endReasons {
		if e.byLB {
			lm.closed[r] = m.listenerClosed.WithLabelValues(label, e.name)
		}
	}
	return lm
}

// The drop methods delete the series of a member, pool or listener that a
// reload removed, so that /metrics shows only what runs. Sessions still
// open on it keep updating their resolved series, which are no longer
// exported.

func (m *metrics) memberVecs() []interface {
	DeleteLabelValues(...string) bool
	DeletePartialMatch(prometheus.Labels) int
} {
	return []interface {
		DeleteLabelValues(...string) bool
		DeletePartialMatch(prometheus.Labels) int
	}{m.memberActive, m.memberTotal, m.memberSelected, m.memberConnectErr, m.memberBytesIn, m.memberBytesOut, m.memberShutdown}
}

func (m *metrics) dropMember(pool, label string) {
	for _, v := range m.memberVecs() {
		v.DeleteLabelValues(pool, label)
	}
}

func (m *metrics) dropPool(pool string) {
	for _, v := range m.memberVecs() {
		v.DeletePartialMatch(prometheus.Labels{"pool": pool})
	}
	m.poolRetries.DeleteLabelValues(pool)
	m.poolNoMember.DeleteLabelValues(pool)
}

func (m *metrics) dropListener(label string) {
	m.listenerActive.DeleteLabelValues(label)
	m.listenerTotal.DeleteLabelValues(label)
	m.listenerRejected.DeletePartialMatch(prometheus.Labels{"listener": label})
	m.listenerBytesIn.DeleteLabelValues(label)
	m.listenerBytesOut.DeleteLabelValues(label)
	m.listenerClosed.DeletePartialMatch(prometheus.Labels{"listener": label})
}
