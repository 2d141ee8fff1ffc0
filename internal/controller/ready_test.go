package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"vitals/internal/lb"
	"vitals/internal/octavia"
)

// TestReadyHoldsActive: with Ready (several nodes), a good apply leaves
// the objects PENDING until Ready says yes; Poke asks again without
// applying; a failed apply writes ERROR at once, Ready or not.
func TestReadyHoldsActive(t *testing.T) {
	base, err := lb.Parse("base.yaml", []byte(lbFile))
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	var asked atomic.Int64
	h := &harness{t: t, s: openMemory(t), rec: &recorder{failPort: 18081}, rounds: make(chan Round, 100), done: make(chan error, 1)}
	h.ctl = &Controller{Store: h.s, Base: base, Apply: h.rec.apply, Reconciled: func(r Round) { h.rounds <- r },
		Ready: func(_ context.Context, rev int64) (bool, error) { asked.Store(rev); return ready.Load(), nil }}
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	go func() { h.done <- h.ctl.Run(ctx) }()
	t.Cleanup(h.stop)

	h.expect(h.next(), 0, true, false, 0)
	tr := h.importYAML(lbFile)
	r := h.next()
	h.expect(r, 1, true, false, 0)
	if !r.Running || asked.Load() != 1 {
		t.Errorf("round %+v, Ready asked for %d; want running, asked for 1", r, asked.Load())
	}
	for id, s := range h.statuses() {
		if s == octavia.ProvisioningActive {
			t.Errorf("%s ACTIVE before Ready", id)
		}
	}
	ready.Store(true)
	h.ctl.Poke()
	h.expect(h.next(), 1, false, false, 5)
	h.expect(h.next(), 2, false, false, 0)
	if n := h.rec.count(); n != 2 {
		t.Errorf("Apply called %d times, want 2 (Poke applies nothing)", n)
	}

	ready.Store(false)
	h.importYAML(strings.Replace(lbFile, "18080", "18081", 1))
	r = h.next()
	h.expect(r, 3, true, true, 1)
	if r.Running || r.LastErr == nil {
		t.Errorf("failed round %+v: want not running, with LastErr", r)
	}
	if st := h.statuses()[tr.Listeners[0].ID]; st != octavia.ProvisioningError {
		t.Errorf("listener %s after a failed apply with Ready false; want ERROR", st)
	}
}
