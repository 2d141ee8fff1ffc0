package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInterpreter: the openstack script's interpreter is read from its #!
// line, directly or through env; a file without one is an error.
func TestInterpreter(t *testing.T) {
	dir := t.TempDir()
	sh, err := LookPath("sh")
	if err != nil {
		t.Skip("no sh in PATH")
	}
	for _, c := range []struct{ line, want string }{
		{"#! /usr/bin/python3\n", "/usr/bin/python3"},
		{"#!/usr/bin/python3 -s\n", "/usr/bin/python3"},
		{"#!/usr/bin/env sh\n", sh},
		{"import sys\n", ""},
	} {
		p := filepath.Join(dir, "script")
		if err := os.WriteFile(p, []byte(c.line+"print()\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := interpreter(p)
		if c.want == "" {
			if err == nil {
				t.Errorf("%q: got %q, want an error", c.line, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.line, got, err, c.want)
		}
	}
}
