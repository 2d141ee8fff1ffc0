package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
	"vitals/internal/yamlconf"
)

// iniFile is a parsed INI file: section → key (lower case) → value, plus
// the line each key came from.
type iniFile struct {
	sections map[string]map[string]iniValue
}

type iniValue struct {
	value string
	line  int
}

// parseINI reads the INI dialect of Python's configparser, which the
// seed's script used: [sections], "key = value" or "key: value", keys
// case-insensitive, comments starting with # or ; on their own line, and
// continuation lines indented under a key. Inline comments are stripped as
// configparser does with inline_comment_prefixes=(";", "#"): a ; or # that
// follows whitespace starts a comment ("Type = postgresql ; or mysql"),
// one that follows any other character is part of the value ("Password =
// pa;ss#1"). See stripInlineComment.
func parseINI(name string, data []byte) (*iniFile, error) {
	f := &iniFile{sections: map[string]map[string]iniValue{}}
	var (
		section string
		lastKey string
		n       int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		n++
		raw := stripInlineComment(sc.Text())
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			lastKey = ""
			continue
		case raw[0] == ' ' || raw[0] == '\t':
			if lastKey == "" {
				return nil, &ConfigError{File: name, Line: n, Msg: "indented line continues no key"}
			}
			v := f.sections[section][lastKey]
			v.value += "\n" + line
			f.sections[section][lastKey] = v
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, &ConfigError{File: name, Line: n, Msg: fmt.Sprintf("%q is not a [section] header", line)}
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if _, dup := f.sections[section]; dup {
				return nil, &ConfigError{File: name, Line: n, Msg: fmt.Sprintf("section [%s] appears twice", section)}
			}
			f.sections[section] = map[string]iniValue{}
			lastKey = ""
			continue
		}
		if section == "" {
			return nil, &ConfigError{File: name, Line: n, Msg: "key outside any [section]"}
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, &ConfigError{File: name, Line: n, Msg: fmt.Sprintf("%q is not \"key = value\"", line)}
		}
		key := strings.ToLower(strings.TrimSpace(line[:i]))
		if _, dup := f.sections[section][key]; dup {
			return nil, &ConfigError{File: name, Line: n, Field: "[" + section + "] " + key, Msg: "set twice"}
		}
		f.sections[section][key] = iniValue{value: strings.TrimSpace(line[i+1:]), line: n}
		lastKey = key
	}
	if err := sc.Err(); err != nil {
		return nil, &ConfigError{File: name, Line: n + 1, Msg: err.Error()}
	}
	return f, nil
}

// stripInlineComment cuts line at the first ; or # that follows a space or
// a tab: the inline comment of configparser's inline_comment_prefixes. A
// value that must hold " ;" or " #" (a password, say) cannot be written in
// this format; put it in a file and use PasswordFile.
func stripInlineComment(line string) string {
	for i := 1; i < len(line); i++ {
		if (line[i] == ';' || line[i] == '#') && (line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// LoadINI reads the configuration format of the seed's Python health
// check and returns the equivalent agent configuration:
//
//	[db]
//	Name = app            ; database
//	Username = health
//	Password = secret     ; or PasswordFile = /etc/vitals/db.pass
//	Type = postgresql     ; or mysql
//	Query = SELECT 1
//	Host = 127.0.0.1      ; optional, default 127.0.0.1
//	DBPort = 5432         ; optional, default 5432 or 3306 by Type
//	[server]
//	IP = 0.0.0.0
//	Port = 8081
//
// It serves one check named "db" on every path, as the script did.
func LoadINI(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read: %v", yamlconf.UnwrapPath(err))}
	}
	return ParseINI(path, data)
}

// ParseINI is LoadINI on bytes; name is used in error messages.
func ParseINI(name string, data []byte) (*Config, error) {
	f, err := parseINI(name, data)
	if err != nil {
		return nil, err
	}
	db, srv := f.sections["db"], f.sections["server"]
	if db == nil {
		return nil, &ConfigError{File: name, Field: "[db]", Msg: "section is missing (it needs Type, Username, Password, Name)"}
	}
	if srv == nil {
		return nil, &ConfigError{File: name, Field: "[server]", Msg: "section is missing (it needs IP and Port)"}
	}
	known := map[string][]string{
		"db":     {"name", "username", "password", "passwordfile", "type", "query", "host", "dbport", "timeout", "interval"},
		"server": {"ip", "port"},
	}
	for sec, keys := range f.sections {
		allowed, ok := known[sec]
		if !ok {
			continue // other sections belong to other tools
		}
		for k, v := range keys {
			if !slices.Contains(allowed, k) {
				return nil, &ConfigError{File: name, Line: v.line, Field: "[" + sec + "] " + k, Msg: fmt.Sprintf("unknown key (known: %s)", strings.Join(allowed, ", "))}
			}
		}
	}
	get := func(sec map[string]iniValue, k string) string { return sec[k].value }
	bad := func(sec, k, format string, a ...any) error {
		return &ConfigError{File: name, Line: f.sections[sec][k].line, Field: "[" + sec + "] " + k, Msg: fmt.Sprintf(format, a...)}
	}

	cc := CheckConfig{Name: "db"}
	port := 0
	switch t := strings.ToLower(get(db, "type")); t {
	case "postgresql", "postgres", "pgsql":
		cc.Type, port = "postgres", 5432
	case "mysql", "mariadb":
		cc.Type, port = "mysql", 3306
	case "":
		return nil, bad("db", "type", "is required: postgresql or mysql")
	default:
		return nil, bad("db", "type", "%q is not postgresql or mysql", t)
	}
	if p := get(db, "dbport"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("db", "dbport", "%q is not a port from 1 to 65535", p)
		}
		port = n
	}
	host := get(db, "host")
	if host == "" {
		host = "127.0.0.1"
	}
	cc.Address = net.JoinHostPort(host, strconv.Itoa(port))
	cc.User = get(db, "username")
	if cc.User == "" {
		return nil, bad("db", "username", "is required")
	}
	cc.Password = probe.Secret(get(db, "password"))
	cc.PasswordFile = get(db, "passwordfile")
	cc.Database = get(db, "name")
	cc.Query = get(db, "query")
	for _, k := range []string{"timeout", "interval"} {
		if v := get(db, k); v != "" {
			d, err := parseSeconds(v)
			if err != nil {
				return nil, bad("db", k, "%q is not a duration (e.g. 2s, or seconds as a number)", v)
			}
			if d <= 0 {
				return nil, bad("db", k, "%q must be positive; leave %s out for the default", v, k)
			}
			if k == "interval" && d < probe.MinInterval {
				return nil, bad("db", k, "%q is shorter than %s, the shortest interval between checks", v, probe.MinInterval)
			}
			if k == "timeout" {
				cc.Timeout = d
			} else {
				cc.Interval = d
			}
		}
	}
	ip, p := get(srv, "ip"), get(srv, "port")
	if ip == "" {
		ip = "0.0.0.0"
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return nil, bad("server", "port", "%q is not a port from 1 to 65535", p)
	}
	listen := net.JoinHostPort(ip, p)
	if err := yamlconf.CheckListen(listen); err != nil {
		return nil, bad("server", "ip", "%q is not an IP address or host name to listen on (e.g. IP = 0.0.0.0)", ip)
	}
	c := &Config{Listen: listen, Checks: []CheckConfig{cc}, AnyPath: true}
	if err := c.finish(name, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// parseSeconds reads a duration such as "2s", or a plain number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}
