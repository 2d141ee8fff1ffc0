package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"vitals/internal/store"
)

// mapError turns PostgreSQL's unique violations into store conflicts. The
// schema names its unique constraints (store.Constraints); a primary key
// is <table>_pkey.
func mapError(resource string, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return err
	}
	if strings.HasSuffix(pe.ConstraintName, "_pkey") {
		return &store.ConflictError{Constraint: store.ConstraintPrimaryKey, Resource: resource, Err: err}
	}
	for _, c := range store.Constraints() {
		if c.Name == pe.ConstraintName {
			return &store.ConflictError{Constraint: c.Name, Resource: c.Resource, Err: err}
		}
	}
	return err
}

// unavailable reports whether err means the server cannot be reached or
// went away, rather than that it refused a statement.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return true
	case errors.As(err, &pe):
		// 08: connection exception; 57P: operator intervention (admin
		// shutdown, crash shutdown, cannot connect now).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	case errors.As(err, &ne), pgconn.Timeout(err),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe")
}

// wrap marks an unreachable database as store.ErrUnavailable.
func wrap(name string, err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return &store.UnavailableError{Name: name, Err: err}
}
