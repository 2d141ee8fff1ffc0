package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildVitals builds cmd/vitals into a temp dir of t and returns the path
// of the binary, so that a test runs the program as an operator does. The
// build is bounded (5 minutes) and uses the go command in PATH; with
// VITALS_BUILD_RACE=1 in the environment the binary has the race detector.
func BuildVitals(t testing.TB) string {
	t.Helper()
	return BuildCommand(t, "vitals/cmd/vitals")
}

// BuildCommand builds the main package pkg (an import path of this
// module) into a temp dir of t, as BuildVitals does, and returns the path
// of the binary, named after the package's last element.
func BuildCommand(t testing.TB, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found in PATH; it builds %s for this test: %v", pkg, err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	args := []string{"build", "-buildvcs=false", "-o", path}
	if os.Getenv("VITALS_BUILD_RACE") == "1" {
		args = append(args, "-race")
	}
	out, err := exec.CommandContext(ctx, goBin, append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	t.Logf("built %s in %s", path, time.Since(start).Round(time.Millisecond))
	return path
}

// Vitals is a running `vitals` process (lb or agent) started by
// StartVitals. It runs in its own process group, gets SIGKILL if the test
// binary dies, and writes its stdout and stderr to LogFile.
type Vitals struct {
	Name    string // for messages, e.g. "lb" or "agent pg1"
	LogFile string // stdout and stderr of the process
	PID     int
	proc    *process
}

// StartVitals starts bin with args (for example "lb", "--config", file),
// writing its output to a log file in dir, and registers a cleanup that
// stops it with SIGTERM (SIGKILL after 15 s). It does not wait for
// readiness: the caller knows what ready means for its command.
func StartVitals(t testing.TB, name, bin, dir string, args ...string) *Vitals {
	t.Helper()
	return StartVitalsLimited(t, 0, name, bin, dir, args...)
}

// StartVitalsLimited is StartVitals with RLIMIT_NOFILE set to nofile (soft
// and hard, so the process cannot raise it) when nofile > 0: the limit is
// lowered for that process only, by the shell's ulimit before exec, so
// the process sees it from its first instruction.
func StartVitalsLimited(t testing.TB, nofile int, name, bin, dir string, args ...string) *Vitals {
	t.Helper()
	logPath := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log")
	path := bin
	if nofile > 0 {
		args = append([]string{"-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(nofile), bin}, args...)
		path = "/bin/sh"
	}
	proc, err := startProcess(name, path, args, nil, dir, logPath)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v := &Vitals{Name: name, LogFile: logPath, PID: proc.pid(), proc: proc}
	t.Cleanup(func() {
		if _, err := proc.stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s cleanup: %v", name, err)
		}
	})
	return v
}

// Signal sends sig to the process; it fails the test if the process has
// exited.
func (v *Vitals) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if v.proc.exited() {
		t.Fatalf("%s: %s: exited (%v)\n--- %s:\n%s", v.Name, sig, v.proc.cmd.ProcessState, v.LogFile, logTail(v.LogFile))
	}
	if err := v.proc.signal(sig); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
}

// Exited reports whether the process has exited.
func (v *Vitals) Exited() bool { return v.proc.exited() }

// Log returns everything the process has written so far.
func (v *Vitals) Log() string {
	b, err := os.ReadFile(v.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// LogTail returns the last few KiB of the log, for failure messages.
func (v *Vitals) LogTail() string { return logTail(v.LogFile) }

// WaitReady polls try until it succeeds, the process exits, or 30 s pass;
// the error quotes the tail of the log.
func (v *Vitals) WaitReady(try func() error) error { return v.proc.poll(try) }

// NoFile reads the process's soft RLIMIT_NOFILE from /proc.
func (v *Vitals) NoFile(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", v.PID))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); strings.HasPrefix(line, "Max open files") && len(f) >= 1 {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("/proc/%d/limits: %q", v.PID, line)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/limits has no Max open files line", v.PID)
	return 0
}

// OpenFiles counts the process's open descriptors.
func (v *Vitals) OpenFiles(t testing.TB) int {
	t.Helper()
	n, err := ProcFDs(v.PID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitLog waits up to limit for the log to contain s, and fails the test
// with the log if it does not, or if the process exits first.
func (v *Vitals) WaitLog(t testing.TB, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(v.Log(), s) {
		if v.Exited() {
			t.Fatalf("%s exited before logging %q; log:\n%s", v.Name, s, v.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s; log:\n%s", v.Name, s, limit, v.Log())
		}
		time.Sleep(pollInterval)
	}
}
