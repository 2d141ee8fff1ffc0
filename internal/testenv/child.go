package testenv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childVar names the environment variable by which RunChild tells the test
// binary it runs again which role to play.
const childVar = "VITALS_TEST_CHILD"

// ChildRole returns the role this test process was started for by
// RunChild, or "" in an ordinary test run. A test that finds its role does
// the child's work, writes what it found to stdout and returns.
func ChildRole() string { return os.Getenv(childVar) }

// RunChild runs the test binary again, running only the current test, with
// ChildRole returning role and with env added to the environment, and
// returns its stdout. It fails t when the child fails or runs longer than
// a minute. It is for what a test must not do to its own process, such as
// lowering its descriptor limit (ExhaustFDs).
func RunChild(t testing.TB, role string, env ...string) []byte {
	t.Helper()
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childVar+"="+role), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\nstdout:\n%s\nstderr:\n%s", role, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// ExhaustFDs lowers the process's soft RLIMIT_NOFILE to the descriptors
// now open plus spare, then opens descriptors until the next open fails
// with EMFILE, so that the process's next socket() or open() fails as it
// would under a descriptor flood. release closes what it opened; the
// limit stays lowered. It changes the whole process: call it only in a
// child started by RunChild, never in a test's own process.
func ExhaustFDs(spare uint64) (release func(), err error) {
	if ChildRole() == "" {
		return nil, errors.New("testenv.ExhaustFDs: only in a child started by RunChild")
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	lim := syscall.Rlimit{Cur: uint64(len(entries)) + spare, Max: 0}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return nil, err
	}
	lim.Max = old.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	var fds []int
	release = func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
	for range 1 << 16 { // bounded: the limit ends it long before
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EMFILE) {
			return release, nil
		}
		if err != nil {
			release()
			return nil, err
		}
		fds = append(fds, fd)
	}
	release()
	return nil, errors.New("testenv.ExhaustFDs: the descriptor limit was never reached")
}
