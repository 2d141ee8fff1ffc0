package octavia

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// Applier is what a controller implements to take over provisioning.
//
// Without one (Options.Applier nil) nothing applies the configuration
// asynchronously, so the API writes objects ACTIVE at once. With one,
// created objects are written PENDING_CREATE, updated ones
// PENDING_UPDATE, their load balancer PENDING_UPDATE, and writes under a
// load balancer in a PENDING_* status are refused with 409, as Octavia
// does; the controller sets ACTIVE or ERROR when it has applied the
// revision. Deletes remove objects from the store at once in both modes
// (the controller sees them gone).
type Applier interface {
	// Changed is called after each committed write with its revision.
	Changed(revision int64)
}

// Kind names a resource for StatusSource.
type Kind string

// The kinds.
const (
	KindLoadBalancer  Kind = "loadbalancer"
	KindListener      Kind = "listener"
	KindPool          Kind = "pool"
	KindMember        Kind = "member"
	KindHealthMonitor Kind = "healthmonitor"
)

// StatusSource reports observed operating statuses; ok false means the
// stored status stands (OFFLINE for a new object).
type StatusSource interface {
	OperatingStatus(kind Kind, id string) (status model.OperatingStatus, ok bool)
}

// Stats are a load balancer's or listener's counters.
type Stats struct {
	ActiveConnections int64 `json:"active_connections"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	RequestErrors     int64 `json:"request_errors"`
	TotalConnections  int64 `json:"total_connections"`
}

// StatsSource reports counters; ok false reads as zeros.
type StatsSource interface {
	LoadBalancerStats(id string) (Stats, bool)
	ListenerStats(id string) (Stats, bool)
}

// Options configure a Handler. Store is required.
type Options struct {
	Store store.Store
	// Token, when set, must be sent as X-Auth-Token with every request
	// but version discovery and those on a Trusted context.
	Token string
	// Applier, Statuses and Stats are optional; see their types.
	Applier  Applier
	Statuses StatusSource
	Stats    StatsSource
	// Settings are the operator's monitor settings; zero value: Octavia's
	// defaults.
	Settings *model.Settings
	// Nodes, when set, serves the status tree's per-node extension
	// (nodes.go).
	Nodes NodeSource
	// ReadOnly, when set, refuses every write with 403 and this text as
	// the fault string: in file mode the file is the source of truth,
	// and a write must say so rather than be dropped.
	ReadOnly string
	Logger   *slog.Logger
}

// Handler serves the Octavia v2 API.
type Handler struct {
	opts     Options
	settings model.Settings
	log      *slog.Logger
	mux      *http.ServeMux
	paths    map[string]bool // registered paths, for 405
}

// New returns a Handler, or an error for a missing store or a
// placeholder token.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("octavia api: no store")
	}
	if err := checkToken(opts.Token); err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, settings: model.DefaultSettings(), log: opts.Logger, mux: http.NewServeMux(), paths: map[string]bool{}}
	if opts.Settings != nil {
		h.settings = *opts.Settings
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes()
	return h, nil
}

// prefixes are the version prefixes Octavia serves.
var prefixes = []string{"/v2", "/v2.0"}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /{$}", h.versions)
	for _, p := range prefixes {
		b := p + "/lbaas/"
		h.handle("GET "+b+"loadbalancers", h.listLoadBalancers)
		h.handle("POST "+b+"loadbalancers", h.createLoadBalancer)
		h.handle("GET "+b+"loadbalancers/{id}", h.showLoadBalancer)
		h.handle("PUT "+b+"loadbalancers/{id}", h.updateLoadBalancer)
		h.handle("DELETE "+b+"loadbalancers/{id}", h.deleteLoadBalancer)
		h.handle("GET "+b+"loadbalancers/{id}/status", h.statusTree)
		h.handle("GET "+b+"loadbalancers/{id}/stats", h.loadBalancerStats)

		h.handle("GET "+b+"listeners", h.listListeners)
		h.handle("POST "+b+"listeners", h.createListener)
		h.handle("GET "+b+"listeners/{id}", h.showListener)
		h.handle("PUT "+b+"listeners/{id}", h.updateListener)
		h.handle("DELETE "+b+"listeners/{id}", h.deleteListener)
		h.handle("GET "+b+"listeners/{id}/stats", h.listenerStats)

		h.handle("GET "+b+"pools", h.listPools)
		h.handle("POST "+b+"pools", h.createPool)
		h.handle("GET "+b+"pools/{id}", h.showPool)
		h.handle("PUT "+b+"pools/{id}", h.updatePool)
		h.handle("DELETE "+b+"pools/{id}", h.deletePool)

		h.handle("GET "+b+"pools/{id}/members", h.listMembers)
		h.handle("POST "+b+"pools/{id}/members", h.createMember)
		h.handle("PUT "+b+"pools/{id}/members", h.batchMembers)
		h.handle("GET "+b+"pools/{id}/members/{mid}", h.showMember)
		h.handle("PUT "+b+"pools/{id}/members/{mid}", h.updateMember)
		h.handle("DELETE "+b+"pools/{id}/members/{mid}", h.deleteMember)

		h.handle("GET "+b+"healthmonitors", h.listHealthMonitors)
		h.handle("POST "+b+"healthmonitors", h.createHealthMonitor)
		h.handle("GET "+b+"healthmonitors/{id}", h.showHealthMonitor)
		h.handle("GET "+b+"providers", h.listProviders)
		h.handle("PUT "+b+"healthmonitors/{id}", h.updateHealthMonitor)
		h.handle("DELETE "+b+"healthmonitors/{id}", h.deleteHealthMonitor)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.serveFault(w, r, fault(http.StatusNotFound, "The resource could not be found."))
	})
}

// handle registers a handler that checks the token and turns its error
// into a fault.
func (h *Handler) handle(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
	// The first pattern of a path also answers its other methods: 405
	// with a fault, where ServeMux would write plain text.
	_, path, _ := strings.Cut(pattern, " ")
	if !h.paths[path] {
		h.paths[path] = true
		h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			h.serveFault(w, r, fault(http.StatusMethodNotAllowed, "The method %s is not allowed for this resource.", r.Method))
		})
	}
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if f := h.authenticate(r); f != nil {
			h.serveFault(w, r, f)
			return
		}
		if h.opts.ReadOnly != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.serveFault(w, r, fault(http.StatusForbidden, "%s", h.opts.ReadOnly))
			return
		}
		if err := fn(w, r); err != nil {
			f := toFault(err)
			if f.Code >= 500 && f.Code != http.StatusNotImplemented {
				h.log.Error("octavia api", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			h.serveFault(w, r, f)
		}
	})
}

func (h *Handler) serveFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	writeFault(w, f)
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// provisioning is the status a written object gets.
func (h *Handler) provisioning(created bool) model.ProvisioningStatus {
	switch {
	case h.opts.Applier == nil:
		return model.ProvisioningActive
	case created:
		return model.ProvisioningPendingCreate
	}
	return model.ProvisioningPendingUpdate
}

// touchLoadBalancer refuses a write under a load balancer that is
// PENDING_* and, with an Applier, marks it PENDING_UPDATE.
func (h *Handler) touchLoadBalancer(tx store.Tx, id string) error {
	lb, err := tx.LoadBalancer(id)
	if err != nil {
		return err
	}
	if lb.ProvisioningStatus.Pending() {
		return fault(http.StatusConflict, msgImmutable, lb.ProvisioningStatus, lb.ID)
	}
	if h.opts.Applier != nil {
		lb.ProvisioningStatus = model.ProvisioningPendingUpdate
		return tx.UpdateLoadBalancer(&lb)
	}
	return nil
}

// update runs fn in a write transaction and tells the Applier.
func (h *Handler) update(ctx context.Context, fn func(store.Tx) error) error {
	if err := h.opts.Store.Update(ctx, fn); err != nil {
		return err
	}
	if h.opts.Applier != nil {
		rev, err := h.opts.Store.Revision(ctx)
		if err != nil {
			return err
		}
		h.opts.Applier.Changed(rev)
	}
	return nil
}

func (h *Handler) view(ctx context.Context, fn func(store.Tx) error) error {
	return h.opts.Store.View(ctx, fn)
}

// operating is the observed operating status, or the stored one.
func (h *Handler) operating(k Kind, m *model.Meta) string {
	if h.opts.Statuses != nil {
		if s, ok := h.opts.Statuses.OperatingStatus(k, m.ID); ok {
			return string(s)
		}
	}
	return string(m.OperatingStatus)
}

// validate runs the model's validation; it is a separate step so that
// every handler reports field errors the same way.
func validate(v interface{ Validate() error }) error { return v.Validate() }
