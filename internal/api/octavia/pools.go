package octavia

import (
	"net/http"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// poolChildren returns what a pool shows of its relations: the
// listeners using it as default pool, its members and its monitor.
func poolChildren(tx store.Tx, p *model.Pool) (children, error) {
	var c children
	ls, err := tx.Listeners(p.LoadBalancerID)
	if err != nil {
		return c, err
	}
	for _, l := range ls {
		if l.DefaultPoolID == p.ID {
			c.poolListeners = append(c.poolListeners, l.ID)
		}
	}
	ms, err := tx.Members(p.ID)
	if err != nil {
		return c, err
	}
	for _, m := range ms {
		c.members = append(c.members, m.ID)
	}
	hms, err := tx.HealthMonitors(p.ID)
	if len(hms) > 0 {
		c.monitor = hms[0].ID
	}
	return c, err
}

func (h *Handler) listPools(w http.ResponseWriter, r *http.Request) error {
	var views []any
	err := h.view(r.Context(), func(tx store.Tx) error {
		ps, err := tx.Pools("")
		if err != nil {
			return err
		}
		for i := range ps {
			c, err := poolChildren(tx, &ps[i])
			if err != nil {
				return err
			}
			views = append(views, h.poolView(&ps[i], c))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "pools", poolView{}, views)
}

func (h *Handler) showPool(w http.ResponseWriter, r *http.Request) error {
	var v poolView
	err := h.view(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		c, err := poolChildren(tx, &p)
		v = h.poolView(&p, c)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, "pool", v)
}

func (h *Handler) createPool(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "pool")
	if err != nil {
		return err
	}
	var req poolReq
	if err := b.decodeInto("pool", &req, nil); err != nil {
		return err
	}
	p := model.NewPool()
	req.apply(&p, b.fields)
	p.ProvisioningStatus = h.provisioning(true)
	listenerID := ""
	if req.ListenerID != nil {
		listenerID = *req.ListenerID
	}
	if listenerID == "" && p.LoadBalancerID == "" {
		return fault(http.StatusBadRequest, "Validation failure: loadbalancer_id or listener_id must be specified.")
	}
	var v poolView
	err = h.update(r.Context(), func(tx store.Tx) error {
		var l model.Listener
		if listenerID != "" {
			var err error
			if l, err = tx.Listener(listenerID); err != nil {
				return err
			}
			if p.LoadBalancerID == "" {
				p.LoadBalancerID = l.LoadBalancerID
			}
			if l.DefaultPoolID != "" {
				return fault(http.StatusConflict, msgHasDefaultPool)
			}
		}
		if err := validate(&p); err != nil {
			return err
		}
		if listenerID != "" {
			if err := model.CheckListenerPool(&l, &p); err != nil {
				return err
			}
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		if err := tx.CreatePool(&p); err != nil {
			return err
		}
		var c children
		if listenerID != "" {
			l.DefaultPoolID = p.ID
			if err := tx.UpdateListener(&l); err != nil {
				return err
			}
			c.poolListeners = []string{l.ID}
		}
		v = h.poolView(&p, c)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"pool": v})
	return nil
}

func (h *Handler) updatePool(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "pool")
	if err != nil {
		return err
	}
	pDefaults := model.NewPool()
	if err := b.resetNulls(h.poolView(&pDefaults, children{})); err != nil {
		return err
	}
	var req poolReq
	if err := b.decodeInto("pool", &req, poolUpdateFields); err != nil {
		return err
	}
	var v poolView
	err = h.update(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		req.apply(&p, b.fields)
		p.ProvisioningStatus = h.provisioning(false)
		if err := validate(&p); err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		if err := tx.UpdatePool(&p); err != nil {
			return err
		}
		c, err := poolChildren(tx, &p)
		v = h.poolView(&p, c)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pool": v})
	return nil
}

func (h *Handler) deletePool(w http.ResponseWriter, r *http.Request) error {
	err := h.update(r.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		return tx.DeletePool(p.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
