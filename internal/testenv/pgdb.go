package testenv

import (
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
)

var dbSeq atomic.Int64

// NewDatabase creates an empty database owned by the superuser (it goes
// with the server's files at cleanup) and returns a postgres:// URL for it over TCP, without the
// password (pass SuperPassword through PGPASSWORD or a password file).
func (p *Postgres) NewDatabase(t testing.TB) (name, dsn string) {
	t.Helper()
	name = fmt.Sprintf("t%d_%d", p.Port, dbSeq.Add(1))
	p.execIn(t, "postgres", "CREATE DATABASE "+name+" OWNER "+p.Super)
	return name, p.URL(name)
}

// URL is a postgres:// URL for the superuser and db over TCP, without
// the password.
func (p *Postgres) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(p.Super), Host: "127.0.0.1:" + strconv.Itoa(p.Port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}
