package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"vitals/internal/adminhttp"
	"vitals/internal/buildinfo"
	"vitals/internal/monitor"
	"vitals/internal/promx"
	"vitals/internal/sdnotify"
)

// RunOptions are Run's optional hooks.
type RunOptions struct {
	// Reload, when it delivers, makes Run call Load and apply the new
	// configuration (SIGHUP). Nil: no reloads.
	Reload <-chan struct{}
	// Load reads the configuration again; required with Reload.
	Load func() (*Config, error)
	// Notify tells systemd (Type=notify) when the lb is ready, reloading
	// and stopping; the main loop feeds its watchdog. Nil: not under
	// systemd.
	Notify *sdnotify.Notifier
	// Attach, when set, is called once the listeners of cfg run and the
	// admin endpoint is open, before anything is served: it gets the
	// running Plane and returns the handler the admin endpoint serves
	// (p.Admin, or one that wraps it). This is how `vitals lb --db` hands
	// Plane.Apply to its controller, which then applies the store's
	// configuration (cfg holds only the process settings and an empty
	// load balancer), and mounts the Octavia API. An error stops Run.
	// Plane.Apply refuses once Run is shutting down.
	Attach func(p *Plane) (http.Handler, error)
	// Applied, when set, is called after each configuration that was
	// applied successfully (the first, reloads, Plane.Apply, a member's
	// run-time admin_state_up or weight), with it as it runs: the
	// run-time member changes on top.
	Applied func(*Config)
}

// Run monitors cfg's members, proxies its listeners' connections to
// healthy members and serves the admin endpoint until ctx ends. Then it
// closes the listeners, lets established sessions finish for up to
// cfg.Grace (shutdown_grace), closes the rest, and returns when every
// goroutine it started has ended.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	return RunWith(ctx, cfg, log, RunOptions{})
}

// RunWith is Run with reloads.
func RunWith(ctx context.Context, cfg *Config, log *slog.Logger, o RunOptions) error {
	tuneGC()
	eng := monitor.New(monitor.Options{Logger: log, MaxConcurrent: cfg.Monitor.MaxConcurrentChecks})
	srv := NewServer(eng, log)
	nofile, err := adminhttp.RaiseNoFile()
	if err != nil {
		return fmt.Errorf("read the descriptor limit: %w", err)
	}
	adminCap := adminhttp.ConnCap(nofile)
	budget := adminhttp.NewBudget(nofile, descriptorReserve(cfg, adminCap), 2, log)
	srv.SetBudget(budget)
	ctl := newControl(srv, log)
	ctl.applied = o.Applied
	if o.Load != nil {
		ctl.reloads, ctl.stopping = make(chan chan error), make(chan struct{})
	}
	reg := newRegistry(eng, srv)
	handler := newAdminHandler(ctl.Current, ctl, eng, reg)

	// Listen before the engine starts: the umask dance in ListenUnix must
	// not race with other goroutines creating files.
	var lns []net.Listener
	ln, err := adminhttp.ListenUnix(cfg.Admin.Socket, "vitals lb")
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	lns = append(lns, ln)
	if cfg.Admin.Listen != "" {
		tl, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		lns = append(lns, tl)
	}
	for i, l := range lns {
		lns[i] = adminhttp.Limit(l, adminCap)
	}
	// apply runs a configuration and sizes the descriptor budget for it;
	// once stopping is set (shutdown) it refuses, so that nothing opens
	// listeners again behind the shutdown.
	var (
		applyMu  sync.Mutex
		stopping bool
	)
	apply := func(next *Config) error {
		applyMu.Lock()
		defer applyMu.Unlock()
		if stopping {
			return errors.New("vitals lb is shutting down")
		}
		if err := ctl.apply(next); err != nil {
			return err
		}
		budget.Resize(descriptorReserve(next, adminCap))
		if o.Applied != nil {
			o.Applied(ctl.Current()) // with the run-time member changes on top
		}
		return nil
	}
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	if err := apply(cfg); err != nil {
		closeAll()
		return err
	}
	var serve http.Handler = handler
	if o.Attach != nil {
		h, err := o.Attach(&Plane{Admin: handler, apply: apply, current: ctl.Current, eng: eng, g: reg})
		if err != nil {
			applyMu.Lock()
			stopping = true
			applyMu.Unlock()
			closeAll()
			srv.Shutdown(0)
			return err
		}
		serve = h
	}

	cur := ctl.Current()
	listeners, pools, members := cur.counts()
	log.Info("vitals lb started",
		"loadbalancers", cur.names(), "listeners", listeners, "pools", pools, "members", members,
		"admin_socket", cfg.Admin.Socket, "admin_listen", cfg.Admin.Listen)
	logBudget(log, budget, adminCap)

	srvHTTP := adminhttp.NewServer(serve, adminhttp.Options{ErrorLog: log})
	srvHTTP.ConnContext = markLocal
	var wg sync.WaitGroup
	for _, l := range lns {
		wg.Go(func() {
			if err := srvHTTP.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin endpoint stopped", "addr", l.Addr().String(), "err", err)
			}
		})
	}
	// The engine outlives ctx by the shutdown grace, so that members that
	// fail meanwhile still have their sessions shut down.
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()

	// reload re-reads the configuration (SIGHUP, POST /reload) and
	// applies it, or logs why not and keeps the running one; systemd
	// hears RELOADING=1, then READY=1 either way.
	reload := func() error {
		o.Notify.Reloading()
		prev := ctl.Current().Admin
		next, err := o.Load()
		if err == nil {
			err = apply(next)
		}
		if err != nil {
			log.Error("reload failed; the running configuration stays", "err", err)
			o.Notify.Ready("reload failed; the running configuration stays")
			return err
		}
		nl, np, _ := next.counts()
		o.Notify.Ready(fmt.Sprintf("configuration reloaded: %d listeners, %d pools", nl, np))
		if next.Admin.Socket != prev.Socket || next.Admin.Listen != prev.Listen {
			log.Warn("reload: admin endpoint address changes need a restart", "socket", next.Admin.Socket, "listen", next.Admin.Listen)
		}
		log.Info("configuration reloaded", "file", next.File, "loadbalancers", len(next.LoadBalancers), "listeners", nl, "pools", np)
		return nil
	}

	// The listeners and the admin endpoint are open: ready.
	if err := o.Notify.Ready(fmt.Sprintf("serving %d listeners, %d pools", listeners, pools)); err != nil {
		log.Warn("cannot tell systemd the lb is ready", "err", err)
	}
	watchdog, stopWatchdog := o.Notify.WatchdogTicker()
	defer stopWatchdog()

	var engErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-engDone:
			engErr = err
			break loop
		case <-watchdog: // only this loop feeds systemd's watchdog
			o.Notify.Watchdog()
		case <-o.Reload:
			reload()
		case reply := <-ctl.reloads:
			reply <- reload()
		}
	}
	if ctl.stopping != nil {
		close(ctl.stopping) // reload requests from now on are refused
	}
	o.Notify.Stopping("closing listeners; established sessions have the shutdown grace to finish")
	applyMu.Lock()
	stopping = true
	applyMu.Unlock()
	srv.Shutdown(ctl.Current().Grace)
	stopEngine()
	if engErr == nil {
		engErr = <-engDone
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srvHTTP.Shutdown(shutCtx)
	wg.Wait()
	log.Info("vitals lb stopped")
	return engErr
}

// descriptorReserve is how many descriptors the data plane must leave
// alone: the process's own (adminhttp.BaseReserve), one per listener, one
// per health check that can run at once (one per member, at most
// max_concurrent_checks) plus a margin, and each of the two admin
// listeners' (socket and TCP) connection cap plus a margin.
func descriptorReserve(cfg *Config, adminCap int) int {
	listeners, _, members := cfg.counts()
	checks := min(members, cfg.Monitor.MaxConcurrentChecks) + adminhttp.CheckMargin
	return adminhttp.BaseReserve + listeners + checks + 2*(adminCap+adminhttp.AdminMargin)
}

// counts are the numbers of listeners, pools and members of all the load
// balancers; zeros without any (an empty store in --db mode).
func (c *Config) counts() (listeners, pools, members int) {
	if c == nil {
		return 0, 0, 0
	}
	for _, lb := range c.LoadBalancers {
		for _, p := range lb.Pools {
			members += len(p.Members)
		}
		listeners, pools = listeners+len(lb.Listeners), pools+len(lb.Pools)
	}
	return listeners, pools, members
}

// Counts are the numbers of load balancers, listeners, pools, members
// and health monitors of the configuration.
func (c *Config) Counts() (loadBalancers, listeners, pools, members, monitors int) {
	listeners, pools, members = c.counts()
	for _, lb := range c.LoadBalancers {
		for _, p := range lb.Pools {
			if p.Monitor != nil {
				monitors++
			}
		}
	}
	return len(c.LoadBalancers), listeners, pools, members, monitors
}

// names are the load balancers' names, for logs.
func (c *Config) names() []string {
	out := make([]string, len(c.LoadBalancers))
	for i, lb := range c.LoadBalancers {
		out[i] = lb.Name
	}
	return out
}

// logBudget logs how the descriptor limit is split, loudly when nothing
// is left for client sessions.
func logBudget(log *slog.Logger, b *adminhttp.Budget, adminCap int) {
	args := []any{"nofile", b.Limit(), "reserved", b.Reserve(), "max_sessions", b.Max(), "admin_max_connections", adminCap}
	if b.Max() < 1 {
		log.Error("descriptor budget: the descriptor limit leaves nothing for client sessions; raise it (ulimit -n, systemd LimitNOFILE)", args...)
		return
	}
	log.Info("descriptor budget", args...)
}

// newRegistry holds the admin endpoint's series: the engine's, the data
// plane's, the Go runtime's and the process's, and the build's, with the
// per-member families of the engine and the data plane streamed after.
func newRegistry(eng *monitor.Engine, srv *Server) *promx.Registry {
	reg := promx.NewRegistry()
	reg.MustRegister(eng.Collector(), srv.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(buildinfo.Collector())
	reg.MustStream(eng.MemberSeries(), srv.MemberSeries())
	return reg
}
