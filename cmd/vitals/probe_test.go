package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
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
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
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

	code, out, _ = runCLI(t, "probe", "--json", "tcp", refused, "--timeout", "1s")
	if code != exitFail {
		t.Errorf("refused port: exit %d, want 1", code)
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
	if code != exitOK || !strings.Contains(out, " WARN ") || !strings.Contains(out, "degraded") {
		t.Errorf("exec with exit 1: code %d, out %q, err %q; want WARN degraded and exit 0", code, out, errOut)
	}
	code, out, _ = runCLI(t, "probe", "exec", "--", "/bin/sh", "-c", "echo broken; exit 2")
	if code != exitFail || !strings.Contains(out, " FAIL ") || !strings.Contains(out, "broken") {
		t.Errorf("exec with exit 2: code %d, out %q; want FAIL broken and exit 1", code, out)
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
