package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"vitals/internal/lb"
	"vitals/internal/monitor"
)

// The endpoint flags every lb client command takes.
const lbEndpoint = "[--socket PATH | --config lb.yaml | --admin HOST:PORT [--token-file F]]"

const (
	lbUsage       = "usage: vitals lb --config lb.yaml [--check-config] [--log-format text|json] [--log-level debug|info|warn|error]"
	lbDBUsage     = "       vitals lb --db PATH|postgres://URL [--db-password-file F] [--node NAME] [--config settings.yaml] [--check-config] [--log-format text|json] [--log-level debug|info|warn|error]"
	lbDescription = `vitals lb is a TCP load balancer with Octavia-style health monitors. Its
listeners proxy client connections to the members of their default pool
(ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP), and only to members the pool's
monitor finds healthy; with nothing usable a connection is closed at once
unless the pool has fail_open. It serves statuses on a local admin endpoint
(a unix socket, and optionally a loopback TCP address) with Octavia's status
tree, health monitors and Prometheus metrics.

With --db PATH it runs from a store (a SQLite file, created when missing)
instead of a file: the Octavia v2 API on the admin endpoint (/v2, /v2.0)
creates, changes and deletes load balancers, listeners, pools, members and
health monitors, and the store keeps them across restarts ('vitals lb import'
loads a file into it). --config then names an optional settings file with
only admin, api_settings, monitor and shutdown_grace. With --config alone
the file is the source of truth and the API is read-only. With --db
postgres://URL several nodes (--node NAME) share one store, and keepalived
moves a VIP between them (vrrp-check, vrrp-state; README "Running several
nodes"); the password comes from --db-password-file or PGPASSWORD. vitals lb
nodes lists the nodes, and nodes forget NAME removes one that is gone for good.

SIGHUP reloads the configuration (so does vitals lb reload) without dropping
established sessions or closing unchanged listeners. SIGTERM stops accepting,
lets sessions finish for up to shutdown_grace (default 30s), then closes the
rest and exits.

The commands below talk to a running vitals lb over its admin endpoint: the
unix socket (default ` + lb.DefaultAdminSocket + `, or the one --config names), or
--admin HOST:PORT, where changes need --token-file. Run 'vitals lb COMMAND -h'
for each one's flags. -f/--format table|json|yaml|value chooses the output of
status, member list and stats: table for people, json and yaml for programs,
value for shell loops (bare values, one row per line), as the openstack client.`
)

// lbCommands are the subcommands of vitals lb, in the order help shows
// them.
func lbCommands() []command {
	return []command{
		{name: "status", summary: "show the status tree, as openstack loadbalancer status show", run: runLBStatus, flags: lbStatusFlags},
		{name: "stats", summary: "show connection and byte counters, as openstack loadbalancer stats show", run: runLBStats, flags: lbStatsFlags},
		{name: "member", summary: "list pool members, set their weight, take them out and back", run: runLBMember, subs: lbMemberCommands()},
		{name: "reload", summary: "make the running vitals lb re-read its configuration, as SIGHUP does", run: runLBReload, flags: lbReloadFlags},
		{name: "import", summary: "load a YAML file into the store of vitals lb --db", run: runLBImport, flags: lbImportFlags},
		{name: "nodes", summary: "list the nodes sharing a postgres:// store; forget a gone one", run: runLBNodes, flags: lbNodesFlags, subs: lbNodesCommands()},
		{name: "vrrp-check", summary: "exit 0 while the running vitals lb serves (keepalived's track_script)", run: runLBVRRPCheck, flags: lbVRRPCheckFlags},
		{name: "vrrp-state", summary: "tell the running vitals lb its VRRP state (keepalived's notify)", run: runLBVRRPState, flags: lbVRRPStateFlags},
	}
}

func lbMemberCommands() []command {
	return []command{
		{name: "list", summary: "list a pool's members, as openstack loadbalancer member list", run: runLBMemberList, flags: lbMemberListFlags},
		{name: "set", summary: "set a member's weight until the next reload", run: runLBMemberSet, flags: lbMemberSetFlags},
		{name: "enable", summary: "set a member's admin_state_up to true", run: runLBMemberUp(true), flags: lbMemberUpFlags},
		{name: "disable", summary: "set a member's admin_state_up to false: no new connections, not checked", run: runLBMemberUp(false), flags: lbMemberUpFlags},
	}
}

type lbRunOpts struct {
	config, db, logFormat, logLevel *string
	checkConfig                     *bool
	node                            *nodeFlags
}

func lbRunFlagSet() (*flag.FlagSet, *lbRunOpts) {
	fs := newFlagSet("vitals lb")
	return fs, &lbRunOpts{
		config:      fs.String("config", "", "YAML configuration `file` (required without --db; with --db, the settings file)"),
		db:          fs.String("db", "", "run from this store (a SQLite `file`, or a postgres:// URL that several nodes share), managed through the Octavia API"),
		checkConfig: fs.Bool("check-config", false, "validate the configuration and exit (0 valid, 2 invalid)"),
		logFormat:   fs.String("log-format", "text", "log `format`: text or json"),
		logLevel:    fs.String("log-level", "info", "log `level`: debug, info, warn or error"),
		node:        defineNodeFlags(fs),
	}
}

func lbRunFlags() *flag.FlagSet { fs, _ := lbRunFlagSet(); return fs }

// runLB runs `vitals lb`, or one of its subcommands.
func runLB(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, c := range lbCommands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	fs, o := lbRunFlagSet()
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vitals lb: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, lbUsage)
		fmt.Fprintln(stdout, lbDBUsage)
		fmt.Fprintln(stdout, "       vitals lb COMMAND [flags] [arguments]")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, lbDescription)
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "commands:")
		for _, c := range lbCommands() {
			fmt.Fprintf(stdout, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "flags:")
		printFlags(stdout, fs)
		return exitOK
	} else if err != nil {
		return bad("%v (%s)", err, lbUsage)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q (%s)", fs.Arg(0), lbUsage)
	}
	if *o.config == "" && *o.db == "" {
		return bad("missing --config FILE (%s)", lbUsage)
	}
	log, err := newLogger(stderr, *o.logFormat, *o.logLevel)
	if err != nil {
		return bad("%v", err)
	}
	if *o.db != "" {
		return runLBFromStore(ctx, o, log, stdout, stderr)
	}
	cfg, err := lb.LoadFile(*o.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *o.checkConfig {
		lbs, listeners, pools, members, monitors := cfg.Counts()
		fmt.Fprintf(stdout, "configuration ok: %s%d listeners, %d pools, %d members, %d health monitors; admin socket %s\n",
			loadBalancersCount(lbs), listeners, pools, members, monitors, cfg.Admin.Socket)
		return exitOK
	}
	reload, stopHUP := hupChannel()
	defer stopHUP()
	configPath := *o.config
	load := func() (*lb.Config, error) { return lb.LoadFile(configPath) }
	mirror, err := newFileMirror(ctx, log)
	if err != nil {
		fmt.Fprintf(stderr, "vitals lb: %v\n", err)
		return exitFail
	}
	defer mirror.s.Close()
	// The mirror works beside the lb, which applies each configuration
	// without waiting for it; it ends before the store closes.
	mirrorCtx, stopMirror := context.WithCancel(ctx)
	var mirrorWG sync.WaitGroup
	mirrorWG.Go(func() { mirror.run(mirrorCtx) })
	defer mirrorWG.Wait()
	defer stopMirror()
	ro := lb.RunOptions{Reload: reload, Load: load, Notify: systemdNotifier(log),
		Applied: mirror.applied,
		Attach: func(p *lb.Plane) (http.Handler, error) {
			h, err := mountAPI(p.Admin, apiOptions(mirror.s, cfg, p, log, nil, readOnlyFault), false, mirror.gate)
			if err != nil {
				return nil, err
			}
			// The node routes say that a file-mode lb has no nodes,
			// rather than 404 as if the command were unknown.
			mux := http.NewServeMux()
			nodeRoutes(mux, nil, cfg.Admin.Token())
			mux.Handle("/", h)
			return mux, nil
		},
	}
	if err := lb.RunWith(ctx, cfg, log, ro); err != nil {
		fmt.Fprintf(stderr, "vitals lb: %v\n", err)
		return exitFail
	}
	return exitOK
}

// hupChannel delivers SIGHUP on the returned channel (coalesced) until
// stop is called.
func hupChannel() (<-chan struct{}, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	stopHUP := make(chan struct{})
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
	return reload, func() { signal.Stop(hup); close(stopHUP) }
}

// runLBFromStore runs `vitals lb --db PATH [--config settings.yaml]`.
func runLBFromStore(ctx context.Context, o *lbRunOpts, log *slog.Logger, stdout, stderr io.Writer) int {
	settings, err := lb.LoadSettingsFile(*o.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *o.checkConfig {
		fmt.Fprintf(stdout, "settings ok; the load balancers are in the store %s; admin socket %s\n", o.store().name(), settings.Admin.Socket)
		return exitOK
	}
	reload, stopHUP := hupChannel()
	defer stopHUP()
	settingsPath := *o.config
	ro := lb.RunOptions{Notify: systemdNotifier(log)}
	if err := runLBDB(ctx, o.store(), settings, log, ro, reload, func() (*lb.Config, error) { return lb.LoadSettingsFile(settingsPath) }); err != nil {
		fmt.Fprintf(stderr, "vitals lb: %v\n", err)
		return exitFail
	}
	return exitOK
}

// endpointFlags are the flags that say where the running vitals lb's
// admin endpoint is.
type endpointFlags struct {
	socket, config, admin, tokenFile *string
}

func defineEndpointFlags(fs *flag.FlagSet) *endpointFlags {
	return &endpointFlags{
		socket:    fs.String("socket", "", "admin socket `path` of the running vitals lb (default "+lb.DefaultAdminSocket+")"),
		config:    fs.String("config", "", "read the admin socket from this configuration `file`"),
		admin:     fs.String("admin", "", "admin endpoint's loopback TCP `address`, instead of the socket"),
		tokenFile: fs.String("token-file", "", "`file` holding the admin token, with --admin (changes over TCP need it)"),
	}
}

// lbCmd is what every lb client command has: its name for messages, its
// usage line, and its endpoint.
type lbCmd struct {
	name, usage    string
	want           string // the arguments, for messages: "POOL and MEMBER"
	stdout, stderr io.Writer
}

func (c lbCmd) bad(format string, a ...any) int {
	fmt.Fprintf(c.stderr, c.name+": "+format+"\n", a...)
	return exitUsage
}

// parse parses args (flags may follow the arguments), prints the help on
// -h, and checks the number of arguments. It returns the arguments, or
// done with the exit code.
func (c lbCmd) parse(fs *flag.FlagSet, args []string, help string, minArgs, maxArgs int) (pos []string, code int, done bool) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(c.stdout, c.usage)
		fmt.Fprintln(c.stdout)
		if help != "" {
			fmt.Fprintln(c.stdout, help)
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintln(c.stdout, "flags:")
		printFlags(c.stdout, fs)
		return nil, exitOK, true
	case err != nil:
		return nil, c.bad("%v (%s)", err, c.usage), true
	case len(pos) < minArgs:
		return nil, c.bad("want %s (%s)", c.want, c.usage), true
	case len(pos) > maxArgs:
		return nil, c.bad("unexpected argument %q (%s)", pos[maxArgs], c.usage), true
	}
	return pos, exitOK, false
}

// client returns a client for the endpoint the flags name (default: the
// default socket), and where it is for messages; nil and an exit code on
// bad flags.
func (c lbCmd) client(e *endpointFlags) (*lb.Client, string, int) {
	set := 0
	for _, v := range []string{*e.socket, *e.config, *e.admin} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return nil, "", c.bad("give one of --socket, --config and --admin")
	}
	if *e.tokenFile != "" && *e.admin == "" {
		return nil, "", c.bad("--token-file goes with --admin (the unix socket needs no token)")
	}
	path := *e.socket
	switch {
	case *e.config != "":
		cfg, err := lb.LoadFile(*e.config)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			return nil, "", exitUsage
		}
		path = cfg.Admin.Socket
	case path == "" && *e.admin == "":
		path = lb.DefaultAdminSocket
	}
	cl := lb.NewClient(path, *e.admin)
	if *e.tokenFile != "" {
		b, err := os.ReadFile(*e.tokenFile)
		if err != nil {
			return nil, "", c.bad("--token-file: %v", err)
		}
		cl.Token = strings.TrimSpace(string(b))
	}
	where := path
	if where == "" {
		where = *e.admin
	}
	return cl, where, exitOK
}

// fail reports an error from the endpoint: an unknown object is bad
// input (exit 2), anything else a failure (exit 1).
func (c lbCmd) fail(where string, err error) int {
	if errors.Is(err, lb.ErrNotFound) {
		return c.bad("%v", err)
	}
	fmt.Fprintf(c.stderr, "%s: %s: %v\n", c.name, where, err)
	return exitFail
}

// done ends a command with the error of writing its output, if any.
func (c lbCmd) done(err error) int {
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
		return exitFail
	}
	return exitOK
}

type lbStatusOpts struct {
	ep     *endpointFlags
	format *outputFormat
	json   *bool
	hm     *string
}

func lbStatusFlagSet() (*flag.FlagSet, *lbStatusOpts) {
	fs := newFlagSet("vitals lb status")
	return fs, &lbStatusOpts{
		ep:     defineEndpointFlags(fs),
		format: formatFlag(fs),
		json:   fs.Bool("json", false, "short for --format json: the status tree as `openstack loadbalancer status show` prints it"),
		hm:     fs.String("healthmonitor", "", "show this health monitor's fields (`name` or ID) instead"),
	}
}

func lbStatusFlags() *flag.FlagSet { fs, _ := lbStatusFlagSet(); return fs }

const lbStatusHelp = `Prints the status tree of the running load balancer: table (the default) as
an indented tree, json as openstack loadbalancer status show -f json, yaml the
same as YAML, value one object per line: kind, ID, name, operating status,
provisioning status. With --healthmonitor, one health monitor's fields as
openstack loadbalancer healthmonitor show (value: one value per line).`

// runLBStatus runs `vitals lb status`.
func runLBStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb status", usage: "usage: vitals lb status " + lbEndpoint + " [-f table|json|yaml|value] [--healthmonitor NAME] [LOADBALANCER]", stdout: stdout, stderr: stderr}
	fs, o := lbStatusFlagSet()
	pos, code, done := c.parse(fs, args, lbStatusHelp, 0, 1)
	if done {
		return code
	}
	if *o.json {
		*o.format = "json"
	}
	cl, where, code := c.client(o.ep)
	if cl == nil {
		return code
	}
	if *o.hm != "" {
		if len(pos) > 0 {
			return c.bad("give a load balancer or --healthmonitor, not both")
		}
		hm, err := cl.HealthMonitor(ctx, *o.hm)
		if err != nil {
			return c.fail(where, err)
		}
		rows, err := lb.HealthMonitorRows(hm)
		if err != nil {
			return c.fail(where, err)
		}
		switch *o.format {
		case "json":
			return c.done(writeJSON(stdout, map[string]any{"healthmonitor": hm}))
		case "yaml":
			return c.done(writeYAML(stdout, map[string]any{"healthmonitor": hm}))
		case "value":
			return c.done(writeValues(stdout, fieldValues(rows)))
		}
		return c.done(lb.RenderTable(stdout, rows))
	}
	// With a load balancer, its tree; without, every load balancer's, one
	// after the other (json and yaml: a list when there are several).
	var trees []monitor.StatusTree
	if len(pos) > 0 {
		tree, err := cl.Status(ctx, pos[0])
		if err != nil {
			return c.fail(where, fmt.Errorf("cannot read the status: %w (is vitals lb running?)", err))
		}
		trees = append(trees, tree)
	} else {
		all, err := cl.Statuses(ctx)
		if err != nil {
			return c.fail(where, fmt.Errorf("cannot read the status: %w (is vitals lb running?)", err))
		}
		trees = all
	}
	statuses := make([]monitor.Statuses, len(trees))
	for i, t := range trees {
		statuses[i] = t.Statuses
	}
	switch *o.format {
	case "json":
		if len(trees) > 1 {
			return c.done(writeJSON(stdout, statuses))
		}
		return c.done(lb.RenderStatusJSON(stdout, trees[0]))
	case "yaml":
		if len(trees) > 1 {
			return c.done(writeYAML(stdout, statuses))
		}
		return c.done(writeYAML(stdout, statuses[0]))
	case "value":
		var rows [][]string
		for _, t := range trees {
			rows = append(rows, statusValueRows(t)...)
		}
		return c.done(writeValues(stdout, rows))
	}
	for i, t := range trees {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := lb.RenderTree(stdout, t); err != nil {
			return c.done(err)
		}
	}
	return exitOK
}

// statusValueRows flattens the status tree into one row per object, in
// the tree's order: kind, ID, name (quoted when empty or with spaces),
// operating status, provisioning status.
func statusValueRows(t monitor.StatusTree) [][]string {
	name := func(s string) string {
		if s == "" || strings.ContainsAny(s, " \t\"") {
			return strconv.Quote(s)
		}
		return s
	}
	var rows [][]string
	l := t.Statuses.LoadBalancer
	rows = append(rows, []string{"loadbalancer", l.ID, name(l.Name), l.OperatingStatus.String(), l.ProvisioningStatus})
	pool := func(p monitor.PoolStatus) {
		rows = append(rows, []string{"pool", p.ID, name(p.Name), p.OperatingStatus.String(), p.ProvisioningStatus})
		if hm := p.HealthMonitor; hm.ID != "" {
			rows = append(rows, []string{"healthmonitor", hm.ID, name(hm.Name), hm.OperatingStatus, hm.ProvisioningStatus})
		}
		for _, m := range p.Members {
			rows = append(rows, []string{"member", m.ID, name(m.Name), m.OperatingStatus.String(), m.ProvisioningStatus})
		}
	}
	used := map[string]bool{}
	for _, ls := range l.Listeners {
		rows = append(rows, []string{"listener", ls.ID, name(ls.Name), ls.OperatingStatus.String(), ls.ProvisioningStatus})
		for _, p := range ls.Pools {
			used[p.ID] = true
			pool(p)
		}
	}
	for _, p := range l.Pools {
		if !used[p.ID] {
			pool(p)
		}
	}
	return rows
}

type lbStatsOpts struct {
	ep       *endpointFlags
	format   *outputFormat
	listener *string
}

func lbStatsFlagSet() (*flag.FlagSet, *lbStatsOpts) {
	fs := newFlagSet("vitals lb stats")
	return fs, &lbStatsOpts{
		ep:       defineEndpointFlags(fs),
		format:   formatFlag(fs),
		listener: fs.String("listener", "", "show this listener's stats (`name` or ID), as openstack loadbalancer listener stats show"),
	}
}

func lbStatsFlags() *flag.FlagSet { fs, _ := lbStatsFlagSet(); return fs }

const lbStatsHelp = `Prints the load balancer's counters (or one listener's with --listener) as
openstack loadbalancer stats show: active_connections, bytes_in (client to
member), bytes_out (member to client), request_errors (client connections
closed at once: connection limit, descriptor budget, no usable member) and
total_connections. Bytes are counted when a copy returns: at the end of a
session, or at each idle-timeout window. Counters start at 0 when vitals lb
starts; a reload keeps them.`

// runLBStats runs `vitals lb stats`.
func runLBStats(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb stats", usage: "usage: vitals lb stats " + lbEndpoint + " [-f table|json|yaml|value] [--listener NAME] [LOADBALANCER]", stdout: stdout, stderr: stderr}
	fs, o := lbStatsFlagSet()
	pos, code, done := c.parse(fs, args, lbStatsHelp, 0, 1)
	if done {
		return code
	}
	if len(pos) > 0 && *o.listener != "" {
		return c.bad("give a load balancer or --listener, not both")
	}
	cl, where, code := c.client(o.ep)
	if cl == nil {
		return code
	}
	var ref string
	if len(pos) > 0 {
		ref = pos[0]
	}
	s, err := cl.Stats(ctx, ref, *o.listener)
	if err != nil {
		return c.fail(where, err)
	}
	switch *o.format {
	case "json":
		return c.done(writeJSON(stdout, s))
	case "yaml":
		return c.done(writeYAML(stdout, s))
	case "value":
		return c.done(writeValues(stdout, fieldValues(s.Rows())))
	}
	return c.done(lb.RenderTable(stdout, s.Rows()))
}

func lbReloadFlags() *flag.FlagSet {
	fs := newFlagSet("vitals lb reload")
	defineEndpointFlags(fs)
	return fs
}

// runLBReload runs `vitals lb reload`.
func runLBReload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb reload", usage: "usage: vitals lb reload " + lbEndpoint, stdout: stdout, stderr: stderr}
	fs := newFlagSet("vitals lb reload")
	ep := defineEndpointFlags(fs)
	const help = `Makes the running vitals lb re-read its configuration file, as SIGHUP does,
and waits for the answer: exit 0 when the new configuration runs, 1 with the
reason when it was rejected (the running configuration stays). Member weights
set with vitals lb member set go back to the file's.`
	if _, code, done := c.parse(fs, args, help, 0, 0); done {
		return code
	}
	cl, where, code := c.client(ep)
	if cl == nil {
		return code
	}
	if err := cl.Reload(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", c.name, where, err)
		return exitFail
	}
	fmt.Fprintln(stdout, "reloaded")
	return exitOK
}

const lbMemberUsage = "usage: vitals lb member list|set|enable|disable [flags] POOL [MEMBER]"

// runLBMember runs `vitals lb member list|set|enable|disable`.
func runLBMember(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, c := range lbMemberCommands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, lbMemberUsage)
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "commands:")
		for _, c := range lbMemberCommands() {
			fmt.Fprintf(stdout, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "run 'vitals lb member COMMAND -h' for a command's flags")
		return exitOK
	}
	fmt.Fprintf(stderr, "vitals lb member: want list, set, enable or disable (%s)\n", lbMemberUsage)
	return exitUsage
}

type lbMemberListOpts struct {
	ep     *endpointFlags
	format *outputFormat
}

func lbMemberListFlagSet() (*flag.FlagSet, *lbMemberListOpts) {
	fs := newFlagSet("vitals lb member list")
	return fs, &lbMemberListOpts{ep: defineEndpointFlags(fs), format: formatFlag(fs)}
}

func lbMemberListFlags() *flag.FlagSet { fs, _ := lbMemberListFlagSet(); return fs }

// memberColumns are the columns of `vitals lb member list`, the JSON names
// of lb.MemberView's fields.
var memberColumns = []string{"id", "name", "address", "protocol_port", "weight", "backup", "admin_state_up", "operating_status", "provisioning_status"}

func memberRow(m lb.MemberView) []string {
	return []string{m.ID, m.Name, m.Address, strconv.Itoa(m.ProtocolPort), strconv.Itoa(m.Weight), pyBool(m.Backup), pyBool(m.AdminStateUp), m.OperatingStatus, m.ProvisioningStatus}
}

// pyBool writes a boolean as the openstack client does.
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// runLBMemberList runs `vitals lb member list POOL`.
func runLBMemberList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb member list", usage: "usage: vitals lb member list " + lbEndpoint + " [-f table|json|yaml|value] POOL", want: "POOL", stdout: stdout, stderr: stderr}
	fs, o := lbMemberListFlagSet()
	const help = `Lists the members of POOL (a name or ID) as they run, with run-time changes
(vitals lb member set, enable, disable) applied: table (the default), json and
yaml (a list of Octavia member objects), or value (one member per line, the table's columns:
` + "id name address protocol_port weight backup admin_state_up operating_status\nprovisioning_status; an empty name is \"\")."
	pos, code, done := c.parse(fs, args, help, 1, 1)
	if done {
		return code
	}
	cl, where, code := c.client(o.ep)
	if cl == nil {
		return code
	}
	members, err := cl.Members(ctx, pos[0])
	if err != nil {
		return c.fail(where, err)
	}
	switch *o.format {
	case "json":
		return c.done(writeJSON(stdout, members))
	case "yaml":
		return c.done(writeYAML(stdout, members))
	}
	rows := make([][]string, len(members))
	for i, m := range members {
		rows[i] = memberRow(m)
	}
	if *o.format == "value" {
		for _, r := range rows {
			if r[1] == "" {
				r[1] = `""`
			}
		}
		return c.done(writeValues(stdout, rows))
	}
	return c.done(writeListTable(stdout, memberColumns, rows))
}

type lbMemberSetOpts struct {
	ep     *endpointFlags
	weight *int
}

func lbMemberSetFlagSet() (*flag.FlagSet, *lbMemberSetOpts) {
	fs := newFlagSet("vitals lb member set")
	return fs, &lbMemberSetOpts{ep: defineEndpointFlags(fs), weight: fs.Int("weight", 0, "the member's new weight, 0 to 256 (0 drains it: no new connections; required)")}
}

func lbMemberSetFlags() *flag.FlagSet { fs, _ := lbMemberSetFlagSet(); return fs }

// runLBMemberSet runs `vitals lb member set --weight N POOL MEMBER`.
func runLBMemberSet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb member set", usage: "usage: vitals lb member set --weight N " + lbEndpoint + " POOL MEMBER", want: "POOL and MEMBER", stdout: stdout, stderr: stderr}
	fs, o := lbMemberSetFlagSet()
	const help = `Sets the weight of MEMBER (a name, ID or address:port) in POOL (a name or ID)
in the running vitals lb, at once: new connections follow the new weight,
established sessions stay. The change lasts until the next reload (SIGHUP or
vitals lb reload), which sets the weight back to the configuration file's; to
keep it, write it into the file too.`
	pos, code, done := c.parse(fs, args, help, 2, 2)
	if done {
		return code
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "weight" })
	switch {
	case !set:
		return c.bad("missing --weight N (%s)", c.usage)
	case *o.weight < 0 || *o.weight > 256:
		return c.bad("--weight must be from 0 to 256, got %d", *o.weight)
	}
	cl, where, code := c.client(o.ep)
	if cl == nil {
		return code
	}
	m, err := cl.SetMemberWeight(ctx, pos[0], pos[1], *o.weight)
	if err != nil {
		return c.fail(where, err)
	}
	fmt.Fprintf(stdout, "member %s of pool %s: weight %d, operating_status %s (until the next reload)\n", memberLabel(m), pos[0], m.Weight, m.OperatingStatus)
	return exitOK
}

func lbMemberUpFlags() *flag.FlagSet {
	fs := newFlagSet("vitals lb member")
	defineEndpointFlags(fs)
	return fs
}

// runLBMemberUp returns the runner of `vitals lb member enable|disable
// POOL MEMBER`.
func runLBMemberUp(up bool) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	verb := "disable"
	if up {
		verb = "enable"
	}
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		c := lbCmd{name: "vitals lb member " + verb, usage: "usage: vitals lb member " + verb + " " + lbEndpoint + " POOL MEMBER", want: "POOL and MEMBER", stdout: stdout, stderr: stderr}
		fs := newFlagSet("vitals lb member " + verb)
		ep := defineEndpointFlags(fs)
		const help = `disable sets the admin_state_up of MEMBER (a name, ID or address:port) in POOL
(a name or ID) to false in the running vitals lb: it turns OFFLINE, gets no new
connections and is no longer checked; established sessions stay. enable sets
it back. The change lasts across reloads until set back or vitals lb
restarts; to make it permanent, edit the configuration file.`
		pos, code, done := c.parse(fs, args, help, 2, 2)
		if done {
			return code
		}
		cl, where, code := c.client(ep)
		if cl == nil {
			return code
		}
		m, err := cl.SetMemberAdminStateUp(ctx, pos[0], pos[1], up)
		if err != nil {
			return c.fail(where, err)
		}
		fmt.Fprintf(stdout, "member %s of pool %s: admin_state_up %t, operating_status %s\n", memberLabel(m), pos[0], m.AdminStateUp, m.OperatingStatus)
		return exitOK
	}
}

func memberLabel(m lb.MemberView) string {
	if m.Name != "" {
		return m.Name
	}
	return net.JoinHostPort(m.Address, strconv.Itoa(m.ProtocolPort))
}

// loadBalancersCount starts --check-config's counts: nothing for the one
// load balancer of most files, "N load balancers, " for more.
func loadBalancersCount(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("%d load balancers, ", n)
}
