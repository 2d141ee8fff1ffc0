// Command vitals checks backends in depth so load balancers tell the truth.
//
// This file only dispatches subcommands; each lives in its own file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"vitals/internal/buildinfo"
)

// Exit codes shared by every subcommand.
const (
	exitOK    = 0 // the check passed, or the command succeeded
	exitFail  = 1 // the check failed
	exitUsage = 2 // bad flags, arguments or configuration
)

// command is one subcommand. The command table is the one list that
// dispatch, usage, help and shell completion are derived from.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// flags returns a fresh set of the command's flags, the same the run
	// function parses; nil when the command has none of its own.
	flags func() *flag.FlagSet
	// subs are the command's subcommands.
	subs []command
	// words are the words the command's first argument may be, for
	// completion (e.g. probe types); nil when there are none to offer.
	words func() []string
}

// commands lists the subcommands in the order usage shows them; it is set
// in init, since completion reads it.
var commands []command

func init() {
	commands = []command{
		{name: "agent", summary: "run the health-check sidecar beside a backend", run: runAgent, flags: agentFlags, subs: agentCommands()},
		{name: "completion", summary: "print a shell completion script: vitals completion bash|zsh", run: runCompletion, words: func() []string { return completionShells }},
		{name: "demo", summary: "show the system working: backends, agents and a load balancer on loopback", run: runDemo, flags: demoFlags},
		{name: "lb", summary: "run a TCP load balancer that routes only to members its health monitors find healthy", run: runLB, flags: lbRunFlags, subs: lbCommands()},
		{name: "probe", summary: "run one check from the command line", run: runProbe, flags: probeFlags, words: probeKinds},
		{name: "version", summary: "print the version", run: runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	buildinfo.Set(version)
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return runVersion(ctx, args[1:], stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vitals: unknown command %q (run 'vitals help' for the list)\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vitals COMMAND [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "run 'vitals COMMAND -h' for a command's flags")
}

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile stamps `git describe --tags --always --dirty`) and handed to
// buildinfo, which falls back to the go command's build information.
var version = ""

const versionUsage = `usage: vitals version
       vitals --version

Prints the version of this build: ` + "`git describe --tags --always --dirty`" + ` of
the checkout it was built from when built with make, else the module version
or VCS revision the go command recorded, else "devel". The metrics of the
agent and the lb show it as vitals_build_info, their status pages in the
footer.`

// runVersion prints the version: `vitals version`, `vitals --version`.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprintln(stdout, versionUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "vitals version: takes no arguments, got %q\n", args[0])
		return exitUsage
	}
	fmt.Fprintln(stdout, "vitals", buildinfo.Version())
	return exitOK
}
