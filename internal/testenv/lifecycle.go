package testenv

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
)

// lifecycle is what every private server shares: one process that tests
// stop, kill, restart, pause and resume. Each server embeds it and fills
// in how it starts and stops.
type lifecycle struct {
	label   string             // e.g. "postgres 127.0.0.1:5433", for messages
	stopSig syscall.Signal     // the graceful shutdown signal
	start   func(t testing.TB) // starts the process and sets proc; mu is held
	sweep   func() error       // kills what outlives the process (may be nil)
	mu      sync.Mutex         // serializes the lifecycle methods and guards proc
	proc    *process           // the running (or last) process; nil before the first start
}

// Stop shuts the server down with its graceful signal, and kills it if it
// is not gone within 15 s. It does nothing if the server is not running.
func (l *lifecycle) Stop(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stopLocked(); err != nil {
		t.Fatalf("%s: %v", l.label, err)
	}
}

func (l *lifecycle) stopLocked() error {
	if l.proc == nil {
		return nil
	}
	_, err := l.proc.stop(l.stopSig)
	return errors.Join(err, l.sweepNow())
}

func (l *lifecycle) sweepNow() error {
	if l.sweep == nil {
		return nil
	}
	return l.sweep()
}

// Kill SIGKILLs the server (and whatever the server leaves behind, such as
// PostgreSQL's backends) and waits until it is gone: the port refuses
// connections, and Restart runs crash recovery.
func (l *lifecycle) Kill(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc == nil {
		return
	}
	if err := errors.Join(l.proc.kill(), l.sweepNow()); err != nil {
		t.Fatalf("%s: %v", l.label, err)
	}
}

// Restart starts the server again on the same port and data, after Stop or
// Kill (a running server is stopped first), waits until it answers and
// updates PID.
func (l *lifecycle) Restart(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stopLocked(); err != nil {
		t.Fatalf("%s: %v", l.label, err)
	}
	l.start(t)
}

// Pause SIGSTOPs the server and returns once every thread is stopped. TCP
// connects still succeed (the kernel completes handshakes into the listen
// backlog), but nothing answers: no greeting, no login, no reply.
func (l *lifecycle) Pause(t testing.TB) {
	t.Helper()
	l.signal(t, syscall.SIGSTOP)
}

// Resume SIGCONTs the server after Pause.
func (l *lifecycle) Resume(t testing.TB) {
	t.Helper()
	l.signal(t, syscall.SIGCONT)
}

func (l *lifecycle) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.proc == nil || l.proc.exited() {
		t.Fatalf("%s: %s: not running", l.label, sig)
	}
	if err := l.proc.signal(sig); err != nil {
		t.Fatalf("%s: %v", l.label, err)
	}
}

// stopForCleanup stops the server in whatever state it is (paused, killed,
// running), reporting but not failing on error.
func (l *lifecycle) stopForCleanup(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stopLocked(); err != nil {
		t.Errorf("%s cleanup: %v", l.label, err)
	}
}

// startLocked runs start under mu, for the first start.
func (l *lifecycle) startLocked(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.start(t)
}

// describe names a server for lifecycle messages.
func describe(kind, addr string) string { return fmt.Sprintf("%s %s", kind, addr) }
