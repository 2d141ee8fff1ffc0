package probe

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Helpers shared by the mysql, postgres and redis tests.

// dbTimeout is the timeout of the database checks that are meant to time
// out (a paused server, a query blocked by a lock).
const dbTimeout = time.Second

// passTimeout is the timeout of the database checks that are meant to get
// an answer: generous, so that a loaded machine does not turn a slow login
// into a timeout.
const passTimeout = 5 * time.Second

// wantResult fails the test unless r has status st and exactly reason.
func wantResult(t *testing.T, r Result, st Status, reason string) {
	t.Helper()
	if r.Status != st || r.Reason != reason {
		t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, st, reason)
	}
}

// wantTimeout fails the test unless r is a timeout during the named step
// that took at least its timeout and not more than a generous 2 s margin.
func wantTimeout(t *testing.T, r Result, timeout time.Duration, stepName string) {
	t.Helper()
	wantResult(t, r, Fail, "timeout after "+timeout.String()+" during "+stepName)
	if limit := timeout + 2*time.Second; r.Latency < timeout || r.Latency > limit {
		t.Errorf("latency %s, want %s to %s", r.Latency, timeout, limit)
	}
}

// wantTCPPasses asserts that a plain TCP check to addr passes: the port
// still accepts connections, which is all a TCP health check sees.
func wantTCPPasses(t *testing.T, addr string) {
	t.Helper()
	r := runBounded(t, mustProbe(t, "tcp", Spec{Address: addr, Timeout: passTimeout}), passTimeout)
	if r.Status != Pass {
		t.Errorf("tcp check to %s: got %s %q, want pass", addr, r.Status, r.Reason)
	}
}

// wantNoSecret fails the test if a reason holds a secret.
func wantNoSecret(t *testing.T, reasons []string, secrets ...string) {
	t.Helper()
	for _, r := range reasons {
		for _, s := range secrets {
			if s != "" && strings.Contains(r, s) {
				t.Errorf("reason %q holds the password %q", r, s)
			}
		}
	}
}

// passwordFile writes pw and a newline to a new file and returns its path.
func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hungPeer listens on loopback and accepts connections without ever
// answering, like a server that is up but hung.
func hungPeer(t *testing.T) string {
	t.Helper()
	return serveTCP(t, hang)
}

func TestMySQLPostgresLoginValidation(t *testing.T) {
	for _, kind := range []string{"mysql", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			_, err := New(kind, Spec{Address: "127.0.0.1", Timeout: time.Second})
			if fe, ok := err.(*FieldError); !ok || fe.Field != "user" {
				t.Errorf("no user: got %v, want a FieldError for user", err)
			}
			_, err = New(kind, Spec{Address: "127.0.0.1", Timeout: time.Second, User: "u", PasswordEnv: "VITALS_TEST_UNSET_PW"})
			if fe, ok := err.(*FieldError); !ok || fe.Field != "password_env" {
				t.Errorf("unset password_env: got %v, want a FieldError for password_env", err)
			}
			_, err = New(kind, Spec{Address: "127.0.0.1", Timeout: time.Second, User: "u", PasswordFile: filepath.Join(t.TempDir(), "none")})
			if fe, ok := err.(*FieldError); !ok || fe.Field != "password_file" {
				t.Errorf("missing password_file: got %v, want a FieldError for password_file", err)
			}
		})
	}
}

func TestMySQLPostgresJudgeRow(t *testing.T) {
	long := strings.Repeat("é", 40)
	tests := []struct {
		expect string
		v      dbValue
		found  bool
		detail string
		err    string
	}{
		{"", dbValue{text: "1"}, true, `query returned "1"`, ""},
		{"1", dbValue{text: "1"}, true, `query returned "1"`, ""},
		{"1", dbValue{text: "0"}, true, "", `query returned "0", want "1"`},
		{"", dbValue{null: true}, true, "query returned NULL", ""},
		{"NULL", dbValue{null: true}, true, "", `query returned NULL, want "NULL"`},
		{"", dbValue{}, false, "", "query returned no rows"},
		{"1", dbValue{}, false, "", "query returned no rows"},
		{"", dbValue{text: long}, true, `query returned "` + strings.Repeat("é", 30) + `"…`, ""},
	}
	for _, tt := range tests {
		l := dbLogin{expect: tt.expect}
		detail, err := l.judgeRow(tt.v, tt.found)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if detail != tt.detail || got != tt.err {
			t.Errorf("expect %q, %+v found %v: got %q, %q; want %q, %q", tt.expect, tt.v, tt.found, detail, got, tt.detail, tt.err)
		}
	}
}

func TestMySQLPostgresRedisBoundedConn(t *testing.T) {
	limit := time.Now().Add(time.Hour)
	c := &boundedConn{limit: limit}
	if got := c.clamp(time.Time{}); !got.Equal(limit) {
		t.Errorf("clamp(zero) = %v, want the limit", got)
	}
	if got := c.clamp(limit.Add(time.Minute)); !got.Equal(limit) {
		t.Errorf("clamp(after limit) = %v, want the limit", got)
	}
	early := time.Unix(1, 0)
	if got := c.clamp(early); !got.Equal(early) {
		t.Errorf("clamp(early) = %v, want it unchanged", got)
	}
}

// waitFor polls cond every 20ms until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Errorf("gave up after %s waiting for %s", d, what)
			return
		case <-tick.C:
		}
	}
}

// wantGoroutinesBack fails the test unless the number of goroutines falls
// back to base within a second: nothing a check started outlives it (pgx's
// cancel-and-close goroutine, for one, ends at the check's deadline plus
// closeGrace). It needs a test that does not run in parallel.
func wantGoroutinesBack(t *testing.T, base int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > base {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines a second after the checks, %d before:\n%s", runtime.NumGoroutine(), base, buf)
			return
		case <-tick.C:
		}
	}
}
