package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Network namespaces for tests that need several hosts: each Netns is a
// host with one interface, eth0, on a bridge that lives in a namespace of
// its own (the switch), so that nothing is added to the host's network.
// Names carry the test process' PID ("vt<pid>-…"), so that a run never
// meets another's, and namespaces left by a killed run are deleted by the
// next one (NewLAN).

// NeedNetns skips the test unless it may create network namespaces: root
// and the ip command (iproute2). With CI=true it fails instead.
func NeedNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "network namespaces need root (run the test as root)")
	}
	Need(t, "ip")
}

// LAN is a switch (a bridge in its own namespace) and the hosts on it.
type LAN struct {
	Prefix string // the /24 hosts get addresses in, e.g. "10.213.7"
	id     string // "vt<pid>x<n>", the start of every name
	sw     string // the switch's namespace
	n      int    // hosts so far
}

var lanSeq int

// NewLAN creates a switch for hosts in prefix.0/24 (for example
// "10.213.7"), deleted with all its hosts at cleanup.
func NewLAN(t testing.TB, prefix string) *LAN {
	t.Helper()
	NeedNetns(t)
	sweepNetns()
	lanSeq++
	l := &LAN{Prefix: prefix, id: fmt.Sprintf("vt%dx%d", os.Getpid(), lanSeq)}
	l.sw = l.id + "-sw"
	addNetns(t, l.sw)
	ipIn(t, l.sw, "link", "add", "br0", "type", "bridge")
	ipIn(t, l.sw, "link", "set", "br0", "up")
	ipIn(t, l.sw, "link", "set", "lo", "up")
	return l
}

// Netns is one host: a network namespace with lo and eth0 up.
type Netns struct {
	Name string // the namespace's name (ip netns exec Name …)
	IP   string // eth0's address
}

// Host adds a host named name with address Prefix.octet/24.
func (l *LAN) Host(t testing.TB, name string, octet int) *Netns {
	t.Helper()
	l.n++
	ns := &Netns{Name: l.id + "-" + name, IP: fmt.Sprintf("%s.%d", l.Prefix, octet)}
	addNetns(t, ns.Name)
	// veth names are at most 15 bytes: short, unique per run.
	a, b := fmt.Sprintf("v%dx%da%d", os.Getpid()%100000, lanSeq, l.n), fmt.Sprintf("v%dx%db%d", os.Getpid()%100000, lanSeq, l.n)
	run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
	run(t, "ip", "link", "set", a, "netns", ns.Name)
	run(t, "ip", "link", "set", b, "netns", l.sw)
	ipIn(t, l.sw, "link", "set", b, "master", "br0")
	ipIn(t, l.sw, "link", "set", b, "up")
	ipIn(t, ns.Name, "link", "set", a, "name", "eth0")
	ipIn(t, ns.Name, "addr", "add", ns.IP+"/24", "dev", "eth0")
	ipIn(t, ns.Name, "link", "set", "eth0", "up")
	ipIn(t, ns.Name, "link", "set", "lo", "up")
	return ns
}

// Exec runs a command in the namespace and returns its combined output,
// failing the test on error.
func (n *Netns) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Do runs fn on a thread that is in the namespace: the sockets fn opens
// (net.Listen, net.Dial) belong to it, and keep working after Do
// returns.
func (n *Netns) Do(fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", n.Name))
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", n.Name, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, and so ends with this goroutine:
		// no other goroutine runs in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("leave %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a TCP listener in the namespace.
func (n *Netns) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("%s: listen %s: %v", n.Name, addr, err)
	}
	return ln
}

// Dial connects from the namespace to addr, within timeout.
func (n *Netns) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// StartIn starts path with args inside the namespace (ip netns exec,
// which execs it: PID is the program's), writing its output to a log in
// dir, stopped with SIGTERM (SIGKILL after 15 s) at cleanup.
func (n *Netns) StartIn(t testing.TB, name, dir, path string, args ...string) *Vitals {
	t.Helper()
	ip, err := LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log")
	proc, err := startProcess(name, ip, append([]string{"netns", "exec", n.Name, path}, args...), nil, dir, logPath)
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

// Wait waits up to d for the process to exit and reports whether it did.
func (v *Vitals) Wait(d time.Duration) bool { return v.proc.wait(d) }

func addNetns(t testing.TB, name string) {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { delNetns(name) })
}

// delNetns kills what still runs in the namespace and deletes it.
func delNetns(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for f := range strings.FieldsSeq(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	exec.Command("ip", "netns", "del", name).Run()
}

// sweepNetns deletes the namespaces of test processes that are gone.
func sweepNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "vt")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "x")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		delNetns(name)
	}
}

func ipIn(t testing.TB, ns string, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", ns}, args...)...)
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
