package adminhttp

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestListenUnixUmask calls ListenUnix under umask 000 and checks the socket
// has mode 0600 right after Listen and that the caller's umask is restored.
func TestListenUnixUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "sub", "admin.sock")
	ln, err := ListenUnix(path, "vitals test")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("socket mode %o, want 600", got)
	}
	if cur := syscall.Umask(0); cur != 0 {
		t.Fatalf("umask left at %o, want the caller's 000 restored", cur)
	}
}

// TestListenUnixBindsUnderUmask shows the bind itself is restricted: a
// plain net.Listen under umask 000 gives a world-connectable socket,
// while the umask ListenUnix sets gives 0600 before any chmod.
func TestListenUnixBindsUnderUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	plain, err := net.Listen("unix", filepath.Join(dir, "plain.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	fi, _ := os.Stat(filepath.Join(dir, "plain.sock"))
	if fi.Mode().Perm()&0o007 == 0 {
		t.Fatalf("plain bind under umask 000 gave %o; the test cannot show the difference", fi.Mode().Perm())
	}
	syscall.Umask(0o177) // what ListenUnix sets around the bind
	masked, err := net.Listen("unix", filepath.Join(dir, "masked.sock"))
	syscall.Umask(0)
	if err != nil {
		t.Fatal(err)
	}
	defer masked.Close()
	fi, _ = os.Stat(filepath.Join(dir, "masked.sock"))
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("bind under umask 0177 gave %o, want 600 with no chmod", got)
	}
}

// TestListenUnixStaleAndInUse replaces a dead socket file, refuses one
// that answers, and refuses a path that is not a socket.
func TestListenUnixStaleAndInUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.sock")
	ln, err := ListenUnix(path, "vitals test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(path, "vitals test"); err == nil || !strings.Contains(err.Error(), "is in use: is another vitals test running?") {
		t.Fatalf("second listen: %v, want in use", err)
	}
	// A stale file: the listener closes without unlinking.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	ln, err = ListenUnix(path, "vitals test")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
	reg := filepath.Join(dir, "file")
	os.WriteFile(reg, nil, 0o600)
	if _, err := ListenUnix(reg, "vitals test"); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("regular file: %v, want not a socket", err)
	}
}
