package lb

import (
	"net/http"
	"testing"
)

// discardResponse is a ResponseWriter that keeps nothing, so that a
// benchmark counts what the handler allocates and not the body.
type discardResponse struct {
	h http.Header
	n int
}

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) WriteHeader(int)             {}
func (d *discardResponse) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkScrape is one GET /metrics at 10,000 members (100 pools of
// 100, bench/monitor.sh's shape) through the admin handler, uncompressed
// and gzipped as Prometheus asks by default: B/op and allocs/op are what
// a scrape costs. The members are not checked (their values are zeros);
// that changes the numbers' text, not how many series there are.
func BenchmarkScrape(b *testing.B) {
	cfg := membersConfig(b, 100, 100)
	eng, srv := appliedServer(b, cfg)
	h := newAdminHandler(func() *Config { return cfg }, nil, eng, newRegistry(eng, srv))
	for _, encoding := range []string{"identity", "gzip"} {
		b.Run(encoding, func(b *testing.B) {
			req, err := http.NewRequest(http.MethodGet, "/metrics", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", encoding)
			scrape := func() int {
				w := &discardResponse{h: http.Header{}}
				h.ServeHTTP(w, req)
				if got := w.h.Get("Content-Encoding"); (got == "gzip") != (encoding == "gzip") {
					b.Fatalf("Content-Encoding %q, asked for %s", got, encoding)
				}
				return w.n
			}
			n := scrape() // the first scrape makes what later ones reuse
			b.ReportAllocs()
			for b.Loop() {
				scrape()
			}
			b.ReportMetric(float64(n), "body-bytes")
		})
	}
}
