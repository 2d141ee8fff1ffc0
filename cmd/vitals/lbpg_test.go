package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitals/internal/testenv"
)

// TestLBDBPostgresPassword: vitals lb --db postgres://… over TCP with
// password authentication takes the password from --db-password-file,
// and neither its log nor its command line shows it; a password written
// into the URL works too, with a warning, and the log shows the URL
// redacted.
func TestLBDBPostgresPassword(t *testing.T) {
	pg := testenv.StartPostgres(t)
	bin := testenv.BuildVitals(t)
	db, dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pgpassword")
	if err := os.WriteFile(pwFile, []byte(pg.SuperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPW := strings.Replace(dsn, "://"+pg.Super+"@", "://"+pg.Super+":"+url.PathEscape(pg.SuperPassword)+"@", 1)
	if withPW == dsn {
		t.Fatalf("could not put the password into %s", dsn)
	}
	for _, c := range []struct {
		name string
		args []string
		warn bool
	}{
		{"password-file", []string{"--db", dsn, "--db-password-file", pwFile}, false},
		{"password-in-url", []string{"--db", withPW}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := &lbNode{name: c.name, dir: t.TempDir()}
			n.sock = filepath.Join(n.dir, "lb.sock")
			settings := filepath.Join(n.dir, "settings.yaml")
			if err := os.WriteFile(settings, []byte("admin:\n  socket: "+n.sock+"\nshutdown_grace: 1s\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"lb", "--node", c.name, "--config", settings}, c.args...)
			n.v = testenv.StartVitals(t, c.name, bin, n.dir, args...)
			if err := n.v.WaitReady(func() error {
				if n.applied() < 0 {
					return errors.New("not serving yet")
				}
				return nil
			}); err != nil {
				t.Fatalf("%v\n--- log:\n%s", err, n.v.LogTail())
			}
			n.must(t, 201, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": c.name, "vip_address": "127.0.0.1"}})
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.v.PID))
			if err != nil {
				t.Fatal(err)
			}
			log := n.v.Log()
			// The test's own "--- testenv: …" header quotes the command line.
			_, log, _ = strings.Cut(log, "\n")
			if strings.Contains(log, pg.SuperPassword) {
				t.Errorf("the log shows the password:\n%s", log)
			}
			if !c.warn && strings.Contains(string(cmdline), pg.SuperPassword) {
				t.Errorf("the command line shows the password: %q", cmdline)
			}
			if warned := strings.Contains(log, "holds a password"); warned != c.warn {
				t.Errorf("warning about a password in the URL: %v, want %v\n%s", warned, c.warn, log)
			}
			if c.warn && !strings.Contains(log, ":xxxxx@") {
				t.Errorf("the log does not show the URL redacted:\n%s", log)
			}
			if !strings.Contains(log, db) {
				t.Errorf("the log does not name the database %s:\n%s", db, log)
			}
		})
	}
}
