package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"vitals/internal/probe"
)

// testAgent builds an agent from YAML whose checks are then driven by fake
// probers, each run once so the cache holds a result.
func testAgent(t *testing.T, yml string, results map[string]probe.Status) (*Agent, map[string]*fakeProber) {
	t.Helper()
	cfg, err := Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	fakes := map[string]*fakeProber{}
	for name, st := range results {
		fp := &fakeProber{status: st, reason: name + " reason"}
		a.rt.Load().byName[name].prober = fp
		a.rt.Load().byName[name].runOnce(t.Context())
		fakes[name] = fp
	}
	return a, fakes
}

const twoChecks = `
listen: 127.0.0.1:0
checks:
  - name: db
    type: tcp
    address: 127.0.0.1:5432
  - name: load
    type: tcp
    address: 127.0.0.1:1
    critical: false
`

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEndpointStatusCodes(t *testing.T) {
	tests := []struct {
		name    string
		db, ld  probe.Status
		path    string
		code    int
		body    string // exact for GET
		contain string
	}{
		{"all pass", probe.Pass, probe.Pass, "/health", 200, "ok\n", ""},
		{"non-critical failure warns with 200", probe.Pass, probe.Fail, "/health", 200, "ok\n", ""},
		{"critical failure is 503", probe.Fail, probe.Pass, "/health", 503, "", "[-]db failed: db reason\n/health check failed\n"},
		{"root answers as /health", probe.Fail, probe.Pass, "/", 503, "", "/ check failed"},
		{"readyz answers as /health", probe.Pass, probe.Pass, "/readyz", 200, "ok\n", ""},
		{"per-check path fails even for a non-critical check", probe.Pass, probe.Fail, "/health/load", 503, "", "[-]load failed: load reason"},
		{"per-check path passes", probe.Fail, probe.Pass, "/health/load", 200, "ok\n", ""},
		{"livez ignores checks", probe.Fail, probe.Fail, "/livez", 200, "ok\n", ""},
		{"verbose lists checks", probe.Pass, probe.Fail, "/health?verbose", 200, "", "[+]db ok\n/health check passed\n"},
		{"exclude skips a check", probe.Fail, probe.Pass, "/health?exclude=db", 200, "ok\n", ""},
		{"unknown path", probe.Pass, probe.Pass, "/nope", 404, "", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := testAgent(t, twoChecks, map[string]probe.Status{"db": tt.db, "load": tt.ld})
			r := get(t, a, "GET", tt.path)
			b := body(t, r)
			if r.StatusCode != tt.code {
				t.Errorf("GET %s: %d, want %d (body %q)", tt.path, r.StatusCode, tt.code, b)
			}
			if tt.body != "" && b != tt.body {
				t.Errorf("GET %s body %q, want %q", tt.path, b, tt.body)
			}
			if tt.contain != "" && !strings.Contains(b, tt.contain) {
				t.Errorf("GET %s body %q, want it to contain %q", tt.path, b, tt.contain)
			}
			for k, want := range map[string]string{"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "0"} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if cl := r.Header.Get("Content-Length"); cl != fmt.Sprint(len(b)) {
				t.Errorf("Content-Length %q, body has %d bytes", cl, len(b))
			}
		})
	}
}

func TestMethods(t *testing.T) {
	a, _ := testAgent(t, twoChecks, map[string]probe.Status{"db": probe.Fail, "load": probe.Pass})
	for _, m := range []string{"HEAD", "OPTIONS"} {
		r := get(t, a, m, "/health")
		if b := body(t, r); r.StatusCode != 503 || b != "" {
			t.Errorf("%s /health: %d %q, want 503 with no body", m, r.StatusCode, b)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		r := get(t, a, m, "/health")
		if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s /health: %d Allow %q, want 405 with Allow", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
}

func TestHealthJSON(t *testing.T) {
	a, _ := testAgent(t, twoChecks, map[string]probe.Status{"db": probe.Pass, "load": probe.Fail})
	for _, r := range []*http.Response{
		get(t, a, "GET", "/health?format=json"),
		get(t, a, "GET", "/health", "Accept", "application/health+json"),
	} {
		if ct := r.Header.Get("Content-Type"); ct != "application/health+json" {
			t.Errorf("Content-Type %q", ct)
		}
		var doc struct {
			Status string `json:"status"`
			Checks map[string][]struct {
				ComponentID   string   `json:"componentId"`
				ComponentType string   `json:"componentType"`
				ObservedValue *float64 `json:"observedValue"`
				ObservedUnit  string   `json:"observedUnit"`
				Status        string   `json:"status"`
				Time          string   `json:"time"`
				Output        string   `json:"output"`
			} `json:"checks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.Status != "pass" || len(doc.Checks) != 1 {
			t.Fatalf("doc %+v, want pass with one critical check", doc)
		}
		db := doc.Checks["db:responseTime"]
		if len(db) != 1 || db[0].Status != "pass" || db[0].ObservedUnit != "ms" || db[0].ObservedValue == nil {
			t.Fatalf("db entry %+v", db)
		}
		if _, err := time.Parse(time.RFC3339Nano, db[0].Time); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", db[0].Time, err)
		}
	}
	r := get(t, a, "GET", "/health/load?format=json")
	if b := body(t, r); r.StatusCode != 503 || !strings.Contains(b, `"status":"fail"`) || !strings.Contains(b, `"output":"load reason"`) {
		t.Errorf("failing check json: %d %s", r.StatusCode, b)
	}
}

func TestHideDetails(t *testing.T) {
	a, _ := testAgent(t, twoChecks+"hide_details: true\n", map[string]probe.Status{"db": probe.Fail, "load": probe.Pass})
	for _, target := range []string{"/health", "/health?format=json", "/health?verbose"} {
		if b := body(t, get(t, a, "GET", target)); strings.Contains(b, "db reason") {
			t.Errorf("GET %s shows a reason with hide_details: %q", target, b)
		}
	}
}

func TestEndpointCodesAndChecks(t *testing.T) {
	yml := twoChecks + `
endpoints:
  - path: /health
    checks: [db]
  - path: /drain-aware
    checks: [db, load]
    warn_code: 299
    fail_code: 404
`
	a, fakes := testAgent(t, yml, map[string]probe.Status{"db": probe.Pass, "load": probe.Fail})
	if r := get(t, a, "GET", "/drain-aware"); r.StatusCode != 299 {
		t.Errorf("warn: %d, want 299", r.StatusCode)
	}
	fakes["db"].set(probe.Fail, "down")
	a.rt.Load().byName["db"].runOnce(t.Context())
	if r := get(t, a, "GET", "/drain-aware"); r.StatusCode != 404 {
		t.Errorf("fail: %d, want 404", r.StatusCode)
	}
	if r := get(t, a, "GET", "/health"); r.StatusCode != 503 {
		t.Errorf("/health: %d, want 503", r.StatusCode)
	}
}

func TestAnyPath(t *testing.T) {
	a, _ := testAgent(t, twoChecks+"any_path: true\n", map[string]probe.Status{"db": probe.Pass, "load": probe.Pass})
	if r := get(t, a, "GET", "/whatever/the/lb/asks"); r.StatusCode != 200 {
		t.Errorf("any_path: %d, want 200", r.StatusCode)
	}
}

// TestHTTP10OverTheWire sends HAProxy's default check, OPTIONS / HTTP/1.0,
// and a GET over HTTP/1.1, on a real socket.
func TestHTTP10OverTheWire(t *testing.T) {
	a, _ := testAgent(t, twoChecks, map[string]probe.Status{"db": probe.Pass, "load": probe.Pass})
	srv := httptest.NewServer(a)
	defer srv.Close()
	for _, req := range []string{
		"OPTIONS / HTTP/1.0\r\n\r\n",
		"GET /health HTTP/1.0\r\n\r\n",
		"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%q: %d, want 200", req, resp.StatusCode)
		}
		c.Close()
	}
}
