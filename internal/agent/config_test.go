package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInvalidConfigs asserts the exact message a user sees for each file in
// testdata/invalid-*: it names the file, the line, the field and the fix.
func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"invalid-unknown-field.yaml":         `testdata/invalid-unknown-field.yaml:5: unknown field "intervall" in a check (check the spelling; the README lists every field)`,
		"invalid-no-checks.yaml":             `testdata/invalid-no-checks.yaml:1: checks: no checks configured; add at least one (see the README's agent example)`,
		"invalid-empty.yaml":                 `testdata/invalid-empty.yaml: is empty; it needs at least a checks: list`,
		"invalid-unknown-type.yaml":          `testdata/invalid-unknown-type.yaml:3: checks[0] (db).type: unknown type "oracle" (want one of tcp, http, https, tls-hello, ping, udp-connect, mysql, postgres, redis, file, load, exec)`,
		"invalid-negative-timeout.yaml":      `testdata/invalid-negative-timeout.yaml:5: checks[0] (db).timeout: must be positive, got -1s (e.g. timeout: 1s)`,
		"invalid-timeout-over-interval.yaml": `testdata/invalid-timeout-over-interval.yaml:6: checks[0] (db).timeout: 3s is longer than interval 1s; a check must end before the next one is due`,
		"invalid-duplicate-name.yaml":        `testdata/invalid-duplicate-name.yaml:5: checks[1] (db).name: "db" is used by another check; names must be unique`,
		"invalid-endpoint-check.yaml":        `testdata/invalid-endpoint-check.yaml:7: endpoints[0].checks[1]: no check is named "replica"`,
		"invalid-foreign-field.yaml":         `testdata/invalid-foreign-field.yaml:5: checks[0] (db).url_path: is not allowed for type tcp`,
		"invalid-missing-env.yaml":           `testdata/invalid-missing-env.yaml:6: checks[0] (db).password: environment variable VITALS_TEST_UNSET_PASSWORD is not set (set it, or use password_file)`,
		"invalid-bad-duration.yaml":          `testdata/invalid-bad-duration.yaml:5: cannot unmarshal !!str ` + "`often`" + ` into time.Duration (write a duration such as 2s or 500ms)`,
		"invalid-bad-codes.yaml":             `testdata/invalid-bad-codes.yaml:5: checks[0] (web).expected_codes: range "204-200": start 204 is greater than end 200; write "200-204"`,
		"invalid-rise.yaml":                  `testdata/invalid-rise.yaml:5: checks[0] (db).rise: must be from 1 to 10, got 11`,
		"invalid-listen.yaml":                `testdata/invalid-listen.yaml:1: listen: "8081" is not host:port (e.g. listen: 0.0.0.0:8081)`,
		"invalid-listen-port.yaml":           `testdata/invalid-listen-port.yaml:1: listen: "127.0.0.1:70000" has port "70000"; a port is a number from 1 to 65535 (e.g. listen: 0.0.0.0:8081)`,
		"invalid-interval-zero.yaml":         `testdata/invalid-interval-zero.yaml:5: checks[0] (db).interval: 0s has no meaning; leave interval out for the default, or give a duration such as 2s`,
		"invalid-second-document.yaml":       `testdata/invalid-second-document.yaml:5: holds a second YAML document; put everything in one`,
		"invalid-ini-ip.ini":                 `testdata/invalid-ini-ip.ini:7: [server] ip: "foo bar" is not an IP address or host name to listen on (e.g. IP = 0.0.0.0)`,
		"invalid-missing-password-file.yaml": `testdata/invalid-missing-password-file.yaml:6: checks[0] (db).password_file: cannot read /nonexistent/vitals/db.pass: no such file or directory`,
		"invalid-endpoint-path.yaml":         `testdata/invalid-endpoint-path.yaml:6: endpoints[0].path: "health" must start with / and hold no spaces, ? or # (e.g. path: /health)`,
		"invalid-ini-type.ini":               `testdata/invalid-ini-type.ini:5: [db] type: "oracle" is not postgresql or mysql`,
		"invalid-ini-port.ini":               `testdata/invalid-ini-port.ini:8: [server] port: "eighty" is not a port from 1 to 65535`,
		"invalid-ini-unknown-key.ini":        `testdata/invalid-ini-unknown-key.ini:4: [db] passwort: unknown key (known: name, username, password, passwordfile, type, query, host, dbport, timeout, interval)`,
	}
	files, _ := filepath.Glob("testdata/invalid-*")
	if len(files) != len(want) {
		t.Errorf("%d invalid-* files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var err error
			if strings.HasSuffix(f, ".ini") {
				_, err = LoadINI(f)
			} else {
				_, err = LoadFile(f)
			}
			w, ok := want[filepath.Base(f)]
			switch {
			case !ok:
				t.Fatalf("no expectation for %s (error %v)", f, err)
			case err == nil:
				t.Fatalf("accepted; want %q", w)
			case err.Error() != w:
				t.Errorf("error\n got: %s\nwant: %s", err, w)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %s", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Parse("x.yaml", []byte("checks:\n  - name: db\n    type: tcp\n    address: 127.0.0.1:5432\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Checks[0]
	if c.Listen != DefaultListen || ch.Interval != 2*time.Second || ch.Timeout != time.Second ||
		ch.Rise != 1 || ch.Fall != 1 || !ch.IsCritical() || ch.MaxAge != 5*time.Second {
		t.Errorf("defaults: listen %s interval %s timeout %s rise %d fall %d critical %v max_age %s",
			c.Listen, ch.Interval, ch.Timeout, ch.Rise, ch.Fall, ch.IsCritical(), ch.MaxAge)
	}
	if len(c.Endpoints) != 1 || c.Endpoints[0].Path != "/health" || c.Endpoints[0].FailCode != 503 {
		t.Errorf("default endpoints %+v", c.Endpoints)
	}
}

func TestPasswordFromEnvironment(t *testing.T) {
	t.Setenv("VITALS_TEST_PG_PASSWORD", "s3cret")
	c, err := Parse("x.yaml", []byte("checks:\n  - name: db\n    type: postgres\n    address: 127.0.0.1:5432\n    user: health\n    password: ${VITALS_TEST_PG_PASSWORD}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Checks[0].Password) != "s3cret" {
		t.Errorf("password not expanded from the environment")
	}
}

func TestSeedINI(t *testing.T) {
	c, err := LoadINI("testdata/seed.ini")
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Checks[0]
	if c.Listen != "127.0.0.1:8081" || !c.AnyPath || ch.Type != "postgres" || ch.Address != "127.0.0.1:5432" ||
		ch.User != "health" || string(ch.Password) != "secret" || ch.Database != "app" || ch.Query != "SELECT 1" {
		t.Errorf("seed.ini became listen %s any_path %v check %+v", c.Listen, c.AnyPath, ch)
	}
	mysql, err := ParseINI("m.ini", []byte("[db]\nType: MySQL\nUsername: health\nPassword: x\nHost: 10.0.0.5\n[server]\nPort: 9000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mysql.Checks[0].Address != "10.0.0.5:3306" || mysql.Listen != "0.0.0.0:9000" {
		t.Errorf("mysql ini: address %s listen %s", mysql.Checks[0].Address, mysql.Listen)
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("checks:\n  - name: db\n    type: http\n    address: 127.0.0.1:80\nendpoints:\n  - path: /x\n    checks: [db]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil && (len(c.Checks) == 0 || len(c.Endpoints) == 0) {
			t.Errorf("accepted a config without checks or endpoints")
		}
	})
}

func FuzzParseINI(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.ini")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("[db]\n  continued\nk=v\n"))
	f.Add([]byte("[db] ; c\nType = postgresql ; or mysql\nUsername = h # x\nPassword = a;b#c\n[server]\nPort = 8081\t; p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseINI("fuzz.ini", data)
		if err != nil {
			return
		}
		if len(c.Checks) != 1 {
			t.Fatalf("ini gave %d checks", len(c.Checks))
		}
		ch := c.Checks[0]
		for _, v := range []string{ch.User, string(ch.Password), ch.PasswordFile, ch.Database, ch.Query, ch.Address, c.Listen} {
			if inlineCommentLeft(v) {
				t.Errorf("value %q kept an inline comment", v)
			}
		}
	})
}
