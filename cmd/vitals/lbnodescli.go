package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"vitals/internal/lb"
)

// `vitals lb nodes` and `vitals lb nodes forget NAME`: the operator's view
// of the nodes sharing a postgres:// store (GET /nodes and DELETE
// /nodes/{name} on the admin endpoint, lbnodesapi.go).

func lbNodesCommands() []command {
	return []command{
		{name: "forget", summary: "remove a gone node (and its statuses) from the shared store", run: runLBNodesForget, flags: lbNodesForgetFlags},
	}
}

type lbNodesOpts struct {
	ep     *endpointFlags
	format *outputFormat
}

func lbNodesFlagSet() (*flag.FlagSet, *lbNodesOpts) {
	fs := newFlagSet("vitals lb nodes")
	return fs, &lbNodesOpts{ep: defineEndpointFlags(fs), format: formatFlag(fs)}
}

func lbNodesFlags() *flag.FlagSet { fs, _ := lbNodesFlagSet(); return fs }

// nodeColumns are the columns of `vitals lb nodes`, the JSON names of
// lb.NodeSummary's fields.
var nodeColumns = []string{"name", "alive", "active", "self", "last_seen", "applied_revision", "failed_revision", "apply_error", "vrrp_role", "serving"}

const lbNodesHelp = `Lists the vitals lb nodes that share the postgres:// store, as the running
vitals lb reads them from the store now: alive (reported within its
--node-timeout), active (the live MASTER whose view the status tree shows),
self (the node that answered), last_seen, the revision it runs, the revision
it last failed to apply with the error, its VRRP role and whether it serves.
A node that is gone stays listed, not alive, until 'vitals lb nodes forget
NAME' removes it. table (the default), json and yaml (a list of node
objects), or value (one node per line, the table's columns; an empty value
is ""). A vitals lb without a shared store has no nodes and says so (exit 1).

commands:
  forget   remove a gone node (and its statuses) from the shared store`

// runLBNodes runs `vitals lb nodes`, or `vitals lb nodes forget`.
func runLBNodes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, c := range lbNodesCommands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	c := lbCmd{name: "vitals lb nodes", usage: "usage: vitals lb nodes [forget NAME] " + lbEndpoint + " [-f table|json|yaml|value]", stdout: stdout, stderr: stderr}
	fs, o := lbNodesFlagSet()
	if _, code, done := c.parse(fs, args, lbNodesHelp, 0, 0); done {
		return code
	}
	cl, where, code := c.client(o.ep)
	if cl == nil {
		return code
	}
	list, err := cl.Nodes(ctx)
	if err != nil {
		return c.fail(where, err)
	}
	switch *o.format {
	case "json":
		return c.done(writeJSON(stdout, list.Nodes))
	case "yaml":
		return c.done(writeYAML(stdout, list.Nodes))
	}
	now := time.Now()
	rows := make([][]string, len(list.Nodes))
	for i, n := range list.Nodes {
		rows[i] = nodeRow(n, now, *o.format == "table")
	}
	if *o.format == "value" {
		return c.done(writeValues(stdout, rows))
	}
	return c.done(writeListTable(stdout, nodeColumns, rows))
}

// nodeRow is a node's row; forPeople adds how long ago it was seen, else
// (-f value) empty values are "" and values with spaces are quoted.
func nodeRow(n lb.NodeSummary, now time.Time, forPeople bool) []string {
	seen := n.LastSeen.UTC().Format(time.RFC3339)
	failed := ""
	if n.FailedRevision != 0 {
		failed = strconv.FormatInt(n.FailedRevision, 10)
	}
	applyErr, role := n.ApplyError, n.VRRPRole
	if forPeople {
		seen += " (" + now.Sub(n.LastSeen).Round(time.Second).String() + " ago)"
	} else {
		// One node per line, one field per word, as statusValueRows
		// writes names: quoted when empty or holding spaces.
		for _, v := range []*string{&failed, &applyErr, &role} {
			if *v == "" || strings.ContainsAny(*v, " \t\n\"") {
				*v = strconv.Quote(*v)
			}
		}
	}
	return []string{n.Name, pyBool(n.Alive), pyBool(n.Active), pyBool(n.Self), seen, strconv.FormatInt(n.AppliedRevision, 10), failed, applyErr, role, pyBool(n.Serving)}
}

func lbNodesForgetFlags() *flag.FlagSet {
	fs := newFlagSet("vitals lb nodes forget")
	defineEndpointFlags(fs)
	return fs
}

// runLBNodesForget runs `vitals lb nodes forget NAME`.
func runLBNodesForget(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb nodes forget", usage: "usage: vitals lb nodes forget " + lbEndpoint + " NAME", want: "the NAME of a node", stdout: stdout, stderr: stderr}
	fs := newFlagSet("vitals lb nodes forget")
	ep := defineEndpointFlags(fs)
	const help = `Removes the node NAME, and the statuses it reported, from the shared store
(DELETE /nodes/NAME), so that vitals lb nodes and the per-node status view
(?per_node=true) no longer show it: for a node stopped for good, renamed, or
whose host was replaced. It refuses a node that is alive (stop its vitals lb
first, or wait until it has been silent for --node-timeout), the node that
answers (ask another one), and a name the store does not have (exit 2). A
node that starts again later reports itself and is listed again.`
	pos, code, done := c.parse(fs, args, help, 1, 1)
	if done {
		return code
	}
	if pos[0] == "" {
		return c.bad("want %s, not an empty one (%s)", c.want, c.usage)
	}
	cl, where, code := c.client(ep)
	if cl == nil {
		return code
	}
	n, err := cl.ForgetNode(ctx, pos[0])
	if err != nil {
		return c.fail(where, err)
	}
	fmt.Fprintf(stdout, "forgot node %s (last seen %s, %s ago; it ran revision %d)\n", n.Name, n.LastSeen.UTC().Format(time.RFC3339), time.Since(n.LastSeen).Round(time.Second), n.AppliedRevision)
	return exitOK
}
