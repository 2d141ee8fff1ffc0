// Package sqlite is the default store.Store: one SQLite file through modernc.org/sqlite (pure Go), with the schema in embedded, versioned migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"vitals/internal/store/sqlstore"
)

// migrationFS holds the schema, migrations/NNNN_name.sql in order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout is how long a write waits for another process' write lock.
const busyTimeout = 10 * time.Second

// dialect is SQLite's: ? placeholders, and unique constraints named by
// their columns in errors (errmap.go).
var dialect = sqlstore.Dialect{Name: "sqlite", MapError: mapError}

// Open opens (creating if need be) the database file and migrates its
// schema. It refuses a file migrated by a newer vitals
// (store.ErrSchemaTooNew).
func Open(ctx context.Context, file string) (*sqlstore.DB, error) {
	return open(ctx, file, migrationFS)
}

func open(ctx context.Context, file string, fsys fs.FS) (*sqlstore.DB, error) {
	db, err := sql.Open("sqlite", dsn(file))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	s, err := sqlstore.Open(ctx, db, file, fsys, dialect)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn sets, on every connection: WAL (readers never block the writer),
// a busy timeout, foreign keys (cascades), and BEGIN IMMEDIATE for
// read-write transactions (a writer takes the lock at BEGIN, so two
// writers never deadlock upgrading a read lock; read-only transactions
// still begin deferred).
func dsn(file string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}
