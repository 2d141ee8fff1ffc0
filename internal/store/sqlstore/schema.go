package sqlstore

import "embed"

// Migrations is the schema every SQL backend runs (store/sqlite,
// store/postgres): migrations/NNNN_name.sql in order, written in the SQL
// both understand (TEXT, INTEGER, BOOLEAN; times as fixed-width text), so
// that the backends cannot drift apart.
//
//go:embed migrations/*.sql
var Migrations embed.FS
