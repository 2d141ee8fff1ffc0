package promx

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type row struct {
	pool, member, status string
	n                    float64
}

// testSet is a Set over rows whose values cover what the format spells
// specially: label values with quotes, backslashes and newlines, and
// +Inf, -Inf, NaN, tiny and huge floats; extra more plain rows follow.
func testSet(extra int) *Set[row] {
	rows := []row{
		{"web", "a", "ONLINE", 3},
		{"web", `q"uo\te` + "\nline", "ERROR", math.Inf(1)},
		{`p\"`, "c", "OFFLINE", math.Inf(-1)},
		{"db", "d", "ONLINE", math.NaN()},
		{"db", "e", "ONLINE", 1e-300},
		{"db", "f", "ONLINE", 12345678901234567890},
		{"db", "g", "ONLINE", -0.25},
	}
	for i := range extra {
		rows = append(rows, row{"big", "m" + strconv.Itoa(i), "ONLINE", float64(i)})
	}
	return &Set[row]{
		Labels:      [2]string{"member", "pool"},
		LabelValues: func(r *row) (string, string) { return r.member, r.pool },
		Families: []Family[row]{
			{Name: "x_total", Help: "X, with a \\ and a\nnewline in its help.", Type: Counter, Value: func(r *row) float64 { return r.n }},
			{Name: "x_status", Help: "Status.", Type: Gauge, Label: "status", LabelValue: func(r *row) string { return r.status }, Value: func(*row) float64 { return 1 }},
		},
		Snapshot: func(with func([]row)) { with(rows) },
	}
}

// parse parses text with expfmt's parser, which refuses a family whose
// HELP or TYPE comes twice.
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return mfs
}

// TestStreamParsesAsGathered: what Stream writes parses into exactly the
// families Gather builds (values, labels with escapes, help, type), and
// expfmt's encoder writes the same text from Gather's families.
func TestStreamParsesAsGathered(t *testing.T) {
	s := testSet(0)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	s.Stream(w, nil)
	if err := w.Release(); err != nil {
		t.Fatal(err)
	}
	got := parse(t, buf.Bytes())
	want := s.Gather(nil)
	if len(got) != len(want) {
		t.Fatalf("parsed %d families, want %d:\n%s", len(got), len(want), buf.Bytes())
	}
	sorted := func(b []byte) string {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	var reencoded bytes.Buffer
	for _, mf := range want {
		g := got[mf.GetName()]
		if g == nil {
			t.Fatalf("no %s in\n%s", mf.GetName(), buf.Bytes())
		}
		var a, b bytes.Buffer
		expfmt.MetricFamilyToText(&a, mf)
		expfmt.MetricFamilyToText(&b, g)
		if sorted(a.Bytes()) != sorted(b.Bytes()) {
			t.Errorf("%s streamed\n%s\ngathered\n%s", mf.GetName(), b.String(), a.String())
		}
		reencoded.Write(a.Bytes())
	}
	// Line for line, the stream is expfmt's text (but in the rows' order).
	if sorted(buf.Bytes()) != sorted(reencoded.Bytes()) {
		t.Errorf("streamed\n%s\nexpfmt\n%s", buf.Bytes(), reencoded.Bytes())
	}
	for _, line := range []string{
		`x_total{member="q\"uo\\te\nline",pool="web"} +Inf`,
		`x_total{member="c",pool="p\\\""} -Inf`,
		`x_total{member="d",pool="db"} NaN`,
		`x_total{member="e",pool="db"} 1e-300`,
		`x_total{member="f",pool="db"} 1.2345678901234567e+19`,
		`x_status{member="a",pool="web",status="ONLINE"} 1`,
		`# HELP x_total X, with a \\ and a\nnewline in its help.`,
		`# TYPE x_status gauge`,
	} {
		if !strings.Contains(buf.String(), line+"\n") {
			t.Errorf("no line %s in\n%s", line, buf.Bytes())
		}
	}
}

// TestStreamAllocatesNothingPerSeries: writing a Set's series allocates
// nothing per series (the Snapshot callback may cost one allocation a
// scrape), once the Writer is pooled.
func TestStreamAllocatesNothingPerSeries(t *testing.T) {
	w := NewWriter(io.Discard)
	defer w.Release()
	small, large := testSet(0), testSet(5000)
	a := testing.AllocsPerRun(20, func() { small.Stream(w, nil) })
	b := testing.AllocsPerRun(20, func() { large.Stream(w, nil) })
	if a > 1 || b != a {
		t.Errorf("%v allocations per Stream of 7 rows and %v of 5007, want the same, at most 1", a, b)
	}
}

// TestRegistryRefusesStreamedNames: a collector may not register a
// family that a Set streams, so no name appears twice.
func TestRegistryRefusesStreamedNames(t *testing.T) {
	r := NewRegistry()
	r.MustStream(testSet(0))
	clash := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "Other."}, []string{"pool"})
	if err := r.Register(clash); err == nil {
		t.Error("a collector registered x_total, which the set streams")
	}
	if err := r.Stream(testSet(0)); err == nil {
		t.Error("a second set with the same names was added")
	}
}

// TestServeHTTP: the handler writes the registry's families, then the
// streamed ones, as text 0.0.4 whatever the Accept header, gzipped when
// asked, filtered by name[], and concurrent scrapes agree.
func TestServeHTTP(t *testing.T) {
	r := NewRegistry()
	r.MustStream(testSet(0))
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "y_total", Help: "Y."})
	c.Add(7)
	r.MustRegister(c)
	get := func(accept, encoding, query string) (*http.Response, string) {
		req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		resp := rec.Result()
		body := io.Reader(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	_, plain := get("", "", "")
	if !strings.HasPrefix(plain, "# HELP y_total Y.\n# TYPE y_total counter\ny_total 7\n# HELP x_total") {
		t.Errorf("registry's families, then the streamed:\n%s", plain)
	}
	if mfs := parse(t, []byte(plain)); len(mfs) != 3 {
		t.Errorf("%d families, want 3", len(mfs))
	}
	resp, gz := get("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3", "gzip, deflate", "")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" || gz != plain {
		t.Errorf("gzip: encoding %q, body equal %v", resp.Header.Get("Content-Encoding"), gz == plain)
	}
	if resp, _ := get("", "gzip;q=0, *", ""); resp.Header.Get("Content-Encoding") != "" {
		t.Error("gzipped though gzip;q=0")
	}
	_, only := get("", "", "?name[]=x_status&name[]=y_total")
	if mfs := parse(t, []byte(only)); len(mfs) != 2 || mfs["x_status"] == nil || mfs["y_total"] == nil {
		t.Errorf("name[] filter:\n%s", only)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, b := get("", "gzip", ""); b != plain {
				t.Error("a concurrent scrape differs")
			}
		})
	}
	wg.Wait()
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                 false,
		"gzip":             true,
		"deflate, gzip":    true,
		"GZIP;q=0.5":       true,
		"gzip;q=0":         false,
		"*":                true,
		"gzip;q=0, *":      false,
		"identity":         false,
		"br;q=1, *;q=0.1":  true,
		"gzip ; q=0.000":   false,
		"x-gzip, identity": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
