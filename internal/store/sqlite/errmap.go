package sqlite

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vitals/internal/store"
)

// mapError turns SQLite's constraint errors into store errors. SQLite
// names a unique constraint by its columns ("UNIQUE constraint failed:
// members.pool_id, members.address, members.protocol_port"), so the
// columns are looked up in store.Constraints.
func mapError(resource string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &store.ConflictError{Constraint: store.ConstraintPrimaryKey, Resource: resource, Err: err}
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		msg := se.Error()
		_, list, ok := strings.Cut(msg, "UNIQUE constraint failed: ")
		if !ok {
			break
		}
		list, _, _ = strings.Cut(list, " (")
		var tbl string
		var cols []string
		for q := range strings.SplitSeq(list, ", ") {
			t, c, _ := strings.Cut(q, ".")
			tbl, cols = t, append(cols, c)
		}
		if c, ok := store.LookupConstraint(tbl, cols); ok {
			return &store.ConflictError{Constraint: c.Name, Resource: c.Resource, Err: err}
		}
		if len(cols) == 1 && cols[0] == "id" {
			return &store.ConflictError{Constraint: store.ConstraintPrimaryKey, Resource: resource, Err: err}
		}
	}
	return err
}
