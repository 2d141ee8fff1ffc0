package probe

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"
)

// Spec is the configuration of one check. Config files embed it inline and
// `vitals probe` fills it from flags, so the YAML names below are also the
// names users see in errors. A flag is the same name with dashes, and its
// help text is the help tag; a field without one has no flag. Which
// optional fields a kind accepts is listed in its registry entry; setting
// any other is an error.
type Spec struct {
	// Address is the target, "host:port" ("host" alone for ping).
	Address string `yaml:"address" help:"target host:port"`
	// Timeout bounds the whole check: connect, TLS, request, login, query
	// and reply. It must be positive; there is no default at this level.
	Timeout time.Duration `yaml:"timeout" help:"bound on the whole check (e.g. 1s, 500ms)"`

	// Send is written after connecting (tcp, udp-connect). For
	// udp-connect an empty Send writes an empty datagram.
	Send string `yaml:"send" help:"bytes to write after connecting"`
	// Expect is the reply the check wants. For tcp and udp-connect it is a
	// substring of the reply; for mysql and postgres it is the exact text
	// of the first column of the first row; for redis it replaces PONG.
	Expect string `yaml:"expect" help:"reply wanted: substring (tcp, udp-connect), first value (mysql, postgres), reply (redis)"`
	// ExpectRegex is like Expect for tcp and udp-connect, but a regular
	// expression (RE2 syntax).
	ExpectRegex string `yaml:"expect_regex" help:"reply wanted, as a regular expression"`

	// HTTPMethod is the request method (http, https). Default GET.
	HTTPMethod string `yaml:"http_method" help:"HTTP method: CONNECT DELETE GET HEAD OPTIONS PATCH POST PUT TRACE (default GET)"`
	// URLPath is the request path and query. Default "/".
	URLPath string `yaml:"url_path" help:"request path, starting with / (default /)"`
	// HTTPVersion is "1.0" or "1.1". Default "1.1".
	HTTPVersion string `yaml:"http_version" help:"HTTP version, 1.0 or 1.1 (default 1.1)"`
	// DomainName is sent as the Host header and TLS SNI. Default: the
	// target address. Needs HTTP/1.1.
	DomainName string `yaml:"domain_name" help:"Host header and TLS SNI (default: the target)"`
	// ExpectedCodes lists the status codes that pass, e.g. "200",
	// "200,202", "200-204" or "200-204,301". Default "200".
	ExpectedCodes string `yaml:"expected_codes" help:"status codes that pass, e.g. 200, 200-204 or 200-204,301 (default 200)"`
	// BodyRegex, when set, must match the first MaxBody bytes of the
	// response body.
	BodyRegex string `yaml:"body_regex" help:"regular expression the response body must match"`
	// CAFile turns on certificate verification (https) against the PEM
	// certificates in this file. Without it, certificates are not checked,
	// as in Octavia.
	CAFile string `yaml:"ca_file" help:"PEM CA file; turns on certificate verification"`
	// CertFile and KeyFile are a client certificate for https and
	// tls-hello. Both or neither.
	CertFile string `yaml:"cert_file" help:"client certificate (PEM)"`
	KeyFile  string `yaml:"key_file" help:"client key (PEM)"`

	// User is the login for mysql, postgres and redis (ACL user).
	User string `yaml:"user" help:"login user"`
	// Password is the login password. Prefer PasswordFile or PasswordEnv:
	// a password on a command line is visible in ps.
	Password Secret `yaml:"password"`
	// PasswordFile is a file whose content (less a trailing newline) is
	// the password.
	PasswordFile string `yaml:"password_file" help:"file holding the password"`
	// PasswordEnv names an environment variable that holds the password.
	PasswordEnv string `yaml:"password_env" help:"environment variable holding the password"`
	// Database is the database to log in to (mysql, postgres).
	Database string `yaml:"database" help:"database to log in to"`
	// Query is the statement to run after login. Default "SELECT 1".
	Query string `yaml:"query" help:"statement to run after login (default SELECT 1)"`
	// SSLMode is PostgreSQL's sslmode: disable, allow, prefer, require,
	// verify-ca or verify-full. Default prefer.
	SSLMode string `yaml:"sslmode" help:"PostgreSQL sslmode: disable allow prefer require verify-ca verify-full (default prefer)"`

	// Role is the role the database must have (mysql, postgres): primary,
	// replica or any. Default any.
	Role string `yaml:"role" help:"role the database must have: primary, replica or any (default any)"`
	// MaxReplicationLag fails a replica whose replay is further behind than
	// this (mysql, postgres). A MySQL replica whose replication is stopped
	// or broken (Seconds_Behind_Source NULL) always fails when it is set.
	// Zero: not checked.
	MaxReplicationLag time.Duration `yaml:"max_replication_lag" help:"fail a replica lagging more than this (e.g. 10s)"`
	// MaxConnectionsUsed fails when client connections reach this share of
	// the slots open to non-superusers, e.g. "90%", or this number of
	// connections, e.g. "80" (mysql, postgres). Empty: not checked.
	MaxConnectionsUsed string `yaml:"max_connections_used" help:"fail when this share (90%) or number (80) of connection slots is used"`
	// Galera is "synced" to require a Galera node that is Synced, in a
	// Primary component and ready (mysql). Empty: not checked.
	Galera string `yaml:"galera" help:"synced: require a synced Galera node"`
	// DonorOK lets a Galera node that is a donor (state 2) pass.
	DonorOK bool `yaml:"donor_ok" help:"let a Galera donor/desynced node pass"`
	// ReuseConnection keeps one connection open between runs instead of
	// logging in afresh each time (mysql, postgres). Each run still has the
	// whole timeout as its bound; a run that fails closes the connection,
	// and the next run logs in again. It spares the server a login per
	// run, but a kept connection can pass while new logins fail (a full or
	// hung listener), so the default, false, opens a fresh connection per
	// run. Close the Prober to release the connection.
	ReuseConnection bool `yaml:"reuse_connection" help:"keep one connection between runs instead of a fresh login per run"`

	// Path is the file whose existence fails the check (file), e.g. a
	// maintenance flag such as /var/tmp/clustercheck.disabled.
	Path string `yaml:"path" help:"file whose existence fails the check"`
	// Command is the program and its arguments (exec), run without a
	// shell. Exit 0 passes, 1 warns, anything else fails.
	Command []string `yaml:"command"`
	// MaxLoadPerCPU fails when the 1-minute load average divided by the
	// number of CPUs exceeds it (load). Zero: not checked.
	MaxLoadPerCPU float64 `yaml:"max_load_per_cpu" help:"fail above this 1-minute load average per CPU"`
	// MinMemoryAvailable fails when MemAvailable falls below it (load), as
	// a share ("10%") or a size ("512MiB"). Empty: not checked.
	MinMemoryAvailable string `yaml:"min_memory_available" help:"fail below this available memory (10% or 512MiB)"`
	// MinDiskFree fails when the free space of DiskPath falls below it
	// (load), as a share or a size. Empty: not checked.
	MinDiskFree string `yaml:"min_disk_free" help:"fail below this free disk space on --disk-path (10% or 1GiB)"`
	// DiskPath is the file system MinDiskFree looks at. Default "/".
	DiskPath string `yaml:"disk_path" help:"file system for --min-disk-free (default /)"`
}

// Secret is a string that never prints. Formatting, JSON and YAML give
// "******" (or "" when empty); use string(s) to read it.
type Secret string

// String returns a mask, never the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "******"
}

// GoString returns a mask, never the secret.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText returns a mask, never the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// password resolves the password from Password, PasswordFile or PasswordEnv.
// At most one may be set.
func (s *Spec) password() (Secret, error) {
	set := 0
	for _, v := range []string{string(s.Password), s.PasswordFile, s.PasswordEnv} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return "", &FieldError{Field: "password", Msg: "set only one of password, password_file and password_env"}
	}
	switch {
	case s.PasswordFile != "":
		b, err := ReadSecretFile(s.PasswordFile)
		if err != nil {
			return "", &FieldError{Field: "password_file", Msg: fmt.Sprintf("cannot read %s: %v", s.PasswordFile, err)}
		}
		return Secret(strings.TrimRight(string(b), "\r\n")), nil
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", &FieldError{Field: "password_env", Msg: fmt.Sprintf("environment variable %s is not set", s.PasswordEnv)}
		}
		return Secret(v), nil
	}
	return s.Password, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// FieldError is a bad value in one Spec field. Field is the YAML name.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// SetString sets the string field of s whose YAML name is name, so that a
// caller holding fields by name (the health monitor's declaration in
// internal/octavia) fills a Spec without listing them again. An unknown
// name, or one that is not a plain string, is an error.
func (s *Spec) SetString(name, value string) error {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != name {
			continue
		}
		if f := v.Field(i); f.Kind() == reflect.String && f.Type() == reflect.TypeFor[string]() {
			f.SetString(value)
			return nil
		}
		return fmt.Errorf("probe: spec field %s is not a string", name)
	}
	return fmt.Errorf("probe: spec has no field %s", name)
}
