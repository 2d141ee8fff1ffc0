package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rerunEnv names the environment variable that tells a re-run test binary
// which test it runs for its parent, and so that it is the child.
const rerunEnv = "VITALS_TEST_RERUN"

// SkipOrFail skips the test with the reason, or fails it when the
// environment variable CI is "true", so that CI cannot pass by skipping a
// test whose prerequisite is missing.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a test that cannot run fails)", msg)
	}
	t.Skip(msg)
}

// AsUnprivileged runs the calling test again in a child test process with
// the uid and gid of the OS user nobody and no supplementary groups, so that
// a test can see what a process without root is refused. It returns true in
// that child, where the test goes on with its body, and false in the parent,
// which has then checked that the child passed and must return. When this
// process is not root it returns true at once: the test already runs
// unprivileged. The test binary is copied to a directory nobody can read,
// since go test builds it under a private 0700 directory.
func AsUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Getenv(rerunEnv) == t.Name() || os.Geteuid() != 0 {
		return true
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("running as root, the test must run as OS user nobody: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("OS user nobody: bad uid %q or gid %q", u.Uid, u.Gid)
	}
	dir, err := os.MkdirTemp(tempRoot(t, &syscall.Credential{}), basePrefix+"rerun-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := copyFile(os.Args[0], exe, 0o755); err != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	rerun(t, exe, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}, dir)
	return false
}

// InPrivateNetwork runs the calling test again in a child test process in a
// new network namespace whose loopback interface is up, so that a test can
// change the namespace's sysctls (net.ipv4.*) or stop answering on
// 127.0.0.1 without touching the machine. It returns true in that child,
// where the test goes on with its body, and false in the parent, which has
// then checked that the child passed and must return. Creating the namespace
// needs root; without it the test skips, or fails when CI=true.
func InPrivateNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(rerunEnv) == t.Name() {
		if err := loopbackUp(); err != nil {
			t.Fatalf("bring lo up in the private network namespace: %v", err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root to create a private network namespace")
	}
	rerun(t, os.Args[0], &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}, "")
	return false
}

// rerun runs test t alone in the test binary exe with attr, and fails t
// unless the child ran it and it passed.
func rerun(t *testing.T, exe string, attr *syscall.SysProcAttr, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run="+runPattern(t.Name()), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), rerunEnv+"="+t.Name())
	cmd.SysProcAttr = attr
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &ee):
		SkipOrFail(t, "cannot start the test process again: %v", err)
	case err != nil:
		t.Fatalf("re-run: %v\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()+" "):
		t.Fatalf("re-run: the test did not pass:\n%s", out)
	}
	t.Logf("re-run passed:\n%s", out)
}

// runPattern is the -test.run pattern that matches exactly the test or
// subtest name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// copyFile copies src to dst with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// loopbackUp sets IFF_UP on lo, which a new network namespace has down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
