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
