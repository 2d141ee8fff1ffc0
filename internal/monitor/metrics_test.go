package monitor

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vitals/internal/health"
	"vitals/internal/promx"
)

// TestMemberMetricsText: the streamed per-member families parse with
// expfmt's text parser, and every series has the value the engine holds
// for the member (all generations), in several pools, with names that
// need escaping.
func TestMemberMetricsText(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		fs.latency = 7 * time.Millisecond
		fs.script["127.0.0.1:2"] = "pfpfff"
		fs.script["127.0.0.1:3"] = "ffp"
		m := mon(t, TypeTCP, time.Second, 500*time.Millisecond, 1, 2)
		quoted, slashed := tmember("q", 2), tmember("s", 3)
		quoted.Name, slashed.Name = `a "quoted"`+"\nname", `back\slash`
		off := tmember("off", 4)
		off.AdminStateUp = false
		h := startEngine(t, fs, Options{}, []Pool{
			{ID: "p", Name: "web", AdminStateUp: true, Monitor: m, Members: []Member{tmember("a", 1), quoted}},
			{ID: "p2", Name: `p\"2`, AdminStateUp: true, Monitor: m, Members: []Member{slashed, off}},
			{ID: "p3", Name: "none", AdminStateUp: true, Members: []Member{tmember("n", 5)}},
		})
		time.Sleep(5500 * time.Millisecond)
		synctest.Wait()

		var buf bytes.Buffer
		w := promx.NewWriter(&buf)
		h.e.MemberSeries().Stream(w, nil)
		if err := w.Release(); err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, buf.Bytes())
		}
		type key struct{ pool, member string }
		got := map[string]map[key]*dto.Metric{}
		for name, mf := range mfs {
			got[name] = map[key]*dto.Metric{}
			for _, s := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range s.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				k := key{l["pool"], l["member"]}
				if got[name][k] != nil {
					t.Errorf("%s has %v twice", name, k)
				}
				got[name][k] = s
			}
		}
		value := func(s *dto.Metric) float64 { return s.GetGauge().GetValue() + s.GetCounter().GetValue() }

		h.e.mu.Lock()
		defer h.e.mu.Unlock()
		n, statuses := 0, map[health.OperatingStatus]bool{}
		for _, ps := range h.e.pools {
			for _, mm := range ps.members {
				n++
				k := key{ps.cfg.Name, mm.label}
				statuses[mm.status] = true
				up := 0.0
				if mm.status == health.Online || mm.status == health.NoMonitor {
					up = 1
				}
				want := map[string]float64{
					"vitals_lb_member_up":                    up,
					"vitals_lb_member_status":                1,
					"vitals_lb_member_check_latency_seconds": mm.lastLatency.Seconds(),
					"vitals_lb_member_checks_total":          float64(mm.total),
					"vitals_lb_member_check_failures_total":  float64(mm.failures),
					"vitals_lb_member_transitions_total":     float64(mm.transitions),
				}
				for name, v := range want {
					s := got[name][k]
					if s == nil {
						t.Errorf("%s: no series for %q in pool %q:\n%s", name, k.member, k.pool, buf.Bytes())
						continue
					}
					if value(s) != v {
						t.Errorf("%s %v = %v, want %v", name, k, value(s), v)
					}
				}
				var st string
				for _, lp := range got["vitals_lb_member_status"][k].GetLabel() {
					if lp.GetName() == "status" {
						st = lp.GetValue()
					}
				}
				if st != mm.status.String() {
					t.Errorf("%v: status %q, want %s", k, st, mm.status)
				}
			}
		}
		if n != 5 || len(mfs) != len(memberFamilies) {
			t.Errorf("%d members and %d families, want 5 and %d", n, len(mfs), len(memberFamilies))
		}
		for name := range got {
			if len(got[name]) != n {
				t.Errorf("%s has %d series for %d members", name, len(got[name]), n)
			}
		}
		for _, st := range []health.OperatingStatus{health.Online, health.Error, health.Offline, health.NoMonitor} {
			if !statuses[st] {
				t.Errorf("no member %s: the test covers less than it should (%v)", st, statuses)
			}
		}
		if got["vitals_lb_member_checks_total"][key{"web", `a "quoted"` + "\nname"}] == nil || value(got["vitals_lb_member_check_failures_total"][key{"web", `a "quoted"` + "\nname"}]) == 0 {
			t.Errorf("the quoted member's failures are not counted:\n%s", buf.Bytes())
		}
	})
}
