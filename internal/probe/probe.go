// Package probe checks a backend once and reports what it found.
//
// A probe knows nothing of schedules, thresholds, logs or metrics. It takes a
// context and returns a Result: pass, warn or fail, how long the check took,
// and a one-line reason. A target that is down is a Result, not an error; an
// error from New means the check itself is misconfigured.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"vitals/internal/health"
)

// Status is the outcome of one check. The zero value is Fail, so a Result
// that was never filled in never reads as healthy.
type Status uint8

// The outcomes of one check.
const (
	Fail Status = iota // the target did not answer as required
	Pass               // the target answered as required
	Warn               // the target answered, but with a non-critical problem
)

// String returns "pass", "warn" or "fail".
func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	default:
		return "fail"
	}
}

// MarshalText encodes the status as its String form.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "pass", "warn" or "fail".
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "pass":
		*s = Pass
	case "warn":
		*s = Warn
	case "fail":
		*s = Fail
	default:
		return fmt.Errorf("unknown status %q (want pass, warn or fail)", b)
	}
	return nil
}

// Result is what one check found.
type Result struct {
	// Status is the outcome.
	Status Status `json:"status"`
	// Start is when the check began.
	Start time.Time `json:"time"`
	// Latency is how long the whole check took, from before the connect to
	// after the last byte was judged. It never exceeds the check's timeout by
	// more than scheduling noise.
	Latency time.Duration `json:"-"`
	// Reason is one line for a human, e.g. "HTTP 200" or
	// "connect 127.0.0.1:5432: connection refused". It never holds a secret.
	Reason string `json:"reason"`
	// CheckerError is set when the check could not even be attempted for a
	// reason of the checking process's own, such as running out of file
	// descriptors: the short label of LocalReason, e.g. "emfile". Status is
	// then Fail, yet the result says nothing of the target, and callers
	// that keep a verdict should not count it (see IsCheckerError). Empty
	// for every other result.
	CheckerError string `json:"checker_error,omitempty"`
	// DB is the replication state a mysql or postgres check read in this
	// run, or nil: other kinds, and runs that failed before reading it.
	DB *DBState `json:"db,omitempty"`
}

// IsCheckerError reports whether r is a checker error rather than a
// verdict on the target.
func (r Result) IsCheckerError() bool { return r.CheckerError != "" }

// Outcome is r as a health.History records it.
func (r Result) Outcome() health.Outcome {
	switch {
	case r.IsCheckerError():
		return health.OutcomeCheckerError
	case r.Status == Pass:
		return health.OutcomePass
	case r.Status == Warn:
		return health.OutcomeWarn
	}
	return health.OutcomeFail
}

// MarshalJSON adds the latency in milliseconds as latency_ms.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(r), float64(r.Latency.Microseconds()) / 1000})
}

// Prober runs one kind of check against one target.
//
// A Prober holds nothing between runs, except a mysql or postgres check
// with reuse_connection, which keeps its connection open. Every Prober from
// New is also an io.Closer, whose Close releases what it holds (and does
// nothing for the others). Whoever discards a Prober, on a reload or at
// shutdown, should close it with Close(p). New itself never connects, so a
// Prober built only to validate a spec needs no Close.
type Prober interface {
	// Probe runs the check once. It returns within the check's timeout
	// whatever the target does, and sooner if ctx ends. It is safe to call
	// from several goroutines, but callers should not overlap runs for one
	// target.
	Probe(ctx context.Context) Result
}

// Close releases what p holds between runs, such as the connection a
// reuse_connection check keeps, if p is an io.Closer; otherwise it does
// nothing. It waits for no run in progress: such a run closes its own
// connection when it ends. Runs after Close still work, but no longer keep
// a connection. The error, if any, is informational: the connection is
// released either way.
func Close(p Prober) error {
	if c, ok := p.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// checker is what each kind implements. check returns a short detail on
// success (e.g. "HTTP 200") or an error describing the failed step, usually
// built with step(). A *warning error makes the result Warn.
type checker interface {
	check(ctx context.Context) (detail string, err error)
}

// deadlineChecker is a checker that takes its deadline as an argument
// rather than on ctx, sparing each run a context.WithTimeout: its timer,
// and the context children that wakeOnCancel and net.Dialer would
// register on it. ctx only cancels. checkBy returns what check would with
// ctx's deadline at deadline.
type deadlineChecker interface {
	checkBy(ctx context.Context, deadline time.Time) (detail string, err error)
}

// closer is a checker that holds something between runs.
type closer interface {
	close() error
}

// timed applies the one timeout of a check, measures it and turns the
// checker's error into a Result.
type timed struct {
	c       checker
	timeout time.Duration
}

// Close implements io.Closer: it releases what the checker holds between
// runs, if anything.
func (t timed) Close() error {
	if c, ok := t.c.(closer); ok {
		return c.close()
	}
	return nil
}

// Probe implements Prober.
func (t timed) Probe(ctx context.Context) Result {
	start := time.Now()
	if dc, ok := t.c.(deadlineChecker); ok {
		deadline := start.Add(t.timeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		detail, err := dc.checkBy(ctx, deadline)
		r := Result{Start: start, Latency: time.Since(start)}
		if err == nil {
			r.Status, r.Reason = Pass, detail
		} else {
			r.Status, r.Reason = judgeBy(ctx, deadline, err, t.timeout)
			markLocal(&r, err)
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var (
		detail string
		st     *DBState
		err    error
	)
	if sc, ok := t.c.(dbStateChecker); ok {
		detail, st, err = sc.checkState(ctx)
	} else {
		detail, err = t.c.check(ctx)
	}
	r := Result{Start: start, Latency: time.Since(start), DB: st}
	switch {
	case err == nil:
		r.Status, r.Reason = Pass, detail
	default:
		r.Status, r.Reason = judge(ctx, err, t.timeout)
		markLocal(&r, err)
	}
	return r
}
