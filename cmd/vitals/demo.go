package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"vitals/internal/demo"
)

const demoUsage = "usage: vitals demo [--postgres] [--interactive] [--admin 127.0.0.1:PORT] [--hang-for D] [--kill-for D] [--speed F]"

type demoOpts struct {
	postgres, interactive *bool
	admin                 *string
	hangFor, killFor      *time.Duration
	speed                 *float64
}

func demoFlagSet() (*flag.FlagSet, *demoOpts) {
	fs := newFlagSet("vitals demo")
	return fs, &demoOpts{
		postgres:    fs.Bool("postgres", false, "use private PostgreSQL servers (needs the postgresql package) instead of simulated backends"),
		interactive: fs.Bool("interactive", false, "keep the scene running with the status page, without the script"),
		admin:       fs.String("admin", "127.0.0.1:0", "loopback `address` of the status page"),
		hangFor:     fs.Duration("hang-for", 15*time.Second, "how long backend b2 hangs"),
		killFor:     fs.Duration("kill-for", 8*time.Second, "how long backend b3 stays killed"),
		speed:       fs.Float64("speed", 1, "divide the script's pauses (warm-up, settle, hang, kill) by this"),
	}
}

func demoFlags() *flag.FlagSet { fs, _ := demoFlagSet(); return fs }

// runDemo runs `vitals demo`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := demoFlagSet()
	postgres, interactive, admin, hangFor, killFor, speed := f.postgres, f.interactive, f.admin, f.hangFor, f.killFor, f.speed
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, demoUsage)
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "vitals demo starts, on loopback and in one process, three backends, an agent")
		fmt.Fprintln(stdout, "with a deep check per backend, and a vitals lb with two pools over the same")
		fmt.Fprintln(stdout, "backends: one monitored by plain TCP, one by HTTP checks against the agents.")
		fmt.Fprintln(stdout, "It hangs backend b2, kills backend b3, prints each transition, and sums up")
		fmt.Fprintln(stdout, "what real client sessions through both pools saw.")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "flags:")
		printFlags(stdout, fs)
		return exitOK
	} else if err != nil {
		fmt.Fprintf(stderr, "vitals demo: %v (%s)\n", err, demoUsage)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vitals demo: unexpected argument %q (%s)\n", fs.Arg(0), demoUsage)
		return exitUsage
	}
	if err := checkDemoAdmin(*admin); err != nil {
		fmt.Fprintf(stderr, "vitals demo: --admin %q %v\n", *admin, err)
		return exitUsage
	}
	if *speed <= 0 {
		fmt.Fprintf(stderr, "vitals demo: --speed must be above 0\n")
		return exitUsage
	}
	if *postgres {
		if _, err := demo.PostgresBinDir(); err != nil {
			fmt.Fprintf(stderr, "vitals demo: --postgres: %v\n", err)
			return exitFail
		}
	}
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) / *speed) }
	o := demo.Options{
		Out: stdout, Interactive: *interactive, Postgres: *postgres, AdminAddr: *admin,
		Warmup: scale(4 * time.Second), Settle: scale(3 * time.Second),
		HangFor: scale(*hangFor), KillFor: scale(*killFor),
	}
	if _, err := demo.Run(ctx, o); err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		fmt.Fprintf(stderr, "vitals demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// checkDemoAdmin checks --admin before anything starts, so that a typo is a
// usage error (exit 2), not a failed demo: a loopback host:port, port 0
// picking a free one.
func checkDemoAdmin(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port (e.g. --admin 127.0.0.1:9180)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("has no port from 0 to 65535 (e.g. --admin 127.0.0.1:9180)")
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
		return errors.New("is not a loopback address: the status page has admin buttons (use 127.0.0.1 or ::1)")
	}
	return nil
}
