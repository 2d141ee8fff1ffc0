// Package sqlite is the default store.Store: one SQLite file through modernc.org/sqlite (pure Go), with the schema in embedded, versioned migrations.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"vitals/internal/octavia"
	"vitals/internal/store/sqlstore"
)

// migrationFS holds the schema, migrations/NNNN_name.sql in order: the
// one all SQL backends share.
var migrationFS = sqlstore.Migrations

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

// OpenMemory opens a new, empty database that lives in memory until
// Close: the store behind a configuration file, which is loaded anew at
// each start. It holds one connection, so a View or Revision called from
// inside an Update's fn would wait for that Update forever: don't.
func OpenMemory(ctx context.Context) (*sqlstore.DB, error) {
	db, err := sql.Open("sqlite", "file:"+octavia.NewID()+"?mode=memory&"+pragmas().Encode())
	if err != nil {
		return nil, fmt.Errorf("open memory database: %w", err)
	}
	// Every connection to a memory database is a database of its own:
	// keep exactly one, and never let it go.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s, err := sqlstore.Open(ctx, db, "memory", migrationFS, dialect)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
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
	q := pragmas()
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// pragmas are the settings of files and memory databases alike.
func pragmas() url.Values {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return q
}
