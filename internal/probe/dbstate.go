package probe

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DBState is what a mysql or postgres check read of the server's place in
// replication, on the same login and in the same run as its query. Every
// run that gets past the user's query reads it, whether or not the spec
// sets role or max_replication_lag, so that one check can answer both a
// primary pool and a replica pool. It is never modified once in a Result.
type DBState struct {
	// Role is RolePrimary or RoleReplica. PostgreSQL: pg_is_in_recovery().
	// MySQL and MariaDB: read_only (or MySQL's super_read_only) is on.
	Role string `json:"role"`
	// ReadOnly is MySQL's read_only or super_read_only; nil for
	// PostgreSQL, whose role says the same.
	ReadOnly *bool `json:"read_only,omitempty"`
	// LagBytes is, on a PostgreSQL standby, the WAL received but not yet
	// replayed (the distance from pg_last_wal_receive_lsn to
	// pg_last_wal_replay_lsn); 0 on a primary. Nil when unknown (a standby
	// that receives no stream) and always for MySQL, which has no such
	// measure.
	LagBytes *uint64 `json:"replication_lag_bytes,omitempty"`
	// LagSeconds is the replay delay: on PostgreSQL the age of the last
	// replayed commit while replay is behind what was received, else 0; on
	// MySQL the largest Seconds_Behind_Source (or _Master) of the
	// replication channels, 0 without any. Nil when unknown.
	LagSeconds *float64 `json:"replication_lag_seconds,omitempty"`
	// BytesUnknown and SecondsUnknown say why LagBytes or LagSeconds is
	// nil, for reasons.
	BytesUnknown   string `json:"-"`
	SecondsUnknown string `json:"-"`
	// notReplicating marks a MySQL server without replication channels,
	// whose lag is 0: the reading is "not a replica".
	notReplicating bool
}

// The roles a DBState reports.
const (
	RolePrimary = rolePrimary
	RoleReplica = roleReplica
)

// roleOf names the role of a server that is, or is not, a replica.
func roleOf(replica bool) string {
	if replica {
		return roleReplica
	}
	return rolePrimary
}

// dbStateChecker is a checker that also reports the replication state it
// read. The state comes with the error too when the run read it and then
// failed (a role other than the one wanted, say); it is nil when the run
// failed before reading it.
type dbStateChecker interface {
	checkState(ctx context.Context) (detail string, st *DBState, err error)
}

// stateNeeded reports whether a failure to read the replication state must
// fail the run: when the spec judges role or lag from it, or when the
// run's deadline has passed (the server is too slow, whatever was asked).
// Otherwise the state is just unknown for this run.
func (d dbDeep) stateNeeded(ctx context.Context) bool {
	return d.role != "" || d.maxLag > 0 || ctx.Err() != nil || overDeadline(ctx)
}

// judgeState turns the state into the role and lag readings the spec asks
// for, or the error of the first one that fails.
func (d dbDeep) judgeState(st *DBState) (role, lag string, err error) {
	if d.role != "" {
		if role, err = judgeRole(d.role, st.Role == roleReplica); err != nil {
			return "", "", err
		}
	}
	if d.maxLag > 0 {
		if lag, err = st.judgeLag(d.maxLag); err != nil {
			return "", "", err
		}
	}
	return role, lag, nil
}

// judgeLag turns the replay delay into a reading ("replication lag 0.3s",
// or "not a replica" for a MySQL server without replication channels) or,
// above limit or unknown, an error.
func (st *DBState) judgeLag(limit time.Duration) (string, error) {
	switch {
	case st.notReplicating:
		return "not a replica", nil
	case st.LagSeconds == nil:
		return "", mismatch("%s", st.SecondsUnknown)
	}
	return judgeLag(*st.LagSeconds, limit)
}

// ParseSize parses a number of bytes as a size threshold: a decimal number
// with an optional unit, B, kB, MB, GB, TB, PB (powers of 1000) or KiB,
// MiB, GiB, TiB, PiB (powers of 1024), e.g. "16MB", "1.5GiB" or "4096".
// Shares ("10%") are rejected: a lag has no total to be a share of.
func ParseSize(s string) (uint64, error) {
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		return 0, fmt.Errorf("%q is a share; want a size such as \"16MB\", \"1GiB\" or a number of bytes", s)
	}
	q, err := parseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size; want a size such as \"16MB\", \"1GiB\" or a number of bytes", s)
	}
	return q.bytes, nil
}
