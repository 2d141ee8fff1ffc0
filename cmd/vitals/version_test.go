package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// TestVersionSpellings: `vitals version`, `vitals --version` and `vitals
// -version` print the same one line; extra arguments are a usage error.
func TestVersionSpellings(t *testing.T) {
	code, want, errOut := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(want, "vitals ") || strings.Count(want, "\n") != 1 || errOut != "" {
		t.Fatalf("vitals version: exit %d, stdout %q, stderr %q", code, want, errOut)
	}
	for _, arg := range []string{"--version", "-version"} {
		if code, out, errOut := runCLI(t, arg); code != exitOK || out != want || errOut != "" {
			t.Errorf("vitals %s: exit %d, stdout %q, stderr %q; want %q", arg, code, out, errOut, want)
		}
	}
	if code, _, errOut := runCLI(t, "version", "extra"); code != exitUsage || errOut == "" {
		t.Errorf("vitals version extra: exit %d, stderr %q; want a usage error", code, errOut)
	}
}

// TestVersionStamped builds the binary with the linker flag the Makefile
// passes and checks that --version prints the stamped version.
func TestVersionStamped(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.SkipOrFail(t, "go is not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "vitals")
	const stamp = "v9.8.7-6-gfeedbee-dirty"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goBin, "build", "-ldflags", "-X main.version="+stamp, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil || string(out) != "vitals "+stamp+"\n" {
		t.Errorf("vitals --version: %v, %q; want %q", err, out, "vitals "+stamp+"\n")
	}
}
