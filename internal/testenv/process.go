package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds on every wait in this package. Nothing here waits without a limit.
const (
	readyTimeout = 30 * time.Second      // a server must accept a real login within this
	pollInterval = 50 * time.Millisecond // sleep between readiness attempts
	maxPolls     = 2000                  // hard cap on readiness attempts, whatever the clock says
	stopTimeout  = 15 * time.Second      // graceful shutdown before SIGKILL
	reapTimeout  = 10 * time.Second      // SIGKILLed processes must be gone within this
	toolTimeout  = 2 * time.Minute       // initdb, mariadb-install-db, haproxy -c
	logTailBytes = 4096                  // how much of a server log a failure message quotes
	reapPoll     = 20 * time.Millisecond // sleep between checks that killed processes are gone
	dialTimeout  = 2 * time.Second       // one readiness or admin connection attempt
	cmdTimeout   = 30 * time.Second      // one Exec or admin command
)

// process is one running server started by this package. The server runs in
// its own process group (Setpgid), gets SIGKILL if the test binary dies
// (Pdeathsig), and writes stdout and stderr to logPath.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// done is closed once the process has exited and been reaped by the one
	// goroutine that waits for it; that goroutine ends then, too.
	done chan struct{}
}

// startProcess starts path with args as cred's user (nil: the current user)
// in dir, appending its output to logPath.
func startProcess(name, path string, args []string, cred *syscall.Credential, dir, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logf.Close()
	if cred != nil {
		// Servers such as mariadbd reopen their log by name as their own user.
		if err := logf.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown %s: %w", logPath, err)
		}
	}
	fmt.Fprintf(logf, "--- testenv: %s %s\n", path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(dir)
	cmd.Stdout = logf // an *os.File: the child writes it directly, no copying goroutine
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: cred,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// runTool runs a short-lived tool such as initdb to completion, bounded by
// toolTimeout, and returns its combined output.
func runTool(path string, args []string, cred *syscall.Credential, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	// Kill the whole group on timeout: mariadb-install-db is a shell script
	// that starts mariadbd.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", filepath.Base(path), strings.Join(args, " "), err)
	}
	return string(out), nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited and been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process unless it has already exited. os.Process
// uses a pidfd on Linux, so a recycled PID is never hit.
func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s %s (pid %d): %w", sig, p.name, p.pid(), err)
	}
	if sig == syscall.SIGSTOP {
		// The kernel stops each thread when it next runs; a thread busy
		// answering could still reply after Signal returned. Wait (briefly,
		// bounded) until every thread reads as stopped.
		waitStopped(p.pid(), 2*time.Second)
	}
	return nil
}

// waitStopped polls /proc until every thread of pid is stopped (state T),
// or d passes.
func waitStopped(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			return
		}
		stopped := true
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *process) wait(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// stop resumes the process (a stopped process cannot act on a signal), sends
// sig, and waits up to stopTimeout; if the process is still there it is
// killed with its whole tree. It reports whether the graceful stop worked.
func (p *process) stop(sig syscall.Signal) (graceful bool, err error) {
	if p.exited() {
		return true, nil
	}
	_ = p.signal(syscall.SIGCONT)
	if err := p.signal(sig); err == nil && p.wait(stopTimeout) {
		return true, nil
	}
	return false, p.kill()
}

// kill SIGKILLs the process, its process group and every descendant, and
// waits until all of them are gone. PostgreSQL backends call setsid(), so
// they are not in the postmaster's group: they are found through /proc by
// parent PID. The process is SIGSTOPped first so it cannot fork new children
// while its tree is collected.
func (p *process) kill() error {
	if p.exited() {
		return nil
	}
	pid := p.pid()
	_ = p.signal(syscall.SIGSTOP)
	tree := descendants(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the group, while its leader is unreaped and the pgid cannot be reused
	_ = p.signal(syscall.SIGKILL)
	for _, c := range tree {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	if !p.wait(reapTimeout) {
		return fmt.Errorf("kill %s (pid %d): still running %s after SIGKILL", p.name, pid, reapTimeout)
	}
	return waitGone(tree)
}

// descendants returns the PIDs of all descendants of pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(c); ok {
			children[ppid] = append(children[ppid], c)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 100000 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the parent PID and state letter of pid from
// /proc/pid/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may contain anything; the
	// fields after the last ')' are "state ppid ...".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
}

// alive reports whether pid exists and is not a zombie. Orphans are
// reparented to PID 1, which may never reap them; a zombie holds no memory,
// sockets or shared memory, so it counts as gone.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// waitGone waits up to reapTimeout until none of pids is alive.
func waitGone(pids []int) error {
	deadline := time.Now().Add(reapTimeout)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still alive %s after SIGKILL", left, reapTimeout)
		}
		time.Sleep(reapPoll)
	}
}

// killByCwd SIGKILLs every process whose working directory is dir and waits
// until they are gone. PostgreSQL backends run in the data directory, so this
// finds any that outlived their postmaster even after they were reparented.
func killByCwd(dir string) error {
	if dir == "" {
		return nil
	}
	return killWhere(func(cwd string) bool { return cwd == dir })
}

// killUnder SIGKILLs every process working in dir or below it.
func killUnder(dir string) error {
	if dir == "" || dir == "/" {
		return nil
	}
	return killWhere(func(cwd string) bool { return cwd == dir || strings.HasPrefix(cwd, dir+"/") })
}

// killWhere SIGKILLs every process (but this one) whose working directory
// matches, and waits until they are gone.
func killWhere(match func(cwd string) bool) error {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && match(cwd) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return waitGone(pids)
}

// poll calls try until it succeeds, the process exits, readyTimeout passes,
// or maxPolls attempts were made. The error quotes the tail of the log.
func (p *process) poll(try func() error) error {
	start := time.Now()
	deadline := start.Add(readyTimeout)
	var last error
	for range maxPolls {
		if last = try(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		timer := time.NewTimer(pollInterval)
		select {
		case <-p.done:
			timer.Stop()
			return fmt.Errorf("%s exited (%v) while starting; last attempt: %v\n--- %s:\n%s",
				p.name, p.cmd.ProcessState, last, p.logPath, logTail(p.logPath))
		case <-timer.C:
		}
	}
	return fmt.Errorf("%s not ready after %s: %v\n--- %s:\n%s",
		p.name, time.Since(start).Round(time.Millisecond), last, p.logPath, logTail(p.logPath))
}

// logTail returns the last logTailBytes of the file at path, from a line
// start.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := max(fi.Size()-logTailBytes, 0)
	buf := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(buf, off)
	buf = buf[:n]
	if off > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	return string(buf)
}

// readPIDFile returns the number on the first line of a PID file.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad first line %q", path, line)
	}
	return pid, nil
}
