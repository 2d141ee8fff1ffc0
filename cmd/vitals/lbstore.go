package main

import (
	"context"
	"fmt"
	"log/slog"

	"vitals/internal/store"
	"vitals/internal/store/postgres"
	"vitals/internal/store/sqlite"
)

// storeOpts say which store vitals lb --db runs from.
type storeOpts struct {
	// db is a SQLite file, or a postgres:// URL (several nodes share it).
	db string
	// passwordFile holds PostgreSQL's password (else PGPASSWORD,
	// PGPASSFILE, ~/.pgpass, as libpq).
	passwordFile string
	// node names this node among those sharing the store.
	node *nodeFlags
}

// shared reports whether the store is one that several nodes share.
func (o storeOpts) shared() bool { return postgres.IsURL(o.db) }

// name is the store for messages: a URL without its password.
func (o storeOpts) name() string {
	if o.shared() {
		return postgres.Redact(o.db)
	}
	return o.db
}

// openStore opens the store --db names. A password written into the URL
// works, with a warning: it shows in ps and in unit files.
func openStore(ctx context.Context, o storeOpts, log *slog.Logger) (store.Store, error) {
	if !o.shared() {
		if o.passwordFile != "" {
			return nil, fmt.Errorf("--db-password-file goes with a postgres:// --db, not the SQLite file %s", o.db)
		}
		return sqlite.Open(ctx, o.db)
	}
	if postgres.HasPassword(o.db) {
		log.Warn("the --db URL holds a password, which ps and unit files show: use --db-password-file or PGPASSWORD", "db", o.name())
	}
	return postgres.Open(ctx, o.db, postgres.Options{PasswordFile: o.passwordFile})
}
