package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on building and running the vitals binary.
const (
	buildTimeout  = 5 * time.Minute // go build of cmd/vitals, cold cache on a loaded machine
	floodDial     = 2 * time.Second // one flood connection attempt
	maxFloodConns = 10000           // a flood larger than this is a mistake in the test
)

// BuildVitals builds the vitals command into a temp dir of t and returns
// the binary's path. Go's build cache makes builds after the first cheap.
func BuildVitals(t testing.TB) string {
	t.Helper()
	Need(t, "go")
	bin := filepath.Join(t.TempDir(), "vitals")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "vitals/cmd/vitals").CombinedOutput()
	if err != nil {
		t.Fatalf("go build vitals/cmd/vitals: %v\n%s", err, out)
	}
	return bin
}

// Vitals is a vitals process (lb or agent) started by StartVitals.
type Vitals struct {
	// Logs holds everything the process wrote to stdout and stderr.
	Logs *SyncBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// StartVitals starts bin with args, with RLIMIT_NOFILE set to nofile (soft
// and hard, so the process cannot raise it) when nofile > 0: the limit is
// lowered for that process only, through the shell's ulimit before exec,
// so the process sees it from its first instruction. The process is
// stopped (SIGTERM, then SIGKILL) by t.Cleanup, and killed if the test
// binary dies.
func StartVitals(t testing.TB, bin string, nofile int, args ...string) *Vitals {
	t.Helper()
	var cmd *exec.Cmd
	if nofile > 0 {
		sh := append([]string{"-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(nofile), bin}, args...)
		cmd = exec.Command("/bin/sh", sh...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	v := &Vitals{Logs: &SyncBuffer{}, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = v.Logs, v.Logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(v.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-v.done:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-v.done
		}
	})
	return v
}

// Pid is the process's ID.
func (v *Vitals) Pid() int { return v.cmd.Process.Pid }

// NoFile reads the process's soft RLIMIT_NOFILE from /proc.
func (v *Vitals) NoFile(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", v.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); strings.HasPrefix(line, "Max open files") && len(f) >= 1 {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("/proc/%d/limits: %q", v.Pid(), line)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/limits has no Max open files line", v.Pid())
	return 0
}

// OpenFiles counts the process's open descriptors.
func (v *Vitals) OpenFiles(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", v.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// WaitLog waits up to limit for the logs to contain s, and fails the test
// with the logs if they do not, or if the process exits first.
func (v *Vitals) WaitLog(t testing.TB, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(v.Logs.String(), s) {
		select {
		case <-v.done:
			t.Fatalf("vitals exited before logging %q; log:\n%s", s, v.Logs.String())
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vitals did not log %q within %s; log:\n%s", s, limit, v.Logs.String())
		}
	}
}

// Flood is a set of connections held open against one address, as an
// attacker that connects and then sends nothing.
type Flood struct {
	conns []net.Conn
	// Reset counts dials that the server reset at once: it accepted and
	// closed the connection (with SO_LINGER 0) before the dial returned,
	// which is a refusal too.
	Reset   int
	Failed  int   // dials that failed otherwise
	DialErr error // the first of those errors
}

// StartFlood opens n connections to addr over network ("tcp" or "unix")
// and holds them, sending nothing, until Close or the end of the test.
func StartFlood(t testing.TB, network, addr string, n int) *Flood {
	t.Helper()
	if n > maxFloodConns {
		t.Fatalf("flood of %d connections: at most %d", n, maxFloodConns)
	}
	f := &Flood{}
	for range n {
		c, err := net.DialTimeout(network, addr, floodDial)
		if errors.Is(err, syscall.ECONNRESET) {
			f.Reset++
			continue
		}
		if err != nil {
			if f.Failed == 0 {
				f.DialErr = err
			}
			f.Failed++
			continue
		}
		f.conns = append(f.conns, c)
	}
	t.Cleanup(f.Close)
	return f
}

// Classify waits up to wait for each connection to be closed by the
// server or to bring data. It returns how many the server refused (closed
// without a byte, or reset while dialing) and how many it kept (data, or
// still open at the end).
func (f *Flood) Classify(wait time.Duration) (refused, kept int) {
	refused = f.Reset
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(wait)
	for _, c := range f.conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			n, err := c.Read(make([]byte, 1))
			var ne net.Error
			closed := n == 0 && err != nil && !(errors.As(err, &ne) && ne.Timeout())
			mu.Lock()
			defer mu.Unlock()
			if closed {
				refused++
			} else {
				kept++
			}
		})
	}
	wg.Wait()
	return refused, kept
}

// Len is the number of connections that were opened, or reset at once
// while dialing.
func (f *Flood) Len() int { return len(f.conns) + f.Reset }

// Close closes every connection of the flood.
func (f *Flood) Close() {
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}
