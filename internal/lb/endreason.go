package lb

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// endReason is why the lb itself ended an established session (rather
// than a peer closing it).
type endReason int

const (
	endClientData endReason = iota // the client was idle for timeout_client_data
	endMemberData                  // the member was idle for timeout_member_data
	endWriteStall                  // a side took no data for timeout_write_stall
	endClientGone                  // the client reset, or sent FIN while the member stalled
	numEndReasons
)

// endReasons names each endReason, for the metric's reason label and the
// log, and says what it means; the list is the one declaration.
var endReasons = [numEndReasons]struct{ name, doc string }{
	endClientData: {"timeout_client_data", "the client was idle for timeout_client_data"},
	endMemberData: {"timeout_member_data", "the member was idle for timeout_member_data"},
	endWriteStall: {"timeout_write_stall", "a side took none of the data waiting for it for timeout_write_stall"},
	endClientGone: {"client_gone", "the client reset, or closed while the member neither read nor answered"},
}

func (r endReason) String() string { return endReasons[r].name }

// endReasonsHelp lists the reasons for the metric's help text.
func endReasonsHelp() string {
	var b strings.Builder
	for i, r := range endReasons {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.name + " (" + r.doc + ")")
	}
	return b.String()
}

// endLogEvery is the least time between two log lines about sessions a
// listener ended for one reason.
const endLogEvery = time.Second

// endLog logs the sessions a listener ends, per reason at most once per
// endLogEvery with how many ended since the previous line, so that many
// timeouts at once do not flood the log (the metric has the exact count).
// The zero value is ready to use.
type endLog struct {
	mu      sync.Mutex
	last    [numEndReasons]time.Time
	pending [numEndReasons]int64
}

// ended counts one session ended for r and logs an INFO line when the
// previous one for r is at least endLogEvery old. It reports whether it
// logged.
func (e *endLog) ended(log *slog.Logger, listener, member string, r endReason, now time.Time) bool {
	e.mu.Lock()
	e.pending[r]++
	if !e.last[r].IsZero() && now.Sub(e.last[r]) < endLogEvery {
		e.mu.Unlock()
		return false
	}
	n := e.pending[r]
	e.pending[r], e.last[r] = 0, now
	e.mu.Unlock()
	log.Info("sessions closed", "listener", listener, "reason", r.String(), "why", endReasons[r].doc, "last_member", member, "closed", n)
	return true
}
