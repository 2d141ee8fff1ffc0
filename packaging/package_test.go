//go:build linux

// Package packaging holds the Debian package's configuration (nfpm.yaml,
// scripts/) and the test that builds, installs and removes the package.
package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

const repoRoot = ".."

// Installed paths.
const (
	binPath     = "/usr/bin/vitals"
	unitDir     = "/usr/lib/systemd/system"
	manPage     = "/usr/share/man/man1/vitals.1.gz"
	etcDir      = "/etc/vitals"
	stateDir    = "/var/lib/vitals"
	operatorPwd = etcDir + "/db.pass" // an operator's file, not the package's
)

var (
	units     = []string{"vitals-agent.service", "vitals-lb.service"}
	conffiles = []string{etcDir + "/agent.yaml", etcDir + "/lb.yaml"}
)

// run runs a command (bounded by 15 minutes: make package compiles nfpm
// the first time) and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(t, repoRoot, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// dpkgStatus is the package's dpkg status ("install ok installed",
// "deinstall ok config-files"), or "" when dpkg does not know it.
func dpkgStatus(t *testing.T) string {
	out, err := run(t, "/", "dpkg-query", "-W", "-f=${Status}", "vitals")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// TestDebPackage builds the package with `make package`, installs it with
// dpkg -i into this machine, checks what it installed (the stamped
// version, the units by systemd-analyze verify, the man pages, the
// conffiles, the vitals user and /etc/vitals' owner), then removes it
// (binary, units and man pages go; conffiles and an operator's edit stay)
// and purges it (conffiles go; the operator's own file and the vitals user
// stay). It needs root; it refuses to run where a vitals package or
// /etc/vitals exists already, and its cleanup purges the package and
// removes what it created even when the test fails.
func TestDebPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "installs a .deb into this machine with dpkg -i: needs root")
	}
	testenv.Need(t, "dpkg", "dpkg-deb", "systemd-analyze", "man", "make", "git")
	if st := dpkgStatus(t); st != "" && st != "unknown ok not-installed" {
		testenv.SkipOrFail(t, "a vitals package is on this machine already (%s); this test would replace it", st)
	}
	if exists(etcDir) {
		testenv.SkipOrFail(t, "%s exists (a manual install?); the package's conffiles would collide with it", etcDir)
	}
	_, userErr := user.Lookup("vitals")
	_, groupErr := user.LookupGroup("vitals")
	hadUser, hadGroup, hadState := userErr == nil, groupErr == nil, exists(stateDir)
	t.Cleanup(func() {
		if st := dpkgStatus(t); st != "" && st != "unknown ok not-installed" {
			if out, err := run(t, "/", "dpkg", "--purge", "vitals"); err != nil {
				t.Errorf("cleanup: dpkg --purge vitals: %v\n%s", err, out)
			}
		}
		os.Remove(operatorPwd)
		os.Remove(etcDir)
		if !hadState {
			os.RemoveAll(stateDir)
		}
		if !hadUser {
			if out, err := run(t, "/", "userdel", "vitals"); err != nil && !errors.Is(err, exec.ErrNotFound) {
				t.Logf("cleanup: userdel vitals: %v %s", err, out)
			}
		}
		if !hadGroup {
			run(t, "/", "groupdel", "vitals")
		}
	})

	// Build. The Makefile stamps `git describe`, and names the file with
	// its Debian form.
	version := "devel"
	if out, err := run(t, repoRoot, "git", "describe", "--tags", "--always", "--dirty"); err == nil {
		version = strings.TrimSpace(out)
	}
	debVersion := strings.TrimSpace(mustRun(t, "scripts/deb-version.sh", version))
	goarch := strings.TrimSpace(mustRun(t, "go", "env", "GOARCH"))
	work := t.TempDir()
	dist := filepath.Join(work, "dist")
	mustRun(t, "make", "--no-print-directory", "package", "BIN="+filepath.Join(work, "vitals"), "DIST="+dist)
	deb := filepath.Join(dist, fmt.Sprintf("vitals_%s_%s.deb", debVersion, goarch))
	if !exists(deb) {
		got, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
		t.Fatalf("make package made %q, want %s", got, deb)
	}

	// Install.
	mustRun(t, "dpkg", "-i", deb)
	if st := dpkgStatus(t); st != "install ok installed" {
		t.Fatalf("after dpkg -i: status %q", st)
	}
	if got := strings.TrimSpace(mustRun(t, "dpkg-query", "-W", "-f=${Version}", "vitals")); got != debVersion {
		t.Errorf("package version %q, want %q", got, debVersion)
	}
	if got := mustRun(t, binPath, "--version"); got != "vitals "+version+"\n" {
		t.Errorf("%s --version printed %q, want the stamped %q", binPath, got, "vitals "+version)
	}
	for _, u := range units {
		path := filepath.Join(unitDir, u)
		installed, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s is not installed: %v", u, err)
			continue
		}
		// The installed unit is deploy/systemd's with the binary at /usr/bin.
		src, err := os.ReadFile(filepath.Join(repoRoot, "deploy/systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Replace(string(src), "ExecStart=/usr/local/bin/vitals ", "ExecStart="+binPath+" ", 1); string(installed) != want {
			t.Errorf("%s differs from deploy/systemd/%s with ExecStart=%s", path, u, binPath)
		}
		out, err := run(t, "/", "systemd-analyze", "verify", path)
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
		}
	}
	if out, err := run(t, "/", "man", "-w", "vitals"); err != nil || strings.TrimSpace(out) != manPage {
		t.Errorf("man -w vitals: %v %q, want %s", err, out, manPage)
	}
	for _, c := range []string{"agent", "lb", "probe", "demo", "version"} {
		if p := "/usr/share/man/man1/vitals-" + c + ".1.gz"; !exists(p) {
			t.Errorf("%s is not installed", p)
		}
	}
	// The keepalived recipe of "Running several nodes".
	if st, err := os.Stat("/usr/lib/vitals/vrrp-notify"); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("/usr/lib/vitals/vrrp-notify: %v %v, want an executable", st, err)
	}
	if !exists("/usr/share/doc/vitals/keepalived/keepalived.conf.in") {
		t.Error("the keepalived recipe is not installed in /usr/share/doc/vitals/keepalived")
	}
	listed := mustRun(t, "dpkg-query", "-W", "-f=${Conffiles}", "vitals")
	for _, c := range conffiles {
		if !strings.Contains(listed, " "+c+" ") || !exists(c) {
			t.Errorf("%s is not an installed conffile (dpkg lists %q)", c, listed)
		}
	}
	// The example names its monitor's password with password_env.
	mustRun(t, "env", "VITALS_PG_PASSWORD=x", binPath, "lb", "--config", etcDir+"/lb.yaml", "--check-config")
	u, err := user.Lookup("vitals")
	if err != nil {
		t.Fatalf("postinst did not create the vitals user: %v", err)
	}
	if pw := mustRun(t, "getent", "passwd", "vitals"); !strings.HasSuffix(strings.TrimSpace(pw), ":/usr/sbin/nologin") {
		t.Errorf("the vitals user can log in: %s", pw)
	}
	if fi, err := os.Stat(etcDir); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("%s: %v, mode %v; want 0750 root:vitals", etcDir, err, fi.Mode())
	} else if got := mustRun(t, "stat", "-c", "%U:%g", etcDir); strings.TrimSpace(got) != "root:"+u.Gid {
		t.Errorf("%s is owned by %s, want root:%s", etcDir, got, u.Gid)
	}

	// An operator edits a conffile and adds a password file.
	const edit = "\n# edited by the operator\n"
	f, err := os.OpenFile(etcDir+"/lb.yaml", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(edit)
	f.Close()
	if err := os.WriteFile(operatorPwd, []byte("secret\n"), 0o640); err != nil {
		t.Fatal(err)
	}

	// Remove: the program goes, the configuration stays.
	mustRun(t, "dpkg", "-r", "vitals")
	if st := dpkgStatus(t); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q, want deinstall ok config-files", st)
	}
	for _, p := range []string{binPath, filepath.Join(unitDir, units[0]), filepath.Join(unitDir, units[1]), manPage} {
		if exists(p) {
			t.Errorf("%s is still there after dpkg -r", p)
		}
	}
	for _, c := range conffiles {
		if !exists(c) {
			t.Errorf("dpkg -r removed the conffile %s", c)
		}
	}
	if b, _ := os.ReadFile(etcDir + "/lb.yaml"); !strings.HasSuffix(string(b), edit) {
		t.Error("dpkg -r lost the operator's edit of lb.yaml")
	}

	// Purge: the conffiles go; the operator's file and the user stay.
	mustRun(t, "dpkg", "-P", "vitals")
	if st := dpkgStatus(t); st != "" && st != "unknown ok not-installed" {
		t.Errorf("after dpkg -P: status %q, want the package unknown", st)
	}
	for _, c := range conffiles {
		if exists(c) {
			t.Errorf("dpkg -P left the conffile %s", c)
		}
	}
	if !exists(operatorPwd) {
		t.Errorf("dpkg -P removed %s, which the operator made", operatorPwd)
	}
	if exists(stateDir) && !hadState {
		t.Errorf("dpkg -P left %s", stateDir)
	}
	if _, err := user.Lookup("vitals"); err != nil {
		t.Errorf("dpkg -P removed the vitals user (files elsewhere may still be its own): %v", err)
	}
}
