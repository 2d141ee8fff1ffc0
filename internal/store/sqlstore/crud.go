package sqlstore

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

// The generic statements over a table. SQL is built from the column
// list, so each resource's columns are written once (tables.go).

func (t *table[T]) names() string {
	n := make([]string, len(t.cols))
	for i, c := range t.cols {
		n[i] = c.name
	}
	return strings.Join(n, ", ")
}

func (t *table[T]) selectSQL() string {
	return "SELECT id, created_at, updated_at, " + t.names() + " FROM " + t.name
}

func (t *table[T]) dests(x *T) []any {
	m := t.meta(x)
	d := []any{&m.ID, utcTime{&m.CreatedAt}, utcTime{&m.UpdatedAt}}
	for _, c := range t.cols {
		d = append(d, c.ref(x))
	}
	return d
}

func (t *table[T]) checkRefs(tx *txn, x *T) error {
	for _, r := range t.refs {
		id := r.id(x)
		if id == "" {
			continue
		}
		var one int
		err := tx.queryRow("SELECT 1 FROM "+r.table+" WHERE id = ?", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &store.NotFoundError{Resource: r.resource, ID: id}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *table[T]) create(tx *txn, x *T) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if err := t.checkRefs(tx, x); err != nil {
		return err
	}
	m := t.meta(x)
	if m.ID == "" {
		m.ID = octavia.NewID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	args := t.dests(x)
	q := "INSERT INTO " + t.name + " (id, created_at, updated_at, " + t.names() + ") VALUES (?" + strings.Repeat(", ?", len(args)-1) + ")"
	if _, err := tx.exec(q, args...); err != nil {
		return tx.s.dialect.MapError(t.resource, err)
	}
	tx.dirty = true
	return nil
}

func (t *table[T]) get(tx *txn, id string) (T, error) {
	var x T
	err := tx.queryRow(t.selectSQL()+" WHERE id = ?", id).Scan(t.dests(&x)...)
	if errors.Is(err, sql.ErrNoRows) {
		return x, &store.NotFoundError{Resource: t.resource, ID: id}
	}
	return x, err
}

func (t *table[T]) list(tx *txn, parentID string) ([]T, error) {
	q, args := t.selectSQL(), []any{}
	if parentID != "" && t.parent != "" {
		q += " WHERE " + t.parent + " = ?"
		args = append(args, parentID)
	}
	rows, err := tx.query(q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var x T
		if err := rows.Scan(t.dests(&x)...); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// update writes every column but id, created_at and the parent; the
// stored created_at and parent are written back into x.
func (t *table[T]) update(tx *txn, x *T) error {
	if err := tx.writable(); err != nil {
		return err
	}
	old, err := t.get(tx, t.meta(x).ID)
	if err != nil {
		return err
	}
	var sets []string
	var args []any
	for _, c := range t.cols {
		if c.name == t.parent {
			// The parent never changes: keep the stored one.
			copyCol(c, x, &old)
			continue
		}
		sets = append(sets, c.name+" = ?")
		args = append(args, c.ref(x))
	}
	if err := t.checkRefs(tx, x); err != nil {
		return err
	}
	m := t.meta(x)
	m.CreatedAt, m.UpdatedAt = t.meta(&old).CreatedAt, now()
	args = append(args, utcTime{&m.UpdatedAt}, m.ID)
	q := "UPDATE " + t.name + " SET " + strings.Join(sets, ", ") + ", updated_at = ? WHERE id = ?"
	if _, err := tx.exec(q, args...); err != nil {
		return tx.s.dialect.MapError(t.resource, err)
	}
	tx.dirty = true
	return nil
}

// copyCol sets x's column c to from's value (both plain string pointers:
// parents are text IDs).
func copyCol[T any](c column[T], x, from *T) {
	if dst, ok := c.ref(x).(*string); ok {
		*dst = *c.ref(from).(*string)
	}
}

func (t *table[T]) remove(tx *txn, id string) error {
	if err := tx.writable(); err != nil {
		return err
	}
	res, err := tx.exec("DELETE FROM "+t.name+" WHERE id = ?", id)
	if err != nil {
		return tx.s.dialect.MapError(t.resource, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return &store.NotFoundError{Resource: t.resource, ID: id}
	}
	tx.dirty = true
	return nil
}

// now is the time stamped on writes: UTC, to the microsecond the schema
// keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
