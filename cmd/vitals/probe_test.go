package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"vitals/internal/testenv"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestProbeBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the one line on stderr contains this
	}{
		{"unknown type", []string{"probe", "gopher", "127.0.0.1:1"}, `unknown type "gopher" (want one of tcp, http,`},
		{"descending codes", []string{"probe", "http", "127.0.0.1:1", "--expected-codes", "204-200"}, "--expected-codes"},
		{"negative timeout", []string{"probe", "tcp", "127.0.0.1:1", "--timeout", "-1s"}, "--timeout must be positive, got -1s"},
		{"bad duration", []string{"probe", "tcp", "127.0.0.1:1", "--timeout", "soon"}, `invalid value "soon" for flag -timeout: not a duration`},
		{"missing target", []string{"probe", "tcp"}, "missing TARGET after type tcp"},
		{"exec without command", []string{"probe", "exec"}, "missing the command to run"},
		{"load with target", []string{"probe", "load", "x"}, `unexpected argument "x"`},
		{"missing everything", []string{"probe"}, "missing TYPE and TARGET"},
		{"extra argument", []string{"probe", "tcp", "127.0.0.1:1", "more"}, `unexpected argument "more"`},
		{"unknown flag", []string{"probe", "tcp", "127.0.0.1:1", "--colour", "red"}, "flag provided but not defined: -colour"},
		{"flag of another type", []string{"probe", "tcp", "127.0.0.1:1", "--url-path", "/x"}, "--url-path is not allowed for type tcp"},
		{"port missing", []string{"probe", "tcp", "127.0.0.1"}, `TARGET "127.0.0.1" needs a port`},
		{"bad count", []string{"probe", "tcp", "127.0.0.1:1", "--count", "-2"}, "--count must be 0 (forever) or more"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			want := probeExitBadArgs // vitals probe exits as a monitoring plugin does
			if tt.args[0] != "probe" {
				want = exitUsage
			}
			if code != want {
				t.Errorf("exit code %d, want %d", code, want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q, want one line containing %q", errOut, tt.want)
			}
		})
	}
}

func TestProbePassAndFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := ln.Addr().String()
	t.Cleanup(func() { ln.Close() })

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	code, out, _ := runCLI(t, "probe", "tcp", open, "--timeout", "1s", "--count", "3", "--delay", "10ms")
	if code != exitOK {
		t.Errorf("open port: exit %d, want 0; output %q", code, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[2], " PASS ") {
		t.Errorf("want 3 PASS lines, got %q", out)
	}
	// Every latency is in one unit: milliseconds with three decimals.
	msLine := regexp.MustCompile(`^\S+ PASS +\d+\.\d{3}ms `)
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if !msLine.MatchString(line) {
			t.Errorf("latency not as 0.123ms: %q", line)
		}
	}

	code, out, _ = runCLI(t, "probe", "--json", "tcp", refused, "--timeout", "1s")
	if code != probeExitFail {
		t.Errorf("refused port: exit %d, want %d", code, probeExitFail)
	}
	var r struct {
		Status    string  `json:"status"`
		Reason    string  `json:"reason"`
		LatencyMS float64 `json:"latency_ms"`
		Time      string  `json:"time"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if r.Status != "fail" || !strings.Contains(r.Reason, "connection refused") || r.Time == "" {
		t.Errorf("--json result %+v, want a fail with reason connection refused", r)
	}
}

func TestProbeExecAfterDoubleDash(t *testing.T) {
	code, out, errOut := runCLI(t, "probe", "exec", "--timeout", "5s", "--", "/bin/sh", "-c", "echo degraded; exit 1")
	if code != probeExitWarn || !strings.Contains(out, " WARN ") || !strings.Contains(out, "degraded") {
		t.Errorf("exec with exit 1: code %d, out %q, err %q; want WARN degraded and exit 1", code, out, errOut)
	}
	code, out, _ = runCLI(t, "probe", "exec", "--", "/bin/sh", "-c", "echo broken; exit 2")
	if code != probeExitFail || !strings.Contains(out, " FAIL ") || !strings.Contains(out, "broken") {
		t.Errorf("exec with exit 2: code %d, out %q; want FAIL broken and exit 2", code, out)
	}
}

func TestProbeHelp(t *testing.T) {
	code, out, _ := runCLI(t, "probe", "--help")
	if code != exitOK || !strings.Contains(out, "udp-connect") || !strings.Contains(out, "-expected-codes") {
		t.Errorf("help: exit %d, output %q", code, out)
	}
	if strings.Contains(out, "-password ") {
		t.Error("help offers a --password flag; passwords must come from a file or the environment")
	}
}

// TestProbeTypeAnyCase: the TYPE is taken in any case, as monitor types
// are (Octavia users type HTTP, TCP).
func TestProbeTypeAnyCase(t *testing.T) {
	code, out, errOut := runCLI(t, "probe", "EXEC", "--", "/bin/true")
	if code != probeExitPass || !strings.Contains(out, " PASS ") {
		t.Errorf("probe EXEC: exit %d, %q, %q", code, out, errOut)
	}
}

// TestProbeNestedInExec runs the real binary as an exec check of itself:
// the inner probe's verdict carries over, because vitals probe exits as
// the exec check reads (0 PASS, 1 WARN, 2 FAIL, 3 bad input).
func TestProbeNestedInExec(t *testing.T) {
	bin := testenv.BuildVitals(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name   string
		inner  []string
		status string
		code   int
	}{
		{"inner FAIL", []string{"probe", "tcp", refused, "--timeout", "2s"}, "FAIL", probeExitFail},
		{"inner WARN", []string{"probe", "exec", "--", "/bin/sh", "-c", "echo lagging; exit 1"}, "WARN", probeExitWarn},
		{"inner PASS", []string{"probe", "exec", "--", "/bin/true"}, "PASS", probeExitPass},
		{"inner bad input", []string{"probe", "tcp"}, "FAIL", probeExitFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"probe", "exec", "--timeout", "10s", "--", bin}, tt.inner...)
			out, err := exec.Command(bin, args...).Output()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), " "+tt.status+" ") {
				t.Errorf("vitals %s: exit %d, output %q; want %s and exit %d", strings.Join(args, " "), code, out, tt.status, tt.code)
			}
		})
	}
}
