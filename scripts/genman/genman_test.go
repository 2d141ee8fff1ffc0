package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestGenman turns the real binary's help into pages: one per command that
// `vitals help` lists plus vitals(1), each with the command's usage lines
// and flags, and man renders every page without a warning.
func TestGenman(t *testing.T) {
	bin := testenv.BuildVitals(t)
	out := t.TempDir()
	if err := generate(bin, out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // page: text it must show (from the help)
		"vitals.1.gz":         `run 'vitals COMMAND \-h'`,
		"vitals-agent.1.gz":   `vitals agent (\-\-config agent.yaml`,
		"vitals-lb.1.gz":      `vitals lb \-\-config lb.yaml`,
		"vitals-probe.1.gz":   "vitals probe TYPE TARGET",
		"vitals-version.1.gz": "vitals \\-\\-version",
	}
	for page, text := range want {
		roff := gunzip(t, filepath.Join(out, page))
		if !strings.Contains(roff, text) || !strings.HasPrefix(roff, ".TH ") {
			t.Errorf("%s does not start with .TH or lacks %q:\n%s", page, text, roff)
		}
	}
	testenv.Need(t, "man")
	man, err := testenv.LookPath("man")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(out, "*.1.gz"))
	for _, p := range pages {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, man, "--warnings", "-l", p)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil || stderr.Len() > 0 || !strings.Contains(stdout.String(), "NAME") {
			t.Errorf("man -l %s: %v\nstderr: %s\nstdout: %.300s", filepath.Base(p), err, stderr.String(), stdout.String())
		}
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
