package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The keepalived side of a node (deploy/keepalived): track_script runs
// vitals lb vrrp-check, notify runs vitals lb vrrp-state.

func lbVRRPCheckFlags() *flag.FlagSet {
	fs := newFlagSet("vitals lb vrrp-check")
	defineEndpointFlags(fs)
	return fs
}

// runLBVRRPCheck runs `vitals lb vrrp-check`: exit 0 while the node
// serves, 1 otherwise (keepalived's track_script).
func runLBVRRPCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb vrrp-check", usage: "usage: vitals lb vrrp-check " + lbEndpoint, stdout: stdout, stderr: stderr}
	fs := newFlagSet("vitals lb vrrp-check")
	ep := defineEndpointFlags(fs)
	const help = `Asks the running vitals lb whether it serves (GET /vrrp/check): exit 0 when
its listeners run a configuration from the store, 1 with the reason when not
or when it does not answer. keepalived's track_script runs it, so that the VIP
leaves a node whose vitals lb is down.`
	if _, code, done := c.parse(fs, args, help, 0, 0); done {
		return code
	}
	cl, where, code := c.client(ep)
	if cl == nil {
		return code
	}
	if err := cl.VRRPCheck(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", c.name, where, err)
		return exitFail
	}
	fmt.Fprintln(stdout, "serving")
	return exitOK
}

func lbVRRPStateFlags() *flag.FlagSet {
	fs := newFlagSet("vitals lb vrrp-state")
	defineEndpointFlags(fs)
	return fs
}

// runLBVRRPState runs `vitals lb vrrp-state STATE` (keepalived's notify).
func runLBVRRPState(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb vrrp-state", usage: "usage: vitals lb vrrp-state " + lbEndpoint + " MASTER|BACKUP|FAULT", want: "the VRRP state", stdout: stdout, stderr: stderr}
	fs := newFlagSet("vitals lb vrrp-state")
	ep := defineEndpointFlags(fs)
	const help = `Tells the running vitals lb its VRRP state (POST /vrrp/state), which it
records in the shared store: the status tree answers with the MASTER's view.
keepalived's notify script runs it with the state keepalived passes ($3).`
	pos, code, done := c.parse(fs, args, help, 1, 1)
	if done {
		return code
	}
	state := strings.ToUpper(pos[0])
	switch state {
	case "MASTER", "BACKUP", "FAULT":
	default:
		return c.bad("unknown state %q: want MASTER, BACKUP or FAULT", pos[0])
	}
	cl, where, code := c.client(ep)
	if cl == nil {
		return code
	}
	if err := cl.VRRPState(ctx, state); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", c.name, where, err)
		return exitFail
	}
	fmt.Fprintln(stdout, state)
	return exitOK
}
