package octavia

import (
	"net/http"
	"strings"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// lbChildren returns the IDs of the load balancer's listeners and pools.
func lbChildren(tx store.Tx, id string) (children, error) {
	var c children
	ls, err := tx.Listeners(id)
	if err != nil {
		return c, err
	}
	ps, err := tx.Pools(id)
	if err != nil {
		return c, err
	}
	for _, l := range ls {
		c.listeners = append(c.listeners, l.ID)
	}
	for _, p := range ps {
		c.pools = append(c.pools, p.ID)
	}
	return c, nil
}

func (h *Handler) listLoadBalancers(w http.ResponseWriter, r *http.Request) error {
	var views []any
	err := h.view(r.Context(), func(tx store.Tx) error {
		lbs, err := tx.LoadBalancers()
		if err != nil {
			return err
		}
		for i := range lbs {
			c, err := lbChildren(tx, lbs[i].ID)
			if err != nil {
				return err
			}
			views = append(views, h.lbView(&lbs[i], c))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "loadbalancers", loadBalancerView{}, views)
}

func (h *Handler) showLoadBalancer(w http.ResponseWriter, r *http.Request) error {
	var v loadBalancerView
	err := h.view(r.Context(), func(tx store.Tx) error {
		lb, err := tx.LoadBalancer(r.PathValue("id"))
		if err != nil {
			return err
		}
		c, err := lbChildren(tx, lb.ID)
		v = h.lbView(&lb, c)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, "loadbalancer", v)
}

func (h *Handler) createLoadBalancer(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "loadbalancer")
	if err != nil {
		return err
	}
	var req loadBalancerReq
	if err := b.decodeInto("loadbalancer", &req, nil); err != nil {
		return err
	}
	lb := model.NewLoadBalancer()
	req.apply(&lb)
	lb.ProvisioningStatus = h.provisioning(true)
	if err := validate(&lb); err != nil {
		return err
	}
	if err := h.update(r.Context(), func(tx store.Tx) error { return tx.CreateLoadBalancer(&lb) }); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"loadbalancer": h.lbView(&lb, children{})})
	return nil
}

func (h *Handler) updateLoadBalancer(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "loadbalancer")
	if err != nil {
		return err
	}
	lbDefaults := model.NewLoadBalancer()
	if err := b.resetNulls(h.lbView(&lbDefaults, children{})); err != nil {
		return err
	}
	var req loadBalancerReq
	if err := b.decodeInto("loadbalancer", &req, lbUpdateFields); err != nil {
		return err
	}
	var v loadBalancerView
	err = h.update(r.Context(), func(tx store.Tx) error {
		lb, err := tx.LoadBalancer(r.PathValue("id"))
		if err != nil {
			return err
		}
		if lb.ProvisioningStatus.Pending() {
			return fault(http.StatusConflict, msgImmutable, lb.ProvisioningStatus, lb.ID)
		}
		req.apply(&lb)
		lb.ProvisioningStatus = h.provisioning(false)
		if err := validate(&lb); err != nil {
			return err
		}
		if err := tx.UpdateLoadBalancer(&lb); err != nil {
			return err
		}
		c, err := lbChildren(tx, lb.ID)
		v = h.lbView(&lb, c)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"loadbalancer": v})
	return nil
}

func (h *Handler) deleteLoadBalancer(w http.ResponseWriter, r *http.Request) error {
	cascade := strings.EqualFold(r.URL.Query().Get("cascade"), "true")
	err := h.update(r.Context(), func(tx store.Tx) error {
		lb, err := tx.LoadBalancer(r.PathValue("id"))
		if err != nil {
			return err
		}
		if lb.ProvisioningStatus.Pending() {
			return fault(http.StatusConflict, msgImmutable, lb.ProvisioningStatus, lb.ID)
		}
		c, err := lbChildren(tx, lb.ID)
		if err != nil {
			return err
		}
		if !cascade && len(c.listeners)+len(c.pools) > 0 {
			return fault(http.StatusBadRequest, msgLBHasChildren, lb.ID)
		}
		return tx.DeleteLoadBalancer(lb.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
