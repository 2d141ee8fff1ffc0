package testenv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPackages maps a binary to the Debian package that installs it, for the
// message Need gives when the binary is missing.
var binPackages = map[string]string{
	"postgres":           "postgresql",
	"initdb":             "postgresql",
	"pg_ctl":             "postgresql",
	"pg_basebackup":      "postgresql",
	"pg_controldata":     "postgresql",
	"pg_isready":         "postgresql-client",
	"psql":               "postgresql-client",
	"pgbench":            "postgresql-client",
	"mariadbd":           "mariadb-server",
	"mariadb-install-db": "mariadb-server",
	"mariadb":            "mariadb-client",
	"redis-server":       "redis-server",
	"redis-cli":          "redis-tools",
	"haproxy":            "haproxy",
	"systemd-analyze":    "systemd",
	"dpkg":               "dpkg",
	"dpkg-deb":           "dpkg",
	"man":                "man-db",
	"nft":                "nftables",
	"promtool":           "prometheus",
	// python3-octaviaclient depends on python3-openstackclient (which
	// installs /usr/bin/openstack) and adds the loadbalancer commands.
	"openstack": "python3-octaviaclient",
}

// Need skips the test when any of binaries cannot be found, naming the
// package that provides it, for example "postgres not found: install
// postgresql (apt-get install postgresql)". When the environment variable CI
// is "true" a missing binary fails the test instead, so that CI cannot pass by
// skipping everything. PostgreSQL binaries are looked up as LookPath does.
func Need(t testing.TB, binaries ...string) {
	t.Helper()
	var missing []string
	for _, b := range binaries {
		if _, err := LookPath(b); err != nil {
			pkg := binPackages[b]
			if pkg == "" {
				pkg = b
			}
			missing = append(missing, fmt.Sprintf("%s not found: install %s (apt-get install %s)", b, pkg, pkg))
		}
	}
	if len(missing) == 0 {
		return
	}
	skipOrFail(t, strings.Join(missing, "; "))
}

// skipOrFail skips the test for a missing dependency, or fails it when CI
// is "true".
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: missing binaries fail the test)", msg)
	}
	t.Skip(msg)
}

// LookPath returns the absolute path of the binary name. PostgreSQL server
// binaries (postgres, initdb, pg_basebackup, ...) all come from one bin
// directory, the newest /usr/lib/postgresql/*/bin (or /usr/pgsql-*/bin, or
// the real directory of the postgres found in PATH), so that initdb and
// postgres always have the same major version. Other binaries are searched
// in PATH and then in /usr/sbin and /sbin, which a non-login shell may lack.
func LookPath(name string) (string, error) {
	if dir := pgBinDir(); dir != "" && !strings.Contains(name, "/") {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("look up %s: %w", name, exec.ErrNotFound)
}

// pgBinDir is the directory of the newest installed PostgreSQL server
// binaries, or "" when there is none.
var pgBinDir = sync.OnceValue(func() string {
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	// Newest major version first: compare the version numbers in the paths.
	slices.SortStableFunc(dirs, func(a, b string) int { return compareVersions(pathVersion(b), pathVersion(a)) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d
		}
	}
	// Fall back to PATH: follow a symlinked postgres to its real directory,
	// which also holds initdb on Debian.
	for _, name := range []string{"postgres", "initdb"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d
		}
	}
	return ""
})

// pathVersion extracts the version numbers from a path such as
// /usr/lib/postgresql/15/bin or /usr/pgsql-9.6/bin.
func pathVersion(path string) []int {
	var v []int
	for _, f := range strings.FieldsFunc(path, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) {
		for _, part := range strings.Split(f, ".") {
			if n, err := strconv.Atoi(part); err == nil {
				v = append(v, n)
			}
		}
	}
	return v
}

func compareVersions(a, b []int) int { return slices.Compare(a, b) }

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// portsMu guards portsGiven and portLocks.
var portsMu sync.Mutex

// portsGiven records every port FreePort returned in this process, so that
// two parallel tests are never handed the same port.
var portsGiven = map[int]bool{}

// portLocks hold, for the life of this process, the lock files of the
// ports it was given, so that test binaries running in parallel (go test
// runs one per package) never share one.
var portLocks []*os.File

// FreePort returns a TCP port on 127.0.0.1 that is free, that no other
// process using FreePort holds, and that FreePort has not returned before
// in this process.
//
// The port is taken below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where no outgoing connection and no
// listener on port 0 can take it between this call and the server's bind:
// a server that needs seconds to start (initdb before postgres) would
// otherwise find its port taken by some test's client socket. A lock file
// per port keeps parallel test processes apart.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := portWindow()
	for range 500 {
		port := lo + int(randUint32()%uint32(hi-lo))
		portsMu.Lock()
		dup := portsGiven[port]
		portsMu.Unlock()
		if dup || !lockPort(port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		portsMu.Lock()
		portsGiven[port] = true
		portsMu.Unlock()
		return port
	}
	t.Fatal("free port: no free port after 500 tries")
	return 0
}

// portWindow is where FreePort looks: the 10,000 ports below the
// ephemeral range (20000-29999 when it cannot be read).
func portWindow() (lo, hi int) {
	hi = 30000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11024 {
				hi = n
			}
		}
	}
	return hi - 10000, hi
}

// lockPort takes the cross-process lock of port, held until this process
// exits; false when another process holds it.
func lockPort(port int) bool {
	dir := filepath.Join(os.TempDir(), "vitals-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no locks: fall back to the bind check alone
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	portsMu.Lock()
	portLocks = append(portLocks, f)
	portsMu.Unlock()
	return true
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// password returns a random password made of [A-Z2-7], safe unquoted in
// connection strings, DSNs and SQL literals.
func password() string { return rand.Text() }

// runAs returns the credential that a server refusing to run as root should
// run with: the OS user name when this process is root, and nil (run as the
// current user) otherwise.
func runAs(t testing.TB, name string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("running as root, the server must run as OS user %q: %v (install the server package, which creates it)", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("OS user %q: bad uid %q or gid %q", name, u.Uid, u.Gid)
	}
	// Groups is empty, so the child drops root's supplementary groups.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// chown gives path to cred's user; with a nil cred it does nothing.
func chown(t testing.TB, path string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	if err := os.Lchown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatalf("chown %s: %v", path, err)
	}
}

// makeBase creates a private directory for one server, owned by cred's user
// (or the current user) with mode 0700, and registers its removal. It is the
// first cleanup a server registers, so it runs last, after the server is
// gone. The directory sits directly under a short temp root, not under
// t.TempDir: unix socket paths must stay under 108 bytes, and the server's
// OS user must be able to reach it, which it cannot through t.TempDir's 0700
// parents.
func makeBase(t testing.TB, kind string, cred *syscall.Credential) string {
	t.Helper()
	root := tempRoot(t, cred)
	sweepOnce.Do(func() { sweepStale(root) })
	dir, err := os.MkdirTemp(root, basePrefix+kind+"-")
	if err != nil {
		t.Fatalf("make %s dir: %v", kind, err)
	}
	t.Cleanup(func() { removeAll(t, dir) })
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatalf("make %s dir: %v", kind, err)
	}
	// The real path: killByCwd compares it with /proc/PID/cwd.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("chmod %s: %v", dir, err)
	}
	chown(t, dir, cred)
	return dir
}

const (
	basePrefix = "vitals-" // every private directory is <temp root>/vitals-<kind>-<random>
	ownerFile  = ".owner"  // in it: the PID of the test process that made it
)

var sweepOnce sync.Once

// sweepStale removes the private directories of test processes that died
// without running their cleanups (a panic in a goroutine, a -timeout, a
// SIGKILL). Their servers died with them, through Pdeathsig; what is left is
// files, PostgreSQL's System V segment and, rarely, an orphaned process
// working in the directory. A directory counts as stale when the PID in its
// owner file is gone, or when it has no owner file and is over 10 minutes
// old; a directory in use by a live test process is never touched.
func sweepStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, basePrefix+"*-*"))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		if pid, err := readPIDFile(filepath.Join(dir, ownerFile)); err == nil {
			if alive(pid) {
				continue
			}
		} else if !errors.Is(err, os.ErrNotExist) || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		_ = killUnder(dir)
		_ = removeStaleShm(filepath.Join(dir, "data", "postmaster.pid"))
		_ = os.RemoveAll(dir)
	}
}

// tempRoot returns os.TempDir() when another user (cred) can traverse it and
// paths under it are short, and /tmp otherwise.
func tempRoot(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	root := os.TempDir()
	if len(root) <= 40 && (cred == nil || traversable(root)) {
		return root
	}
	if traversable("/tmp") {
		return "/tmp"
	}
	t.Fatalf("no temp dir that other OS users can reach: %s and /tmp are not world-traversable", root)
	return ""
}

// traversable reports whether every directory from / down to dir has the
// execute bit set for others.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// removeAll removes dir, retrying briefly in case a dying server still
// writes into it.
func removeAll(t testing.TB, dir string) {
	var err error
	for range 10 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("remove %s: %v", dir, err)
}

// writeFile writes a file that cred's user must be able to read.
func writeFile(t testing.TB, path string, data string, cred *syscall.Credential) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	chown(t, path, cred)
}

// childEnv is the environment of every server and tool: nothing inherited
// but PATH, so that PG*, MYSQL_* or LC_* variables of the test process
// cannot change what a server does.
func childEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin",
		"HOME=" + home,
		"LANG=C",
		"LC_ALL=C",
		"TZ=UTC",
	}
}
