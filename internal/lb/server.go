package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/adminhttp"
	"vitals/internal/monitor"
	"vitals/internal/promx"
)

// Server is the data plane: it holds the listeners and pools of the
// current configuration, learns of member health from the monitor engine
// as a monitor.Subscriber, and proxies client connections. Make one with
// NewServer, then Apply a configuration; Apply again to reload.
type Server struct {
	log *slog.Logger
	met *metrics
	eng *monitor.Engine
	// budget refuses client connections before the descriptors kept for
	// health checks and admin are touched; nil (the default): no budget.
	// Set before the first Apply.
	budget *adminhttp.Budget

	// dialCtx ends dials in progress at the end of a shutdown.
	dialCtx    context.Context
	dialCancel context.CancelFunc

	// pools maps pool IDs to pools for MemberChanged; replaced by Apply.
	pools atomic.Pointer[map[string]*pool]

	// applyMu serializes Apply and Shutdown and guards listeners.
	applyMu   sync.Mutex
	listeners map[string]*listener // by bind address:port
	stopped   bool

	// sessWG counts client connections being served.
	sessWG sync.WaitGroup
	// sessMu guards sessions, the established sessions.
	sessMu   sync.Mutex
	sessions map[*session]struct{}

	// parker is made on the first park (park.go) under parkMu, which
	// guards parkOff, set when none can be made or at shutdown.
	parker  atomic.Pointer[parker]
	parkMu  sync.Mutex
	parkOff bool
}

// NewServer returns a data plane that reads health from eng. It
// subscribes to eng at once.
func NewServer(eng *monitor.Engine, log *slog.Logger) *Server {
	s := &Server{log: log, eng: eng, listeners: map[string]*listener{}, sessions: map[*session]struct{}{}}
	s.met = newMetrics(func() float64 { return float64(s.parkedNow()) })
	s.dialCtx, s.dialCancel = context.WithCancel(context.Background())
	empty := map[string]*pool{}
	s.pools.Store(&empty)
	eng.Subscribe(s)
	return s
}

// SetBudget makes new client connections count against b (see
// adminhttp.Budget). Call it before the first Apply.
func (s *Server) SetBudget(b *adminhttp.Budget) { s.budget = b }

// Collector returns the data plane's Prometheus metrics but the
// per-member ones (MemberSeries).
func (s *Server) Collector() prometheus.Collector { return s.met }

// MemberSeries returns the data plane's per-member families, for
// promx.Registry.Stream.
func (s *Server) MemberSeries() promx.Streamer { return s.met.memberSeries() }

// MemberChanged applies a member's new status: the pool's member set is
// rebuilt, and a member that turned ERROR in a pool with on_member_down
// shutdown_sessions has its sessions closed.
func (s *Server) MemberChanged(ev monitor.Event) {
	p := (*s.pools.Load())[ev.PoolID]
	if p == nil {
		return
	}
	if m := p.setStatus(ev.MemberID, ev.New, ev.Time); m != nil {
		if n := m.closeSessions(); n > 0 {
			m.met.shutdown.Add(uint64(n))
			s.log.Info("member is down: sessions shut down", "pool", p.name, "member", m.label, "sessions", n, "reason", ev.Reason)
		}
	}
}

// Apply makes cfg the running configuration. New listeners are opened
// first, so a port that cannot be bound leaves everything as it was;
// listeners whose bind address and port are unchanged stay open; removed
// ones are closed. Established sessions are not touched: they finish with
// the member they have.
func (s *Server) Apply(cfg *Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.stopped {
		return errors.New("the load balancer is shutting down")
	}
	for _, lbc := range cfg.LoadBalancers {
		if err := checkAlgorithms(lbc.Pools); err != nil {
			return err
		}
	}
	// want maps each bind address to its listener and load balancer.
	type wanted struct {
		l  *Listener
		lb *LoadBalancer
	}
	want := map[string]wanted{}
	labels := map[string]bool{} // the listeners' metric labels
	var opened []*listener
	closeOpened := func() {
		for _, o := range opened {
			o.ln.Close()
		}
	}
	for _, lbc := range cfg.LoadBalancers {
		for i := range lbc.Listeners {
			l := &lbc.Listeners[i]
			key := l.BindAddress()
			if w, dup := want[key]; dup {
				closeOpened()
				return fmt.Errorf("listener %s: %s is also the address of listener %s", l.Label(), key, w.l.Label())
			}
			want[key] = wanted{l, lbc}
			labels[cfg.MetricName(lbc, l.Label())] = true
			if s.listeners[key] != nil {
				continue
			}
			nl, err := s.listen(key)
			if err != nil {
				closeOpened()
				return fmt.Errorf("listener %s: %w", l.Label(), err)
			}
			opened = append(opened, nl)
		}
	}

	old := *s.pools.Load()
	pools := map[string]*pool{}
	names := map[string]bool{}                     // the pools' metric labels
	byName := map[*LoadBalancer]map[string]*pool{} // each load balancer's pools by name
	for _, lbc := range cfg.LoadBalancers {
		byName[lbc] = make(map[string]*pool, len(lbc.Pools))
		for i := range lbc.Pools {
			cp := &lbc.Pools[i]
			if cp.Protocol == monitor.ProtocolUDP {
				continue
			}
			name := cfg.MetricName(lbc, cp.Name)
			p := old[cp.ID]
			if p == nil || p.name != name { // a new pool, or its series are named anew
				p = s.newPool(cp.ID, name)
			}
			p.apply(cp, lbc.Up())
			pools[cp.ID], byName[lbc][cp.Name] = p, p
			names[name] = true
		}
	}
	s.pools.Store(&pools)
	if err := s.eng.Update(cfg.MonitorPools()); err != nil {
		closeOpened()
		return err
	}
	for id, p := range old {
		if pools[id] != p && !names[p.name] {
			s.met.dropPool(p.name)
		}
	}
	snap := s.eng.Status()
	for i := range snap.Pools {
		if p := pools[snap.Pools[i].ID]; p != nil {
			p.sync(&snap.Pools[i])
		}
	}

	for _, o := range opened {
		s.listeners[o.key] = o
	}
	for key, l := range s.listeners {
		w, ok := want[key]
		if !ok {
			l.ln.Close()
			delete(s.listeners, key)
			if lc := l.cfg.Load(); lc != nil && !labels[lc.label] {
				s.met.dropListener(lc.label)
			}
			s.log.Info("listener closed", "address", key)
			continue
		}
		cl, lbc := w.l, w.lb
		limit := int64(-1)
		if cl.ConnectionLimit != nil {
			limit = int64(*cl.ConnectionLimit)
		}
		label := cfg.MetricName(lbc, cl.Label())
		l.cfg.Store(&listenerConfig{
			label: label, up: cl.Up() && lbc.Up(), pool: byName[lbc][cl.DefaultPool], limit: limit,
			clientData: cl.ClientData, memberData: cl.MemberData, memberConnect: cl.MemberConnect, writeStall: cl.WriteStall,
			met:     s.met.listener(label),
			connLog: cl.ConnectionLog,
		})
	}
	for _, o := range opened {
		go o.acceptLoop()
		s.log.Info("listener opened", "listener", o.cfg.Load().label, "address", o.key)
	}
	return nil
}

// Addr returns the address a listener bound, by its bind address:port as
// configured (useful when the port was chosen by the kernel in tests).
func (s *Server) Addr(key string) net.Addr {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if l := s.listeners[key]; l != nil {
		return l.ln.Addr()
	}
	return nil
}

// Shutdown stops accepting, lets established sessions finish for up to
// grace, then closes the rest and waits for every connection goroutine to
// end.
func (s *Server) Shutdown(grace time.Duration) {
	s.applyMu.Lock()
	s.stopped = true
	for key, l := range s.listeners {
		l.ln.Close()
		<-l.done
		delete(s.listeners, key)
	}
	s.applyMu.Unlock()
	defer s.stopParking() // every return below comes after the sessions ended
	done := make(chan struct{})
	go func() {
		s.sessWG.Wait()
		close(done)
	}()
	s.sessMu.Lock()
	n := len(s.sessions)
	s.sessMu.Unlock()
	if n > 0 {
		s.log.Info("listeners closed; waiting for sessions to finish", "sessions", n, "grace", grace)
	}
	defer s.dialCancel()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.dialCancel()
	// Close what is left; repeat for sessions whose dial completed just
	// as the grace ran out.
	for first := true; ; first = false {
		s.sessMu.Lock()
		rest := make([]*session, 0, len(s.sessions))
		for x := range s.sessions {
			rest = append(rest, x)
		}
		s.sessMu.Unlock()
		if first {
			s.log.Info("shutdown grace is over: closing sessions", "sessions", len(rest))
		}
		for _, x := range rest {
			x.closeFor(endShutdown)
		}
		select {
		case <-done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func joinHostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }
