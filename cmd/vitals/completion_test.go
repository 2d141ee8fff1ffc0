package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"vitals/internal/testenv"
)

// completionCases are words typed before TAB and what completion must
// offer (exactly, in order).
var completionCases = []struct {
	words []string // the last one is being completed
	want  string
}{
	{[]string{"vitals", "l"}, "lb"},
	{[]string{"vitals", "lb", ""}, "status stats member reload import nodes vrrp-check vrrp-state"},
	{[]string{"vitals", "lb", "member", "s"}, "set"},
	{[]string{"vitals", "lb", "nodes", "f"}, "forget"},
	{[]string{"vitals", "lb", "nodes", "forget", "--t"}, "--token-file"},
	{[]string{"vitals", "lb", "status", "-f", ""}, "table json yaml value"},
	{[]string{"vitals", "lb", "status", "--format", "y"}, "yaml"},
	{[]string{"vitals", "lb", "stats", "--l"}, "--listener"},
	{[]string{"vitals", "lb", "member", "set", "--w"}, "--weight"},
	{[]string{"vitals", "probe", "h"}, "http https"},
	{[]string{"vitals", "agent", "maintenance", "o"}, "on off"},
	{[]string{"vitals", "agent", "--config", ""}, ""}, // a file: the shell's default
	{[]string{"vitals", "completion", "z"}, "zsh"},
}

// TestCompletion sources the real binary's completion script in bash
// (and zsh when installed) and completes words with the shells' own
// machinery: COMP_WORDS and compgen in bash, words/CURRENT and compadd in
// zsh.
func TestCompletion(t *testing.T) {
	testenv.Need(t, "bash")
	bin := testenv.BuildVitals(t)
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	quote := func(words []string) string {
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = "'" + w + "'"
		}
		return strings.Join(q, " ")
	}

	t.Run("bash", func(t *testing.T) {
		var script strings.Builder
		script.WriteString("source <(vitals completion bash) || exit 1\ncomplete -p vitals\n")
		script.WriteString(`t() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _vitals; echo "=${COMPREPLY[*]}"; }` + "\n")
		for _, c := range completionCases {
			script.WriteString("t " + quote(c.words) + "\n")
		}
		lines := runShell(t, path, "bash", "--norc", "--noprofile", "-c", script.String())
		if len(lines) == 0 || lines[0] != "complete -o default -F _vitals vitals" {
			t.Fatalf("complete -p vitals printed %q", lines)
		}
		checkCompletions(t, lines[1:])
	})

	t.Run("zsh", func(t *testing.T) {
		testenv.Need(t, "zsh")
		// compadd, _files and compdef are zsh's completion builtins; the
		// stand-ins print what the script offers (real compadd then
		// filters by the typed prefix, so the prefix is applied here).
		var script strings.Builder
		script.WriteString(`offered=()
compadd() { [[ $1 == -- ]] && shift; offered+=("$@"); }
_files() { :; }
compdef() { print -r -- "compdef $*"; }
source <(vitals completion zsh) || exit 1
t() { words=("$@"); CURRENT=$#words; offered=(); _vitals; local m=("${(@M)offered:#${words[CURRENT]}*}"); print -r -- "=${m[*]}"; }
`)
		for _, c := range completionCases {
			script.WriteString("t " + quote(c.words) + "\n")
		}
		lines := runShell(t, path, "zsh", "-f", "-c", script.String())
		if len(lines) == 0 || lines[0] != "compdef _vitals vitals" {
			t.Fatalf("the zsh script did not register with compdef: %q", lines)
		}
		checkCompletions(t, lines[1:])
	})
}

func runShell(t *testing.T, path, shell string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(shell, args...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", shell, err, out, stderr.String())
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

func checkCompletions(t *testing.T, lines []string) {
	t.Helper()
	if len(lines) != len(completionCases) {
		t.Fatalf("%d completions for %d cases: %q", len(lines), len(completionCases), lines)
	}
	for i, c := range completionCases {
		if got := strings.TrimPrefix(lines[i], "="); got != c.want {
			t.Errorf("%s<TAB> offers %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
}

// commandPaths walks the command table: every command's words after
// "vitals", with its flag set (nil when it has none).
func commandPaths() map[string]*flag.FlagSet {
	out := map[string]*flag.FlagSet{}
	var walk func(prefix []string, cs []command)
	walk = func(prefix []string, cs []command) {
		for _, c := range cs {
			p := append(append([]string{}, prefix...), c.name)
			var fs *flag.FlagSet
			if c.flags != nil {
				fs = c.flags()
			}
			out[strings.Join(p, " ")] = fs
			walk(p, c.subs)
		}
	}
	walk(nil, commands)
	return out
}

// TestHelpShowsDoubleDashFlags: every command's -h exits 0 and shows each
// of its flags as --flag (and one-letter aliases as -f), never as Go's
// -flag.
func TestHelpShowsDoubleDashFlags(t *testing.T) {
	for path, fs := range commandPaths() {
		t.Run(path, func(t *testing.T) {
			code, out, errOut := runCLI(t, append(strings.Fields(path), "-h")...)
			if code != exitOK || out == "" {
				t.Fatalf("vitals %s -h: exit %d, stdout %q, stderr %q", path, code, out, errOut)
			}
			if fs == nil {
				return
			}
			fs.VisitAll(func(f *flag.Flag) {
				if len(f.Name) == 1 {
					if !strings.Contains(out, "-"+f.Name+", --") {
						t.Errorf("help lacks the alias -%s", f.Name)
					}
					return
				}
				if !strings.Contains(out, "--"+f.Name) {
					t.Errorf("help lacks --%s:\n%s", f.Name, out)
				}
				if single := regexp.MustCompile(`(^|[^-\w])-` + regexp.QuoteMeta(f.Name) + `\b`); single.MatchString(out) {
					t.Errorf("help shows -%s with one dash: %q", f.Name, single.FindString(out))
				}
			})
		})
	}
}

// TestFlagsTakeOneOrTwoDashes: -flag and --flag both parse, as the help
// promises --flag and Go's flag package accepts both.
func TestFlagsTakeOneOrTwoDashes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, dash := range []string{"-", "--"} {
		code, _, errOut := runCLI(t, "lb", "status", dash+"socket", sock, dash+"f", "json")
		if code != exitFail || !strings.Contains(errOut, sock) {
			t.Errorf("lb status %ssocket: exit %d, stderr %q; want 1 naming the socket", dash, code, errOut)
		}
		code, out, _ := runCLI(t, "probe", "exec", dash+"timeout", "5s", dash+"json", "--", "/bin/true")
		if code != probeExitPass || !strings.Contains(out, `"status":"pass"`) {
			t.Errorf("probe %stimeout %sjson: exit %d, %q", dash, dash, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "lb", "status", "--format", "xml"); code != exitUsage || !strings.Contains(errOut, "not one of table, json, yaml, value") {
		t.Errorf("--format xml: exit %d, %q", code, errOut)
	}
}
