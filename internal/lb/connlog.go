package lb

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// The connection log: with a listener's connection_log: true, one INFO
// line per client connection when it ends, "connection closed", with the
// client's address, the listener, the member (empty when none was
// reached), the bytes each way, the duration in seconds and why it ended.
// Connections refused before a session starts (connection_limit, the
// descriptor budget, an admin-down listener) are counted and logged in
// aggregate instead, so a flood cannot turn into a flood of lines.

// endReason is why a session ended: the first cause recorded wins.
type endReason uint32

const (
	endUnknown       endReason = iota
	endClientClosed            // the client closed its side first (FIN), then the member
	endMemberClosed            // the member closed its side first (FIN), then the client
	endClientError             // a read from or write to the client failed (e.g. reset)
	endMemberError             // a read from or write to the member failed (e.g. reset)
	endClientTimeout           // timeout_client_data: the client side was idle, or took no data, that long
	endMemberTimeout           // timeout_member_data: the member side was idle, or took no data, that long
	endClientGone              // the client reset or left while data for the member was stuck
	endMemberDown              // the member turned ERROR (on_member_down: shutdown_sessions)
	endShutdown                // the lb stopped and shutdown_grace was over
	endConnectFailed           // no member could be connected to (every try failed)
	endNoMember                // no member was eligible, or the listener has no pool
)

// endReasons are the reasons' names in the log, indexed by endReason.
var endReasons = [...]string{
	endUnknown:       "unknown",
	endClientClosed:  "client_closed",
	endMemberClosed:  "member_closed",
	endClientError:   "client_error",
	endMemberError:   "member_error",
	endClientTimeout: "client_timeout",
	endMemberTimeout: "member_timeout",
	endClientGone:    "client_gone",
	endMemberDown:    "member_down",
	endShutdown:      "shutdown",
	endConnectFailed: "connect_failed",
	endNoMember:      "no_member",
}

func (r endReason) String() string {
	if int(r) < len(endReasons) {
		return endReasons[r]
	}
	return "unknown"
}

// setEnd records why the session ends, unless a cause is already known.
func (s *session) setEnd(r endReason) { s.reason.CompareAndSwap(uint32(endUnknown), uint32(r)) }

// closeFor records r and closes both sides.
func (s *session) closeFor(r endReason) {
	s.setEnd(r)
	s.close()
}

// logConnection writes the connection log line of one client connection.
func logConnection(log *slog.Logger, lc *listenerConfig, client netip.AddrPort, member string, in, out int64, start time.Time, r endReason) {
	log.LogAttrs(context.Background(), slog.LevelInfo, "connection closed",
		slog.String("listener", lc.label),
		slog.String("client", client.String()),
		slog.String("member", member),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", out),
		slog.Float64("duration", time.Since(start).Seconds()),
		slog.String("reason", r.String()),
	)
}
