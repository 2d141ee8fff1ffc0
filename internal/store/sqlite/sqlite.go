// Package sqlite implements store.Store on SQLite through modernc.org/sqlite (pure Go), with embedded, versioned schema migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"vitals/internal/store"
)

// DefaultPollInterval is how often Wait reads the revision to notice
// writes made by another process sharing the file.
const DefaultPollInterval = time.Second

// busyTimeout is how long a write waits for another process' write lock.
const busyTimeout = 10 * time.Second

// DB is a store.Store in one SQLite file.
type DB struct {
	db   *sql.DB
	file string
	// PollInterval is Wait's period for changes made by other processes;
	// set it before the first Wait. Default DefaultPollInterval.
	PollInterval time.Duration

	// wmu serializes this process' writers, so that they queue in Go
	// instead of in SQLite's busy handler.
	wmu sync.Mutex

	// mu guards rev and changed: rev is the highest revision seen,
	// changed is closed (and replaced) when rev goes up or the store
	// closes.
	mu      sync.Mutex
	rev     int64
	changed chan struct{}
	closed  bool
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if need be) the database file and migrates its
// schema. It refuses a file migrated by a newer vitals
// (store.ErrSchemaTooNew).
func Open(ctx context.Context, file string) (*DB, error) {
	return open(ctx, file, migrationFS)
}

func open(ctx context.Context, file string, fsys fs.FS) (*DB, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(file))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := migrate(ctx, db, file, ms); err != nil {
		db.Close()
		return nil, err
	}
	s := &DB{db: db, file: file, PollInterval: DefaultPollInterval, changed: make(chan struct{})}
	if _, err := s.Revision(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn sets, on every connection: WAL (readers never block the writer),
// a busy timeout, foreign keys (cascades), and BEGIN IMMEDIATE for
// read-write transactions (a writer takes the lock at BEGIN, so two
// writers never deadlock upgrading a read lock).
func dsn(file string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// Close closes the database and wakes every Wait.
func (s *DB) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.changed)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// View runs fn in a read-only transaction.
func (s *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	t := &txn{ctx: ctx, tx: sqlTx, readOnly: true}
	if err := sqlTx.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&t.rev); err != nil {
		return fmt.Errorf("read revision: %w", err)
	}
	return fn(t)
}

// Update runs fn in a read-write transaction and bumps the revision if fn
// wrote anything.
func (s *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback() // a no-op after Commit; undoes a panic
	t := &txn{ctx: ctx, tx: sqlTx}
	if err := sqlTx.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&t.rev); err != nil {
		return fmt.Errorf("read revision: %w", err)
	}
	if err := fn(t); err != nil {
		return err
	}
	if !t.dirty {
		return sqlTx.Commit()
	}
	var rev int64
	if err := sqlTx.QueryRowContext(ctx, `UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev); err != nil {
		return fmt.Errorf("bump revision: %w", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.observe(rev)
	return nil
}

// Revision reads the committed revision.
func (s *DB) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	s.observe(rev)
	return rev, nil
}

// observe records a revision seen and wakes the waiters if it is new.
func (s *DB) observe(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.rev && !s.closed {
		s.rev = rev
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// Wait blocks until the revision exceeds after.
func (s *DB) Wait(ctx context.Context, after int64) (int64, error) {
	tick := time.NewTicker(s.PollInterval)
	defer tick.Stop()
	for {
		s.mu.Lock()
		rev, changed, closed := s.rev, s.changed, s.closed
		s.mu.Unlock()
		if rev > after {
			return rev, nil
		}
		if closed {
			return rev, errors.New("store closed")
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return rev, ctx.Err()
		case <-tick.C:
			if _, err := s.Revision(ctx); err != nil && ctx.Err() == nil {
				return rev, err
			}
		}
	}
}
