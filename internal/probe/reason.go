package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// stepError is a failure in one named step of a check, such as
// "connect 127.0.0.1:5432" or "TLS handshake".
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + describe(e.err) }
func (e *stepError) Unwrap() error { return e.err }

// step wraps err as a failure of the named step. It returns nil for a nil err.
func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: name, err: err}
}

// mismatch reports a reply that arrived but was not what the check wants,
// e.g. mismatch("HTTP 500 not in 200-204").
func mismatch(format string, args ...any) error {
	return &mismatchError{msg: fmt.Sprintf(format, args...)}
}

// mismatchError is what the check observed of the target: a wrong reply,
// or silence through the whole wait. It stands even when the check's
// goroutine reports it after the deadline (a loaded machine wakes it
// late): the observation was made in time, so it is not turned into a
// timeout.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// warning is a check that found a non-critical problem.
type warning struct{ msg string }

func (w *warning) Error() string { return w.msg }

// warnf makes the check's result Warn with the given reason.
func warnf(format string, args ...any) error {
	return &warning{msg: fmt.Sprintf(format, args...)}
}

// judge turns a checker's error into a status and a one-line reason.
// A failure after the deadline, or one the network reports as a timeout,
// reads "timeout after 1s during <step>".
func judge(ctx context.Context, err error, timeout time.Duration) (Status, string) {
	deadline, _ := ctx.Deadline()
	return judgeBy(ctx, deadline, err, timeout)
}

// judgeBy is judge for a check bounded by deadline (none when zero) rather
// than by a deadline on ctx.
func judgeBy(ctx context.Context, deadline time.Time, err error, timeout time.Duration) (Status, string) {
	if w, ok := errors.AsType[*warning](err); ok {
		return Warn, oneLine(w.msg)
	}
	if m, ok := errors.AsType[*mismatchError](err); ok {
		return Fail, oneLine(m.msg)
	}
	name := ""
	if se, ok := errors.AsType[*stepError](err); ok {
		name = se.step
	}
	// The context's timer and a socket deadline set from it can fire in
	// either order, and some drivers then report only "invalid connection":
	// a failure at or past the deadline is a timeout whatever it says.
	pastDeadline := !deadline.IsZero() && !time.Now().Before(deadline)
	if isTimeout(err) || pastDeadline || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if name == "" {
			return Fail, fmt.Sprintf("timeout after %s", timeout)
		}
		return Fail, fmt.Sprintf("timeout after %s during %s", timeout, name)
	}
	if errors.Is(err, context.Canceled) {
		return Fail, "canceled"
	}
	return Fail, oneLine(err.Error())
}

// checkerErrorReason is the reason of a checker error labelled label
// (LocalReason) whose failure reads reason: it says first that the fault is
// the checker's, e.g. "checker error (emfile), not the target's: connect
// 127.0.0.1:5432: dial tcp …: socket: too many open files".
func checkerErrorReason(label, reason string) string {
	return oneLine("checker error (" + label + "), not the target's: " + reason)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// describe gives the short cause of a network error: "connection refused"
// rather than "dial tcp 127.0.0.1:5432: connect: connection refused".
func describe(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed by peer"
	}
	if dns, ok := errors.AsType[*net.DNSError](err); ok {
		return "lookup " + dns.Name + ": " + dns.Err
	}
	return err.Error()
}

// oneLine keeps a reason on one line and bounded in length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
