package agent

import (
	"strings"
	"testing"
)

// TestINIInlineComments: a ; or # after whitespace starts a comment (as
// configparser with inline_comment_prefixes), one inside a word is part of
// the value, and whole-line comments stay comments wherever they are.
func TestINIInlineComments(t *testing.T) {
	cases := []struct {
		name, db, server string
		// want: the values the check ends up with
		typ, user, password, database, query, address, listen string
	}{
		{
			name: "readme style", db: "Type = postgresql ; or mysql\nUsername = health\nPassword = secret     ; or PasswordFile\nName = app # the database",
			server: "IP = 0.0.0.0 ; all\nPort = 8081\t# tab before",
			typ:    "postgres", user: "health", password: "secret", database: "app", query: "", address: "127.0.0.1:5432", listen: "0.0.0.0:8081",
		},
		{
			name: "semicolon and hash inside values stay", db: "Type = mysql\nUsername = health\nPassword = pa;ss#word;\nName = db#1\nQuery = SELECT 1;",
			server: "Port = 9000",
			typ:    "mysql", user: "health", password: "pa;ss#word;", database: "db#1", query: "SELECT 1;", address: "127.0.0.1:3306", listen: "0.0.0.0:9000",
		},
		{
			name: "colon separator and comment right after it", db: "Type: postgresql ;pg\nUsername: health\nPassword: x\nDBPort: 5433 # non-default",
			server: "Port: 8081",
			typ:    "postgres", user: "health", password: "x", address: "127.0.0.1:5433", listen: "0.0.0.0:8081",
		},
		{
			name: "indented comment line and continuation with a comment", db: "Type = postgresql\n  ; an indented comment\nUsername = health\nPassword = x\nQuery = SELECT\n  1 ; continued",
			server: "Port = 8081",
			typ:    "postgres", user: "health", password: "x", query: "SELECT\n1", address: "127.0.0.1:5432", listen: "0.0.0.0:8081",
		},
		{
			name: "section headers may carry a comment", db: "Type = postgresql\nUsername = health\nPassword = x",
			server: "Port = 8081",
			typ:    "postgres", user: "health", password: "x", address: "127.0.0.1:5432", listen: "0.0.0.0:8081",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := "[db] ; the database\n" + tc.db + "\n[server] # where to listen\n" + tc.server + "\n"
			c, err := ParseINI("t.ini", []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			ch := c.Checks[0]
			got := []string{ch.Type, ch.User, string(ch.Password), ch.Database, ch.Query, ch.Address, c.Listen}
			want := []string{tc.typ, tc.user, tc.password, tc.database, tc.query, tc.address, tc.listen}
			for i, field := range []string{"type", "user", "password", "database", "query", "address", "listen"} {
				if got[i] != want[i] {
					t.Errorf("%s = %q, want %q", field, got[i], want[i])
				}
			}
		})
	}
}

// TestINIInlineCommentErrors: a value that is all comment is empty, and
// errors quote the value without its comment.
func TestINIInlineCommentErrors(t *testing.T) {
	cases := map[string]string{
		"[db]\nType = oracle ; not supported\nUsername = h\n[server]\nPort = 1\n": `t.ini:2: [db] type: "oracle" is not postgresql or mysql`,
		"[db]\nType = ; postgresql\nUsername = h\n[server]\nPort = 1\n":           `t.ini:2: [db] type: is required: postgresql or mysql`,
		"[db]\nType = mysql\nUsername = h\n[server]\nPort = 80 80 # two\n":        `t.ini:5: [server] port: "80 80" is not a port from 1 to 65535`,
	}
	for text, want := range cases {
		_, err := ParseINI("t.ini", []byte(text))
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", text, err, want)
		}
	}
}

// TestStripInlineComment is the rule on its own.
func TestStripInlineComment(t *testing.T) {
	for in, want := range map[string]string{
		"a = b ; c":   "a = b ",
		"a = b\t# c":  "a = b\t",
		"a = b;c#d":   "a = b;c#d",
		"a = ;c":      "a = ",
		"; whole":     "; whole",
		"  # indent":  "  ",
		"a = b ;c ;d": "a = b ",
		"":            "",
	} {
		if got := stripInlineComment(in); got != want {
			t.Errorf("stripInlineComment(%q) = %q, want %q", in, got, want)
		}
	}
}

// inlineCommentLeft reports whether a parsed value still holds what the
// parser must have cut: whitespace followed by ; or #.
func inlineCommentLeft(v string) bool {
	for _, line := range strings.Split(v, "\n") {
		if strings.Contains(line, " ;") || strings.Contains(line, " #") || strings.Contains(line, "\t;") || strings.Contains(line, "\t#") {
			return true
		}
	}
	return false
}
