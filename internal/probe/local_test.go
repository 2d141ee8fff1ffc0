package probe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestLocalReason(t *testing.T) {
	for _, tc := range []struct {
		err   error
		label string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}, "emfile"},
		{step("connect 127.0.0.1:1", fmt.Errorf("wrapped: %w", syscall.ENFILE)), "enfile"},
		{os.NewSyscallError("sendto", syscall.ENOBUFS), "enobufs"},
		{syscall.ENOMEM, "enomem"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}, "eaddrnotavail"},
		{os.NewSyscallError("connect", syscall.ECONNREFUSED), ""},
		{errors.New("too many open files"), ""}, // text is not a cause
		{nil, ""},
	} {
		label, ok := LocalReason(tc.err)
		if label != tc.label || ok != (tc.label != "") {
			t.Errorf("LocalReason(%v) = %q, %v; want %q", tc.err, label, ok, tc.label)
		}
	}
	if got := LocalReasons(); len(got) != 5 || got[0] != "emfile" {
		t.Errorf("LocalReasons() = %v", got)
	}
	var zero Result
	if zero.Status != Fail || zero.IsCheckerError() {
		t.Errorf("zero Result = %+v; want a plain Fail", zero)
	}
}

// exhaustedRole is the child role of TestCheckerErrorEMFILE.
const exhaustedRole = "probe-emfile"

// exhaustedLine is one check the child ran, as it prints it.
type exhaustedLine struct {
	Name   string `json:"name"`
	Result Result `json:"result"`
}

// TestCheckerErrorEMFILE runs checks of every kind that opens a socket in
// a child process whose descriptors are exhausted for real (RLIMIT_NOFILE
// lowered, then filled): each must fail as a checker error labelled
// emfile, not as the target's failure, while the same checks passed (or
// reached the target) in that process before.
func TestCheckerErrorEMFILE(t *testing.T) {
	if testenv.ChildRole() == exhaustedRole {
		runExhausted(t)
		return
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	web := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer web.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	out := testenv.RunChild(t, exhaustedRole,
		"VITALS_TEST_TCP="+tcp.Addr().String(),
		"VITALS_TEST_HTTP="+strings.TrimPrefix(web.URL, "http://"),
		"VITALS_TEST_UDP="+udp.LocalAddr().String())
	got := map[string]Result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l exhaustedLine
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"name"`)) {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("child line %q: %v", sc.Text(), err)
		}
		got[l.Name] = l.Result
	}
	for _, name := range []string{"before/tcp", "before/http"} {
		if r := got[name]; r.Status != Pass {
			t.Errorf("%s before exhaustion: %+v; want pass (the targets were fine)", name, r)
		}
	}
	for _, name := range exhaustedChecks {
		r, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: no result from the child; output:\n%s", name, out)
		case r.Status != Fail || r.CheckerError != "emfile" || !r.IsCheckerError():
			t.Errorf("%s: %+v; want status fail with checker_error emfile", name, r)
		case !strings.HasPrefix(r.Reason, "checker error (emfile), not the target's: ") || !strings.Contains(r.Reason, "too many open files"):
			t.Errorf("%s: reason %q does not say it is the checker's own error", name, r.Reason)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

// exhaustedChecks are the checks the child runs with its descriptors
// exhausted; "poller/…" ones run on a Poller, the others on a goroutine.
var exhaustedChecks = []string{
	"tcp", "http", "tls-hello", "udp-connect", "ping", "postgres", "mysql", "redis",
	"poller/tcp", "poller/http",
}

// runExhausted is the child of TestCheckerErrorEMFILE: it builds the
// checks, runs tcp and http once as a control, exhausts its descriptors,
// runs every check and prints each result as a JSON line.
func runExhausted(t *testing.T) {
	tcpAddr, httpAddr, udpAddr := os.Getenv("VITALS_TEST_TCP"), os.Getenv("VITALS_TEST_HTTP"), os.Getenv("VITALS_TEST_UDP")
	timeout := 5 * time.Second
	db := Spec{Address: tcpAddr, Timeout: timeout, User: "health", Password: "pw"}
	probers := map[string]Prober{
		"tcp":         mustProbe(t, "tcp", Spec{Address: tcpAddr, Timeout: timeout}),
		"http":        mustProbe(t, "http", Spec{Address: httpAddr, Timeout: timeout}),
		"tls-hello":   mustProbe(t, "tls-hello", Spec{Address: tcpAddr, Timeout: timeout}),
		"udp-connect": mustProbe(t, "udp-connect", Spec{Address: udpAddr, Timeout: timeout}),
		"ping":        mustProbe(t, "ping", Spec{Address: "127.0.0.1", Timeout: timeout}),
		"postgres":    mustProbe(t, "postgres", db),
		"mysql":       mustProbe(t, "mysql", db),
		"redis":       mustProbe(t, "redis", Spec{Address: tcpAddr, Timeout: timeout}),
	}
	probers["poller/tcp"], probers["poller/http"] = probers["tcp"], probers["http"]
	ctx := t.Context()
	results := map[any]Result{}
	pl, err := NewPoller(ctx, func(tag any, r Result) { results[tag] = r })
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	enc := json.NewEncoder(os.Stdout)
	print := func(name string, r Result) {
		if err := enc.Encode(exhaustedLine{name, r}); err != nil {
			t.Error(err)
		}
	}
	print("before/tcp", probers["tcp"].Probe(ctx))
	print("before/http", probers["http"].Probe(ctx))

	// The runtime opens its netpoller on first use, which would fail with
	// no descriptor left: use it now.
	time.AfterFunc(time.Hour, func() {}).Stop()
	release, err := testenv.ExhaustFDs(8)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range exhaustedChecks {
		p := probers[name]
		if !strings.HasPrefix(name, "poller/") {
			print(name, p.Probe(ctx))
			continue
		}
		if !pl.Start(p, name) {
			t.Errorf("%s: does not run on the poller", name)
			continue
		}
		for i := 0; i < 100; i++ {
			if _, ok := results[name]; ok {
				break
			}
			if err := pl.Poll(100 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		print(name, results[name])
	}
	release()
}
