package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"vitals/internal/probe"
)

// stateProber passes with a fixed replication state, as a mysql or
// postgres check that read it would.
type stateProber struct{ st *probe.DBState }

func (p stateProber) Probe(context.Context) probe.Result {
	return probe.Result{Status: probe.Pass, Start: time.Now(), Reason: `query returned "1"`, DB: p.st}
}

// roleAgent builds an agent from yml and runs each named check once with
// the given state.
func roleAgent(t *testing.T, yml string, states map[string]*probe.DBState) *Agent {
	t.Helper()
	cfg, err := Parse("test.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range states {
		c := a.rt.Load().byName[name]
		c.prober = stateProber{st}
		c.runOnce(t.Context())
	}
	return a
}

func dbCheckYAML(kind string, names ...string) string {
	var b strings.Builder
	b.WriteString("listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n")
	for _, n := range names {
		b.WriteString("  - name: " + n + "\n    type: " + kind + "\n    address: 127.0.0.1:1\n    user: health\n")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func TestRoleRoutes(t *testing.T) {
	replica := &probe.DBState{Role: probe.RoleReplica, LagBytes: ptr(uint64(0)), LagSeconds: ptr(0.0)}
	t.Run("one database check: bare paths too", func(t *testing.T) {
		a := roleAgent(t, dbCheckYAML("postgres", "db"), map[string]*probe.DBState{"db": replica})
		for _, e := range roleEndpoints {
			for _, p := range []string{"/" + e.name, "/health/db/" + e.name} {
				want := http.StatusOK
				if e.want == probe.RolePrimary {
					want = http.StatusServiceUnavailable
				}
				if got := get(t, a, http.MethodGet, p).StatusCode; got != want {
					t.Errorf("GET %s on a replica: %d, want %d", p, got, want)
				}
			}
		}
	})
	t.Run("two database checks: per-check paths only", func(t *testing.T) {
		yml := dbCheckYAML("postgres", "a") + strings.TrimPrefix(dbCheckYAML("mysql", "b"), "listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n")
		a := roleAgent(t, yml, map[string]*probe.DBState{"a": replica, "b": {Role: probe.RolePrimary, ReadOnly: ptr(false), LagSeconds: ptr(0.0)}})
		for p, want := range map[string]int{
			"/primary": 404, "/replica": 404,
			"/health/a/replica": 200, "/health/a/primary": 503,
			"/health/b/primary": 200, "/health/b/read-write": 200, "/health/b/replica": 503,
		} {
			if got := get(t, a, http.MethodGet, p).StatusCode; got != want {
				t.Errorf("GET %s: %d, want %d", p, got, want)
			}
		}
	})
	t.Run("a configured endpoint wins", func(t *testing.T) {
		yml := dbCheckYAML("postgres", "db") + "  - name: f\n    type: file\n    path: /nonexistent/flag\nendpoints:\n  - path: /primary\n    checks: [f]\n"
		a := roleAgent(t, yml, map[string]*probe.DBState{"db": replica})
		a.rt.Load().byName["f"].runOnce(t.Context())
		if got := get(t, a, http.MethodGet, "/primary").StatusCode; got != 200 {
			t.Errorf("GET /primary, configured for check f: %d, want 200", got)
		}
		if got := get(t, a, http.MethodGet, "/health/db/primary").StatusCode; got != 503 {
			t.Errorf("GET /health/db/primary on a replica: %d, want 503", got)
		}
	})
	t.Run("other kinds have none", func(t *testing.T) {
		a := roleAgent(t, "listen: 127.0.0.1:0\nadmin_socket: \"off\"\nstate_file: \"off\"\nchecks:\n  - name: r\n    type: redis\n    address: 127.0.0.1:1\n", nil)
		for _, p := range []string{"/primary", "/health/r/primary"} {
			if got := get(t, a, http.MethodGet, p).StatusCode; got != 404 {
				t.Errorf("GET %s with only a redis check: %d, want 404", p, got)
			}
		}
	})
}

func TestParseLag(t *testing.T) {
	replica, primary, readOnly := &roleEndpoints[2], &roleEndpoints[0], &roleEndpoints[4]
	tests := []struct {
		query string
		e     *roleEndpoint
		kind  string
		want  lagLimit
		err   string
	}{
		{"", replica, "postgres", lagLimit{}, ""},
		{"lag=16MB", replica, "postgres", lagLimit{text: "16MB", isBytes: true, bytes: 16e6}, ""},
		{"lag=1MiB", readOnly, "postgres", lagLimit{text: "1MiB", isBytes: true, bytes: 1 << 20}, ""},
		{"lag=4096", replica, "postgres", lagLimit{text: "4096 bytes", isBytes: true, bytes: 4096}, ""},
		{"lag=10s", replica, "postgres", lagLimit{text: "10s", dur: 10 * time.Second}, ""},
		{"lag=1m", replica, "mysql", lagLimit{text: "1m", dur: time.Minute}, ""},
		{"lag=0", replica, "postgres", lagLimit{text: "0 bytes", isBytes: true}, ""},
		{"lag=", replica, "postgres", lagLimit{}, "?lag= is empty"},
		{"lag=abc", replica, "postgres", lagLimit{}, "neither a size"},
		{"lag=-1s", replica, "postgres", lagLimit{}, "is negative"},
		{"lag=10%25", replica, "postgres", lagLimit{}, "neither a size"},
		{"lag=1s&lag=2s", replica, "postgres", lagLimit{}, "more than once"},
		{"lag=99999999999999999999", replica, "postgres", lagLimit{}, "too large"},
		{"lag=1s", primary, "postgres", lagLimit{}, "applies to /replica and /read-only, not /primary"},
		{"lag=16MB", replica, "mysql", lagLimit{}, "seconds only"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseLag(q, tt.e, tt.kind)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s on /%s (%s): %v", tt.query, tt.e.name, tt.kind, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s on /%s (%s): error %v, want one with %q", tt.query, tt.e.name, tt.kind, err, tt.err)
		case got != tt.want:
			t.Errorf("%s on /%s (%s): %+v, want %+v", tt.query, tt.e.name, tt.kind, got, tt.want)
		}
	}
}

func TestRoleLagAndJSON(t *testing.T) {
	lagging := &probe.DBState{Role: probe.RoleReplica, LagBytes: ptr(uint64(5_000_000)), LagSeconds: ptr(3.5)}
	a := roleAgent(t, dbCheckYAML("postgres", "db"), map[string]*probe.DBState{"db": lagging})
	for target, want := range map[string]int{
		"/replica": 200, "/replica?lag=1MB": 503, "/replica?lag=5MB": 200, "/replica?lag=16MB": 200,
		"/replica?lag=1s": 503, "/replica?lag=3500ms": 200, "/read-only?lag=1MB": 503, "/read-only?lag=10s": 200,
		"/replica?lag=x": 400, "/primary?lag=1s": 400, "/primary?exclude=db": 503,
	} {
		if got := get(t, a, http.MethodGet, target).StatusCode; got != want {
			t.Errorf("GET %s with 5000000 bytes, 3.5s behind: %d, want %d", target, got, want)
		}
	}
	if b := body(t, get(t, a, http.MethodGet, "/replica?lag=1MB")); !strings.Contains(b, "replication lag 5000000 bytes above 1MB") {
		t.Errorf("GET /replica?lag=1MB: body %q, want the lag and the limit", b)
	}

	for _, target := range []string{"/replica?format=json", "/health/db?format=json", "/health?format=json"} {
		var out struct {
			Checks map[string][]map[string]any `json:"checks"`
		}
		if err := json.Unmarshal([]byte(body(t, get(t, a, http.MethodGet, target))), &out); err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		one := out.Checks["db:responseTime"][0]
		if one["role"] != "replica" || one["replicationLagBytes"] != 5e6 || one["replicationLagSeconds"] != 3.5 {
			t.Errorf("GET %s: %v, want role replica and the lag as numbers", target, one)
		}
		if _, ok := one["readOnly"]; ok {
			t.Errorf("GET %s: %v has readOnly, which only mysql checks report", target, one)
		}
	}

	m := body(t, get(t, a.metrics.handler(), http.MethodGet, "/metrics"))
	for _, want := range []string{
		`vitals_agent_check_role{check="db",role="primary"} 0`,
		`vitals_agent_check_role{check="db",role="replica"} 1`,
		`vitals_agent_check_replication_lag_bytes{check="db"} 5e+06`,
		`vitals_agent_check_replication_lag_seconds{check="db"} 3.5`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}

func TestRoleUnknown(t *testing.T) {
	// A run that passed without reading the state (the state query is
	// optional when the spec does not judge it), and a replica whose lag is
	// unknown.
	a := roleAgent(t, dbCheckYAML("postgres", "a", "b"), map[string]*probe.DBState{
		"a": nil,
		"b": {Role: probe.RoleReplica, SecondsUnknown: "replication lag unknown: no transaction replayed", BytesUnknown: "the standby receives no WAL stream"},
	})
	for target, want := range map[string]string{
		"/health/a/read-only":       "role unknown",
		"/health/b/replica?lag=10s": "no transaction replayed",
		"/health/b/replica?lag=1MB": "replication lag unknown: the standby receives no WAL stream",
	} {
		r := get(t, a, http.MethodGet, target)
		if b := body(t, r); r.StatusCode != 503 || !strings.Contains(b, want) {
			t.Errorf("GET %s: %d %q, want 503 with %q", target, r.StatusCode, b, want)
		}
	}
	if got := get(t, a, http.MethodGet, "/health/b/replica").StatusCode; got != 200 {
		t.Errorf("GET /health/b/replica without ?lag=: %d, want 200", got)
	}
}

// TestRoleEndpointsDocumented: the README's "Role endpoints" table lists
// every built-in role endpoint, and only those.
func TestRoleEndpointsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	start := strings.Index(s, "\n### Role endpoints\n")
	if start < 0 {
		t.Fatal(`README.md has no "### Role endpoints" section`)
	}
	section := s[start+1:]
	if end := strings.Index(section[1:], "\n### "); end >= 0 {
		section = section[:end+1]
	}
	listed := regexp.MustCompile("(?m)^\\| `/health/<check>/([a-z-]+)`").FindAllStringSubmatch(section, -1)
	var names []string
	for _, m := range listed {
		names = append(names, m[1])
	}
	var want []string
	for _, e := range roleEndpoints {
		want = append(want, e.name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("README's role endpoints table lists %q; roleEndpoints has %q", names, want)
	}
}

func TestRoleRoutesWithAnyPath(t *testing.T) {
	// --ini answers every unknown path as "/": a load balancer set up for
	// the seed's script may probe /replica and must keep getting that.
	primary := &probe.DBState{Role: probe.RolePrimary, LagBytes: ptr(uint64(0)), LagSeconds: ptr(0.0)}
	a := roleAgent(t, dbCheckYAML("postgres", "db")+"any_path: true\n", map[string]*probe.DBState{"db": primary})
	for p, want := range map[string]int{"/replica": 200, "/health/db/replica": 503, "/health/db/primary": 200} {
		if got := get(t, a, http.MethodGet, p).StatusCode; got != want {
			t.Errorf("any_path: GET %s on a primary: %d, want %d", p, got, want)
		}
	}
}

// failProber fails before reading any state, as a run whose login fails.
type failProber struct{}

func (failProber) Probe(context.Context) probe.Result {
	return probe.Result{Status: probe.Fail, Start: time.Now(), Reason: "connect 127.0.0.1:1: connection refused"}
}

func TestRoleKeptWithinFall(t *testing.T) {
	// fall 2: one failed run keeps the check up, and its role with it; the
	// second takes both away.
	a := roleAgent(t, dbCheckYAML("postgres", "db")+"    fall: 2\n", map[string]*probe.DBState{
		"db": {Role: probe.RolePrimary, LagBytes: ptr(uint64(0)), LagSeconds: ptr(0.0)},
	})
	c := a.rt.Load().byName["db"]
	c.prober = failProber{}
	c.runOnce(t.Context())
	if got := get(t, a, http.MethodGet, "/primary").StatusCode; got != 200 {
		t.Errorf("after 1 of 2 failures: /primary %d, want 200 from the role read before", got)
	}
	c.runOnce(t.Context())
	r := get(t, a, http.MethodGet, "/primary")
	if b := body(t, r); r.StatusCode != 503 || !strings.Contains(b, "connection refused") {
		t.Errorf("after 2 of 2 failures: /primary %d %q, want 503 with the check's reason", r.StatusCode, b)
	}
	if v := a.Checks()[0]; v.DB != nil {
		t.Errorf("check down: state %+v, want none", v.DB)
	}
}
