package lb

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// endReason is why a session ended: the first cause recorded wins. The
// list below is the one declaration: the connection log's reason field,
// and, for the reasons where the lb itself ended an established session
// (byLB), the vitals_lb_listener_sessions_closed_total label and the
// once-a-second log line.
type endReason uint32

const (
	endUnknown       endReason = iota
	endClientClosed            // the client closed its side first (FIN), then the member
	endMemberClosed            // the member closed its side first (FIN), then the client
	endClientError             // a read from or write to the client failed (e.g. reset)
	endMemberError             // a read from or write to the member failed (e.g. reset)
	endClientData              // the client side was idle, or took no data, for timeout_client_data
	endMemberData              // the member side was idle, or took no data, for timeout_member_data
	endWriteStall              // a side took no data for timeout_write_stall
	endClientGone              // the client reset or left while data for the member was stuck
	endMemberDown              // the member turned ERROR (on_member_down: shutdown_sessions)
	endShutdown                // the lb stopped and shutdown_grace was over
	endConnectFailed           // no member could be connected to (every try failed)
	endNoMember                // no member was eligible, or the listener has no pool
	numEndReasons
)

// endReasons names each endReason and says what it means; byLB marks
// the reasons for which the lb itself ended an established session.
var endReasons = [numEndReasons]struct {
	name, doc string
	byLB      bool
}{
	endUnknown:       {name: "unknown", doc: "not recorded"},
	endClientClosed:  {name: "client_closed", doc: "the client closed first"},
	endMemberClosed:  {name: "member_closed", doc: "the member closed first"},
	endClientError:   {name: "client_error", doc: "a read from or write to the client failed"},
	endMemberError:   {name: "member_error", doc: "a read from or write to the member failed"},
	endClientData:    {name: "timeout_client_data", doc: "the client was idle for timeout_client_data", byLB: true},
	endMemberData:    {name: "timeout_member_data", doc: "the member was idle for timeout_member_data", byLB: true},
	endWriteStall:    {name: "timeout_write_stall", doc: "a side took none of the data waiting for it for timeout_write_stall", byLB: true},
	endClientGone:    {name: "client_gone", doc: "the client reset, or closed while the member neither read nor answered", byLB: true},
	endMemberDown:    {name: "member_down", doc: "the member turned ERROR and on_member_down shut its sessions"},
	endShutdown:      {name: "shutdown", doc: "the lb stopped and shutdown_grace was over"},
	endConnectFailed: {name: "connect_failed", doc: "no member could be connected to"},
	endNoMember:      {name: "no_member", doc: "no member was eligible"},
}

func (r endReason) String() string {
	if r < numEndReasons {
		return endReasons[r].name
	}
	return "unknown"
}

// endReasonsHelp lists the reasons for the metric's help text.
func endReasonsHelp() string {
	var b strings.Builder
	for _, r := range endReasons {
		if !r.byLB {
			continue
		}
		if b.Len() > 0 {
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
