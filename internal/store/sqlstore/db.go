// Package sqlstore implements store.Store over database/sql, for the SQL backends (store/sqlite, store/postgres): tables, statements, transactions, revision and migrations, with the dialect left to the backend.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"vitals/internal/store"
)

// Dialect is what a backend tells sqlstore about its SQL.
type Dialect struct {
	// Name is the backend's name for errors, e.g. "sqlite".
	Name string
	// Rebind turns the ? placeholders of a statement into the backend's
	// ($1, $2 … for PostgreSQL); nil keeps them.
	Rebind func(query string) string
	// MapError turns the driver's constraint errors into
	// *store.ConflictError (naming a store.Constraint) and returns other
	// errors as they are; resource is the kind of object written.
	MapError func(resource string, err error) error
	// ViewIsolation is the isolation of View's transactions: one that
	// gives every statement of a transaction the same snapshot
	// (PostgreSQL: sql.LevelRepeatableRead). Zero: the driver's default
	// (SQLite's transactions are snapshots already).
	ViewIsolation sql.IsolationLevel
	// LockRevision, when set, is appended to the statement with which
	// Update reads the revision, to lock its row (PostgreSQL:
	// " FOR UPDATE"), so that writers of every process sharing the
	// database run one after the other, each seeing the last one's
	// commit. SQLite needs none: BEGIN IMMEDIATE locks the file.
	LockRevision string
	// Written, when set, runs in the write's transaction after the
	// revision went up to rev, before the commit (PostgreSQL: NOTIFY,
	// which is delivered at commit).
	Written func(ctx context.Context, tx *sql.Tx, rev int64) error
}

// DefaultPollInterval is how often Wait reads the revision to notice
// writes made by another process sharing the database.
const DefaultPollInterval = time.Second

// DB is a store.Store over a *sql.DB.
type DB struct {
	db      *sql.DB
	name    string // the database's name for errors: a file or a DSN without secrets
	dialect Dialect
	// PollInterval is Wait's period for changes made by other processes;
	// set it before the first Wait. Default DefaultPollInterval.
	PollInterval time.Duration

	// wmu serializes this process' writers, so that they queue in Go
	// instead of in the database's lock waits.
	wmu sync.Mutex

	// mu guards rev, changed and closed: rev is the highest revision
	// seen; changed is closed (and replaced) when rev goes up, and closed
	// for good by Close.
	mu      sync.Mutex
	rev     int64
	changed chan struct{}
	closed  bool
}

var _ store.Store = (*DB)(nil)

// Open migrates db with the migrations in fsys (migrations/NNNN_name.sql)
// and returns the store, which owns db from then on. name identifies the
// database in errors. A database migrated beyond fsys is refused with
// store.ErrSchemaTooNew.
func Open(ctx context.Context, db *sql.DB, name string, fsys fs.FS, d Dialect) (*DB, error) {
	if d.Rebind == nil {
		d.Rebind = func(q string) string { return q }
	}
	if d.MapError == nil {
		d.MapError = func(_ string, err error) error { return err }
	}
	s := &DB{db: db, name: name, dialect: d, PollInterval: DefaultPollInterval, changed: make(chan struct{})}
	ms, err := LoadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, ms); err != nil {
		return nil, err
	}
	if _, err := s.Revision(ctx); err != nil {
		return nil, err
	}
	return s, nil
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

func (s *DB) q(query string) string { return s.dialect.Rebind(query) }

const revisionSQL = `SELECT value FROM revision WHERE id = 1`

// View runs fn in a read-only transaction.
func (s *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.dialect.ViewIsolation})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	t := &txn{s: s, ctx: ctx, tx: sqlTx, readOnly: true}
	if err := sqlTx.QueryRowContext(ctx, revisionSQL).Scan(&t.rev); err != nil {
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
	t := &txn{s: s, ctx: ctx, tx: sqlTx}
	if err := sqlTx.QueryRowContext(ctx, revisionSQL+s.dialect.LockRevision).Scan(&t.rev); err != nil {
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
	if s.dialect.Written != nil {
		if err := s.dialect.Written(ctx, sqlTx, rev); err != nil {
			return fmt.Errorf("announce revision %d: %w", rev, err)
		}
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
	if err := s.db.QueryRowContext(ctx, revisionSQL).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	s.observe(rev)
	return rev, nil
}

// Observe records a revision learnt elsewhere (a backend's change
// notification) and wakes the waiters if it is new. The revision must be
// one the database committed.
func (s *DB) Observe(rev int64) { s.observe(rev) }

// SetPollInterval sets Wait's period for changes made by other
// processes; call it before Wait.
func (s *DB) SetPollInterval(d time.Duration) { s.PollInterval = d }

// SQL returns the underlying database, for a backend's own statements.
func (s *DB) SQL() *sql.DB { return s.db }

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

// ErrClosed is Wait's error once the store is closed.
var ErrClosed = errors.New("store closed")

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
			return rev, ErrClosed
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

// Dollar rewrites ? placeholders as $1, $2 … (PostgreSQL's). sqlstore's
// statements hold no other question marks.
func Dollar(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
