package promx

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

type funcCollector struct {
	collect func(chan<- prometheus.Metric)
	descs   []*prometheus.Desc
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// TestValuesGatherAsConstMetrics: series with premade label pairs gather
// exactly as prometheus.MustNewConstMetric's do, through the registry's
// consistency checks, and concurrent scrapes share the pairs.
func TestValuesGatherAsConstMetrics(t *testing.T) {
	desc := prometheus.NewDesc("x_total", "X.", []string{"pool", "member"}, nil)
	gdesc := prometheus.NewDesc("x_up", "Up.", []string{"pool", "member"}, nil)
	a, b := Labels("pool", "web", "member", "a"), Labels("pool", "web", "member", "b")
	if a[0].GetName() != "member" || a[1].GetName() != "pool" {
		t.Fatalf("labels not sorted by name: %v", a)
	}
	ours := funcCollector{func(ch chan<- prometheus.Metric) {
		ch <- Value{Series: desc, Type: prometheus.CounterValue, Labels: a, V: 3}
		ch <- Value{Series: desc, Type: prometheus.CounterValue, Labels: b, V: 5}
		ch <- Value{Series: gdesc, Type: prometheus.GaugeValue, Labels: a, V: 1}
	}, []*prometheus.Desc{desc, gdesc}}
	theirs := funcCollector{func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 3, "web", "a")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 5, "web", "b")
		ch <- prometheus.MustNewConstMetric(gdesc, prometheus.GaugeValue, 1, "web", "a")
	}, []*prometheus.Desc{desc, gdesc}}
	const format = expfmt.TypeTextPlain
	want, err := testutil.CollectAndFormat(theirs, format, "x_total", "x_up")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(want), `x_total{member="b",pool="web"} 5`) {
		t.Fatalf("unexpected reference output:\n%s", want)
	}
	ped := prometheus.NewPedanticRegistry()
	ped.MustRegister(ours)
	if _, err := ped.Gather(); err != nil {
		t.Errorf("pedantic gather: %v", err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := testutil.CollectAndFormat(ours, format, "x_total", "x_up")
			if err != nil || string(got) != string(want) {
				t.Errorf("gathered\n%s\nwant\n%s\n(err %v)", got, want, err)
			}
		})
	}
	wg.Wait()

	// The pairs pass a pedantic registry's checks, which refuse a series
	// without all its labels (a const metric missing a label value is
	// refused when made).
	bad := funcCollector{func(ch chan<- prometheus.Metric) {
		ch <- Value{Series: desc, Type: prometheus.CounterValue, Labels: Labels("pool", "web"), V: 1}
	}, []*prometheus.Desc{desc}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(bad)
	if _, err := reg.Gather(); err == nil {
		t.Error("a series without its member label gathered")
	}
}
