package octavia

import (
	"fmt"
	"net/http"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

func (h *Handler) listListeners(w http.ResponseWriter, r *http.Request) error {
	var views []any
	err := h.view(r.Context(), func(tx store.Tx) error {
		ls, err := tx.Listeners("")
		for i := range ls {
			views = append(views, h.listenerView(&ls[i]))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "listeners", listenerView{}, views)
}

func (h *Handler) showListener(w http.ResponseWriter, r *http.Request) error {
	var v listenerView
	err := h.view(r.Context(), func(tx store.Tx) error {
		l, err := tx.Listener(r.PathValue("id"))
		v = h.listenerView(&l)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, "listener", v)
}

// checkDefaultPool checks l's default pool, if any, against l.
func checkDefaultPool(tx store.Tx, l *model.Listener) error {
	if l.DefaultPoolID == "" {
		return nil
	}
	p, err := tx.Pool(l.DefaultPoolID)
	if err != nil {
		return err
	}
	return model.CheckListenerPool(l, &p)
}

func duplicateListener(err error, l *model.Listener) error {
	return duplicate(err, store.ConstraintListenerPort,
		fmt.Sprintf("Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", l.Protocol, l.ProtocolPort))
}

// checkBind refuses l when a listener of another load balancer takes its
// address and port (the same address, or a wildcard over it): both could
// not open. Listeners of one load balancer are kept apart by the store's
// unique port.
func checkBind(tx store.Tx, l *model.Listener) error {
	addr := func(x *model.Listener) (string, error) {
		if x.BindAddress != "" {
			return x.BindAddress, nil
		}
		lb, err := tx.LoadBalancer(x.LoadBalancerID)
		if lb.VIPAddress == "" {
			lb.VIPAddress = "0.0.0.0"
		}
		return lb.VIPAddress, err
	}
	mine, err := addr(l)
	if err != nil {
		return err
	}
	all, err := tx.Listeners("")
	if err != nil {
		return err
	}
	for i := range all {
		o := &all[i]
		if o.ID == l.ID || o.LoadBalancerID == l.LoadBalancerID || o.ProtocolPort != l.ProtocolPort {
			continue
		}
		theirs, err := addr(o)
		if err != nil {
			return err
		}
		if model.BindsCollide(mine, theirs) {
			return fault(http.StatusConflict, "Listener %s of load balancer %s already uses %s port %d; listeners of different load balancers need different ports or addresses that do not overlap",
				o.ID, o.LoadBalancerID, theirs, o.ProtocolPort)
		}
	}
	return nil
}

func (h *Handler) createListener(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "listener")
	if err != nil {
		return err
	}
	var req listenerReq
	if err := b.decodeInto("listener", &req, nil); err != nil {
		return err
	}
	l := model.NewListener()
	req.apply(&l)
	l.ProvisioningStatus = h.provisioning(true)
	if err := validate(&l); err != nil {
		return err
	}
	err = h.update(r.Context(), func(tx store.Tx) error {
		if err := h.touchLoadBalancer(tx, l.LoadBalancerID); err != nil {
			return err
		}
		if err := checkDefaultPool(tx, &l); err != nil {
			return err
		}
		if err := checkBind(tx, &l); err != nil {
			return err
		}
		return duplicateListener(tx.CreateListener(&l), &l)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"listener": h.listenerView(&l)})
	return nil
}

func (h *Handler) updateListener(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "listener")
	if err != nil {
		return err
	}
	lDefaults := model.NewListener()
	if err := b.resetNulls(h.listenerView(&lDefaults)); err != nil {
		return err
	}
	var req listenerReq
	if err := b.decodeInto("listener", &req, listenerUpdateFields); err != nil {
		return err
	}
	var l model.Listener
	err = h.update(r.Context(), func(tx store.Tx) (err error) {
		if l, err = tx.Listener(r.PathValue("id")); err != nil {
			return err
		}
		req.apply(&l)
		l.ProvisioningStatus = h.provisioning(false)
		if err := validate(&l); err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, l.LoadBalancerID); err != nil {
			return err
		}
		if err := checkDefaultPool(tx, &l); err != nil {
			return err
		}
		if err := checkBind(tx, &l); err != nil {
			return err
		}
		return tx.UpdateListener(&l)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"listener": h.listenerView(&l)})
	return nil
}

func (h *Handler) deleteListener(w http.ResponseWriter, r *http.Request) error {
	err := h.update(r.Context(), func(tx store.Tx) error {
		l, err := tx.Listener(r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, l.LoadBalancerID); err != nil {
			return err
		}
		return tx.DeleteListener(l.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
