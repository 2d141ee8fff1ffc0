package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vitals/internal/agent"
	"vitals/internal/lb"
	"vitals/internal/monitor"
	"vitals/internal/promx"
)

// Pool names of the scene.
const (
	TCPPool  = "tcp-monitored"
	HTTPPool = "agent-monitored"
)

// scene is the running demo: backends, their agents and the load
// balancer with its two pools.
type scene struct {
	backends []backend
	session  func(ctx context.Context, addr string, patience time.Duration) (string, error)
	agents   []int // agent HTTP ports, by backend
	cfg      *lb.Config
	eng      *monitor.Engine
	srv      *lb.Server
	admin    string // admin endpoint address (status page)
	lnAddr   map[string]string
	stats    map[string]*poolStats // by pool name

	stop func()
}

// poolStats counts client sessions through one pool.
type poolStats struct {
	ok, failed, retried atomic.Int64
	mu                  sync.Mutex
	byBackend           map[string]int
	failTimes           []time.Time // when failed sessions began
	retryTimes          []time.Time // when sessions that were cut began
}

// failedIn and retriedIn count the sessions that began in [from, to) and
// failed, or were cut and reconnected.
func (p *poolStats) failedIn(from, to time.Time) int  { return p.countIn(p.failTimes, from, to) }
func (p *poolStats) retriedIn(from, to time.Time) int { return p.countIn(p.retryTimes, from, to) }

func (p *poolStats) countIn(ts []time.Time, from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range ts {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// backend is one of the scene's servers, simulated or PostgreSQL.
type backend interface {
	Name() string
	// PoolPort is where the pool (portTCPPool, portHTTPPool) sends
	// sessions.
	PoolPort(role int) int
	// CheckYAML is the agent check's fields, indented for the list.
	CheckYAML(interval, timeout time.Duration) string
	Mode() Mode
	SetMode(Mode) error
	Close()
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startScene starts everything. adminAddr "" picks a free port.
func startScene(ctx context.Context, o *Options, log *slog.Logger) (*scene, error) {
	s := &scene{lnAddr: map[string]string{}, stats: map[string]*poolStats{}}
	var closers []func()
	s.stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*scene, error) {
		s.stop()
		return nil, err
	}
	s.session = lineSession
	for i := 1; i <= 3; i++ {
		var b backend
		var err error
		if o.Postgres {
			b, err = startPGBackend(ctx, fmt.Sprintf("b%d", i))
		} else {
			b, err = newSimBackend(fmt.Sprintf("b%d", i))
		}
		if err != nil {
			return fail(err)
		}
		s.backends = append(s.backends, b)
		closers = append(closers, b.Close)
	}
	if o.Postgres {
		names := map[int]string{}
		for _, b := range s.backends {
			names[b.PoolPort(portTCPPool)] = b.Name()
		}
		s.session = pgSession(names)
	}
	agentCtx, stopAgents := context.WithCancel(context.WithoutCancel(ctx))
	var agentWG sync.WaitGroup
	closers = append(closers, func() { stopAgents(); agentWG.Wait() })
	for _, b := range s.backends {
		yml := fmt.Sprintf(`listen: 127.0.0.1:0
admin_socket: "off"
state_file: "off"
shutdown_delay: 0s
checks:
  - name: %s-deep
%s`, b.Name(), b.CheckYAML(o.AgentInterval, o.AgentTimeout))
		cfg, err := agent.Parse(b.Name()+"-agent.yaml", []byte(yml))
		if err != nil {
			return fail(err)
		}
		a, err := agent.New(cfg, log)
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		s.agents = append(s.agents, ln.Addr().(*net.TCPAddr).Port)
		agentWG.Go(func() { a.Serve(agentCtx, ln) })
	}

	tcpPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	httpPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, `admin:
  socket: /run/vitals/demo-unused.sock
loadbalancer:
  name: demo
  listeners:
    - {name: tcp-listener, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: %s, timeout_member_connect: 500ms}
    - {name: agent-listener, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: %s, timeout_member_connect: 500ms}
  pools:
    - name: %s
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: %s, timeout: %s, max_retries: %d, max_retries_down: %d}
      members:
`, tcpPort, TCPPool, httpPort, HTTPPool, TCPPool, o.Delay, o.Timeout, o.MaxRetries, o.MaxRetriesDown)
	for _, b := range s.backends {
		fmt.Fprintf(&y, "        - {name: %s, address: 127.0.0.1, protocol_port: %d}\n", b.Name(), b.PoolPort(portTCPPool))
	}
	fmt.Fprintf(&y, `    - name: %s
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: HTTP, delay: %s, timeout: %s, max_retries: %d, max_retries_down: %d, url_path: /health}
      members:
`, HTTPPool, o.Delay, o.Timeout, o.MaxRetries, o.MaxRetriesDown)
	for i, b := range s.backends {
		fmt.Fprintf(&y, "        - {name: %s, address: 127.0.0.1, protocol_port: %d, monitor_port: %d}\n", b.Name(), b.PoolPort(portHTTPPool), s.agents[i])
	}
	cfg, err := lb.Parse("demo-lb.yaml", []byte(y.String()))
	if err != nil {
		return fail(err)
	}
	s.cfg = cfg
	s.lnAddr[TCPPool] = fmt.Sprintf("127.0.0.1:%d", tcpPort)
	s.lnAddr[HTTPPool] = fmt.Sprintf("127.0.0.1:%d", httpPort)
	s.stats[TCPPool] = &poolStats{byBackend: map[string]int{}}
	s.stats[HTTPPool] = &poolStats{byBackend: map[string]int{}}

	s.eng = monitor.New(monitor.Options{Logger: log})
	s.srv = lb.NewServer(s.eng, log)
	if o.OnEvent != nil {
		s.eng.Subscribe(monitor.SubscriberFunc(o.OnEvent))
	}
	reg := promx.NewRegistry()
	reg.MustRegister(s.eng.Collector(), s.srv.Collector())
	reg.MustStream(s.eng.MemberSeries(), s.srv.MemberSeries())
	if err := s.srv.Apply(cfg); err != nil {
		return fail(err)
	}
	engCtx, stopEng := context.WithCancel(context.WithoutCancel(ctx))
	engDone := make(chan struct{})
	go func() { s.eng.Run(engCtx); close(engDone) }()
	closers = append(closers, func() { s.srv.Shutdown(0); stopEng(); <-engDone })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/backends", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var parts []string
		for _, b := range s.backends {
			parts = append(parts, fmt.Sprintf(`{"name":%q,"mode":%q}`, b.Name(), b.Mode()))
		}
		io.WriteString(w, "["+strings.Join(parts, ",")+"]")
	})
	mux.HandleFunc("POST /demo/backends/{name}/{mode}", func(w http.ResponseWriter, r *http.Request) {
		m, err := ParseMode(r.PathValue("mode"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b := s.backend(r.PathValue("name"))
		if b == nil {
			http.Error(w, "no such backend", http.StatusNotFound)
			return
		}
		if err := b.SetMode(m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if o.OnMode != nil {
			o.OnMode(b.Name(), m)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", lb.NewAdminHandler(cfg, s.eng, reg))
	addr := o.AdminAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	aln, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(fmt.Errorf("status page: %w", err))
	}
	s.admin = aln.Addr().String()
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(aln)
	closers = append(closers, func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if hs.Shutdown(c) != nil {
			hs.Close()
		}
	})
	return s, nil
}

func (s *scene) backend(name string) backend {
	for _, b := range s.backends {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

// runClients opens sessions through both pools until ctx ends: connect,
// "PING", and a "PONG" within patience is a success.
//
// The clients behave like an application's connection pool: a session
// whose connection is cut or refused before its patience runs out is
// retried once at once (it got no answer, so nothing was done twice);
// one that got no answer within its patience is a failure. Both pools
// have the same clients, so the difference in failures is the monitors'.
func (s *scene) runClients(ctx context.Context, perPool int, pause, patience time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	for pool, addr := range s.lnAddr {
		st := s.stats[pool]
		for range perPool {
			wg.Go(func() {
				for ctx.Err() == nil {
					began := time.Now()
					name, err := s.session(ctx, addr, patience)
					if err != nil && ctx.Err() == nil && time.Since(began) < patience*9/10 {
						st.retried.Add(1)
						st.mu.Lock()
						st.retryTimes = append(st.retryTimes, began)
						st.mu.Unlock()
						name, err = s.session(ctx, addr, patience)
					}
					if ctx.Err() != nil {
						return
					}
					if err != nil {
						st.failed.Add(1)
						st.mu.Lock()
						st.failTimes = append(st.failTimes, began)
						st.mu.Unlock()
					} else {
						st.ok.Add(1)
						st.mu.Lock()
						st.byBackend[name]++
						st.mu.Unlock()
					}
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			})
		}
	}
	return &wg
}

// lineSession is one client session; it returns the backend that answered.
func lineSession(ctx context.Context, addr string, patience time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := io.WriteString(c, "PING\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(line), "PONG ")
	if !ok {
		return "", errors.New("bad reply " + line)
	}
	return name, nil
}
