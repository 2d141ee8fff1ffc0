package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// IsURL reports whether a --db value names PostgreSQL rather than a
// SQLite file: a postgres:// or postgresql:// URL.
func IsURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// HasPassword reports whether dsn carries a password itself, which then
// shows in ps and in the unit file: a password file or PGPASSWORD is the
// place for it.
func HasPassword(dsn string) bool { return Redact(dsn) != dsn }

var kvPassword = regexp.MustCompile(`(password\s*=\s*)('(\\.|[^'])*'|\S+)`)

// Redact returns dsn with its password replaced by xxxxx: a URL's user
// password and its password query parameter, or a keyword/value
// string's password.
func Redact(dsn string) string {
	if IsURL(dsn) {
		u, err := url.Parse(dsn)
		if err != nil {
			return "postgres://(an unparsable URL)"
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// redactErr is err's text without the password dsn holds, for parse
// errors that quote their input.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return kvPassword.ReplaceAllString(msg, "${1}xxxxx")
}

// readPasswordFile reads a password: the file's first line.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("database password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", errors.New("database password file " + path + ": the first line is empty; write the password there")
	}
	return pw, nil
}
