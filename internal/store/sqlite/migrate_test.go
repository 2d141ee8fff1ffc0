package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"vitals/internal/store"
)

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

// realMigrations returns the binary's own migrations as a MapFS, and
// their count.
func realMigrations(t *testing.T) (fstest.MapFS, int) {
	t.Helper()
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	m := fstest.MapFS{}
	for _, n := range names {
		data, err := migrationFS.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = &fstest.MapFile{Data: data}
	}
	return m, len(names)
}

// with returns a copy of m with more files.
func with(m fstest.MapFS, more map[string]string) fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range more {
		out[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return out
}

func versionsUpTo(n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = i + 1
	}
	return vs
}

func TestMigrationUpgradeKeepsData(t *testing.T) {
	v1, n := realMigrations(t)
	file := filepath.Join(t.TempDir(), "lb.db")
	s, err := open(t.Context(), file, v1)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree()
	update(t, s, tr.Create)
	s.Close()

	notes := fmt.Sprintf("migrations/%04d_notes.sql", n+1)
	v2 := with(v1, map[string]string{notes: "ALTER TABLE pools ADD COLUMN notes TEXT NOT NULL DEFAULT '';\nCREATE INDEX members_address ON members (address);"})
	s, err = open(t.Context(), file, v2)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Read(t.Context(), t, s); !reflect.DeepEqual(got, tr) {
		t.Fatalf("data changed by the upgrade")
	}
	s.Close()
	if n := countObjects(t, file, "members_address"); n != 1 {
		t.Fatalf("second statement of a migration not run: %d", n)
	}
	if got := schemaVersions(t, file); !reflect.DeepEqual(got, versionsUpTo(n+1)) {
		t.Fatalf("versions %v, want %v", got, versionsUpTo(n+1))
	}

	// A failing migration leaves nothing of itself behind.
	bad := fmt.Sprintf("%04d_bad", n+2)
	v3 := with(v2, map[string]string{"migrations/" + bad + ".sql": "CREATE TABLE half (id TEXT);\nTHIS IS NOT SQL;"})
	if _, err := open(t.Context(), file, v3); err == nil || !strings.Contains(err.Error(), "migration "+bad) {
		t.Fatalf("bad migration: %v", err)
	}
	if got := schemaVersions(t, file); !reflect.DeepEqual(got, versionsUpTo(n+1)) {
		t.Fatalf("versions after a failed migration %v, want %v", got, versionsUpTo(n+1))
	}
	// The binary with the good migrations still opens it, and "half" is gone.
	s, err = open(t.Context(), file, v2)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n := countObjects(t, file, "half"); n != 0 {
		t.Fatalf("table from the failed migration: %d", n)
	}

	// The binary without the newest migration refuses the newer file.
	_, err = open(t.Context(), file, v1)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("older binary on a newer file: %v", err)
	}
	for _, want := range []string{file, fmt.Sprintf("schema version %d", n+1), fmt.Sprintf("versions up to %d", n), "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestUpgradeFromFirstSchema: a file made by the first schema alone opens
// with today's migrations, and a listener written then reads back with
// the defaults of the columns added since (timeout_write_stall: 5m).
func TestUpgradeFromFirstSchema(t *testing.T) {
	init, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "lb.db")
	s, err := open(t.Context(), file, fstest.MapFS{"migrations/0001_init.sql": {Data: init}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, file)
	for _, q := range []string{
		`INSERT INTO load_balancers (id, name, admin_state_up, provisioning_status, operating_status, created_at, updated_at, vip_address, provider) VALUES ('lb1', 'lb', 1, 'ACTIVE', 'ONLINE', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '127.0.0.1', 'vitals')`,
		`INSERT INTO listeners (id, load_balancer_id, name, admin_state_up, provisioning_status, operating_status, created_at, updated_at, protocol, protocol_port, connection_limit, timeout_client_data_ms, timeout_member_connect_ms, timeout_member_data_ms, timeout_tcp_inspect_ms) VALUES ('l1', 'lb1', 'l', 1, 'ACTIVE', 'ONLINE', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'TCP', 5432, -1, 50000, 5000, 50000, 0)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("insert into the first schema: %v", err)
		}
	}
	db.Close()
	s, err = Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stall int64
	if err := rawDB(t, file).QueryRowContext(t.Context(), `SELECT timeout_write_stall_ms FROM listeners WHERE id = 'l1'`).Scan(&stall); err != nil || stall != 300000 {
		t.Fatalf("timeout_write_stall_ms after the upgrade: %d, %v; want 300000", stall, err)
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
