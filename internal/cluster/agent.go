// Package cluster lets several vitals lb nodes share one store: each node reports its liveness, the revision it runs, its VRRP role and the statuses it observes; a revision settles ACTIVE once every live node runs it; the status tree answers with the active node's view.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"vitals/internal/controller"
	"vitals/internal/store"
)

// Defaults of Options.
const (
	DefaultHeartbeat = time.Second
	DefaultTimeout   = 5 * time.Second
)

// Options configure an Agent.
type Options struct {
	// Name is this node's name, unique among the nodes. Required.
	Name string
	// Store is the shared store; it must keep nodes (store.Nodes).
	// Required.
	Store store.Store
	// Heartbeat is how often the node reports. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// Timeout is how long a node counts as alive after its last report.
	// Default DefaultTimeout; it must exceed Heartbeat.
	Timeout time.Duration
	// Statuses returns the operating statuses this node observes, by
	// object ID. Required.
	Statuses func() map[string]string
	// Serving reports whether this node's listeners run a configuration
	// from the store. Required.
	Serving func() bool
	// Poke makes the controller reconcile again (controller.Poke), when
	// a revision waits for other nodes. Optional.
	Poke func()
	Log  *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Agent is one node's part: it reports, reads the others' reports, and
// answers the controller's Ready.
type Agent struct {
	o     Options
	nodes store.Nodes
	kick  chan struct{}

	mu        sync.Mutex
	role      string
	applied   int64 // latest revision whose configuration runs here
	failed    int64 // latest revision that failed to apply here, 0 after a success
	applyErr  string
	storeUp   bool
	downSince time.Time
	seen      []store.Node // the nodes at the last successful read
	waiting   bool         // Ready said no: poke after the next reports
}

// New returns an Agent; Run starts it.
func New(o Options) (*Agent, error) {
	ns, ok := o.Store.(store.Nodes)
	switch {
	case !ok:
		return nil, fmt.Errorf("cluster: the store %T does not keep nodes", o.Store)
	case o.Name == "":
		return nil, errors.New("cluster: no node name")
	case o.Statuses == nil || o.Serving == nil:
		return nil, errors.New("cluster: Statuses and Serving are required")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout <= o.Heartbeat {
		return nil, fmt.Errorf("cluster: the node timeout %s must exceed the heartbeat %s", o.Timeout, o.Heartbeat)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Agent{o: o, nodes: ns, kick: make(chan struct{}, 1), storeUp: true}, nil
}

// Name is this node's name.
func (a *Agent) Name() string { return a.o.Name }

// Timeout is the liveness timeout.
func (a *Agent) Timeout() time.Duration { return a.o.Timeout }

// Run reports every Heartbeat (and at once after a change) until ctx
// ends, then removes nothing: a stopped node shows as gone after Timeout.
func (a *Agent) Run(ctx context.Context) {
	t := time.NewTicker(a.o.Heartbeat)
	defer t.Stop()
	for {
		a.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
	}
}

// Kick makes Run report now.
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// beat writes this node's report and reads everyone's.
func (a *Agent) beat(ctx context.Context) {
	// A report must not outlive the next one: a database that hangs is
	// as down as one that refuses.
	ctx, cancel := context.WithTimeout(ctx, max(2*a.o.Heartbeat, 2*time.Second))
	defer cancel()
	r := a.report()
	err := a.nodes.ReportNode(ctx, r, a.o.Now())
	var seen []store.Node
	if err == nil {
		seen, err = a.nodes.ListNodes(ctx)
	}
	if ctx.Err() != nil && err != nil && errors.Is(err, context.Canceled) {
		return // stopping
	}
	a.mu.Lock()
	wasUp, waiting := a.storeUp, a.waiting
	a.storeUp = err == nil
	if err == nil {
		a.seen = seen
	} else if wasUp {
		a.downSince = a.o.Now()
	}
	a.mu.Unlock()
	switch {
	case err != nil && wasUp:
		a.o.Log.Error("the store is unreachable: this node keeps serving its last applied configuration; API writes fail with 503 until it returns",
			"node", a.o.Name, "applied_revision", r.AppliedRevision, "err", err)
	case err == nil && !wasUp:
		a.o.Log.Info("the store is reachable again; catching up", "node", a.o.Name, "applied_revision", r.AppliedRevision)
		if a.o.Poke != nil {
			a.o.Poke()
		}
	case err == nil && waiting && a.o.Poke != nil:
		a.o.Poke()
	}
}

func (a *Agent) report() store.NodeReport {
	statuses := a.o.Statuses()
	serving := a.o.Serving()
	a.mu.Lock()
	defer a.mu.Unlock()
	return store.NodeReport{Name: a.o.Name, AppliedRevision: a.applied, FailedRevision: a.failed, ApplyError: a.applyErr,
		VRRPRole: a.role, Serving: serving, Statuses: statuses}
}

// Reconciled records what a controller round left running; set it as
// controller.Controller.Reconciled.
func (a *Agent) Reconciled(r controller.Round) {
	a.mu.Lock()
	before := [2]int64{a.applied, a.failed}
	if r.Running {
		a.applied, a.failed, a.applyErr = max(a.applied, r.Revision), 0, ""
	} else if r.Err != nil {
		a.failed, a.applyErr = r.Revision, r.Err.Error()
	}
	changed := before != [2]int64{a.applied, a.failed}
	a.mu.Unlock()
	if changed {
		a.Kick()
	}
}

// Ready reports whether every live node runs revision rev; set it as
// controller.Controller.Ready. It reads the nodes anew.
func (a *Agent) Ready(ctx context.Context, rev int64) (bool, error) {
	seen, err := a.nodes.ListNodes(ctx)
	if err != nil {
		return false, err
	}
	now := a.o.Now()
	ok := false
	for _, n := range seen {
		if !n.Alive(now, a.o.Timeout) {
			continue
		}
		if n.AppliedRevision < rev {
			ok = false
			break
		}
		ok = ok || n.Name == a.o.Name
	}
	if !slices.ContainsFunc(seen, func(n store.Node) bool { return n.Name == a.o.Name }) {
		ok = false // this node has not reported yet
	}
	a.mu.Lock()
	a.seen, a.waiting = seen, !ok
	a.mu.Unlock()
	return ok, nil
}

// SetRole records the VRRP role keepalived reports (store.RoleMaster,
// RoleBackup, RoleFault) and reports it at once.
func (a *Agent) SetRole(role string) error {
	switch role {
	case store.RoleMaster, store.RoleBackup, store.RoleFault:
	default:
		return fmt.Errorf("unknown VRRP state %q: want MASTER, BACKUP or FAULT", role)
	}
	a.mu.Lock()
	old := a.role
	a.role = role
	a.mu.Unlock()
	if old != role {
		a.o.Log.Info("VRRP state", "node", a.o.Name, "from", old, "to", role)
	}
	a.Kick()
	return nil
}

// State is this node's own view of itself.
type State struct {
	Role            string
	StoreUp         bool
	DownSince       time.Time // when StoreUp went false
	AppliedRevision int64
	FailedRevision  int64
}

// State returns this node's state.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return State{Role: a.role, StoreUp: a.storeUp, DownSince: a.downSince, AppliedRevision: a.applied, FailedRevision: a.failed}
}

// Nodes returns the nodes as last read (at most a heartbeat old).
func (a *Agent) Nodes() []store.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// ReadNodes reads the nodes from the store now.
func (a *Agent) ReadNodes(ctx context.Context) ([]store.Node, error) {
	return a.nodes.ListNodes(ctx)
}

// Active returns the active node among nodes: the live MASTER that
// reported last; ok is false when no live node is MASTER.
func (a *Agent) Active(nodes []store.Node) (store.Node, bool) {
	now := a.o.Now()
	var best store.Node
	ok := false
	for _, n := range nodes {
		if n.VRRPRole == store.RoleMaster && n.Alive(now, a.o.Timeout) && (!ok || n.LastSeen.After(best.LastSeen)) {
			best, ok = n, true
		}
	}
	return best, ok
}
