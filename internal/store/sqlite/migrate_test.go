package sqlite

import (
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"vitals/internal/store"
)

func TestPersistenceAcrossReopen(t *testing.T) {
	s, file := openTemp(t)
	tr := newTree()
	update(t, s, tr.create)
	update(t, s, createLB)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := tr.read(t.Context(), t, s2); !reflect.DeepEqual(got, tr) {
		t.Fatalf("after reopen\n%+v\nwant\n%+v", got, tr)
	}
	if r := revision(t, s2); r != 2 {
		t.Fatalf("revision after reopen: %d, want 2", r)
	}
}

// rawDB opens the file with the store's settings but without the store.
func rawDB(t *testing.T, file string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(file))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func countObjects(t *testing.T, file, name string) int {
	t.Helper()
	var n int
	if err := rawDB(t, file).QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func schemaVersions(t *testing.T, file string) []int {
	t.Helper()
	rows, err := rawDB(t, file).QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrationsIdempotent(t *testing.T) {
	_, file := openTemp(t)
	for range 3 {
		s, err := Open(t.Context(), file)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	ms, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil || len(ms) == 0 {
		t.Fatal(ms, err)
	}
	if got := schemaVersions(t, file); len(got) != len(ms) || got[len(got)-1] != len(ms) {
		t.Fatalf("schema_migrations = %v after reopening, want 1..%d once each", got, len(ms))
	}
}

func TestMigrationUpgradeKeepsData(t *testing.T) {
	init, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	v1 := fstest.MapFS{"migrations/0001_init.sql": {Data: init}}
	file := filepath.Join(t.TempDir(), "lb.db")
	s, err := open(t.Context(), file, v1)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree()
	update(t, s, tr.create)
	s.Close()

	v2 := fstest.MapFS{
		"migrations/0001_init.sql":  {Data: init},
		"migrations/0002_notes.sql": {Data: []byte("ALTER TABLE pools ADD COLUMN notes TEXT NOT NULL DEFAULT '';\nCREATE INDEX members_address ON members (address);")},
	}
	s, err = open(t.Context(), file, v2)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.read(t.Context(), t, s); !reflect.DeepEqual(got, tr) {
		t.Fatalf("data changed by the upgrade")
	}
	s.Close()
	if n := countObjects(t, file, "members_address"); n != 1 {
		t.Fatalf("second statement of a migration not run: %d", n)
	}
	if got := schemaVersions(t, file); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Fatalf("versions %v, want [1 2]", got)
	}

	// A failing migration leaves nothing of itself behind.
	v3 := fstest.MapFS{
		"migrations/0001_init.sql":  {Data: init},
		"migrations/0002_notes.sql": v2["migrations/0002_notes.sql"],
		"migrations/0003_bad.sql":   {Data: []byte("CREATE TABLE half (id TEXT);\nTHIS IS NOT SQL;")},
	}
	if _, err := open(t.Context(), file, v3); err == nil || !strings.Contains(err.Error(), "migration 0003_bad") {
		t.Fatalf("bad migration: %v", err)
	}
	if got := schemaVersions(t, file); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Fatalf("versions after a failed migration %v, want [1 2]", got)
	}
	// The binary with two migrations still opens it, and "half" is gone.
	s, err = open(t.Context(), file, v2)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n := countObjects(t, file, "half"); n != 0 {
		t.Fatalf("table from the failed migration: %d", n)
	}

	// The binary with one migration refuses the newer file.
	_, err = open(t.Context(), file, v1)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("older binary on a newer file: %v", err)
	}
	for _, want := range []string{file, "schema version 2", "versions up to 1", "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestPragmas(t *testing.T) {
	_, file := openTemp(t)
	db := rawDB(t, file)
	var mode string
	var fk, busy int
	if err := db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v", mode, err)
	}
	if err := db.QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d, %v", fk, err)
	}
	if err := db.QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&busy); err != nil || busy != int(busyTimeout.Milliseconds()) {
		t.Errorf("busy_timeout %d, %v", busy, err)
	}
}

// TestSchemaDeclaresConstraints checks that the schema's named unique
// constraints are exactly store.Constraints, column for column.
func TestSchemaDeclaresConstraints(t *testing.T) {
	_, file := openTemp(t)
	rows, err := rawDB(t, file).QueryContext(t.Context(), `SELECT name, sql FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	re := regexp.MustCompile(`CONSTRAINT (\w+) UNIQUE \(([^)]*)\)`)
	var found []store.Constraint
	for rows.Next() {
		var table, ddl string
		if err := rows.Scan(&table, &ddl); err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(ddl, -1) {
			found = append(found, store.Constraint{Name: m[1], Table: table, Columns: strings.Split(m[2], ", ")})
		}
	}
	want := store.Constraints()
	if len(found) != len(want) {
		t.Fatalf("schema has %d named unique constraints, store declares %d", len(found), len(want))
	}
	for _, f := range found {
		c, ok := store.LookupConstraint(f.Table, f.Columns)
		if !ok || c.Name != f.Name {
			t.Errorf("schema constraint %s on %s%v is not declared in store", f.Name, f.Table, f.Columns)
		}
	}
}
