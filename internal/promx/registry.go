package promx

import (
	"compress/gzip"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Registry is a client_golang registry for the ordinary families (the
// process's, the Go runtime's, the lb's own small ones) and the Streamers
// written after them. Gather, from the embedded registry, returns the
// ordinary families only; GatherAll adds the streamed ones.
type Registry struct {
	*prometheus.Registry
	streams []Streamer
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{Registry: prometheus.NewRegistry()} }

// Stream adds s's families, after registering its descriptors with the
// registry (a collector that collects nothing), so that no collector may
// register a family of the same name: a name never appears twice in
// /metrics.
func (r *Registry) Stream(s Streamer) error {
	if err := r.Register(reserved{s}); err != nil {
		return err
	}
	r.streams = append(r.streams, s)
	return nil
}

// MustStream is Stream that panics on an error, as MustRegister does.
func (r *Registry) MustStream(s ...Streamer) {
	for _, x := range s {
		if err := r.Stream(x); err != nil {
			panic(err)
		}
	}
}

// reserved describes a Streamer's families and collects nothing.
type reserved struct{ s Streamer }

func (c reserved) Describe(ch chan<- *prometheus.Desc) { c.s.Describe(ch) }
func (reserved) Collect(chan<- prometheus.Metric)      {}

// GatherAll returns the ordinary families and the streamed ones that
// keep accepts (all when nil), as client_model families: for in-process
// readers, which pay a dto.Metric per series.
func (r *Registry) GatherAll(keep func(string) bool) ([]*dto.MetricFamily, error) {
	mfs, err := r.Gather()
	if keep != nil {
		kept := mfs[:0]
		for _, mf := range mfs {
			if keep(mf.GetName()) {
				kept = append(kept, mf)
			}
		}
		mfs = kept
	}
	for _, s := range r.streams {
		mfs = append(mfs, s.Gather(keep)...)
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs, err
}

// gzips are gzip writers to reuse: one holds about 800 KB of state.
var gzips = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// ServeHTTP answers GET /metrics in the text format, version 0.0.4,
// whatever the Accept header asks (Prometheus accepts it), gzipped when
// Accept-Encoding allows: the ordinary families through expfmt's text
// encoder, then the streamed ones. As promhttp does, name[]=… keeps only
// the families named, and an error gathering the ordinary families
// leaves out the families that failed (promhttp.ContinueOnError).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mfs, err := r.Gather()
	if err != nil && len(mfs) == 0 && len(r.streams) == 0 {
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateAccept(req.Header, expfmt.FmtText)
	h := w.Header()
	h.Set("Content-Type", string(format))
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	var keep func(string) bool
	if req.URL != nil {
		if names := req.URL.Query()["name[]"]; len(names) > 0 {
			keep = func(n string) bool { return slices.Contains(names, n) }
		}
	}
	tw := NewWriter(w)
	if acceptsGzip(req.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		gz := gzips.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() {
			if gz.Close() == nil {
				gz.Reset(nil)
				gzips.Put(gz)
			}
		}()
		tw.w = gz
	}
	defer tw.Release()
	enc := expfmt.NewEncoder(tw, format)
	for _, mf := range mfs {
		if keep == nil || keep(mf.GetName()) {
			if enc.Encode(mf) != nil {
				return
			}
		}
	}
	for _, s := range r.streams {
		s.Stream(tw, keep)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip:
// gzip with a q above 0, or else * with one.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
