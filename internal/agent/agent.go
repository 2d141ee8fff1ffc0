// Package agent is the sidecar that runs beside a backend, checks it in
// depth in the background and answers load balancers' HTTP probes from the
// cached results in microseconds.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"vitals/internal/adminhttp"
	"vitals/internal/health"
	"vitals/internal/probe"
	"vitals/internal/sdnotify"
)

// Agent runs the checks of one configuration and serves their results. Its
// configuration can be replaced while it runs (Apply); checks whose
// configuration did not change keep their state.
type Agent struct {
	log     *slog.Logger
	metrics *metrics
	errs    *checkerErrors // checker errors of every check

	// rt is the current configuration with its checks and routes. Readers
	// (every HTTP answer) load it without locking.
	rt atomic.Pointer[applied]
	// admin is the operator's state: maintenance and drain.
	admin atomic.Pointer[AdminState]
	// shuttingDown is set on SIGTERM: endpoints answer 503 until exit.
	shuttingDown atomic.Bool

	// mu serialises Apply and admin state changes, and guards runCtx and
	// wg, which are set while Serve runs.
	mu     sync.Mutex
	runCtx context.Context
	wg     *sync.WaitGroup
	reload func() (*Config, error)

	page pageState // the status page's check history

	// notify tells systemd when the agent is ready, reloading or
	// stopping, and feeds its watchdog (nil: not under systemd).
	notify *sdnotify.Notifier

	// healthConns caps the connections the health listener holds at
	// once, sideConns each of the other listeners; Serve sets both from
	// the descriptor limit (see descriptorBudget).
	healthConns, sideConns int
}

// applied is one applied configuration. It is never modified after it is
// published.
type applied struct {
	cfg    *Config
	checks []*check          // in configuration order
	byName map[string]*check // by check name
	routes map[string]*route // by URL path
}

// New builds an agent from a validated configuration. It loads the saved
// maintenance and drain state from cfg.StateFile when there is one.
func New(cfg *Config, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{log: log, metrics: newMetrics()}
	a.errs = newCheckerErrors(log, a.metrics)
	st := initState(cfg.StateFile, log)
	a.admin.Store(&st)
	a.registerOpsMetrics()
	if err := a.Apply(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// Apply replaces the configuration. Checks whose configuration is
// unchanged keep running with their state; new ones start (when the agent
// runs) and removed ones stop. The listeners are not changed: a new listen
// address needs a restart.
func (a *Agent) Apply(cfg *Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.rt.Load()
	rt := &applied{cfg: cfg, byName: make(map[string]*check, len(cfg.Checks))}
	var started []*check
	for _, cc := range cfg.Checks {
		if old != nil {
			if c, ok := old.byName[cc.Name]; ok && reflect.DeepEqual(c.cfg, cc) {
				rt.checks = append(rt.checks, c)
				rt.byName[cc.Name] = c
				continue
			}
		}
		c, err := newCheck(cc)
		if err != nil {
			for _, s := range started {
				s.close()
			}
			return fmt.Errorf("check %s: %w", cc.Name, err)
		}
		c.onTransition = a.transition
		c.onResult = a.metrics.observe
		c.onCheckerError = a.errs.note
		rt.checks = append(rt.checks, c)
		rt.byName[cc.Name] = c
		started = append(started, c)
	}
	rt.routes = buildRoutes(cfg, rt.checks)
	if old != nil && old.cfg.Listen != cfg.Listen {
		a.log.Warn("listen address changed; restart the agent to apply it", "old", old.cfg.Listen, "new", cfg.Listen)
	}
	a.rt.Store(rt)
	if a.runCtx != nil {
		for _, c := range started {
			a.launch(c, true)
		}
	}
	if old != nil {
		for _, c := range old.checks {
			if rt.byName[c.cfg.Name] != c {
				c.stop()
				a.metrics.forget(c.cfg.Name)
			}
		}
	}
	a.metrics.configure(rt.checks)
	return nil
}

// SetNotifier makes the agent tell systemd (Type=notify) when it is
// ready, reloading and stopping, and feed its watchdog from Serve's main
// loop. Call it before Run.
func (a *Agent) SetNotifier(n *sdnotify.Notifier) { a.notify = n }

// launch starts c's goroutine under the agent's run context, its first
// run after a jitter when spread (see check.run). a.mu is held.
func (a *Agent) launch(c *check, spread bool) {
	ctx, cancel := context.WithCancel(a.runCtx)
	c.cancel = cancel
	a.wg.Go(func() {
		defer c.close()
		c.run(ctx, spread)
	})
}

func (a *Agent) transition(c *check, old, new health.State, r probe.Result) {
	a.metrics.transition(c.cfg.Name)
	a.log.Log(context.Background(), new.ChangeLevel(old), "check changed state", "check", c.cfg.Name, "old", old.String(), "new", new.String(),
		"status", r.Status.String(), "reason", r.Reason, "latency", r.Latency)
}

// Run starts the checks and serves HTTP on the configured listeners until
// ctx ends, then shuts down gracefully (see Serve). The health listener
// opens once the first round of checks is done (see Serve).
func (a *Agent) Run(ctx context.Context) error {
	return a.serve(ctx, func() (net.Listener, error) {
		addr := a.rt.Load().cfg.Listen
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		return ln, nil
	})
}

// Serve runs the checks and serves HTTP on ln, plus the agent-check port,
// the separate metrics listener and the admin socket when configured,
// until ctx ends. Then the endpoints answer 503 "shutting down" for the
// configured shutdown_delay while still serving, so load balancers take
// the node out before it goes; then Serve stops the listeners (letting
// requests in flight finish) and the checks, and returns nil.
//
// The first round of checks runs at once, and nothing is answered on ln or
// the agent-check port until it is done, or until the longest check
// timeout (plus firstRoundSlack) has passed: so a probe never sees "not
// yet checked" from a healthy backend. Run opens its listener only then;
// a listener passed to Serve holds the connections meanwhile in its
// backlog. The admin socket is served from the start.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	return a.serve(ctx, func() (net.Listener, error) { return ln, nil })
}

// firstRoundSlack is added to the longest check timeout to bound the wait
// for the first round of checks: a check ends within its timeout, and the
// slack covers scheduling and recording it.
const firstRoundSlack = 500 * time.Millisecond

func (a *Agent) serve(ctx context.Context, listen func() (net.Listener, error)) error {
	cfg := a.rt.Load().cfg
	// Bind the admin socket before any check runs: ListenUnix sets the
	// process-wide umask for the bind, which a child started meanwhile by
	// an exec check would inherit.
	var adminLn net.Listener
	if cfg.AdminSocket != "off" {
		l, err := adminhttp.ListenUnix(cfg.AdminSocket, "vitals agent")
		if err != nil {
			a.log.Warn("admin socket disabled: maintenance, drain and reload commands will not reach this agent", "path", cfg.AdminSocket, "err", err)
		} else {
			adminLn = l
		}
	}
	var wg sync.WaitGroup
	runCtx, stopChecks := context.WithCancel(context.WithoutCancel(ctx))
	a.mu.Lock()
	a.runCtx, a.wg = runCtx, &wg
	first := a.rt.Load().checks
	for _, c := range first {
		a.launch(c, false)
	}
	a.mu.Unlock()
	defer func() {
		stopChecks()
		wg.Wait()
		a.mu.Lock()
		a.runCtx, a.wg = nil, nil
		a.mu.Unlock()
	}()

	var servers []*http.Server
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	errc := make(chan error, 4)
	a.healthConns, a.sideConns = a.descriptorBudget(cfg)
	serve := func(srv *http.Server, l net.Listener, tlsOn bool) {
		servers = append(servers, srv)
		go func() {
			var err error
			if tlsOn {
				err = srv.ServeTLS(l, cfg.TLS.CertFile, cfg.TLS.KeyFile)
			} else {
				err = srv.Serve(l)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		}()
	}
	closers, err := a.openAdmin(adminLn, serve)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	closeAll := func() {
		for _, srv := range servers {
			srv.Close()
		}
	}
	if err != nil {
		closeAll()
		return err
	}
	if !a.awaitFirstRound(ctx, first) {
		closeAll()
		return nil // ended before serving: nothing to shut down gracefully
	}
	ln, err := listen()
	if err != nil {
		closeAll()
		return err
	}
	serve(a.httpServer(a), adminhttp.Limit(ln, a.healthConns), cfg.TLS != nil)
	a.log.Info("agent listening", "addr", ln.Addr().String(), "checks", len(cfg.Checks), "tls", cfg.TLS != nil)
	side, err := a.openSideListeners(serveCtx, cfg, serve)
	closers = append(closers, side...)
	if err != nil {
		closeAll()
		return err
	}

	if err := a.notify.Ready(fmt.Sprintf("serving %d checks on %s", len(cfg.Checks), ln.Addr())); err != nil {
		a.log.Warn("cannot tell systemd the agent is ready", "err", err)
	}
	watchdog, stopWatchdog := a.notify.WatchdogTicker()
	defer stopWatchdog()
wait:
	for {
		select {
		case err := <-errc:
			closeAll()
			return err
		case <-watchdog: // only this loop feeds systemd's watchdog
			a.notify.Watchdog()
		case <-ctx.Done():
			break wait
		}
	}
	a.notify.Stopping("answering 503 until the shutdown delay ends")
	a.shutdown(cfg, servers)
	return nil
}

// awaitFirstRound waits until every check in checks has recorded its first
// run, or the longest of their timeouts plus firstRoundSlack has passed,
// and logs which. It returns false when ctx ended first.
func (a *Agent) awaitFirstRound(ctx context.Context, checks []*check) bool {
	var bound time.Duration
	for _, c := range checks {
		bound = max(bound, c.cfg.Timeout)
	}
	bound += firstRoundSlack
	start := time.Now()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for _, c := range checks {
		select {
		case <-c.first:
		case <-ctx.Done():
			return false
		case <-timer.C:
			var pending []string
			for _, c := range checks {
				select {
				case <-c.first:
				default:
					pending = append(pending, c.cfg.Name)
				}
			}
			a.log.Warn("first round of checks not done within the longest timeout; listening anyway, pending checks answer \"not yet checked\"",
				"bound", bound, "pending", pending)
			return true
		}
	}
	a.log.Info("first round of checks done", "checks", len(checks), "took", time.Since(start).Round(time.Millisecond))
	return true
}

// shutdown answers 503 for the shutdown delay, then closes the servers.
func (a *Agent) shutdown(cfg *Config, servers []*http.Server) {
	delay := *cfg.ShutdownDelay
	// From now on every health answer carries "Connection: close" (see
	// ServeHTTP), so that clients stop reusing connections and none is
	// closed under a request when the delay ends. Not SetKeepAlivesEnabled
	// (false): it also closes the idle keep-alive connections at once,
	// under any request a client is sending on one at that moment.
	a.shuttingDown.Store(true)
	a.log.Info("shutting down: answering 503 before exit", "delay", delay)
	time.Sleep(delay)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
}

// openAdmin serves the admin socket adminLn (nil: none) and returns what
// must be closed at the end.
func (a *Agent) openAdmin(adminLn net.Listener, serve func(*http.Server, net.Listener, bool)) ([]io.Closer, error) {
	if adminLn == nil {
		return nil, nil
	}
	serve(a.httpServer(a.adminHandler()), adminhttp.Limit(adminLn, a.sideConns), false)
	a.log.Info("admin socket listening", "path", adminLn.Addr().String())
	return []io.Closer{adminLn}, nil
}

// openSideListeners opens the agent-check port and the metrics listener,
// as configured. It returns what must be closed at the end.
func (a *Agent) openSideListeners(ctx context.Context, cfg *Config, serve func(*http.Server, net.Listener, bool)) ([]io.Closer, error) {
	var closers []io.Closer
	if ac := cfg.AgentCheck; ac != nil {
		l, err := net.Listen("tcp", ac.Listen)
		if err != nil {
			return closers, fmt.Errorf("agent_check listen %s: %w", ac.Listen, err)
		}
		closers = append(closers, l)
		go a.serveAgentCheck(ctx, l, a.sideConns)
		a.log.Info("agent-check port listening", "addr", l.Addr().String())
	}
	if m := cfg.Metrics; m.Listen != "" && !m.Disabled {
		l, err := net.Listen("tcp", m.Listen)
		if err != nil {
			return closers, fmt.Errorf("metrics listen %s: %w", m.Listen, err)
		}
		serve(a.httpServer(a.metrics.handler()), adminhttp.Limit(l, a.sideConns), false)
		a.log.Info("metrics listening", "addr", l.Addr().String())
	}
	return closers, nil
}

func (a *Agent) httpServer(h http.Handler) *http.Server {
	return adminhttp.NewServer(h, adminhttp.Options{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          a.log,
	})
}

// sideListeners is how many listeners the agent may hold besides its
// health listener and checks: agent-check, metrics and the admin socket.
const sideListeners = 3

// descriptorBudget reads the descriptor limit (raising the soft limit to
// the hard one), logs how it is split and returns the connection caps of
// the health listener and of each other listener. Kept back: the
// process's own descriptors and two per check (its connection, and a
// spare for one that overlaps its timeout). The side listeners get
// adminhttp.ConnCap each; the health listener, which load balancers
// probe in storms, gets all the rest. A flood of any port so cannot
// starve the checks of descriptors.
func (a *Agent) descriptorBudget(cfg *Config) (health, side int) {
	nofile, err := adminhttp.RaiseNoFile()
	if err != nil {
		a.log.Warn("cannot read the descriptor limit; assuming 1024", "err", err)
		nofile = 1024
	}
	reserve := adminhttp.BaseReserve + 2*len(cfg.Checks) + adminhttp.CheckMargin
	side = adminhttp.ShareCap(nofile, reserve, sideListeners+1)
	health = max(nofile-reserve-sideListeners*(side+adminhttp.AdminMargin)-adminhttp.AdminMargin, side)
	a.log.Info("descriptor budget", "nofile", nofile, "reserved_for_checks", reserve,
		"health_max_connections", health, "max_connections_per_listener", side)
	return health, side
}

// RunOnce runs every check once, concurrently, and returns the report of
// all checks (each judged on its one result).
func (a *Agent) RunOnce(ctx context.Context) Report {
	var wg sync.WaitGroup
	for _, c := range a.rt.Load().checks {
		wg.Go(func() { c.runOnce(ctx) })
	}
	wg.Wait()
	return judge(a.Checks())
}

// Checks returns the current view of every check, in configuration order.
func (a *Agent) Checks() []View {
	rt := a.rt.Load()
	now := time.Now()
	views := make([]View, len(rt.checks))
	for i, c := range rt.checks {
		views[i] = c.view(now)
	}
	return views
}
