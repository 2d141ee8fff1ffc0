package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// maxExecOutput is how much of a command's combined output is kept;
	// the rest is read and discarded so the command never blocks on a
	// full pipe.
	maxExecOutput = 4 << 10
	// maxExecReason bounds the output line used as the reason, in bytes.
	maxExecReason = 200
	// execWaitDelay bounds how long a run waits for the output pipe to
	// close once the command has exited or been killed: a process that left
	// the command's process group (setsid, a daemon) may hold it open.
	execWaitDelay = 100 * time.Millisecond
)

// execCheck runs a program and judges its exit status: 0 passes, 1 warns
// and anything else fails, as in Nagios plugins and Consul script checks.
//
// The program runs without a shell, with stdin from /dev/null, in the
// agent's working directory and with the agent's environment (so PATH,
// HOME and any credentials the agent was given are visible to it). It
// runs in a process group of its own; when the check's timeout ends the
// whole group is killed with SIGKILL, and so is anything the program
// left running in the group when it exits.
type execCheck struct {
	path string   // the program, absolute, resolved at New
	args []string // the command as configured; args[0] is also the name in reasons

	// started, when set (by tests), is called with the process id, which
	// is also the process group id, once the command has started.
	started func(pid int)
}

func newExec(s Spec) (checker, error) {
	if len(s.Command) == 0 {
		return nil, &FieldError{Field: "command", Msg: "is required"}
	}
	prog := s.Command[0]
	if prog == "" {
		return nil, &FieldError{Field: "command", Msg: "the first element, the program, is empty"}
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, &FieldError{Field: "command", Msg: lookPathMsg(prog, err)}
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, &FieldError{Field: "command", Msg: fmt.Sprintf("program %q: %v", prog, err)}
	}
	return &execCheck{path: path, args: s.Command}, nil
}

// lookPathMsg explains why exec.LookPath did not find prog.
func lookPathMsg(prog string, err error) string {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Sprintf("program %q not found in PATH", prog)
	case errors.Is(err, exec.ErrDot):
		return fmt.Sprintf("program %q resolves to the current directory; give its absolute path", prog)
	}
	if ee, ok := errors.AsType[*exec.Error](err); ok {
		err = ee.Err
	}
	return fmt.Sprintf("program %q: %v", prog, unwrapPathErr(err))
}

// check runs the command once. Reasons, from the first non-empty line of
// the output (stdout and stderr together), cut to 200 bytes:
//
//	galera node synced           (exit 0: pass; "exit status 0" without output)
//	replica 12s behind           (exit 1: warn; "exit status 1" without output)
//	cannot connect to mysqld     (other exit: fail; "exit status 2" or
//	                              "signal: segmentation fault" without output)
//	start /usr/local/bin/x: exec format error
//	timeout after 1s during run /usr/local/bin/x (from judge)
func (c *execCheck) check(ctx context.Context) (string, error) {
	var out boundedBuffer
	cmd := exec.CommandContext(ctx, c.path)
	cmd.Args = c.args
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = execWaitDelay
	if err := cmd.Start(); err != nil {
		return "", step("start "+c.args[0], unwrapPathErr(err))
	}
	if c.started != nil {
		c.started(cmd.Process.Pid)
	}
	err := cmd.Wait()
	// Kill what the command left running in its group. The group id stays
	// reserved while any member lives; once the group is empty this is
	// ESRCH, ignored.
	_ = killGroup(cmd.Process.Pid)

	if cerr := ctx.Err(); cerr != nil && err != nil {
		return "", step("run "+c.args[0], cerr)
	}
	st := cmd.ProcessState
	if st == nil {
		return "", step("run "+c.args[0], err)
	}
	reason := firstLine(out.Bytes())
	if reason == "" {
		reason = st.String()
	}
	switch st.ExitCode() {
	case 0:
		// err may be ErrWaitDelay: the command succeeded but something
		// it started held the output open.
		return reason, nil
	case 1:
		return "", warnf("%s", reason)
	default:
		return "", mismatch("%s", reason)
	}
}

// killGroup sends SIGKILL to the process group pgid. A group that is gone
// already reads as os.ErrProcessDone.
func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// boundedBuffer keeps the first maxExecOutput bytes written to it and
// discards the rest, always reporting a full write. os/exec calls Write
// from one goroutine at a time (Stdout and Stderr are the same writer)
// and Wait returns only after that goroutine is done, so it needs no lock.
type boundedBuffer struct {
	b []byte
}

// Write implements io.Writer.
func (w *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxExecOutput - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (w *boundedBuffer) Bytes() []byte { return w.b }

// firstLine returns the first line of out that is not blank, with invalid
// UTF-8 and control characters replaced, trimmed and cut to maxExecReason
// bytes (at a rune boundary, marked with "…").
func firstLine(out []byte) string {
	var line string
	for l := range strings.SplitSeq(string(out), "\n") {
		if line = strings.TrimSpace(printable(l)); line != "" {
			break
		}
	}
	if len(line) <= maxExecReason {
		return line
	}
	cut := maxExecReason
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + "…"
}

// printable replaces invalid UTF-8 with U+FFFD and control characters
// with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
