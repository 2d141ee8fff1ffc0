package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agentYAML is an agent configuration with one tcp check; {{LISTEN}},
// {{CHECK}} and {{TAIL}} are replaced per case.
const agentYAML = `listen: {{LISTEN}}
admin_socket: "off"
state_file: "off"
checks:
  - name: db
    type: tcp
    address: 127.0.0.1:5432
{{CHECK}}
{{TAIL}}`

// lbYAML is an lb configuration with one pool; {{LISTENERS}} and {{HM}}
// are replaced per case.
const lbYAML = `loadbalancer:
  name: lb1
  listeners:
{{LISTENERS}}
  pools:
    - name: pg
      lb_algorithm: ROUND_ROBIN
      healthmonitor:
{{HM}}
        max_retries: 2
      members:
        - address: 127.0.0.1
          protocol_port: 5432
`

// lbsYAML is an lb configuration with two load balancers.
const lbsYAML = `loadbalancers:
  - name: a
    listeners:
      - {protocol: TCP, address: 127.0.0.1, protocol_port: 19000, default_pool: p}
    pools:
      - name: p
        lb_algorithm: ROUND_ROBIN
        members:
          - {address: 127.0.0.1, protocol_port: 5432}
  - name: b
    listeners:
      - {protocol: TCP, address: 127.0.0.1, protocol_port: 19001, default_pool: p}
    pools:
      - name: p
        lb_algorithm: ROUND_ROBIN
        members:
          - {address: 127.0.0.1, protocol_port: 5433}
`

const iniSeed = `[db]
Name = app
Username = health
Password = pw
Type = postgresql
{{DB}}
[server]
IP = {{IP}}
Port = 8081
`

// TestCheckConfigRefusesWhatCannotStart is issue 10's must-hold item 4:
// every bad value of point 6 goes through `vitals agent|lb --check-config`
// (the function the binary runs) and is refused with exit code 2 and one
// line naming the file, the line, the field and the fix.
func TestCheckConfigRefusesWhatCannotStart(t *testing.T) {
	fill := func(tmpl string, kv ...string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			tmpl = strings.ReplaceAll(tmpl, "{{"+kv[i]+"}}", kv[i+1])
		}
		return tmpl
	}
	agentCfg := func(kv ...string) string {
		return fill(agentYAML, append(kv, "LISTEN", "127.0.0.1:8081", "CHECK", "", "TAIL", "")...)
	}
	lbCfg := func(listeners, hm string) string {
		if listeners == "" {
			listeners = "    - protocol: TCP\n      protocol_port: 19000\n      default_pool: pg"
		}
		if hm == "" {
			hm = "        type: TCP\n        delay: 5\n        timeout: 3"
		}
		return fill(lbYAML, "LISTENERS", listeners, "HM", hm)
	}
	listeners := func(a, b string) string {
		return "    - name: a\n      protocol: TCP\n      address: " + a + "\n      protocol_port: 19000\n" +
			"    - name: b\n      protocol: TCP\n      address: " + b + "\n      protocol_port: 19000"
	}
	big := filepath.Join(t.TempDir(), "big.pass")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 64<<10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cmd, ext, config string
		want                   string // after "<file>:"
	}{
		{"agent port over 65535", "agent", "yaml", agentCfg("LISTEN", "127.0.0.1:70000"),
			`1: listen: "127.0.0.1:70000" has port "70000"; a port is a number from 1 to 65535 (e.g. listen: 0.0.0.0:8081)`},
		{"agent negative port", "agent", "yaml", agentCfg("LISTEN", "127.0.0.1:-5"),
			`1: listen: "127.0.0.1:-5" has port "-5"; a port is a number from 1 to 65535 (e.g. listen: 0.0.0.0:8081)`},
		{"agent unparsable host and port", "agent", "yaml", agentCfg("LISTEN", "999.1.1.1:abc"),
			`1: listen: "999.1.1.1:abc" has port "abc"; a port is a number from 1 to 65535 (e.g. listen: 0.0.0.0:8081)`},
		{"agent unparsable host", "agent", "yaml", agentCfg("LISTEN", "999.1.1.1:8081"),
			`1: listen: "999.1.1.1:8081" has host "999.1.1.1", which is not an IP address or host name (e.g. listen: 0.0.0.0:8081)`},
		{"agent_check port", "agent", "yaml", agentCfg("TAIL", "agent_check:\n  listen: 127.0.0.1:65536"),
			`10: agent_check.listen: "127.0.0.1:65536" has port "65536"; a port is a number from 1 to 65535 (e.g. listen: 0.0.0.0:8082)`},
		{"metrics host", "agent", "yaml", agentCfg("TAIL", "metrics:\n  listen: foo bar:9102"),
			`10: metrics.listen: "foo bar:9102" has host "foo bar", which is not an IP address or host name (e.g. listen: 127.0.0.1:9102)`},
		{"interval 1ns", "agent", "yaml", agentCfg("CHECK", "    interval: 1ns\n    timeout: 1ns"),
			`8: checks[0] (db).interval: 1ns is shorter than 100ms, the shortest interval between checks (e.g. interval: 2s)`},
		{"interval 0s", "agent", "yaml", agentCfg("CHECK", "    interval: 0s"),
			`8: checks[0] (db).interval: 0s has no meaning; leave interval out for the default, or give a duration such as 2s`},
		{"timeout 0s", "agent", "yaml", agentCfg("CHECK", "    timeout: 0s"),
			`8: checks[0] (db).timeout: 0s has no meaning; leave timeout out for the default, or give a duration such as 2s`},
		{"max_age 0s", "agent", "yaml", agentCfg("CHECK", "    max_age: 0s"),
			`8: checks[0] (db).max_age: 0s has no meaning; leave max_age out for the default, or give a duration such as 2s`},
		{"agent second document", "agent", "yaml", agentCfg("TAIL", "---\nlisten: 127.0.0.1:9"),
			`9: holds a second YAML document; put everything in one`},
		{"agent password_file /dev/zero", "agent", "yaml", fill(agentYAML, "LISTEN", "127.0.0.1:8081", "TAIL", "",
			"CHECK", "  - name: pg\n    type: postgres\n    address: 127.0.0.1:5432\n    user: u\n    password_file: /dev/zero"),
			`12: checks[1] (pg).password_file: cannot read /dev/zero: not a regular file but a character device; point it at a plain file`},
		{"agent password_file over 64 KiB", "agent", "yaml", fill(agentYAML, "LISTEN", "127.0.0.1:8081", "TAIL", "",
			"CHECK", "  - name: pg\n    type: postgres\n    address: 127.0.0.1:5432\n    user: u\n    password_file: "+big),
			`12: checks[1] (pg).password_file: cannot read ` + big + `: larger than 64 KiB; it should hold only the password or token`},
		{"ini IP with a space", "agent-ini", "ini", fill(iniSeed, "IP", "foo bar", "DB", ""),
			`8: [server] ip: "foo bar" is not an IP address or host name to listen on (e.g. IP = 0.0.0.0)`},
		{"ini interval 0", "agent-ini", "ini", fill(iniSeed, "IP", "127.0.0.1", "DB", "Interval = 0"),
			`6: [db] interval: "0" must be positive; leave interval out for the default`},
		{"ini interval 1ns", "agent-ini", "ini", fill(iniSeed, "IP", "127.0.0.1", "DB", "Interval = 1ns"),
			`6: [db] interval: "1ns" is shorter than 100ms, the shortest interval between checks`},
		{"lb wildcard then specific", "lb", "yaml", lbCfg(listeners("0.0.0.0", "127.0.0.1"), ""),
			`10: listener "b": address 127.0.0.1:19000 overlaps listener "a" on 0.0.0.0:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`},
		{"lb specific then wildcard", "lb", "yaml", lbCfg(listeners("127.0.0.1", "0.0.0.0"), ""),
			`10: listener "b": address 0.0.0.0:19000 overlaps listener "a" on 127.0.0.1:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`},
		{"lb [::] and IPv4", "lb", "yaml", lbCfg(listeners("\"::\"", "127.0.0.1"), ""),
			`10: listener "b": address 127.0.0.1:19000 overlaps listener "a" on [::]:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`},
		{"lb [::] and 0.0.0.0", "lb", "yaml", lbCfg(listeners("0.0.0.0", "\"::\""), ""),
			`10: listener "b": address [::]:19000 overlaps listener "a" on 0.0.0.0:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`},
		{"lb delay 1ns", "lb", "yaml", lbCfg("", "        type: TCP\n        delay: 1ns\n        timeout: 1ns"),
			`12: healthmonitor of pool "pg": delay 1ns is shorter than 100ms, the shortest delay between checks`},
		{"lb password_file /dev/zero", "lb", "yaml", lbCfg("", "        type: PGSQL\n        user: u\n        password_file: /dev/zero\n        delay: 5\n        timeout: 3"),
			`13: healthmonitor of pool "pg": password_file /dev/zero cannot be read: not a regular file but a character device; point it at a plain file`},
		{"lb password_file over 64 KiB", "lb", "yaml", lbCfg("", "        type: PGSQL\n        user: u\n        password_file: "+big+"\n        delay: 5\n        timeout: 3"),
			`13: healthmonitor of pool "pg": password_file ` + big + ` cannot be read: larger than 64 KiB; it should hold only the password or token`},
		{"lb timeout_write_stall negative", "lb", "yaml", lbCfg("    - protocol: TCP\n      protocol_port: 19000\n      default_pool: pg\n      timeout_write_stall: -1s", ""),
			`7: listener :19000: timeout_write_stall must be from 0 to 24 days (2073600000 ms, Octavia's limit for listener timeouts), got -1s`},
		{"lb timeout_write_stall garbage", "lb", "yaml", lbCfg("    - protocol: TCP\n      protocol_port: 19000\n      default_pool: pg\n      timeout_write_stall: soon", ""),
			`7: listener :19000: timeout_write_stall "soon" is neither a number of milliseconds nor a duration such as 500ms or 2s`},
		{"lb max_event_subscribers 0", "lb", "yaml", "admin:\n  max_event_subscribers: 0\n" + lbCfg("", ""),
			`2: admin: max_event_subscribers must be from 1 to 1024, got 0 (default 32)`},
		{"lb max_event_subscribers over the bound", "lb", "yaml", "admin:\n  max_event_subscribers: 5000\n" + lbCfg("", ""),
			`2: admin: max_event_subscribers must be from 1 to 1024, got 5000 (default 32)`},
		{"lb max_event_subscribers garbage", "lb", "yaml", "admin:\n  max_event_subscribers: many\n" + lbCfg("", ""),
			"2: cannot unmarshal !!str `many` into int (write a whole number)"},
		{"agent max_event_subscribers 0", "agent", "yaml", agentCfg("TAIL", "max_event_subscribers: 0"),
			`9: max_event_subscribers: must be from 1 to 1024, got 0 (default 32)`},
		{"agent max_event_subscribers negative", "agent", "yaml", agentCfg("TAIL", "max_event_subscribers: -3"),
			`9: max_event_subscribers: must be from 1 to 1024, got -3 (default 32)`},
		{"agent max_event_subscribers not a number", "agent", "yaml", agentCfg("TAIL", "max_event_subscribers: lots"),
			"9: cannot unmarshal !!str `lots` into int (write a whole number)"},
		{"lb second document", "lb", "yaml", lbCfg("", "") + "---\nloadbalancer: {}\n",
			`18: holds a second YAML document; put everything in one`},
		{"lb loadbalancer and loadbalancers", "lb", "yaml", lbCfg("", "") + lbsYAML,
			`18: loadbalancers cannot be given with loadbalancer: write one load balancer under loadbalancer:, or all of them as a list under loadbalancers:`},
		{"lb two load balancers of one name", "lb", "yaml", strings.Replace(lbsYAML, "name: b", "name: a", 1),
			`10: loadbalancer "a": name is used by loadbalancer 1; names must be unique`},
		{"lb one port in two load balancers", "lb", "yaml", strings.Replace(lbsYAML, "19001", "19000", 1),
			`12: listener :19000 of loadbalancer "b": protocol_port 19000 is used by listener 1 of loadbalancer "a"; a port can have only one listener (Octavia answers 409 Conflict)`},
		{"lb a wildcard over another load balancer's listener", "lb", "yaml", strings.Replace(lbsYAML, "address: 127.0.0.1, protocol_port: 19001", "address: 0.0.0.0, protocol_port: 19000", 1),
			`12: listener :19000 of loadbalancer "b": address 0.0.0.0:19000 overlaps listener 1 of loadbalancer "a" on 127.0.0.1:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`},
	}
	dir := t.TempDir()
	// The bases are valid, so each case fails for its one bad value only.
	for i, ok := range []struct{ cmd, ext, config string }{
		{"agent", "yaml", agentCfg()},
		{"agent", "yaml", agentCfg("LISTEN", "localhost:8081", "CHECK", "    interval: 100ms\n    timeout: 50ms")},
		{"agent-ini", "ini", fill(iniSeed, "IP", "127.0.0.1", "DB", "Interval = 0.5\nTimeout = 0.2")},
		{"lb", "yaml", lbCfg("", "")},
		{"lb", "yaml", lbCfg(listeners("127.0.0.1", "127.0.0.2"), "        type: TCP\n        delay: 100ms\n        timeout: 50ms")},
		{"lb", "yaml", lbsYAML},
	} {
		file := filepath.Join(dir, fmt.Sprintf("ok%d.%s", i, ok.ext))
		if err := os.WriteFile(file, []byte(ok.config), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{ok.cmd, "--config", file, "--check-config"}
		if ok.cmd == "agent-ini" {
			args = []string{"agent", "--ini", file, "--check-config"}
		}
		if code, _, errOut := runCLI(t, args...); code != exitOK {
			t.Fatalf("valid base %d refused (exit %d): %s", i, code, errOut)
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("case%d.%s", i, tt.ext))
			if err := os.WriteFile(file, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{tt.cmd, "--config", file, "--check-config"}
			if tt.cmd == "agent-ini" {
				args = []string{"agent", "--ini", file, "--check-config"}
			}
			code, out, errOut := runCLI(t, args...)
			want := file + ":" + tt.want + "\n"
			if code != exitUsage || out != "" || errOut != want {
				t.Errorf("case %d: exit %d, stdout %q, stderr\n got: %s\nwant: %s", i, code, out, errOut, want)
			}
		})
	}
}

// TestCheckConfigCountsEveryLoadBalancer: --check-config counts the
// objects of all the load balancers of a file.
func TestCheckConfigCountsEveryLoadBalancer(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, yaml, want string }{
		{"two", lbsYAML, "configuration ok: 2 load balancers, 2 listeners, 2 pools, 2 members, 0 health monitors; admin socket /run/vitals/lb.sock\n"},
		{"one", lbsYAML[:strings.Index(lbsYAML, "  - name: b")], "configuration ok: 1 listeners, 1 pools, 1 members, 0 health monitors; admin socket /run/vitals/lb.sock\n"},
	} {
		file := filepath.Join(dir, tt.name+".yaml")
		if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := runCLI(t, "lb", "--config", file, "--check-config"); code != exitOK || out != tt.want {
			t.Errorf("%s: exit %d, %q, %q; want %q", tt.name, code, out, errOut, tt.want)
		}
	}
}
