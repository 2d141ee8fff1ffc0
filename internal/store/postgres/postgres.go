// Package postgres is the store.Store that several vitals lb nodes share: PostgreSQL through pgx (its database/sql driver), with sqlstore's schema and migrations, a NOTIFY with every write, and a LISTEN that wakes Wait.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"vitals/internal/store"
	"vitals/internal/store/sqlstore"
)

// Channel is the NOTIFY channel of revisions: every write sends the new
// revision on it, in its transaction.
const Channel = "vitals_revision"

// migrationLock is the advisory lock key that serializes the migrations
// of nodes starting together.
const migrationLock = 0x76_69_74_61 // "vita"

// Defaults of Options.
const (
	DefaultPollInterval   = sqlstore.DefaultPollInterval
	DefaultReconnectDelay = time.Second
	DefaultConnectTimeout = 5 * time.Second
)

// Options tune Open; the zero value is the defaults.
type Options struct {
	// PasswordFile, when set, holds the password (the first line; a
	// trailing newline is dropped); it wins over the URL and PGPASSWORD.
	PasswordFile string
	// PollInterval is how often Wait reads the revision whatever the
	// notifications say (NOTIFY is a hint: one sent while this node was
	// not listening is never replayed). Default DefaultPollInterval.
	PollInterval time.Duration
	// ReconnectDelay is the pause before the listener connects again
	// after losing its connection. Default DefaultReconnectDelay.
	ReconnectDelay time.Duration
	// NoListen turns the listener off, leaving the poll (for tests).
	NoListen bool
}

// Store is a store.Store in a PostgreSQL database.
type Store struct {
	*sqlstore.DB
	name     string // the URL without its password
	cfg      *pgx.ConnConfig
	poll     time.Duration
	reDelay  time.Duration
	stop     context.CancelFunc
	done     chan struct{}
	closeMu  sync.Mutex
	isClosed bool
}

var _ store.Store = (*Store)(nil)

var dialect = sqlstore.Dialect{
	Name:          "postgres",
	Rebind:        sqlstore.Dollar,
	MapError:      mapError,
	ViewIsolation: sql.LevelRepeatableRead,
	LockRevision:  " FOR UPDATE",
	Written: func(ctx context.Context, tx *sql.Tx, rev int64) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, Channel, fmt.Sprint(rev))
		return err
	},
}

// Open connects to the database that dsn names (a postgres:// URL or
// libpq keyword/value string; PGPASSWORD, PGPASSFILE and the other PG*
// variables apply as in libpq), migrates its schema and starts listening
// for other nodes' writes. It refuses a database migrated by a newer
// vitals (store.ErrSchemaTooNew). Errors name the database without its
// password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	name := Redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %s", name, redactErr(err, dsn))
	}
	if o.PasswordFile != "" {
		pw, err := readPasswordFile(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Password = pw
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = DefaultReconnectDelay
	}
	unlock, err := lockMigrations(ctx, cfg)
	if err != nil {
		return nil, wrap(name, fmt.Errorf("connect: %w", err))
	}
	db := stdlib.OpenDB(*cfg)
	inner, err := sqlstore.Open(ctx, db, name, sqlstore.Migrations, dialect)
	unlock()
	if err != nil {
		db.Close()
		return nil, wrap(name, err)
	}
	inner.SetPollInterval(o.PollInterval)
	lctx, stop := context.WithCancel(context.Background())
	s := &Store{DB: inner, name: name, cfg: cfg, poll: o.PollInterval, reDelay: o.ReconnectDelay, stop: stop, done: make(chan struct{})}
	if o.NoListen {
		close(s.done)
	} else {
		go s.listen(lctx)
	}
	return s, nil
}

// lockMigrations takes the migration lock on a connection of its own, so
// that nodes starting at once migrate one after the other.
func lockMigrations(ctx context.Context, cfg *pgx.ConnConfig) (unlock func(), err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(c) // ends the session, and so the lock
	}, nil
}

// Name is the database without its password, for messages.
func (s *Store) Name() string { return s.name }

// View is sqlstore's, with an unreachable database as
// store.ErrUnavailable.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return wrap(s.name, s.DB.View(ctx, fn))
}

// Update is sqlstore's: one transaction that locks the revision row,
// writes, bumps the revision and sends it on Channel; an unreachable
// database is store.ErrUnavailable.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return wrap(s.name, s.DB.Update(ctx, fn))
}

// Revision reads the committed revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	rev, err := s.DB.Revision(ctx)
	return rev, wrap(s.name, err)
}

// Wait blocks until the revision exceeds after: a notification, the
// listener's reconnect or the poll brings it. While the database is
// unreachable it keeps waiting (and polling): a node keeps its last
// configuration, and catches up when the database returns.
func (s *Store) Wait(ctx context.Context, after int64) (int64, error) {
	for {
		rev, err := s.DB.Wait(ctx, after)
		if err == nil || ctx.Err() != nil || errors.Is(err, sqlstore.ErrClosed) || !unavailable(err) {
			return rev, wrap(s.name, err)
		}
		select {
		case <-ctx.Done():
			return rev, ctx.Err()
		case <-time.After(s.poll):
		}
	}
}

// Close stops the listener and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.isClosed {
		s.closeMu.Unlock()
		return nil
	}
	s.isClosed = true
	s.closeMu.Unlock()
	s.stop()
	<-s.done
	return s.DB.Close()
}

// ReportNode is sqlstore's, with an unreachable database as
// store.ErrUnavailable.
func (s *Store) ReportNode(ctx context.Context, r store.NodeReport, seen time.Time) error {
	return wrap(s.name, s.DB.ReportNode(ctx, r, seen))
}

// ListNodes is sqlstore's, with an unreachable database as
// store.ErrUnavailable.
func (s *Store) ListNodes(ctx context.Context) ([]store.Node, error) {
	n, err := s.DB.ListNodes(ctx)
	return n, wrap(s.name, err)
}

// ForgetNode is sqlstore's, with an unreachable database as
// store.ErrUnavailable.
func (s *Store) ForgetNode(ctx context.Context, name string, silentSince time.Time) (bool, error) {
	ok, err := s.DB.ForgetNode(ctx, name, silentSince)
	return ok, wrap(s.name, err)
}
