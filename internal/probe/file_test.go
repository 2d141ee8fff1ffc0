package probe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "disabled")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent")
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	underFile := filepath.Join(present, "flag")

	tests := []struct {
		name   string
		path   string
		status Status
		reason string
	}{
		{"present", present, Fail, "maintenance file " + present + " exists"},
		{"absent", absent, Pass, "no file " + absent},
		{"directory counts as present", dir, Fail, "maintenance file " + dir + " exists"},
		{"dangling symlink is absent", dangling, Pass, "no file " + dangling},
		{"unclean path is cleaned", dir + "//absent", Pass, "no file " + absent},
		// Stat errors other than "does not exist" fail; these two happen
		// even to root (for permission denied see below).
		{"symlink loop", loop, Fail, "stat " + loop + ": too many levels of symbolic links"},
		{"parent is a file", underFile, Fail, "stat " + underFile + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustProbe(t, "file", Spec{Path: tt.path, Timeout: time.Second})
			r := runBounded(t, p, time.Second)
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

// TestFileCheckAppears shows the check follows the file from run to run.
func TestFileCheckAppears(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flag")
	p := mustProbe(t, "file", Spec{Path: path, Timeout: time.Second})
	if r := p.Probe(t.Context()); r.Status != Pass {
		t.Fatalf("before: got %s %q, want pass", r.Status, r.Reason)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.Probe(t.Context()); r.Status != Fail {
		t.Fatalf("after create: got %s %q, want fail", r.Status, r.Reason)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if r := p.Probe(t.Context()); r.Status != Pass {
		t.Fatalf("after remove: got %s %q, want pass", r.Status, r.Reason)
	}
}

// TestFileCheckPermission: a stat refused with "permission denied" fails
// the check. Root is never refused, so as root the test runs again as the
// OS user nobody.
func TestFileCheckPermission(t *testing.T) {
	if !testenv.AsUnprivileged(t) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("runs as root, which is not denied permission")
	}
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	path := filepath.Join(locked, "flag")
	p := mustProbe(t, "file", Spec{Path: path, Timeout: time.Second})
	r := runBounded(t, p, time.Second)
	if want := "stat " + path + ": permission denied"; r.Status != Fail || r.Reason != want {
		t.Errorf("got %s %q, want fail %q", r.Status, r.Reason, want)
	}
}

func TestFileValidation(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no path", Spec{}, "path: is required"},
		{"relative path", Spec{Path: "var/tmp/x"}, `path: "var/tmp/x" is not an absolute path`},
		{"address", Spec{Path: "/x", Address: "h:1"}, "address: is not used by type file"},
		{"foreign field", Spec{Path: "/x", Command: []string{"true"}}, "command: is not allowed for type file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Timeout = time.Second
			_, err := New("file", tt.spec)
			var fe *FieldError
			if !errors.As(err, &fe) || err.Error() != tt.want {
				t.Errorf("got %v, want FieldError %q", err, tt.want)
			}
		})
	}
}
