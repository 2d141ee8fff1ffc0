package lb

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/promx"
)

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
	// parked reads the directions parked now (park.go).
	parked prometheus.GaugeFunc

	// membersMu guards members, every member's series by pool and label;
	// memberSeries writes them at scrape time.
	membersMu sync.Mutex
	members   map[memberKey]*memberMetrics
}

// memberKey names a member's series.
type memberKey struct{ pool, member string }

// memberMetrics are one member's series: plain atomics that the
// streamed families (memberSeries) read at scrape time. A Prometheus
// child per series (label pairs, created timestamp, map entry) cost
// about 500 bytes, 3.5 KB for a member's seven: the better part of what
// a member cost at 10,000 members.
type memberMetrics struct {
	active                                atomic.Int64
	total, selected, connectErr, shutdown atomic.Uint64
	bytesIn, bytesOut                     atomic.Uint64
}

// memberRow is a member's series as a scrape sees them: its names, and
// its atomics, read as each family is written.
type memberRow struct {
	key memberKey
	m   *memberMetrics
}

// memberFamilies declares the data plane's per-member families: the one
// list from which their text, descriptors and the status page's reading
// are derived.
var memberFamilies = []promx.Family[memberRow]{
	{Name: "vitals_lb_member_connections_active", Help: "Sessions established with the member now.", Type: promx.Gauge,
		Value: func(r *memberRow) float64 { return float64(r.m.active.Load()) }},
	{Name: "vitals_lb_member_connections_total", Help: "Sessions established with the member.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.total.Load()) }},
	{Name: "vitals_lb_member_selected_total", Help: "Times the balancer chose the member, retries included.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.selected.Load()) }},
	{Name: "vitals_lb_member_connect_errors_total", Help: "Failed connects to the member.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.connectErr.Load()) }},
	{Name: "vitals_lb_member_bytes_in_total", Help: "Bytes from clients to the member.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.bytesIn.Load()) }},
	{Name: "vitals_lb_member_bytes_out_total", Help: "Bytes from the member to clients.", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.bytesOut.Load()) }},
	{Name: "vitals_lb_member_sessions_shutdown_total", Help: "Sessions closed because the member turned ERROR (on_member_down: shutdown_sessions).", Type: promx.Counter,
		Value: func(r *memberRow) float64 { return float64(r.m.shutdown.Load()) }},
}

// memberSeries returns the per-member families, which promx.Registry
// writes straight to a scrape's response.
func (m *metrics) memberSeries() promx.Streamer {
	return &promx.Set[memberRow]{
		Labels:      [2]string{"member", "pool"},
		LabelValues: func(r *memberRow) (string, string) { return r.key.member, r.key.pool },
		Families:    memberFamilies,
		Snapshot:    m.memberRows,
	}
}

// memberRowPool holds the slices scrapes copy the member map into.
var memberRowPool sync.Pool

// memberRows calls with with every member's names and series, copied
// from the map under membersMu (40 bytes a member, in a pooled slice)
// and sorted by pool and member; the values are atomics, read as they
// are written out.
func (m *metrics) memberRows(with func([]memberRow)) {
	p, _ := memberRowPool.Get().(*[]memberRow)
	if p == nil {
		p = new([]memberRow)
	}
	rows := (*p)[:0]
	m.membersMu.Lock()
	rows = slices.Grow(rows, len(m.members))
	for k, mm := range m.members {
		rows = append(rows, memberRow{k, mm})
	}
	m.membersMu.Unlock()
	// In a stable order, as the registry wrote them: scrapes then differ
	// only where values do, and compress better (gzip).
	slices.SortFunc(rows, func(a, b memberRow) int {
		if c := strings.Compare(a.key.pool, b.key.pool); c != 0 {
			return c
		}
		return strings.Compare(a.key.member, b.key.member)
	})
	with(rows)
	clear(rows)
	*p = rows[:0]
	memberRowPool.Put(p)
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

// newMetrics makes the data plane's metrics; parked counts the session
// directions parked now.
func newMetrics(parked func() float64) *metrics {
	lv := []string{"listener"}
	pv := []string{"pool"}
	return &metrics{
		parked:           prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vitals_lb_parked_directions", Help: "Directions of sessions idle for 500 ms or more, parked: waiting in the lb's epoll set with no goroutine (two per idle session)."}, parked),
		listenerActive:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vitals_lb_listener_connections_active", Help: "Client connections the listener holds now."}, lv),
		listenerTotal:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_connections_total", Help: "Client connections the listener accepted and served."}, lv),
		listenerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_connections_rejected_total", Help: "Client connections closed at once: reason connection_limit, fd_budget (no descriptors left outside the reserve for health checks and admin), no_member (nothing usable, fail closed) or connect_failed (every try failed)."}, []string{"listener", "reason"}),
		listenerBytesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_bytes_in_total", Help: "Bytes from clients to members through the listener."}, lv),
		listenerBytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_bytes_out_total", Help: "Bytes from members to clients through the listener."}, lv),
		listenerClosed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_listener_sessions_closed_total", Help: "Established sessions the lb ended itself, by reason: " + endReasonsHelp() + "."}, []string{"listener", "reason"}),
		poolRetries:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_pool_retries_total", Help: "Connects retried on another member after a connect failure."}, pv),
		poolNoMember:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vitals_lb_pool_no_member_total", Help: "New connections that found no usable member."}, pv),
		members:          map[memberKey]*memberMetrics{},
	}
}

// Describe and Collect make metrics a prometheus.Collector of the
// listener and pool families; memberSeries has the per-member ones.
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
	return []prometheus.Collector{m.listenerActive, m.listenerTotal, m.listenerRejected, m.listenerBytesIn, m.listenerBytesOut, m.listenerClosed, m.poolRetries, m.poolNoMember, m.parked}
}

// member returns the series of the member label of pool, made at the
// first call: a member that a reload replaces by one with the same pool
// and label keeps counting in them.
func (m *metrics) member(pool, label string) *memberMetrics {
	m.membersMu.Lock()
	defer m.membersMu.Unlock()
	k := memberKey{pool, label}
	mm := m.members[k]
	if mm == nil {
		mm = &memberMetrics{}
		m.members[k] = mm
	}
	return mm
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

func (m *metrics) dropMember(pool, label string) {
	m.membersMu.Lock()
	delete(m.members, memberKey{pool, label})
	m.membersMu.Unlock()
}

func (m *metrics) dropPool(pool string) {
	m.membersMu.Lock()
	for k := range m.members {
		if k.pool == pool {
			delete(m.members, k)
		}
	}
	m.membersMu.Unlock()
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
