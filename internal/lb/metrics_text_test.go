package lb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vitals/internal/health"
	"vitals/internal/monitor"
)

// metricsLB runs the engine of an lb of several pools, with member and
// pool names the text format must escape (quotes, backslashes, a
// newline), until every checked member has been checked twice, then stops
// it so that its state holds still, gives every data-plane series a
// value of its own, and returns /metrics as the admin handler serves it.
func metricsLB(t *testing.T) (*monitor.Engine, *Server, http.Handler, []byte) {
	t.Helper()
	listen := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().(*net.TCPAddr).Port
	}
	upPort, upPort2 := listen(), listen()
	closed := freePort(t)
	cfg, err := Parse("metrics.yaml", fmt.Appendf(nil, `loadbalancer:
  pools:
    - name: web
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 100ms, timeout: 100ms, max_retries: 1, max_retries_down: 1}
      members:
        - {name: "q\"uote", address: 127.0.0.1, protocol_port: %[1]d}
        - {name: "back\\slash", address: 127.0.0.1, protocol_port: %[2]d}
        - {name: "new\nline", address: 127.0.0.1, protocol_port: %[3]d}
    - name: "p\\\"ool"
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 100ms, timeout: 100ms, max_retries: 1, max_retries_down: 1}
      members:
        - {name: a, address: 127.0.0.1, protocol_port: %[2]d}
        - {address: 127.0.0.1, protocol_port: %[1]d}
    - name: plain
      lb_algorithm: ROUND_ROBIN
      members:
        - {name: a, address: 127.0.0.1, protocol_port: %[1]d}
        - {name: b, address: 127.0.0.1, protocol_port: %[2]d, admin_state_up: false}
`, upPort, closed, upPort2))
	if err != nil {
		t.Fatal(err)
	}
	eng, srv := appliedServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	waitFor(t, 10*time.Second, "two checks of every checked member", func() bool {
		for _, p := range eng.Status().Pools {
			for _, m := range p.Members {
				if m.Target != "" && m.Checks < 2 {
					return false
				}
			}
		}
		return true
	})
	cancel()
	<-done
	srv.met.membersMu.Lock()
	i := uint64(0)
	for _, mm := range srv.met.members {
		i++
		mm.active.Store(int64(i))
		mm.total.Store(i * 10)
		mm.selected.Store(i*10 + 1)
		mm.connectErr.Store(i*10 + 2)
		mm.bytesIn.Store(i<<40 + 3) // above 2^53: not every integer is a float64
		mm.bytesOut.Store(i*10 + 4)
		mm.shutdown.Store(i*10 + 5)
	}
	srv.met.membersMu.Unlock()
	h := newAdminHandler(func() *Config { return cfg }, nil, eng, newRegistry(eng, srv))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return eng, srv, h, rec.Body.Bytes()
}

// memberLabel is how metrics name a member: its name, else address:port.
func memberLabel(m monitor.Member) string {
	if m.Name != "" {
		return m.Name
	}
	return net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// labelsOf returns a series' labels by name.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestMetricsTextMatchesState: /metrics parses whole with expfmt's text
// parser, and every per-member series has the value the engine or the
// data plane holds, for every member of every pool, names with escapes
// included; no member has a series twice or lacks one.
func TestMetricsTextMatchesState(t *testing.T) {
	eng, srv, _, body := metricsLB(t)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	type key struct{ pool, member string }
	// series returns a family's values by member, each member once.
	series := func(name string, typ dto.MetricType) map[key]*dto.Metric {
		t.Helper()
		mf := mfs[name]
		if mf == nil {
			t.Fatalf("no %s", name)
		}
		if mf.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, mf.GetType(), typ)
		}
		out := map[key]*dto.Metric{}
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			k := key{l["pool"], l["member"]}
			if out[k] != nil {
				t.Errorf("%s has %v twice", name, k)
			}
			out[k] = m
		}
		return out
	}
	value := func(m *dto.Metric) float64 { return m.GetGauge().GetValue() + m.GetCounter().GetValue() }

	snap := eng.Status()
	var members []key
	for _, ps := range snap.Pools {
		for _, ms := range ps.Members {
			members = append(members, key{ps.Name, memberLabel(ms.Member)})
		}
	}
	if len(members) != 7 {
		t.Fatalf("%d members, want 7", len(members))
	}
	up, status, latency, checks := series("vitals_lb_member_up", dto.MetricType_GAUGE), series("vitals_lb_member_status", dto.MetricType_GAUGE),
		series("vitals_lb_member_check_latency_seconds", dto.MetricType_GAUGE), series("vitals_lb_member_checks_total", dto.MetricType_COUNTER)
	series("vitals_lb_member_check_failures_total", dto.MetricType_COUNTER) // values: internal/monitor's TestMemberMetricsText
	series("vitals_lb_member_transitions_total", dto.MetricType_COUNTER)
	sawOnline, sawError := false, false
	for _, ps := range snap.Pools {
		for _, ms := range ps.Members {
			k := key{ps.Name, memberLabel(ms.Member)}
			if up[k] == nil || status[k] == nil || latency[k] == nil || checks[k] == nil {
				t.Fatalf("member %q of pool %q lacks a series; /metrics:\n%s", k.member, k.pool, body)
			}
			wantUp := 0.0
			if ms.Status == health.Online || ms.Status == health.NoMonitor {
				wantUp = 1
			}
			if got := value(up[k]); got != wantUp {
				t.Errorf("%v: up %v, status %s", k, got, ms.Status)
			}
			if got := labelsOf(status[k])["status"]; got != ms.Status.String() || value(status[k]) != 1 {
				t.Errorf("%v: status %s = %v, want %s = 1", k, got, value(status[k]), ms.Status)
			}
			if got := value(latency[k]); got != ms.Last.Latency.Seconds() {
				t.Errorf("%v: latency %v, want %v", k, got, ms.Last.Latency.Seconds())
			}
			if got := value(checks[k]); got != float64(ms.Checks) {
				t.Errorf("%v: checks %v, want %d", k, got, ms.Checks)
			}
			sawOnline = sawOnline || ms.Status == health.Online
			sawError = sawError || ms.Status == health.Error
		}
	}
	if !sawOnline || !sawError {
		t.Errorf("want both ONLINE and ERROR members among %v", snap.Pools)
	}
	if len(up) != len(members) || len(status) != len(members) {
		t.Errorf("%d up and %d status series for %d members", len(up), len(status), len(members))
	}

	srv.met.membersMu.Lock()
	defer srv.met.membersMu.Unlock()
	if len(srv.met.members) != len(members) {
		t.Fatalf("the data plane has %d members, the engine %d", len(srv.met.members), len(members))
	}
	for name, get := range map[string]func(*memberMetrics) float64{
		"vitals_lb_member_connections_active":      func(m *memberMetrics) float64 { return float64(m.active.Load()) },
		"vitals_lb_member_connections_total":       func(m *memberMetrics) float64 { return float64(m.total.Load()) },
		"vitals_lb_member_selected_total":          func(m *memberMetrics) float64 { return float64(m.selected.Load()) },
		"vitals_lb_member_connect_errors_total":    func(m *memberMetrics) float64 { return float64(m.connectErr.Load()) },
		"vitals_lb_member_bytes_in_total":          func(m *memberMetrics) float64 { return float64(m.bytesIn.Load()) },
		"vitals_lb_member_bytes_out_total":         func(m *memberMetrics) float64 { return float64(m.bytesOut.Load()) },
		"vitals_lb_member_sessions_shutdown_total": func(m *memberMetrics) float64 { return float64(m.shutdown.Load()) },
	} {
		typ := dto.MetricType_COUNTER
		if name == "vitals_lb_member_connections_active" {
			typ = dto.MetricType_GAUGE
		}
		got := series(name, typ)
		if len(got) != len(members) {
			t.Errorf("%s: %d series for %d members", name, len(got), len(members))
		}
		for k, mm := range srv.met.members {
			m := got[key(k)]
			if m == nil {
				t.Errorf("%s: no series for %v", name, k)
				continue
			}
			if v := value(m); v != get(mm) || v == 0 {
				t.Errorf("%s %v = %v, want %v", name, k, v, get(mm))
			}
		}
	}
}

// TestMetricsNoFamilyTwice: in /metrics every family has one HELP and
// one TYPE line and its series in one group, the registry's and the
// streamed ones alike.
func TestMetricsNoFamilyTwice(t *testing.T) {
	_, _, _, body := metricsLB(t)
	help, typ := map[string]int{}, map[string]int{}
	var order []string
	for _, m := range regexp.MustCompile(`(?m)^# (HELP|TYPE) (\S+) `).FindAllSubmatch(body, -1) {
		name := string(m[2])
		if string(m[1]) == "HELP" {
			help[name]++
			order = append(order, name)
		} else {
			typ[name]++
		}
	}
	if len(help) < 30 || help["vitals_lb_member_up"] == 0 || help["vitals_lb_member_bytes_in_total"] == 0 || help["go_goroutines"] == 0 {
		t.Fatalf("only %d families:\n%s", len(help), body)
	}
	for name, n := range help {
		if n != 1 || typ[name] != 1 {
			t.Errorf("%s has %d HELP and %d TYPE lines", name, n, typ[name])
		}
	}
	// Each family's series follow its header, before the next family's.
	sample := regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]`)
	cur, i := "", 0
	for _, line := range bytes.Split(body, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("# HELP ")) {
			cur, i = order[i], i+1
			continue
		}
		m := sample.FindSubmatch(line)
		if m == nil {
			continue
		}
		name := string(m[1])
		if name != cur && name != cur+"_bucket" && name != cur+"_sum" && name != cur+"_count" {
			t.Errorf("series %s under family %s", line, cur)
		}
	}
}

// stalledResponse is a client that takes nothing: its first Write blocks
// until release is closed.
type stalledResponse struct {
	h       http.Header
	writing chan struct{} // closed at the first Write
	release chan struct{}
	once    sync.Once
}

func (s *stalledResponse) Header() http.Header { return s.h }
func (s *stalledResponse) WriteHeader(int)     {}
func (s *stalledResponse) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.writing) })
	<-s.release
	return len(p), nil
}

// TestMetricsStalledClientHoldsNoLock: while a scrape's client takes
// nothing, the engine and the data plane's member series stay usable:
// the scrape holds neither lock while it writes. There are members
// enough that each streamed set overflows the write buffer by itself.
func TestMetricsStalledClientHoldsNoLock(t *testing.T) {
	var y strings.Builder
	y.WriteString("loadbalancer:\n  pools:\n    - name: big\n      lb_algorithm: ROUND_ROBIN\n      members:\n")
	for i := range 2000 {
		fmt.Fprintf(&y, "        - {name: member-with-a-long-name-%d, address: 127.0.0.1, protocol_port: %d}\n", i, 1+i)
	}
	cfg, err := Parse("big.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	eng, srv := appliedServer(t, cfg)
	reg := newRegistry(eng, srv)
	h := newAdminHandler(func() *Config { return cfg }, nil, eng, reg)
	for i, stream := range []string{"the engine's", "the data plane's"} {
		t.Run(stream, func(t *testing.T) {
			var keep string
			if i == 0 {
				keep = "vitals_lb_member_up"
			} else {
				keep = "vitals_lb_member_bytes_in_total"
			}
			w := &stalledResponse{h: http.Header{}, writing: make(chan struct{}), release: make(chan struct{})}
			served := make(chan struct{})
			go func() {
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics?name[]="+keep, nil))
				close(served)
			}()
			defer func() { close(w.release); <-served }()
			select {
			case <-w.writing:
			case <-time.After(10 * time.Second):
				t.Fatal("the scrape wrote nothing in 10s")
			}
			used := make(chan struct{})
			go func() {
				eng.Status()                     // the engine's lock
				srv.met.member("big", "another") // the data plane's member map
				close(used)
			}()
			select {
			case <-used:
			case <-time.After(10 * time.Second):
				t.Fatalf("a lock stayed held while a scrape of %s waited on its client", keep)
			}
		})
	}
}
