package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	api "vitals/internal/api/octavia"
	"vitals/internal/controller"
	"vitals/internal/lb"
	"vitals/internal/lbyaml"
	model "vitals/internal/octavia"
	"vitals/internal/store"
	"vitals/internal/store/sqlite"
)

// The Octavia API shares the lb's admin endpoint (the unix socket and the
// loopback listen address):
//
//	/v2/..., /v2.0/...  the Octavia v2 API (internal/api/octavia)
//	GET /               version discovery (JSON) for API clients, the status
//	                    page (HTML) for browsers: see wantsJSON
//	/vrrp/..., /nodes   the nodes of a shared store (lbnodes.go, lbnodesapi.go)
//	everything else     the lb's own admin endpoints (status page data,
//	                    /metrics, /reload, pprof)
//
// Requests over the unix socket are trusted (no token). In --db mode,
// over TCP every request under /v2 needs X-Auth-Token with the token of
// admin.token_file; without a token file the API over TCP answers 403. In
// --config mode the API is read-only and its reads stay open on loopback,
// as the admin endpoint's reads always were there; writes get the
// read-only fault.

// readOnlyFault is what the API answers to a write in --config mode.
const readOnlyFault = "vitals lb runs from its configuration file (--config), which is the source of truth: change the file and reload (vitals lb reload or SIGHUP), or run vitals lb --db to manage it through this API."

// wantsJSON reports whether GET / is from an API client: it accepts
// application/json and not text/html (browsers ask for text/html first,
// gophercloud and keystoneauth ask for application/json), or it carries
// X-Auth-Token.
func wantsJSON(r *http.Request) bool {
	if r.Header.Get("X-Auth-Token") != "" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// mountAPI serves the Octavia API o on top of the lb's admin handler. With
// all set the API owns every path under /v2 and /v2.0 (--db mode);
// without (--config mode), it serves every read there, and the admin
// handler keeps what it serves: the member PUT that sets run-time
// admin_state_up and weight. Without all, reads over TCP need no token.
// gate, when not nil, wraps the API under /v2 and /v2.0 (--config mode:
// fileMirror.gate); version discovery at / goes around it.
func mountAPI(admin *http.ServeMux, o api.Options, all bool, gate func(http.Handler) http.Handler) (http.Handler, error) {
	h, err := api.New(o)
	if err != nil {
		return nil, err
	}
	var gated http.Handler = h
	if gate != nil {
		gated = gate(h)
	}
	tokenless := o.Token == ""
	serveAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		openRead := !all && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		if lb.IsLocal(r) || openRead {
			r = r.WithContext(api.WithTrusted(r.Context()))
		} else if tokenless && r.URL.Path != "/" {
			writeAPIFault(w, http.StatusForbidden, "The Octavia API over TCP needs a token: set admin.token_file (the admin unix socket needs none).")
			return
		}
		if r.URL.Path == "/" {
			h.ServeHTTP(w, r)
			return
		}
		gated.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if wantsJSON(r) {
			serveAPI(w, r)
			return
		}
		admin.ServeHTTP(w, r)
	})
	for _, p := range []string{"/v2", "/v2.0"} {
		if all {
			mux.Handle(p+"/", serveAPI)
			mux.Handle(p, serveAPI)
			continue
		}
		mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
			if _, pattern := admin.Handler(r); pattern != "" && pattern != "/" {
				admin.ServeHTTP(w, r)
				return
			}
			serveAPI(w, r)
		})
	}
	mux.Handle("/", admin)
	return mux, nil
}

// writeAPIFault answers with Octavia's error body.
func writeAPIFault(w http.ResponseWriter, code int, msg string) { model.WriteFault(w, code, msg) }

// planeStatuses reads operating statuses from the running plane. One
// status tree serves the lookups of statusTTL, so that listing n objects
// builds it once, not n times, as long as the running configuration is
// the same: a change (a member disabled) shows at once.
type planeStatuses struct {
	p     *lb.Plane
	mu    sync.Mutex
	built time.Time     // when the tree was done
	took  time.Duration // how long it took to build
	cfg   *lb.Config    // the configuration the tree was built for
	byID  map[string]string
}

// statusTTL is how long a status tree is reused: an answer is at most
// this old, far below any monitor's delay (at least 100 ms). A tree that
// takes longer than that to build (tens of thousands of members) is
// reused for as long as it took: otherwise every lookup of a listing
// would build it again.
const statusTTL = 20 * time.Millisecond

func (s *planeStatuses) OperatingStatus(_ api.Kind, id string) (model.OperatingStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now, cfg := time.Now(), s.p.Current(); s.byID == nil || now.Sub(s.built) > max(statusTTL, s.took) || cfg != s.cfg {
		s.byID, s.cfg = s.p.OperatingStatuses(), cfg
		s.built = time.Now()
		s.took = s.built.Sub(now)
	}
	st, ok := s.byID[id]
	return model.OperatingStatus(st), ok
}

// planeStats reads counters from the running plane.
type planeStats struct{ p *lb.Plane }

func (s planeStats) LoadBalancerStats(id string) (api.Stats, bool) {
	st, ok := s.p.LoadBalancerStats(id)
	return api.Stats(st), ok
}

func (s planeStats) ListenerStats(id string) (api.Stats, bool) {
	st, ok := s.p.ListenerStats(id)
	return api.Stats(st), ok
}

// storeWatch is the API's Applier: the controller waits on the store's
// revision, so a write needs no call; setting it makes the API write
// PENDING_* statuses that the controller settles.
type storeWatch struct{}

func (storeWatch) Changed(int64) {}

// runLBDB runs `vitals lb --db PATH|URL`: the store is the source of
// truth, a controller applies it to the running lb, and the Octavia API on
// the admin endpoint changes it. With a postgres:// store the process is
// one node of several (lbnodes.go).
//
// SIGHUP (reload) re-reads the settings file (load) and applies it; the
// admin addresses and the token need a restart.
func runLBDB(ctx context.Context, so storeOpts, settings *lb.Config, log *slog.Logger, o lb.RunOptions, reload <-chan struct{}, load func() (*lb.Config, error)) error {
	dbPath := so.name()
	s, err := openStore(ctx, so, log)
	if err != nil {
		return fmt.Errorf("open the store %s: %w", dbPath, err)
	}
	defer s.Close()
	o.Attach = func(p *lb.Plane) (http.Handler, error) {
		ctl := &controller.Controller{Store: s, Base: settings, Apply: p.Apply, Log: log}
		node, err := startNode(ctx, so, s, ctl, p, log)
		if err != nil {
			return nil, err
		}
		// The first round runs before anything is served; a configuration
		// that cannot be applied (a port that cannot bind) leaves its
		// objects ERROR and the lb running, so that the API can fix it.
		first, err := ctl.Reconcile(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the store %s: %w", dbPath, err)
		}
		if node != nil {
			node.Reconciled(first)
			go node.Run(ctx)
		}
		go runController(ctx, ctl, node, log)
		var reloadMu sync.Mutex
		reloadSettings := func() error {
			reloadMu.Lock()
			defer reloadMu.Unlock()
			next, err := load()
			if err != nil {
				log.Error("reload failed; the running settings stay", "err", err)
				return err
			}
			ctl.SetBase(next)
			log.Info("settings reloaded", "file", next.File)
			return nil
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-reload:
					reloadSettings()
				}
			}
		}()
		h, err := mountAPI(p.Admin, nodeAPI(apiOptions(s, settings, p, log, storeWatch{}, ""), node), true, nil)
		if err != nil {
			return nil, err
		}
		// POST /reload (vitals lb reload) re-reads the settings file, as
		// SIGHUP does; the store needs no reload.
		token := settings.Admin.Token()
		mux := http.NewServeMux()
		mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
			if !adminAllowed(r, token) {
				writeAPIFault(w, http.StatusUnauthorized, "A reload over TCP needs the admin token in X-Auth-Token.")
				return
			}
			if err := reloadSettings(); err != nil {
				writeAPIFault(w, http.StatusConflict, "Reload rejected; the running settings stay: "+err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"reloaded": true}`)
		})
		vrrpRoutes(mux, ctx, ctl, node, token)
		nodeRoutes(mux, node, token)
		mux.Handle("/", h)
		return mux, nil
	}
	return lb.RunWith(ctx, settings, log, o)
}

func apiOptions(s store.Store, cfg *lb.Config, p *lb.Plane, log *slog.Logger, a api.Applier, readOnly string) api.Options {
	set := lbyaml.Settings(cfg)
	return api.Options{
		Store: s, Token: cfg.Admin.Token(), Applier: a,
		Statuses: &planeStatuses{p: p}, Stats: planeStats{p}, Settings: &set,
		ReadOnly: readOnly, Logger: log,
	}
}

// fileMirror keeps an in-memory store equal to the running file
// configuration, for the read-only API of --config mode. It works on a
// goroutine of its own (run), so that applying a configuration (the
// first, a reload, a member's run-time change) does not wait for it: at
// tens of thousands of members the copy takes seconds. Every applied
// configuration gets the next generation; run copies only the newest
// when several came while it worked. API reads wait (wait) until the copy
// has caught up with the generation that was current when they came, so
// that they never show an older configuration than the one applied.
type fileMirror struct {
	s   store.Store
	ctl *controller.Controller
	log *slog.Logger

	mu       sync.Mutex
	next     *lb.Config    // the newest applied configuration, nil once run took it
	gen      uint64        // the generation of the newest applied configuration
	mirrored uint64        // the generation of the newest copy attempt that is done
	caught   chan struct{} // closed (and replaced) when mirrored advances
	kick     chan struct{} // wakes run; holds at most one wake-up
	stopped  chan struct{} // closed when run has returned
}

// mirrorHook, when set (by tests), is called by the mirror before each
// copy, so that a test can hold the copy back.
var mirrorHook func(ctx context.Context)

// mirrorWaitBound is how long an API read waits for the copy to catch up
// before it answers 503.
var mirrorWaitBound = 30 * time.Second

// errMirrorStopped is what wait returns once run has returned.
var errMirrorStopped = errors.New("vitals lb is shutting down")

// mirrorBehindFault is the 503 fault of a read whose wait ran out.
const mirrorBehindFault = "The Octavia API's copy of the configuration file is still being built (it is copied in the background after each start, reload and member change); retry in a moment."

func newFileMirror(ctx context.Context, log *slog.Logger) (*fileMirror, error) {
	s, err := sqlite.OpenMemory(ctx)
	if err != nil {
		return nil, err
	}
	// The controller only settles statuses here: lb.RunWith applies the
	// file itself.
	ctl := &controller.Controller{Store: s, Apply: func(*lb.Config) error { return nil }, KeepNoCopy: true}
	return &fileMirror{s: s, ctl: ctl, log: log,
		caught: make(chan struct{}), kick: make(chan struct{}, 1), stopped: make(chan struct{})}, nil
}

// applied takes a configuration that the lb applied (RunOptions.Applied):
// run copies it into the store. It does not wait.
func (m *fileMirror) applied(cfg *lb.Config) {
	m.mu.Lock()
	m.gen++
	m.next = cfg
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run copies the newest applied configuration into the store whenever
// there is one, until ctx ends.
func (m *fileMirror) run(ctx context.Context) {
	defer close(m.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		if mirrorHook != nil {
			mirrorHook(ctx)
		}
		m.mu.Lock()
		cfg, gen := m.next, m.gen
		m.next = nil
		m.mu.Unlock()
		if cfg == nil {
			continue
		}
		m.copy(ctx, cfg)
		// Done, even if it failed: the previous copy stays, and the reads
		// that wait for it go on with that.
		m.mu.Lock()
		m.mirrored = gen
		close(m.caught)
		m.caught = make(chan struct{})
		m.mu.Unlock()
	}
}

// copy replaces the store's content with cfg.
func (m *fileMirror) copy(ctx context.Context, cfg *lb.Config) {
	t, err := lbyaml.FromConfig(cfg)
	if err == nil {
		_, err = lbyaml.Replace(ctx, m.s, t)
	}
	if err == nil {
		m.ctl.SetBase(cfg)
		_, err = m.ctl.Reconcile(ctx)
	}
	if err != nil && ctx.Err() == nil {
		m.log.Error("the Octavia API's copy of the configuration file could not be updated; it shows the previous one", "err", err)
	}
}

// wait returns once the store holds the configuration that was applied
// last when wait was called (or a newer one), or an error when ctx ends,
// bound passes (context.DeadlineExceeded) or the mirror has stopped.
func (m *fileMirror) wait(ctx context.Context, bound time.Duration) error {
	m.mu.Lock()
	want := m.gen
	m.mu.Unlock()
	var timeout <-chan time.Time
	for {
		m.mu.Lock()
		done, caught := m.mirrored >= want, m.caught
		m.mu.Unlock()
		if done {
			return nil
		}
		if timeout == nil {
			t := time.NewTimer(bound)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-caught:
		case <-timeout:
			return context.DeadlineExceeded
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stopped:
			return errMirrorStopped
		}
	}
}

// gate holds API reads (GET, HEAD) back until the store has caught up
// with the configuration applied when they came (wait), and answers 503
// instead of a copy older than that.
func (m *fileMirror) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch err := m.wait(r.Context(), mirrorWaitBound); {
			case errors.Is(err, errMirrorStopped):
				writeAPIFault(w, http.StatusServiceUnavailable, "vitals lb is shutting down.")
				return
			case err != nil && r.Context().Err() != nil:
				return // the client is gone
			case err != nil:
				writeAPIFault(w, http.StatusServiceUnavailable, mirrorBehindFault)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
