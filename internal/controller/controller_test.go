package controller

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"vitals/internal/lb"
	"vitals/internal/lbyaml"
	"vitals/internal/octavia"
	"vitals/internal/store"
)

// recorder is a fake Apply (the real lb wiring is next): it records each
// configuration and fails those that listen on failPort.
type recorder struct {
	mu       sync.Mutex
	calls    []*lb.Config
	failPort int
}

func (r *recorder) apply(c *lb.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	for _, l := range c.LoadBalancers {
		for _, ls := range l.Listeners {
			if ls.ProtocolPort == r.failPort {
				return errors.New("listen tcp: address already in use")
			}
		}
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

const lbFile = `
loadbalancer:
  name: lb1
  listeners:
    - {name: web, protocol: TCP, protocol_port: 18080, default_pool: web}
  pools:
    - name: web
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 5, timeout: 3, max_retries: 2}
      members:
        - {name: a, address: 127.0.0.1, protocol_port: 19001}
`

// harness runs a controller on a real (in-memory SQLite) store and
// delivers its rounds.
type harness struct {
	t      *testing.T
	s      store.Store
	ctl    *Controller
	rec    *recorder
	rounds chan Round
	done   chan error
	cancel context.CancelFunc
}

func start(t *testing.T, failPort int) *harness {
	t.Helper()
	base, err := lb.Parse("base.yaml", []byte(lbFile))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, s: openMemory(t), rec: &recorder{failPort: failPort}, rounds: make(chan Round, 100), done: make(chan error, 1)}
	h.ctl = &Controller{Store: h.s, Base: base, Apply: h.rec.apply, Reconciled: func(r Round) { h.rounds <- r }}
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	go func() { h.done <- h.ctl.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if !errors.Is(err, context.Canceled) {
			h.t.Errorf("Run returned %v, want context.Canceled", err)
		}
		h.done <- err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return 10s after its context ended")
	}
}

// next returns the next round (bounded: 10 s).
func (h *harness) next() Round {
	h.t.Helper()
	select {
	case r := <-h.rounds:
		return r
	case <-time.After(10 * time.Second):
		h.t.Fatal("no reconcile round within 10s")
	}
	return Round{}
}

// importYAML imports a file's text and returns the tree.
func (h *harness) importYAML(y string) store.Snapshot {
	h.t.Helper()
	_, tr, err := lbyaml.Parse("lb.yaml", []byte(y))
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := lbyaml.Import(h.t.Context(), h.s, tr); err != nil {
		h.t.Fatal(err)
	}
	return tr
}

// statuses returns every object's provisioning status by ID.
func (h *harness) statuses() map[string]octavia.ProvisioningStatus {
	h.t.Helper()
	snap, err := store.Read(h.t.Context(), h.s)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]octavia.ProvisioningStatus{}
	for _, x := range snap.LoadBalancers {
		out[x.ID] = x.ProvisioningStatus
	}
	for _, x := range snap.Listeners {
		out[x.ID] = x.ProvisioningStatus
	}
	for _, x := range snap.Pools {
		out[x.ID] = x.ProvisioningStatus
	}
	for _, x := range snap.Members {
		out[x.ID] = x.ProvisioningStatus
	}
	for _, x := range snap.HealthMonitors {
		out[x.ID] = x.ProvisioningStatus
	}
	return out
}

// expect checks a round's shape.
func (h *harness) expect(r Round, rev int64, applied, failed bool, settled int) {
	h.t.Helper()
	if r.Revision != rev || r.Applied != applied || (r.Err != nil) != failed || r.Settled != settled {
		h.t.Errorf("round = %+v, want revision %d applied %v failed %v settled %d", r, rev, applied, failed, settled)
	}
}

// TestRunAppliesOncePerChange: an empty store is applied once; an import
// (one revision) is applied once with the new configuration and its
// objects become ACTIVE; the controller's own status write brings a round
// that applies nothing and writes nothing, so it does not loop.
func TestRunAppliesOncePerChange(t *testing.T) {
	h := start(t, 0)
	h.expect(h.next(), 0, true, false, 0) // the empty store
	if c := h.ctl.Current(); c == nil || len(c.LoadBalancers) != 0 {
		t.Fatalf("current after the empty store = %+v", c)
	}

	tr := h.importYAML(lbFile)
	objects := len(tr.LoadBalancers) + len(tr.Listeners) + len(tr.Pools) + len(tr.Members) + len(tr.HealthMonitors)
	h.expect(h.next(), 1, true, false, objects) // apply, then settle all
	h.expect(h.next(), 2, false, false, 0)      // its own status write
	if n := h.rec.count(); n != 2 {
		t.Errorf("Apply called %d times, want 2", n)
	}
	c := h.ctl.Current()
	if c != h.rec.calls[1] || len(c.LoadBalancers[0].Listeners) != 1 || c.LoadBalancers[0].Listeners[0].ID != tr.Listeners[0].ID || c.LoadBalancers[0].Pools[0].Monitor == nil {
		t.Errorf("current = %+v, want the imported configuration", c.LoadBalancers[0])
	}
	for id, s := range h.statuses() {
		if s != octavia.ProvisioningActive {
			t.Errorf("%s is %s, want ACTIVE", id, s)
		}
	}

	// A change: one member more and another algorithm.
	edited := strings.Replace(lbFile, "ROUND_ROBIN", "LEAST_CONNECTIONS", 1) + "        - {name: b, address: 127.0.0.1, protocol_port: 19002}\n"
	h.importYAML(edited)
	h.expect(h.next(), 3, true, false, 2) // the pool (updated) and member b (created)
	h.expect(h.next(), 4, false, false, 0)
	if n := h.rec.count(); n != 3 {
		t.Errorf("Apply called %d times, want 3", n)
	}
	if p := h.ctl.Current().LoadBalancers[0].Pools[0]; p.LBAlgorithm != "LEAST_CONNECTIONS" || len(p.Members) != 2 {
		t.Errorf("current pool = %s with %d members, want LEAST_CONNECTIONS with 2", p.LBAlgorithm, len(p.Members))
	}

	// A status-only write by someone else (as the health status publisher
	// will write operating_status) applies nothing.
	if err := h.s.Update(t.Context(), func(tx store.Tx) error {
		m, err := tx.Member(tr.Members[0].ID)
		if err != nil {
			return err
		}
		m.OperatingStatus = octavia.OperatingOnline
		return tx.UpdateMember(&m)
	}); err != nil {
		t.Fatal(err)
	}
	h.expect(h.next(), 5, false, false, 0)
	h.stop()
	if n := h.rec.count(); n != 3 {
		t.Errorf("Apply called %d times in all, want 3", n)
	}
	if len(h.rounds) != 0 {
		t.Errorf("%d rounds more than expected (a loop?): %+v", len(h.rounds), <-h.rounds)
	}
}

// TestRunFailedApply: an Apply that fails marks the pending objects ERROR,
// leaves the others ACTIVE and keeps the previous configuration; it is not
// retried until the store changes, and a good change makes all ACTIVE.
func TestRunFailedApply(t *testing.T) {
	h := start(t, 18081)
	h.expect(h.next(), 0, true, false, 0)
	tr := h.importYAML(lbFile)
	h.expect(h.next(), 1, true, false, 5)
	h.expect(h.next(), 2, false, false, 0)
	good := h.ctl.Current()

	bad := strings.Replace(lbFile, "18080", "18081", 1) // a port that "cannot bind"
	h.importYAML(bad)
	r := h.next()
	h.expect(r, 3, true, true, 1) // the listener, PENDING_UPDATE → ERROR
	if r.Err == nil || !strings.Contains(r.Err.Error(), "address already in use") {
		t.Errorf("round error = %v", r.Err)
	}
	h.expect(h.next(), 4, false, false, 0) // its own write: no retry
	if h.ctl.Current() != good {
		t.Error("a failed apply replaced the current configuration")
	}
	st := h.statuses()
	if st[tr.Listeners[0].ID] != octavia.ProvisioningError {
		t.Errorf("listener is %s, want ERROR", st[tr.Listeners[0].ID])
	}
	if st[tr.Pools[0].ID] != octavia.ProvisioningActive || st[tr.Members[0].ID] != octavia.ProvisioningActive {
		t.Errorf("unchanged objects: pool %s, member %s; want ACTIVE", st[tr.Pools[0].ID], st[tr.Members[0].ID])
	}
	if n := h.rec.count(); n != 3 {
		t.Errorf("Apply called %d times, want 3", n)
	}

	// Fixing the port applies again, and everything is ACTIVE.
	h.importYAML(strings.Replace(lbFile, "18080", "18082", 1))
	h.expect(h.next(), 5, true, false, 1)
	h.expect(h.next(), 6, false, false, 0)
	if c := h.ctl.Current(); c == good || c.LoadBalancers[0].Listeners[0].ProtocolPort != 18082 {
		t.Errorf("current listener port = %d, want 18082", c.LoadBalancers[0].Listeners[0].ProtocolPort)
	}
	for id, s := range h.statuses() {
		if s != octavia.ProvisioningActive {
			t.Errorf("%s is %s, want ACTIVE", id, s)
		}
	}
}

// TestRunPendingDelete: an object marked PENDING_DELETE (as the API will
// mark it) is left out of the applied configuration and deleted once the
// apply succeeded.
func TestRunPendingDelete(t *testing.T) {
	h := start(t, 0)
	h.expect(h.next(), 0, true, false, 0)
	tr := h.importYAML(lbFile + "        - {name: b, address: 127.0.0.1, protocol_port: 19002}\n")
	h.expect(h.next(), 1, true, false, 6)
	h.expect(h.next(), 2, false, false, 0)
	gone := tr.Members[1].ID
	if err := h.s.Update(t.Context(), func(tx store.Tx) error {
		m, err := tx.Member(gone)
		if err != nil {
			return err
		}
		m.ProvisioningStatus = octavia.ProvisioningPendingDelete
		return tx.UpdateMember(&m)
	}); err != nil {
		t.Fatal(err)
	}
	h.expect(h.next(), 3, true, false, 1)
	h.expect(h.next(), 4, false, false, 0)
	if ms := h.ctl.Current().LoadBalancers[0].Pools[0].Members; len(ms) != 1 || ms[0].ID == gone {
		t.Errorf("applied members = %+v, want only a", ms)
	}
	if _, ok := h.statuses()[gone]; ok {
		t.Error("the PENDING_DELETE member is still in the store")
	}
	if n := h.rec.count(); n != 3 {
		t.Errorf("Apply called %d times, want 3", n)
	}
}

// importedLBFile returns lbFile as process settings and a store it was
// imported into.
func importedLBFile(t *testing.T) (*lb.Config, store.Store) {
	t.Helper()
	base, err := lb.Parse("base.yaml", []byte(lbFile))
	if err != nil {
		t.Fatal(err)
	}
	_, tr, err := lbyaml.Parse("lb.yaml", []byte(lbFile))
	if err != nil {
		t.Fatal(err)
	}
	s := openMemory(t)
	if _, err := lbyaml.Import(t.Context(), s, tr); err != nil {
		t.Fatal(err)
	}
	return base, s
}

// TestReconcileAtStart: one synchronous round before Run reports a first
// configuration that cannot be applied, and Run then does not apply the
// same configuration again.
func TestReconcileAtStart(t *testing.T) {
	base, s := importedLBFile(t)
	rec := &recorder{failPort: 18080}
	rounds := make(chan Round, 10)
	c := &Controller{Store: s, Base: base, Apply: rec.apply, Reconciled: func(r Round) { rounds <- r }}
	r, err := c.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Err == nil || !r.Applied || r.Settled != 5 || c.Current() != nil {
		t.Fatalf("first round = %+v, current %v; want a failed apply that marks 5 objects ERROR", r, c.Current())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case r := <-rounds:
		if r.Applied || r.Revision != 2 {
			t.Errorf("Run's first round = %+v, want revision 2 without an apply", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no round within 10s")
	}
	cancel()
	<-done
	if n := rec.count(); n != 1 {
		t.Errorf("Apply called %d times, want 1", n)
	}
}

// TestSetBase: new process settings (a reloaded settings file) are
// applied at once although the store did not change.
func TestSetBase(t *testing.T) {
	h := start(t, 0)
	h.expect(h.next(), 0, true, false, 0)
	h.importYAML(lbFile)
	h.expect(h.next(), 1, true, false, 5)
	h.expect(h.next(), 2, false, false, 0)
	nb, err := lb.Parse("new-base.yaml", []byte("shutdown_grace: 2s\n"+lbFile))
	if err != nil {
		t.Fatal(err)
	}
	h.ctl.SetBase(nb)
	h.expect(h.next(), 2, true, false, 0)
	if c := h.ctl.Current(); c.Grace != 2*time.Second || c.File != "new-base.yaml" {
		t.Errorf("current grace %s from %s, want 2s from new-base.yaml", c.Grace, c.File)
	}
	if n := h.rec.count(); n != 3 {
		t.Errorf("Apply called %d times, want 3", n)
	}
}

// TestKeepNoCopy: a controller that keeps no copy applies at every round
// (it cannot tell an unchanged store) and still settles the statuses,
// but holds neither the configuration nor the snapshot afterwards.
func TestKeepNoCopy(t *testing.T) {
	base, s := importedLBFile(t)
	rec := &recorder{}
	c := &Controller{Store: s, Base: base, Apply: rec.apply, KeepNoCopy: true}
	r, err := c.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Err != nil || !r.Applied || r.Settled != 5 {
		t.Fatalf("first round = %+v; want an apply that settles 5 objects", r)
	}
	if c.Current() != nil || c.last != nil {
		t.Errorf("after a round: current %v, last snapshot held %v; want neither kept", c.Current() != nil, c.last != nil)
	}
	r, err = c.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Applied || r.Settled != 0 {
		t.Errorf("second round on the same store = %+v; want an apply and nothing left to settle", r)
	}
	if n := rec.count(); n != 2 {
		t.Errorf("Apply called %d times, want 2", n)
	}
}
