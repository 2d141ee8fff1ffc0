// Command genman writes the man pages of vitals from the commands' own
// help: vitals(1) from `vitals help`, and vitals-COMMAND(1) from `vitals
// COMMAND -h` for every command that help lists. The pages are gzipped
// (no name or time in the header, so a build is reproducible), ready for
// /usr/share/man/man1.
//
//	go run ./scripts/genman --bin bin/vitals --out dist/man
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/vitals", "the vitals binary whose help to turn into man pages")
	out := flag.String("out", "dist/man", "directory for the gzipped pages (man1/*.1.gz go here)")
	flag.Parse()
	if err := generate(*bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}

// command is one line of `vitals help`'s command list.
type command struct{ name, summary string }

var commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s+(\S.*)$`)

// generate runs bin for its help texts and writes the pages under out.
func generate(bin, out string) error {
	help, err := run(bin, "help")
	if err != nil {
		return err
	}
	version, err := run(bin, "version")
	if err != nil {
		return err
	}
	version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(version), "vitals "))
	var cmds []command
	in := false
	for line := range strings.Lines(help) {
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "commands:":
			in = true
		case in && line == "":
			in = false
		case in:
			m := commandLine.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("%s help: cannot read command line %q", bin, line)
			}
			cmds = append(cmds, command{m[1], m[2]})
		}
	}
	if len(cmds) == 0 {
		return fmt.Errorf("%s help lists no commands:\n%s", bin, help)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	pages := map[string]string{"vitals": overview(help, version, cmds)}
	for _, c := range cmds {
		text, err := run(bin, c.name, "-h")
		if err != nil {
			return err
		}
		pages["vitals-"+c.name] = commandPage(c, text, version)
	}
	for name, roff := range pages {
		if err := writeGzip(filepath.Join(out, name+".1.gz"), roff); err != nil {
			return err
		}
	}
	return nil
}

// run runs bin with args and returns its stdout; help must exit 0.
func run(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	if stdout.Len() == 0 {
		return "", fmt.Errorf("%s %s printed nothing", bin, strings.Join(args, " "))
	}
	return stdout.String(), nil
}

// header is the page's title line and NAME section.
func header(name, summary, version string) string {
	return fmt.Sprintf(".TH %s 1 \"\" \"vitals %s\" \"vitals manual\"\n.SH NAME\n%s \\- %s\n",
		quote(strings.ToUpper(name)), escape(version), escape(name), escape(summary))
}

func overview(help, version string, cmds []command) string {
	var b strings.Builder
	b.WriteString(header("vitals", "deep health checks for load balancers, and a TCP load balancer that trusts them", version))
	b.WriteString(".SH SYNOPSIS\n.B vitals\n.I COMMAND\n[arguments]\n")
	b.WriteString(".SH DESCRIPTION\n.nf\n")
	b.WriteString(verbatim(help))
	b.WriteString(".fi\n.SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s (see\n.BR vitals\\-%s (1))\n", escape(c.name), escape(c.summary), escape(c.name))
	}
	b.WriteString(".SH SEE ALSO\n")
	for i, c := range cmds {
		sep := ","
		if i == len(cmds)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, ".BR vitals\\-%s (1)%s\n", escape(c.name), sep)
	}
	return b.String()
}

// commandPage: SYNOPSIS is the help's first paragraph (the usage lines),
// DESCRIPTION the rest, both verbatim, since flag lists are aligned.
func commandPage(c command, text, version string) string {
	usage, rest, _ := strings.Cut(text, "\n\n")
	var b strings.Builder
	b.WriteString(header("vitals-"+c.name, c.summary, version))
	b.WriteString(".SH SYNOPSIS\n.nf\n")
	for line := range strings.Lines(usage) {
		line = strings.TrimSpace(strings.TrimPrefix(line, "usage:"))
		b.WriteString(verbatim(line + "\n"))
	}
	b.WriteString(".fi\n")
	if strings.TrimSpace(rest) != "" {
		b.WriteString(".SH DESCRIPTION\n.nf\n")
		b.WriteString(verbatim(rest))
		b.WriteString(".fi\n")
	}
	b.WriteString(".SH SEE ALSO\n.BR vitals (1)\n")
	return b.String()
}

// escape makes text safe inside a roff line: backslashes print as
// themselves and hyphens as minus signs (flags are typed with them).
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

func quote(s string) string { return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"` }

// verbatim escapes preformatted lines; a line that starts with . or '
// would be a request, and an empty one is kept as an empty line.
func verbatim(text string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.ReplaceAll(escape(sc.Text()), "\t", "        ")
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func writeGzip(path, text string) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write([]byte(text))
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
