package adminhttp

import (
	"context"
	"errors"
	"net"
	"time"
)

// Accept backoff bounds, as net/http's Server.Serve.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
)

// Backoff paces an accept loop whose Accept fails (out of descriptors,
// most often): each failure in a row doubles the wait from 5ms up to 1s,
// and a success resets it. The zero value is ready to use. It is not safe
// for concurrent use: each loop has its own.
type Backoff struct {
	d time.Duration
}

// Next returns how long to wait after one more failure in a row.
func (b *Backoff) Next() time.Duration {
	b.d = min(max(2*b.d, backoffMin), backoffMax)
	return b.d
}

// Wait waits Next() or until ctx ends, and reports whether ctx is still
// alive.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reset forgets the failures: call it after a successful Accept.
func (b *Backoff) Reset() { b.d = 0 }

// IsClosed reports whether err is the error of an Accept on a listener
// that was closed: the loop should end, not retry.
func IsClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
