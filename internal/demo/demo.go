// Package demo runs `vitals demo`: a small scene on loopback in one
// process (three simulated backends, an agent with a deep check per
// backend, and a vitals lb with a TCP-monitored pool and an
// agent-monitored pool over the same backends), a scripted timeline of
// failures, real client sessions through both pools, and a summary.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"vitals/internal/health"
	"vitals/internal/monitor"
)

// Options shape a demo run. Zero durations take the defaults.
type Options struct {
	Out io.Writer // transitions and the summary
	// Postgres uses private PostgreSQL servers instead of simulated
	// backends: a hang is SIGSTOP, a kill is a fast shutdown.
	Postgres bool
	// Interactive keeps the scene running, without the script, until ctx
	// ends.
	Interactive bool
	// AdminAddr is where the status page listens; "" picks a free port.
	AdminAddr string

	// The script: Warmup of normal traffic, then b2 hangs for HangFor,
	// recovers, Settle; b3 is killed for KillFor, restarted, Settle.
	Warmup, HangFor, KillFor, Settle time.Duration

	// Monitors (both pools) and agents.
	Delay, Timeout              time.Duration
	MaxRetries, MaxRetriesDown  int
	AgentInterval, AgentTimeout time.Duration

	// Clients per pool, their pause between sessions and their patience.
	Clients         int
	Pause, Patience time.Duration

	// OnEvent and OnMode, when set, are told of member transitions and of
	// backend mode switches (tests).
	OnEvent func(monitor.Event)
	OnMode  func(backend string, m Mode)
	// Ready, when set, receives the status page's address once the scene
	// runs.
	Ready func(admin string)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Warmup, 4*time.Second)
	def(&o.HangFor, 15*time.Second)
	def(&o.KillFor, 8*time.Second)
	def(&o.Settle, 3*time.Second)
	def(&o.Delay, time.Second)
	def(&o.Timeout, 500*time.Millisecond)
	if o.Postgres {
		// A login and a query, with a forked backend per connection.
		def(&o.AgentInterval, 500*time.Millisecond)
		def(&o.AgentTimeout, 400*time.Millisecond)
	}
	def(&o.AgentInterval, 250*time.Millisecond)
	def(&o.AgentTimeout, 200*time.Millisecond)
	def(&o.Pause, 100*time.Millisecond)
	// Patience is how long a client waits for an answer, like a driver's
	// query timeout. It is above the time the agent-monitored pool needs
	// to take a hung backend out (the agent's timeout, then the monitor's
	// delay × max_retries_down, about 1.5-2.5 s here), so that sessions
	// caught in that window are cut by the load balancer and reconnected
	// rather than timed out.
	def(&o.Patience, 5*time.Second)
	if o.MaxRetries == 0 {
		o.MaxRetries = 2
	}
	if o.MaxRetriesDown == 0 {
		o.MaxRetriesDown = 2
	}
	if o.Clients == 0 {
		o.Clients = 2
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Summary is what a scripted run measured.
type Summary struct {
	HangFor time.Duration
	// TCPHungFailed and HTTPHungFailed are the client sessions through
	// each pool that began during b2's hang and failed (only b2 is unwell
	// then): 0 for the HTTP pool when the agents and monitor work.
	TCPHungFailed, HTTPHungFailed int
	// TCPHungFailedAfterDetection counts the TCP pool's failed sessions
	// that began after the HTTP monitor had taken b2 out.
	TCPHungFailedAfterDetection int
	// HTTPHungCut counts the HTTP pool's sessions that b2 took while the
	// monitor was still deciding; the load balancer cut them when b2
	// turned ERROR (on_member_down: shutdown_sessions) and the clients
	// reconnected to a healthy backend.
	HTTPHungCut int
	// TCPDetected: the TCP monitor ever marked b2 ERROR during the hang.
	TCPDetected bool
	// HTTPDetectedAfter is how long the HTTP monitor took; 0: never.
	HTTPDetectedAfter time.Duration
	// Kill of b3: how long each monitor took to mark it ERROR.
	TCPKillDetected, HTTPKillDetected time.Duration
	// Sessions through each pool.
	TCPOK, TCPFailed, HTTPOK, HTTPFailed int64
}

// recorder keeps when members first reached a status after a mark.
type recorder struct {
	mu     sync.Mutex
	events []monitor.Event
}

func (r *recorder) add(e monitor.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// first returns when pool's member first turned st at or after since.
func (r *recorder) first(pool, member string, st health.OperatingStatus, since time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Pool == pool && e.Member == member && e.New == st && !e.Time.Before(since) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// Run runs the demo until the script ends (or ctx ends, when
// interactive) and returns the summary of a scripted run.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o.defaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(o.Out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	rec := &recorder{}
	onEvent := o.OnEvent
	o.OnEvent = func(e monitor.Event) {
		rec.add(e)
		if e.Old != health.NoMonitor || e.New != health.Online {
			say("%-16s %s: %s -> %s (%s)", e.Pool, e.Member, e.Old, e.New, e.Reason)
		}
		if onEvent != nil {
			onEvent(e)
		}
	}
	onMode := o.OnMode
	o.OnMode = func(b string, m Mode) {
		say("backend %s is now %s (from the status page)", b, m)
		if onMode != nil {
			onMode(b, m)
		}
	}
	s, err := startScene(ctx, &o, log)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if o.Postgres {
		say("scene: 3 private PostgreSQL servers (b1 b2 b3), an agent per server (deep check: log in, SELECT 1)")
	} else {
		say("scene: 3 backends (b1 b2 b3), an agent per backend (deep check: send PING, expect PONG)")
	}
	say("pool %s: TCP monitor; clients via %s", TCPPool, s.lnAddr[TCPPool])
	say("pool %s: HTTP monitor on the agents; clients via %s", HTTPPool, s.lnAddr[HTTPPool])
	say("status page: http://%s/", s.admin)
	if o.Ready != nil {
		o.Ready(s.admin)
	}

	clientCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	if err := waitAll(ctx, s, health.Online, 20*time.Second); err != nil {
		return nil, err
	}
	say("all members ONLINE; starting %d clients per pool", o.Clients)
	clients := s.runClients(clientCtx, o.Clients, o.Pause, o.Patience)
	defer clients.Wait()
	if o.Interactive {
		say("interactive: switch backends from the status page; Ctrl-C to stop")
		<-ctx.Done()
		stopClients()
		return nil, nil
	}
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	sum := &Summary{HangFor: o.HangFor}
	if err := sleep(o.Warmup); err != nil {
		return nil, err
	}
	b2, b3 := s.backends[1], s.backends[2]
	if o.Postgres {
		say("SCRIPT: b2 hangs (SIGSTOP: the kernel still accepts TCP, nothing answers) for %s", o.HangFor)
	} else {
		say("SCRIPT: b2 hangs (accepts TCP, never answers) for %s", o.HangFor)
	}
	hungAt := time.Now()
	if err := b2.SetMode(Hung); err != nil {
		return nil, err
	}
	if err := sleep(o.HangFor); err != nil {
		return nil, err
	}
	recovered := time.Now()
	say("SCRIPT: b2 recovers")
	if err := b2.SetMode(Healthy); err != nil {
		return nil, err
	}
	_, sum.TCPDetected = rec.first(TCPPool, "b2", health.Error, hungAt)
	detected, ok := rec.first(HTTPPool, "b2", health.Error, hungAt)
	if ok && detected.Before(recovered) {
		sum.HTTPDetectedAfter = detected.Sub(hungAt)
	} else {
		detected = recovered
	}
	if err := waitAll(ctx, s, health.Online, 20*time.Second); err != nil {
		return nil, err
	}
	if err := sleep(o.Settle); err != nil {
		return nil, err
	}
	say("SCRIPT: b3 is killed (connections refused) for %s", o.KillFor)
	killedAt := time.Now()
	if err := b3.SetMode(Refusing); err != nil {
		return nil, err
	}
	if err := sleep(o.KillFor); err != nil {
		return nil, err
	}
	say("SCRIPT: b3 restarts")
	if err := b3.SetMode(Healthy); err != nil {
		return nil, err
	}
	if t, ok := rec.first(TCPPool, "b3", health.Error, killedAt); ok {
		sum.TCPKillDetected = t.Sub(killedAt)
	}
	if t, ok := rec.first(HTTPPool, "b3", health.Error, killedAt); ok {
		sum.HTTPKillDetected = t.Sub(killedAt)
	}
	if err := waitAll(ctx, s, health.Online, 20*time.Second); err != nil {
		return nil, err
	}
	if err := sleep(o.Settle); err != nil {
		return nil, err
	}
	stopClients()
	clients.Wait()
	ts, hs := s.stats[TCPPool], s.stats[HTTPPool]
	// Only b2 is unwell during the hang: the sessions begun then that
	// failed are the ones it took.
	sum.TCPHungFailed, sum.HTTPHungFailed = ts.failedIn(hungAt, recovered), hs.failedIn(hungAt, recovered)
	sum.TCPHungFailedAfterDetection = ts.failedIn(detected, recovered)
	sum.HTTPHungCut = hs.retriedIn(hungAt, recovered)
	sum.TCPOK, sum.TCPFailed = ts.ok.Load(), ts.failed.Load()
	sum.HTTPOK, sum.HTTPFailed = hs.ok.Load(), hs.failed.Load()
	say("script done")
	outMu.Lock()
	sum.Print(o.Out)
	outMu.Unlock()
	return sum, nil
}

// Print writes the summary.
func (s *Summary) Print(w io.Writer) {
	sec := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	fmt.Fprintln(w)
	fmt.Fprintln(w, "SUMMARY (counted from real client sessions through both pools)")
	if s.TCPDetected {
		fmt.Fprintf(w, "  hung b2, TCP monitor:  marked it ERROR at some point, yet sent it %d sessions that failed\n", s.TCPHungFailed)
	} else {
		fmt.Fprintf(w, "  hung b2, TCP monitor:  kept it ONLINE for all %s and sent it %d sessions that failed\n", sec(s.HangFor), s.TCPHungFailed)
	}
	if s.HTTPDetectedAfter > 0 {
		fmt.Fprintf(w, "  hung b2, HTTP monitor: took it out after %s; %d failed sessions\n", sec(s.HTTPDetectedAfter), s.HTTPHungFailed)
		if s.HTTPHungCut > 0 {
			fmt.Fprintf(w, "                         (%d sessions reached b2 while the monitor decided; the LB cut them when b2 turned ERROR\n", s.HTTPHungCut)
			fmt.Fprintf(w, "                          and the clients reconnected to a healthy backend)\n")
		}
	} else {
		fmt.Fprintf(w, "  hung b2, HTTP monitor: never took it out; %d sessions failed\n", s.HTTPHungFailed)
	}
	fmt.Fprintf(w, "  killed b3: TCP monitor took it out after %s, HTTP monitor after %s\n", sec(s.TCPKillDetected), sec(s.HTTPKillDetected))
	fmt.Fprintf(w, "  sessions: %s %d ok, %d failed; %s %d ok, %d failed\n", TCPPool, s.TCPOK, s.TCPFailed, HTTPPool, s.HTTPOK, s.HTTPFailed)
}

// waitAll waits until every member of both pools has status st.
func waitAll(ctx context.Context, s *scene, st health.OperatingStatus, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		all := true
		snap := s.eng.Status()
		for _, p := range snap.Pools {
			for _, m := range p.Members {
				if m.Status != st {
					all = false
				}
			}
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("members not all %s after %s", st, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
