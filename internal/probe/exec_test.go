package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExecCheck(t *testing.T) {
	t.Setenv("VITALS_EXEC_TEST", "inherited")
	dir := t.TempDir()
	noShebang := filepath.Join(dir, "no-shebang")
	if err := os.WriteFile(noShebang, []byte("echo hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		command []string
		status  Status
		reason  string
	}{
		{"true passes", []string{"/bin/true"}, Pass, "exit status 0"},
		{"output is the reason", []string{"sh", "-c", "echo galera node synced"}, Pass, "galera node synced"},
		{"exit 1 warns", []string{"sh", "-c", "echo warn; exit 1"}, Warn, "warn"},
		{"exit 1 without output", []string{"sh", "-c", "exit 1"}, Warn, "exit status 1"},
		{"exit 3 fails with stderr", []string{"sh", "-c", "echo cannot connect to mysqld >&2; exit 3"}, Fail, "cannot connect to mysqld"},
		{"exit 2 without output", []string{"sh", "-c", "exit 2"}, Fail, "exit status 2"},
		{"first non-blank line", []string{"sh", "-c", "printf '\\n  \\n  first  \\nsecond\\n'; exit 3"}, Fail, "first"},
		{"control characters", []string{"sh", "-c", "printf 'a\\tb\\033c\\r\\n'"}, Pass, "a b c"},
		{"long line is cut", []string{"sh", "-c", "head -c 1000 /dev/zero | tr '\\0' x"}, Pass, strings.Repeat("x", 200) + "…"},
		{"huge output is bounded", []string{"sh", "-c", "yes | head -c 10000000"}, Pass, "y"},
		{"killed by a signal", []string{"sh", "-c", "kill -SEGV $$"}, Fail, "signal: segmentation fault"},
		{"stdin is /dev/null", []string{"sh", "-c", "cat; echo done"}, Pass, "done"},
		{"environment is inherited", []string{"sh", "-c", "echo $VITALS_EXEC_TEST"}, Pass, "inherited"},
		{"no shell", []string{"echo", "$HOME", "|", "x"}, Pass, "$HOME | x"},
		{"not executable format", []string{noShebang}, Fail, "start " + noShebang + ": exec format error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustProbe(t, "exec", Spec{Command: tt.command, Timeout: 5 * time.Second})
			r := runBounded(t, p, 5*time.Second)
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

// execWithPgid builds an exec prober that reports its process group id.
func execWithPgid(t *testing.T, timeout time.Duration, command ...string) (Prober, func() int) {
	t.Helper()
	p := mustProbe(t, "exec", Spec{Command: command, Timeout: timeout})
	pgid := 0
	p.(timed).c.(*execCheck).started = func(pid int) { pgid = pid }
	return p, func() int {
		t.Helper()
		if pgid == 0 {
			t.Fatal("the command never started")
		}
		return pgid
	}
}

// becomeSubreaper makes this test process adopt the orphans of the
// processes it starts from now on, so a test can wait for a grandchild
// whose parent was killed and see how it died.
func becomeSubreaper(t *testing.T) {
	t.Helper()
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v (Linux has it since 3.4)", e)
	}
	t.Cleanup(func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) })
}

// reap waits for the adopted orphan pid to end, as becomeSubreaper allows,
// and returns how it ended. It fails the test if pid is still running
// after 5s, long before its sleep 30 would end.
func reap(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		_, r.err = syscall.Wait4(pid, &r.ws, 0, nil)
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("wait for %d: %v", pid, r.err)
		}
		return r.ws
	case <-time.After(5 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d is still running after the check returned", pid)
		return 0
	}
}

// readPid reads the pid a script wrote to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not write its pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	return pid
}

// assertGroupGone fails the test unless no process is left in group pgid.
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d: kill 0 = %v, want ESRCH (all gone)", pgid, err)
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	t.Run("sleep", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		p, pgid := execWithPgid(t, timeout, "sleep", "30")
		r := runBounded(t, p, timeout)
		if want := "timeout after 300ms during run sleep"; r.Status != Fail || r.Reason != want {
			t.Errorf("got %s %q, want fail %q", r.Status, r.Reason, want)
		}
		assertGroupGone(t, pgid())
	})

	// The shell waits for a background sleep that holds its stdout. Both
	// are killed at the timeout, and the pipe closes with them.
	t.Run("shell waiting for a background child", func(t *testing.T) {
		becomeSubreaper(t)
		const timeout = time.Second // ample for sh to start sleep and write its pid
		pidFile := filepath.Join(t.TempDir(), "pid")
		p, pgid := execWithPgid(t, timeout, "sh", "-c", `sleep 30 & echo $! > `+pidFile+`; echo started; wait`)
		r := runBounded(t, p, timeout)
		if want := "timeout after 1s during run sh"; r.Status != Fail || r.Reason != want {
			t.Errorf("got %s %q, want fail %q", r.Status, r.Reason, want)
		}
		if ws := reap(t, readPid(t, pidFile)); ws.Signal() != syscall.SIGKILL {
			t.Errorf("background sleep ended with %v, want SIGKILL", ws)
		}
		assertGroupGone(t, pgid())
	})

	// The shell exits at once, leaving a sleep that holds stdout open. The
	// check returns after the short wait delay, not after 30s, and the
	// sleep is killed with the rest of the group.
	t.Run("shell exits leaving a child", func(t *testing.T) {
		becomeSubreaper(t)
		const timeout = 5 * time.Second
		pidFile := filepath.Join(t.TempDir(), "pid")
		p, pgid := execWithPgid(t, timeout, "sh", "-c", `sleep 30 & echo $! > `+pidFile+`; echo done`)
		r := runBounded(t, p, timeout)
		if r.Status != Pass || r.Reason != "done" {
			t.Errorf("got %s %q, want pass %q", r.Status, r.Reason, "done")
		}
		if r.Latency > 3*time.Second { // held, it would take the 5s timeout or 30s
			t.Errorf("took %s; the leftover child held the check", r.Latency)
		}
		if ws := reap(t, readPid(t, pidFile)); ws.Signal() != syscall.SIGKILL {
			t.Errorf("leftover sleep ended with %v, want SIGKILL", ws)
		}
		assertGroupGone(t, pgid())
	})

	// A grandchild that left the process group (setsid) cannot be killed
	// with it, and it holds stdout open; the wait delay still bounds the
	// check.
	t.Run("escaped grandchild holding stdout", func(t *testing.T) {
		becomeSubreaper(t)
		const timeout = 300 * time.Millisecond
		pidFile := filepath.Join(t.TempDir(), "pid")
		p, pgid := execWithPgid(t, timeout, "sh", "-c", `setsid sh -c 'echo $$ > `+pidFile+`; exec sleep 30' & exec sleep 30`)
		r := runBounded(t, p, timeout)
		if want := "timeout after 300ms during run sh"; r.Status != Fail || r.Reason != want {
			t.Errorf("got %s %q, want fail %q", r.Status, r.Reason, want)
		}
		assertGroupGone(t, pgid())
		if _, err := os.Stat(pidFile); err == nil {
			escaped := readPid(t, pidFile)
			syscall.Kill(escaped, syscall.SIGKILL)
			reap(t, escaped)
		}
	})
}

func TestExecValidation(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no command", Spec{}, "command: is required"},
		{"empty program", Spec{Command: []string{"", "x"}}, "command: the first element, the program, is empty"},
		{"not in PATH", Spec{Command: []string{"vitals-no-such-program"}}, `command: program "vitals-no-such-program" not found in PATH`},
		{"absolute missing", Spec{Command: []string{"/nonexistent/check"}}, `command: program "/nonexistent/check": no such file or directory`},
		{"relative missing", Spec{Command: []string{"./nonexistent-check"}}, `command: program "./nonexistent-check": no such file or directory`},
		{"not executable", Spec{Command: []string{notExec}}, `command: program "` + notExec + `": permission denied`},
		{"directory", Spec{Command: []string{dir}}, `command: program "` + dir + `": is a directory`},
		{"address", Spec{Command: []string{"true"}, Address: "h:1"}, "address: is not used by type exec"},
		{"foreign field", Spec{Command: []string{"true"}, Path: "/x"}, "path: is not allowed for type exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Timeout = time.Second
			_, err := New("exec", tt.spec)
			if _, ok := errors.AsType[*FieldError](err); !ok || err.Error() != tt.want {
				t.Errorf("got %v, want FieldError %q", err, tt.want)
			}
		})
	}
}

// TestExecResolvesProgram shows a bare name is looked up in PATH once, at
// New, and kept as an absolute path.
func TestExecResolvesProgram(t *testing.T) {
	p := mustProbe(t, "exec", Spec{Command: []string{"sh", "-c", "true"}, Timeout: time.Second})
	c := p.(timed).c.(*execCheck)
	if !filepath.IsAbs(c.path) || filepath.Base(c.path) != "sh" {
		t.Errorf("path = %q, want an absolute path to sh", c.path)
	}
	if c.args[0] != "sh" {
		t.Errorf("argv[0] = %q, want sh as configured", c.args[0])
	}
}

func TestExecBoundedBuffer(t *testing.T) {
	var w boundedBuffer
	chunk := []byte(strings.Repeat("y\n", 3000))
	for written := 0; written < 10_000_000; written += len(chunk) {
		if n, err := w.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(chunk))
		}
	}
	if got := len(w.Bytes()); got != maxExecOutput {
		t.Errorf("kept %d bytes, want %d", got, maxExecOutput)
	}
	if cap(w.Bytes()) > 2*maxExecOutput {
		t.Errorf("buffer grew to %d bytes", cap(w.Bytes()))
	}
}

func TestExecFirstLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"\n\n", ""},
		{"ok\n", "ok"},
		{"  \n\t two words \nthree", "two words"},
		{"a\x00b\x7fc", "a b c"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
		{"x" + strings.Repeat("é", 150), "x" + strings.Repeat("é", 99) + "…"},
	}
	for _, tt := range tests {
		if got := firstLine([]byte(tt.in)); got != tt.want {
			t.Errorf("firstLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
