package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"vitals/internal/agent"
)

const agentUsage = "usage: vitals agent (--config agent.yaml | --ini seed.ini) [--check-config | --once] [--log-format text|json] [--log-level debug|info|warn|error]\n" +
	"       vitals agent maintenance on|off|status [--socket PATH | --config agent.yaml]\n" +
	"       vitals agent drain on|off|status [--socket PATH | --config agent.yaml]\n" +
	"       vitals agent reload [--socket PATH | --config agent.yaml]"

// agentHint ends a usage error: the error is one line, and the four-line
// usage is one -h away.
const agentHint = "run 'vitals agent -h' for usage"

type agentOpts struct {
	config, ini, logFormat, logLevel, adminSocket, stateFile *string
	checkConfig, once                                        *bool
}

func agentFlagSet() (*flag.FlagSet, *agentOpts) {
	fs := newFlagSet("vitals agent")
	return fs, &agentOpts{
		config:      fs.String("config", "", "YAML configuration `file`"),
		ini:         fs.String("ini", "", "configuration `file` in the seed script's INI format ([db] and [server])"),
		checkConfig: fs.Bool("check-config", false, "validate the configuration and exit (0 valid, 2 invalid)"),
		once:        fs.Bool("once", false, "run every check once, print the report and exit (0 healthy, 1 failing)"),
		logFormat:   fs.String("log-format", "text", "log `format`: text or json"),
		logLevel:    fs.String("log-level", "info", "log `level`: debug, info, warn or error"),
		adminSocket: fs.String("admin-socket", "", "admin unix socket `path`, or off (overrides the configuration's admin_socket)"),
		stateFile:   fs.String("state-file", "", "maintenance/drain state `file`, or off (overrides the configuration's state_file)"),
	}
}

func agentFlags() *flag.FlagSet { fs, _ := agentFlagSet(); return fs }

// agentCommands are the subcommands of vitals agent, which talk to a
// running agent over its admin socket.
func agentCommands() []command {
	onOff := func() []string { return []string{"on", "off", "status"} }
	return []command{
		{name: "maintenance", summary: "take the node out (on), put it back (off), or show the state", run: runAgentVerb("maintenance"), flags: agentAdminFlags, words: onOff},
		{name: "drain", summary: "drain the node (on: no new sessions), undo (off), or show the state", run: runAgentVerb("drain"), flags: agentAdminFlags, words: onOff},
		{name: "reload", summary: "make the running agent re-read its configuration, as SIGHUP does", run: runAgentVerb("reload"), flags: agentAdminFlags},
	}
}

func runAgentVerb(verb string) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return runAgentAdmin(ctx, verb, args, stdout, stderr)
	}
}

func agentAdminFlagSet() (fs *flag.FlagSet, socket, config *string) {
	fs = newFlagSet("vitals agent")
	socket = fs.String("socket", "", "the agent's admin socket `path` (default: admin_socket of --config, else "+agent.DefaultAdminSocket+")")
	config = fs.String("config", "", "read admin_socket from this agent configuration `file`")
	return fs, socket, config
}

func agentAdminFlags() *flag.FlagSet { fs, _, _ := agentAdminFlagSet(); return fs }

// runAgent runs `vitals agent`: the sidecar that answers load balancers'
// health probes from deep checks run in the background.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, c := range agentCommands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	fs, o := agentFlagSet()
	var (
		configPath, iniPath, checkConfig, once      = o.config, o.ini, o.checkConfig, o.once
		logFormat, logLevel, adminSocket, stateFile = o.logFormat, o.logLevel, o.adminSocket, o.stateFile
	)
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals agent: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, agentUsage)
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "flags:")
		printFlags(stdout, fs)
		return exitOK
	} else if err != nil {
		return bad("%v (%s)", err, agentHint)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (%s)", fs.Arg(0), agentHint)
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return bad("%v", err)
	}
	var load func() (*agent.Config, error)
	switch {
	case *configPath != "" && *iniPath != "":
		return bad("give --config or --ini, not both")
	case *configPath != "":
		load = func() (*agent.Config, error) { return agent.LoadFile(*configPath) }
	case *iniPath != "":
		load = func() (*agent.Config, error) { return agent.LoadINI(*iniPath) }
	default:
		return bad("missing --config FILE or --ini FILE (%s)", agentHint)
	}
	if *adminSocket != "" || *stateFile != "" {
		base := load
		load = func() (*agent.Config, error) {
			cfg, err := base()
			if err != nil {
				return nil, err
			}
			return cfg, cfg.Override(*adminSocket, *stateFile)
		}
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		return bad("%v", err)
	}
	switch {
	case *checkConfig:
		fmt.Fprintf(stdout, "configuration ok: %d checks, %d endpoints, listen %s\n", len(cfg.Checks), len(cfg.Endpoints), cfg.Listen)
		return exitOK
	case *once:
		rep := a.RunOnce(ctx)
		for _, line := range rep.Lines() {
			fmt.Fprintln(stdout, line)
		}
		fmt.Fprintln(stdout, strings.ToUpper(rep.Status.String()))
		return exitCodeOf(rep)
	}
	a.SetReloader(load)
	a.SetNotifier(systemdNotifier(log))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = a.Reload() // logs why a bad configuration was rejected
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		log.Error("agent stopped", "err", err)
		return exitFail
	}
	return exitOK
}

func exitCodeOf(rep agent.Report) int {
	if rep.Status.String() == "fail" {
		return exitFail
	}
	return exitOK
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: secondsAttr}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not text or json", format)
}

// runAgentAdmin runs `vitals agent maintenance|drain on|off|status` and
// `vitals agent reload`, which talk to the running agent over its unix
// admin socket.
func runAgentAdmin(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	fs, socket, configPath := agentAdminFlagSet()
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals agent %s: "+format+"\n", append([]any{verb}, a...)...)
		return exitUsage
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		for line := range strings.SplitSeq(agentUsage, "\n") {
			if strings.Contains(line, "vitals agent "+verb+" ") {
				fmt.Fprintln(stdout, "usage: "+strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "usage:")))
			}
		}
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "flags:")
		printFlags(stdout, fs)
		return exitOK
	}
	if err != nil {
		return bad("%v", err)
	}
	path := *socket
	if path == "" && *configPath != "" {
		cfg, err := agent.LoadFile(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		path = cfg.AdminSocket
	}
	if path == "" {
		path = agent.DefaultAdminSocket
	}
	var method, target string
	switch {
	case verb == "reload" && len(pos) == 0:
		method, target = "POST", "/reload"
	case verb != "reload" && len(pos) == 1 && (pos[0] == "on" || pos[0] == "off"):
		method, target = "POST", "/"+verb+"?state="+pos[0]
	case verb != "reload" && len(pos) == 1 && pos[0] == "status":
		method, target = "GET", "/state"
	case verb == "reload":
		return bad("takes no arguments, got %q", pos[0])
	default:
		return bad("want on, off or status (usage: vitals agent %s on|off|status [--socket PATH])", verb)
	}
	body, err := agent.NewAdminClient(path).Do(ctx, method, target)
	if err != nil {
		if body == "" { // no answer at all: say where we looked
			err = fmt.Errorf("%w (is the agent running with admin socket %s?)", err, path)
		}
		fmt.Fprintf(stderr, "vitals agent %s: %v\n", verb, err)
		return exitFail
	}
	fmt.Fprintln(stdout, body)
	return exitOK
}
