// Package promx writes the per-member series of the lb and its monitor
// engine straight to a /metrics response, in the Prometheus text format
// (0.0.4), beside a client_golang registry that keeps the rest.
//
// client_golang makes a dto.Metric per series at every scrape, sorts
// them and encodes them: at 10,000 members (13 series each) one scrape
// allocated about 50 MB. A Set declares a group of per-member families
// once (name, help, type, how to read the value from a row) and derives
// from that declaration the text it writes from a reused buffer with no
// allocation per series, the descriptors that reserve its names in the
// registry, and dto families for in-process readers (the status page,
// tests).
package promx

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Type is a streamed family's type.
type Type uint8

// The types a streamed family can have.
const (
	Counter Type = iota
	Gauge
)

func (t Type) String() string {
	if t == Counter {
		return "counter"
	}
	return "gauge"
}

// Family declares one family of a Set: a series per row.
type Family[T any] struct {
	// Name and Help are the family's name and help text.
	Name, Help string
	Type       Type
	// Label, when not "", is a label after the Set's two whose value
	// LabelValue gives per row (e.g. a member's status).
	Label      string
	LabelValue func(*T) string
	// Value reads the row's sample.
	Value func(*T) float64
}

// Set is a group of families over the same rows (one per member),
// written family by family from one snapshot of the rows.
type Set[T any] struct {
	// Labels are the names of the two labels every series carries, in
	// name order as a registry writes them (a Family's Label sorts after
	// them), and LabelValues gives their values for a row.
	Labels      [2]string
	LabelValues func(*T) (string, string)
	Families    []Family[T]
	// Snapshot calls with with the rows of one consistent snapshot; the
	// rows are valid only during the call, which must not hold a lock
	// that matters to anyone else (it writes to the client).
	Snapshot func(with func(rows []T))
}

// Streamer is what a Registry needs of a Set.
type Streamer interface {
	// Describe sends the families' descriptors.
	Describe(ch chan<- *prometheus.Desc)
	// Stream writes the families that keep accepts (all when nil) to w.
	Stream(w *Writer, keep func(name string) bool)
	// Gather returns the families that keep accepts (all when nil) as
	// client_model families, allocating a dto.Metric per series: for
	// in-process readers, not for scrapes.
	Gather(keep func(name string) bool) []*dto.MetricFamily
}

// Describe implements Streamer.
func (s *Set[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range s.Families {
		labels := []string{s.Labels[0], s.Labels[1]}
		if f.Label != "" {
			labels = append(labels, f.Label)
		}
		ch <- prometheus.NewDesc(f.Name, f.Help, labels, nil)
	}
}

// wants reports whether keep accepts any of the families, so that a
// Set none of whose families are wanted takes no snapshot.
func (s *Set[T]) wants(keep func(string) bool) bool {
	if keep == nil {
		return true
	}
	for _, f := range s.Families {
		if keep(f.Name) {
			return true
		}
	}
	return false
}

// Stream implements Streamer: every family in turn over the same rows,
// so that each family's series are one group, as the format wants.
func (s *Set[T]) Stream(w *Writer, keep func(string) bool) {
	if !s.wants(keep) {
		return
	}
	s.Snapshot(func(rows []T) {
		for _, f := range s.Families {
			if keep != nil && !keep(f.Name) {
				continue
			}
			if w.err != nil {
				return
			}
			w.Header(f.Name, f.Help, f.Type)
			for i := range rows {
				r := &rows[i]
				a, b := s.LabelValues(r)
				if f.Label == "" {
					w.Sample(f.Name, f.Value(r), s.Labels[0], a, s.Labels[1], b)
				} else {
					w.Sample(f.Name, f.Value(r), s.Labels[0], a, s.Labels[1], b, f.Label, f.LabelValue(r))
				}
			}
		}
	})
}

// Gather implements Streamer, with the series in the order and form a
// registry gathers them (labels sorted by name, series by label values).
func (s *Set[T]) Gather(keep func(string) bool) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	if !s.wants(keep) {
		return nil
	}
	s.Snapshot(func(rows []T) {
		for _, f := range s.Families {
			if keep != nil && !keep(f.Name) {
				continue
			}
			mf := &dto.MetricFamily{Name: proto.String(f.Name), Help: proto.String(f.Help)}
			if f.Type == Counter {
				mf.Type = dto.MetricType_COUNTER.Enum()
			} else {
				mf.Type = dto.MetricType_GAUGE.Enum()
			}
			for i := range rows {
				r := &rows[i]
				a, b := s.LabelValues(r)
				m := &dto.Metric{Label: []*dto.LabelPair{
					{Name: proto.String(s.Labels[0]), Value: proto.String(a)},
					{Name: proto.String(s.Labels[1]), Value: proto.String(b)},
				}}
				if f.Label != "" {
					m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(f.Label), Value: proto.String(f.LabelValue(r))})
				}
				slices.SortFunc(m.Label, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetName(), y.GetName()) })
				v := f.Value(r)
				if f.Type == Counter {
					m.Counter = &dto.Counter{Value: &v}
				} else {
					m.Gauge = &dto.Gauge{Value: &v}
				}
				mf.Metric = append(mf.Metric, m)
			}
			// In the order a registry gathers them, by label values.
			slices.SortFunc(mf.Metric, func(x, y *dto.Metric) int {
				for i := range min(len(x.Label), len(y.Label)) {
					if c := strings.Compare(x.Label[i].GetValue(), y.Label[i].GetValue()); c != 0 {
						return c
					}
				}
				return len(x.Label) - len(y.Label)
			})
			out = append(out, mf)
		}
	})
	return out
}
