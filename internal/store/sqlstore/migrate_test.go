package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	ms, err := LoadMigrations(fstest.MapFS{
		"migrations/0002_b.sql":   {Data: []byte("B")},
		"migrations/0001_a.sql":   {Data: []byte("A")},
		"migrations/README.txt":   {Data: []byte("not a migration")},
		"migrations/0003_c_d.sql": {Data: []byte("C")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].name != "a" || ms[1].sql != "B" || ms[2].version != 3 || ms[2].name != "c_d" {
		t.Fatalf("LoadMigrations = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"bad name": {"migrations/first.sql": {}},
		"repeat":   {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"from 2":   {"migrations/0002_a.sql": {}},
	} {
		if _, err := LoadMigrations(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDollar(t *testing.T) {
	got := Dollar("UPDATE t SET a = ?, b = ? WHERE id = ?")
	if want := "UPDATE t SET a = $1, b = $2 WHERE id = $3"; got != want {
		t.Errorf("Dollar = %q, want %q", got, want)
	}
}

// TestTablesBuildStatements checks that selects carry no placeholder of
// their own, so that Dollar numbers only the WHERE arguments.
func TestTablesBuildStatements(t *testing.T) {
	for _, q := range []string{loadBalancers.selectSQL(), listeners.selectSQL(), pools.selectSQL(), members.selectSQL(), healthMonitors.selectSQL()} {
		if Dollar(q) != q {
			t.Errorf("a select has a placeholder: %s", q)
		}
	}
}
