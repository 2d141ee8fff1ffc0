// Package promx exports Prometheus series whose label pairs are made once,
// for the per-member series of the lb and its monitor engine: at 10,000
// members, making and sorting every series' labels anew at every scrape
// (prometheus.MustNewConstMetric) was most of what a scrape allocated.
package promx

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Labels makes the label pairs of name, value, name, value, …, sorted by
// name as the registry wants them. The pairs are only read after they
// are made, so concurrent scrapes may share them.
func Labels(nameValues ...string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(nameValues)/2)
	for i := 0; i+1 < len(nameValues); i += 2 {
		out = append(out, &dto.LabelPair{Name: proto.String(nameValues[i]), Value: proto.String(nameValues[i+1])})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// Value is one sample of a series whose label pairs are made already.
type Value struct {
	Series *prometheus.Desc
	Type   prometheus.ValueType
	Labels []*dto.LabelPair
	V      float64
}

// Desc implements prometheus.Metric.
func (m Value) Desc() *prometheus.Desc { return m.Series }

// Write implements prometheus.Metric.
func (m Value) Write(out *dto.Metric) error {
	out.Label = m.Labels
	v := m.V
	if m.Type == prometheus.CounterValue {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}
