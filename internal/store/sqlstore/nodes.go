package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"vitals/internal/store"
)

var _ store.Nodes = (*DB)(nil)

// ReportNode upserts the node's row and replaces its statuses, in one
// transaction that leaves the revision alone.
func (s *DB) ReportNode(ctx context.Context, r store.NodeReport, seen time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	seen = seen.UTC()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE nodes SET last_seen = ?, applied_revision = ?, failed_revision = ?, apply_error = ?, vrrp_role = ?, serving = ? WHERE name = ?`),
		utcTime{&seen}, r.AppliedRevision, r.FailedRevision, r.ApplyError, r.VRRPRole, r.Serving, r.Name)
	if err != nil {
		return fmt.Errorf("report node %s: %w", r.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO nodes (name, last_seen, applied_revision, failed_revision, apply_error, vrrp_role, serving) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			r.Name, utcTime{&seen}, r.AppliedRevision, r.FailedRevision, r.ApplyError, r.VRRPRole, r.Serving); err != nil {
			return fmt.Errorf("report node %s: %w", r.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM node_statuses WHERE node = ?`), r.Name); err != nil {
		return fmt.Errorf("report node %s: %w", r.Name, err)
	}
	for _, id := range slices.Sorted(maps.Keys(r.Statuses)) {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO node_statuses (node, object_id, operating_status) VALUES (?, ?, ?)`), r.Name, id, r.Statuses[id]); err != nil {
			return fmt.Errorf("report node %s: %w", r.Name, err)
		}
	}
	return tx.Commit()
}

// ListNodes reads every node and its statuses in one snapshot.
func (s *DB) ListNodes(ctx context.Context) ([]store.Node, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.dialect.ViewIsolation})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name, last_seen, applied_revision, failed_revision, apply_error, vrrp_role, serving FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	var out []store.Node
	byName := map[string]int{}
	for rows.Next() {
		var n store.Node
		if err := rows.Scan(&n.Name, utcTime{&n.LastSeen}, &n.AppliedRevision, &n.FailedRevision, &n.ApplyError, &n.VRRPRole, &n.Serving); err != nil {
			rows.Close()
			return nil, err
		}
		n.Statuses = map[string]string{}
		byName[n.Name] = len(out)
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT node, object_id, operating_status FROM node_statuses`)
	if err != nil {
		return nil, fmt.Errorf("read node statuses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var node, id, st string
		if err := rows.Scan(&node, &id, &st); err != nil {
			return nil, err
		}
		if i, ok := byName[node]; ok {
			out[i].Statuses[id] = st
		}
	}
	return out, rows.Err()
}

// ForgetNode deletes the node if its last_seen is older than
// silentSince, and then its statuses, in one transaction, so that no
// reader sees the statuses of a node that is gone from the list. The
// condition is in the DELETE itself: a report committed before it is
// seen by it (PostgreSQL rechecks the row after waiting for the
// reporter's lock), and a report after it writes the node back.
func (s *DB) ForgetNode(ctx context.Context, name string, silentSince time.Time) (bool, error) {
	// last_seen is stored truncated to the microsecond; comparing it with
	// silentSince rounded up to the microsecond is the exact comparison.
	cutoff := silentSince.UTC()
	if t := cutoff.Truncate(time.Microsecond); !t.Equal(cutoff) {
		cutoff = t.Add(time.Microsecond)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM nodes WHERE name = ? AND last_seen < ?`), name, utcTime{&cutoff})
	if err != nil {
		return false, fmt.Errorf("forget node %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("forget node %s: %w", name, err)
	} else if n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM node_statuses WHERE node = ?`), name); err != nil {
		return false, fmt.Errorf("forget node %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("forget node %s: commit: %w", name, err)
	}
	return true, nil
}
