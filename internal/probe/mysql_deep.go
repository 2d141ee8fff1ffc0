package probe

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// state reads the role, from read_only and super_read_only (MySQL) or
// read_only alone (MariaDB), either on meaning a replica, and the lag.
func (c *mysqlCheck) state(ctx context.Context, conn *sql.Conn) (*DBState, error) {
	_, rows, err := mysqlRows(ctx, conn, mysqlRoleQuery)
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok && me.Number == erUnknownSystemVar {
		_, rows, err = mysqlRows(ctx, conn, mysqlReadOnlyQuery)
	}
	if err != nil {
		return nil, mysqlStatementError(ctx, "role query", err)
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, mismatch("role query: returned no rows")
	}
	readOnly := false
	for _, v := range rows[0] {
		on, err := mysqlSwitch(v)
		if err != nil {
			return nil, mismatch("role query: %v", err)
		}
		readOnly = readOnly || on
	}
	st := &DBState{Role: roleOf(readOnly), ReadOnly: &readOnly,
		BytesUnknown: "MySQL and MariaDB report replication lag in seconds only"}
	if err := c.lag(ctx, conn, st); err != nil {
		if c.deep.maxLag > 0 || ctx.Err() != nil || overDeadline(ctx) {
			return nil, err
		}
		// Without max_replication_lag the lag is read for the role
		// endpoints only: a login that may not read it leaves it unknown.
		st.SecondsUnknown = "replication lag unknown: " + err.Error()
	}
	return st, nil
}

// mysqlSwitch reads a boolean system variable: 0 or 1, or OFF or ON. Any
// other value of read_only (MariaDB 11's NO_LOCK, NO_LOCK_NO_ADMIN) is a
// kind of on.
func mysqlSwitch(v dbValue) (bool, error) {
	switch {
	case v.null:
		return false, fmt.Errorf("returned NULL, want 0 or 1")
	case v.text == "0", strings.EqualFold(v.text, "OFF"):
		return false, nil
	}
	return true, nil
}

// lag reads Seconds_Behind_Source (or _Master) from the replica status
// into st.
func (c *mysqlCheck) lag(ctx context.Context, conn *sql.Conn, st *DBState) error {
	cols, rows, err := mysqlRows(ctx, conn, mysqlReplicaStatus)
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok && me.Number == erParseError {
		cols, rows, err = mysqlRows(ctx, conn, mysqlSlaveStatus)
	}
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok && me.Number == erSpecificAccessDenied {
		return mismatch("replication status: access denied; grant %q REPLICATION CLIENT (MySQL) or SLAVE MONITOR (MariaDB)", c.user)
	}
	if err != nil {
		return mysqlStatementError(ctx, "replication status query", err)
	}
	return replicaLag(cols, rows, st)
}

// judgeReplicaStatus judges the rows of SHOW REPLICA STATUS against limit
// (see replicaLag).
func judgeReplicaStatus(cols []string, rows [][]dbValue, limit time.Duration) (string, error) {
	var st DBState
	if err := replicaLag(cols, rows, &st); err != nil {
		return "", err
	}
	return st.judgeLag(limit)
}

// replicaLag reads the rows of SHOW REPLICA STATUS, one per replication
// channel, into st: no rows is not a replica, which has no lag; a NULL lag
// is replication stopped or broken, a lag unknown; otherwise the largest
// lag counts.
func replicaLag(cols []string, rows [][]dbValue, st *DBState) error {
	if len(rows) == 0 {
		zero := 0.0
		st.LagSeconds, st.notReplicating = &zero, true
		return nil
	}
	i := slices.IndexFunc(cols, func(c string) bool {
		return strings.EqualFold(c, "Seconds_Behind_Source") || strings.EqualFold(c, "Seconds_Behind_Master")
	})
	if i < 0 {
		return mismatch("replication status has no Seconds_Behind_Source or Seconds_Behind_Master column")
	}
	lag := 0.0
	for _, row := range rows {
		v := row[i]
		if v.null {
			st.SecondsUnknown = fmt.Sprintf("replication is not running (%s is NULL)", cols[i])
			return nil
		}
		n, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return mismatch("replication status: %s is %s, want seconds", cols[i], v)
		}
		lag = max(lag, n)
	}
	st.LagSeconds = &lag
	return nil
}

// connections reads Threads_connected against max_connections.
func (c *mysqlCheck) connections(ctx context.Context, conn *sql.Conn) (string, error) {
	status, err := mysqlStatus(ctx, conn, mysqlThreadsQuery)
	if err != nil {
		return "", mysqlStatementError(ctx, "connections query", err)
	}
	_, rows, err := mysqlRows(ctx, conn, mysqlMaxConnsQuery)
	if err != nil {
		return "", mysqlStatementError(ctx, "connections query", err)
	}
	used, err := strconv.ParseInt(status["Threads_connected"], 10, 64)
	if err != nil {
		return "", mismatch("connections query: Threads_connected is %s, want a number", orMissing(status["Threads_connected"]))
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return "", mismatch("connections query: max_connections returned no rows")
	}
	slots, err := strconv.ParseInt(rows[0][0].text, 10, 64)
	if err != nil {
		return "", mismatch("connections query: max_connections is %s, want a number", rows[0][0])
	}
	return c.deep.maxConns.judge(used, slots)
}

// galera reads the wsrep status.
func (c *mysqlCheck) galera(ctx context.Context, conn *sql.Conn) (string, error) {
	status, err := mysqlStatus(ctx, conn, mysqlWsrepQuery)
	if err != nil {
		return "", mysqlStatementError(ctx, "galera status query", err)
	}
	return judgeGalera(status, c.deep.donorOK)
}

// galeraStates names the values of wsrep_local_state.
var galeraStates = map[string]string{"1": "Joining", "2": "Donor/Desynced", "3": "Joined", "4": "Synced"}

// judgeGalera judges a node's wsrep status, as SHOW GLOBAL STATUS LIKE
// 'wsrep_%' gives it: the node must be in a Primary component, ready, and
// Synced (state 4), or with donorOK a donor (state 2). A server without a
// Galera provider has no wsrep_local_state (MariaDB still shows a few
// wsrep_ variables; MySQL shows none).
func judgeGalera(status map[string]string, donorOK bool) (string, error) {
	state, ok := status["wsrep_local_state"]
	if !ok {
		for name := range status {
			if strings.HasPrefix(name, "wsrep_") {
				return "", mismatch("not a Galera node (no wsrep provider loaded)")
			}
		}
		return "", mismatch("not a Galera node (no wsrep status)")
	}
	if cs := status["wsrep_cluster_status"]; cs != "Primary" {
		return "", mismatch("galera cluster status is %s, want Primary", orMissing(cs))
	}
	if r := status["wsrep_ready"]; r != "ON" {
		return "", mismatch("galera node is not ready (wsrep_ready %s)", orMissing(r))
	}
	name := galeraStates[state]
	if name == "" {
		name = "unknown"
	}
	switch {
	case state == "4", state == "2" && donorOK:
		return "galera " + name, nil
	case donorOK:
		return "", mismatch("galera state %s (%s), want 4 (Synced) or 2 (Donor/Desynced)", orMissing(state), name)
	}
	return "", mismatch("galera state %s (%s), want 4 (Synced)", orMissing(state), name)
}

// orMissing is a status value for a reason; an empty one reads "missing".
func orMissing(v string) string {
	if v == "" {
		return "missing"
	}
	return v
}
