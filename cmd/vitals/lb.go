package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"vitals/internal/lb"
)

const (
	lbUsage       = "usage: vitals lb --config lb.yaml [--check-config] [--log-format text|json] [--log-level debug|info|warn|error]"
	lbStatusUsage = "usage: vitals lb status [--socket PATH | --config lb.yaml | --admin HOST:PORT] [--json] [--healthmonitor NAME] [LOADBALANCER]"
	lbMemberUsage = "usage: vitals lb member enable|disable [--socket PATH | --config lb.yaml | --admin HOST:PORT --token-file F] POOL MEMBER"
	lbDescription = `vitals lb is a TCP load balancer with Octavia-style health monitors. Its
listeners proxy client connections to the members of their default pool
(ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP), and only to members the pool's
monitor finds healthy; with nothing usable a connection is closed at once
unless the pool has fail_open. It serves statuses on a local admin endpoint
(a unix socket, and optionally a loopback TCP address) with Octavia's status
tree, health monitors and Prometheus metrics.

SIGHUP reloads the configuration without dropping established sessions or
closing unchanged listeners. SIGTERM stops accepting, lets sessions finish for
up to shutdown_grace (default 30s), then closes the rest and exits.

vitals lb status asks a running vitals lb for its status tree, or with
--healthmonitor for one health monitor's fields.

vitals lb member disable POOL MEMBER sets a member's admin_state_up to false
in the running vitals lb (it turns OFFLINE, gets no new connections and is no
longer checked; established sessions stay); enable sets it back. POOL and
MEMBER are names or IDs (a member also by address:port). The change lasts
across reloads until set back or vitals lb restarts; to make it permanent,
edit the configuration file.`
)

// runLB runs `vitals lb`, or `vitals lb status`.
func runLB(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return runLBStatus(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "member" {
		return runLBMember(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("vitals lb", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		configPath  = fs.String("config", "", "YAML configuration file (required)")
		checkConfig = fs.Bool("check-config", false, "validate the configuration and exit (0 valid, 2 invalid)")
		logFormat   = fs.String("log-format", "text", "log format: text or json")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
	)
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals lb: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, lbUsage)
		fmt.Fprintln(stdout, "      "+strings.TrimPrefix(lbStatusUsage, "usage:"))
		fmt.Fprintln(stdout, "      "+strings.TrimPrefix(lbMemberUsage, "usage:"))
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, lbDescription)
		fmt.Fprintln(stdout)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	} else if err != nil {
		return bad("%v (%s)", err, lbUsage)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (%s)", fs.Arg(0), lbUsage)
	}
	if *configPath == "" {
		return bad("missing --config FILE (%s)", lbUsage)
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return bad("%v", err)
	}
	cfg, err := lb.LoadFile(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *checkConfig {
		l := cfg.LoadBalancer
		members, monitors := 0, 0
		for _, p := range l.Pools {
			members += len(p.Members)
			if p.Monitor != nil {
				monitors++
			}
		}
		fmt.Fprintf(stdout, "configuration ok: %d listeners, %d pools, %d members, %d health monitors; admin socket %s\n",
			len(l.Listeners), len(l.Pools), members, monitors, cfg.Admin.Socket)
		return exitOK
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	stopHUP := make(chan struct{})
	defer close(stopHUP)
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-stopHUP:
				return
			}
		}
	}()
	load := func() (*lb.Config, error) { return lb.LoadFile(*configPath) }
	if err := lb.RunWith(ctx, cfg, log, lb.RunOptions{Reload: reload, Load: load, Notify: systemdNotifier(log)}); err != nil {
		fmt.Fprintf(stderr, "vitals lb: %v\n", err)
		return exitFail
	}
	return exitOK
}

// runLBStatus runs `vitals lb status`.
func runLBStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vitals lb status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		socket     = fs.String("socket", "", "admin socket of the running vitals lb (default "+lb.DefaultAdminSocket+")")
		configPath = fs.String("config", "", "read the admin socket from this configuration file")
		adminAddr  = fs.String("admin", "", "admin endpoint's loopback TCP address, instead of the socket")
		asJSON     = fs.Bool("json", false, "print JSON: the status tree as `openstack loadbalancer status show` does")
		hmName     = fs.String("healthmonitor", "", "show this health monitor's fields (name or ID)")
	)
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals lb status: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, lbStatusUsage)
		fmt.Fprintln(stdout)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	} else if err != nil {
		return bad("%v (%s)", err, lbStatusUsage)
	}
	if fs.NArg() > 1 {
		return bad("unexpected argument %q (%s)", fs.Arg(1), lbStatusUsage)
	}
	c, where, code := adminClient(*socket, *configPath, *adminAddr, "", bad, stderr)
	if c == nil {
		return code
	}
	fail := func(err error) int {
		if errors.Is(err, lb.ErrNotFound) {
			return bad("%v", err)
		}
		fmt.Fprintf(stderr, "vitals lb status: cannot read the status from %s: %v (is vitals lb running?)\n", where, err)
		return exitFail
	}
	if *hmName != "" {
		if fs.NArg() > 0 {
			return bad("give a load balancer or --healthmonitor, not both")
		}
		hm, err := c.HealthMonitor(ctx, *hmName)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return printErr(stderr, writeIndentedJSON(stdout, map[string]any{"healthmonitor": hm}))
		}
		rows, err := lb.HealthMonitorRows(hm)
		if err != nil {
			return fail(err)
		}
		return printErr(stderr, lb.RenderTable(stdout, rows))
	}
	tree, err := c.Status(ctx, fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		return printErr(stderr, lb.RenderStatusJSON(stdout, tree))
	}
	return printErr(stderr, lb.RenderTree(stdout, tree))
}

func printErr(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "vitals lb status: %v\n", err)
		return exitFail
	}
	return exitOK
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

// adminClient returns a client for the admin endpoint named by at most one
// of socket, configPath and adminAddr (default: the default socket), and
// where it is for messages; nil and an exit code on bad flags.
func adminClient(socket, configPath, adminAddr, tokenFile string, bad func(string, ...any) int, stderr io.Writer) (*lb.Client, string, int) {
	set := 0
	for _, v := range []string{socket, configPath, adminAddr} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return nil, "", bad("give one of --socket, --config and --admin")
	}
	if tokenFile != "" && adminAddr == "" {
		return nil, "", bad("--token-file goes with --admin (the unix socket needs no token)")
	}
	path := socket
	switch {
	case configPath != "":
		cfg, err := lb.LoadFile(configPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return nil, "", exitUsage
		}
		path = cfg.Admin.Socket
	case path == "" && adminAddr == "":
		path = lb.DefaultAdminSocket
	}
	c := lb.NewClient(path, adminAddr)
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, "", bad("--token-file: %v", err)
		}
		c.Token = strings.TrimSpace(string(b))
	}
	where := path
	if where == "" {
		where = adminAddr
	}
	return c, where, exitOK
}

// runLBMember runs `vitals lb member enable|disable POOL MEMBER`.
func runLBMember(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals lb member: "+format+"\n", a...)
		return exitUsage
	}
	if len(args) == 0 || (args[0] != "enable" && args[0] != "disable" && args[0] != "-h" && args[0] != "--help") {
		return bad("want enable or disable (%s)", lbMemberUsage)
	}
	fs := flag.NewFlagSet("vitals lb member", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		socket     = fs.String("socket", "", "admin socket of the running vitals lb (default "+lb.DefaultAdminSocket+")")
		configPath = fs.String("config", "", "read the admin socket from this configuration file")
		adminAddr  = fs.String("admin", "", "admin endpoint's loopback TCP address, instead of the socket")
		tokenFile  = fs.String("token-file", "", "file holding the admin token, with --admin")
	)
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, lbMemberUsage)
		fmt.Fprintln(stdout)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	}
	up := args[0] == "enable"
	if err := fs.Parse(args[1:]); err != nil {
		return bad("%v (%s)", err, lbMemberUsage)
	}
	if fs.NArg() != 2 {
		return bad("want POOL and MEMBER (%s)", lbMemberUsage)
	}
	c, where, code := adminClient(*socket, *configPath, *adminAddr, *tokenFile, bad, stderr)
	if c == nil {
		return code
	}
	m, err := c.SetMemberAdminStateUp(ctx, fs.Arg(0), fs.Arg(1), up)
	if errors.Is(err, lb.ErrNotFound) {
		return bad("%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vitals lb member: %s: %v\n", where, err)
		return exitFail
	}
	name := m.Name
	if name == "" {
		name = net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
	}
	fmt.Fprintf(stdout, "member %s of pool %s: admin_state_up %t, operating_status %s\n", name, fs.Arg(0), m.AdminStateUp, m.OperatingStatus)
	return exitOK
}
