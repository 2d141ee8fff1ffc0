package probe

import (
	"errors"
	"syscall"
)

// localErrors are the errors by which the checking process says that it
// ran out of something of its own, so that a check could not even be
// attempted: descriptors (its own or the system's), socket buffers, memory
// or local ports. They say nothing of the target. Each has the short label
// that Result.CheckerError, logs and metrics use. Declared once: LocalReason
// and LocalReasons derive from it.
var localErrors = []struct {
	errno syscall.Errno
	label string
}{
	{syscall.EMFILE, "emfile"},
	{syscall.ENFILE, "enfile"},
	{syscall.ENOBUFS, "enobufs"},
	{syscall.ENOMEM, "enomem"},
	{syscall.EADDRNOTAVAIL, "eaddrnotavail"}, // no local port left to connect from
}

// LocalReason reports whether err is one of the checker's own resource
// errors (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL) anywhere in its
// chain, and returns its short label, e.g. "emfile".
func LocalReason(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	for _, l := range localErrors {
		if errors.Is(err, l.errno) {
			return l.label, true
		}
	}
	return "", false
}

// LocalReasons returns every label LocalReason can return, in a stable
// order, e.g. to pre-declare metric series.
func LocalReasons() []string {
	labels := make([]string, len(localErrors))
	for i, l := range localErrors {
		labels[i] = l.label
	}
	return labels
}

// markLocal makes r, a failed result caused by err, a checker error when
// err is one: its status stays Fail, so a reader that does not know of
// checker errors still never takes it for a pass.
func markLocal(r *Result, err error) {
	if label, ok := LocalReason(err); ok {
		r.CheckerError = label
		r.Reason = checkerErrorReason(label, r.Reason)
	}
}
