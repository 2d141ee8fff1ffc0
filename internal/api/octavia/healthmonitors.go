package octavia

import (
	"net/http"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

func (h *Handler) listHealthMonitors(w http.ResponseWriter, r *http.Request) error {
	var views []any
	err := h.view(r.Context(), func(tx store.Tx) error {
		hms, err := tx.HealthMonitors("")
		for i := range hms {
			views = append(views, h.monitorView(&hms[i]))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeList(w, r, "healthmonitors", healthMonitorView{}, views)
}

func (h *Handler) showHealthMonitor(w http.ResponseWriter, r *http.Request) error {
	var v healthMonitorView
	err := h.view(r.Context(), func(tx store.Tx) error {
		hm, err := tx.HealthMonitor(r.PathValue("id"))
		v = h.monitorView(&hm)
		return err
	})
	if err != nil {
		return err
	}
	return writeOne(w, r, "healthmonitor", v)
}

// checkMonitor checks hm against its pool and marks the pool's load
// balancer.
func (h *Handler) checkMonitor(tx store.Tx, hm *model.HealthMonitor) error {
	p, err := tx.Pool(hm.PoolID)
	if err != nil {
		return err
	}
	if err := model.CheckMonitorPool(hm, p.Protocol, h.settings); err != nil {
		return err
	}
	return h.touchLoadBalancer(tx, p.LoadBalancerID)
}

func (h *Handler) createHealthMonitor(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "healthmonitor")
	if err != nil {
		return err
	}
	var req healthMonitorReq
	if err := b.decodeInto("healthmonitor", &req, nil); err != nil {
		return err
	}
	hm := model.NewHealthMonitor()
	req.apply(&hm)
	hm.ApplyDefaults()
	hm.ProvisioningStatus = h.provisioning(true)
	if err := validate(&hm); err != nil {
		return err
	}
	err = h.update(r.Context(), func(tx store.Tx) error {
		if err := h.checkMonitor(tx, &hm); err != nil {
			return err
		}
		return tx.CreateHealthMonitor(&hm)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"healthmonitor": h.monitorView(&hm)})
	return nil
}

func (h *Handler) updateHealthMonitor(w http.ResponseWriter, r *http.Request) error {
	b, err := readEnvelope(r, "healthmonitor")
	if err != nil {
		return err
	}
	var hm model.HealthMonitor
	err = h.update(r.Context(), func(tx store.Tx) (err error) {
		if hm, err = tx.HealthMonitor(r.PathValue("id")); err != nil {
			return err
		}
		// A null resets a field to the default of the monitor's type.
		defaults := model.NewHealthMonitor()
		defaults.Type = hm.Type
		defaults.ApplyDefaults()
		if err := b.resetNulls(h.monitorView(&defaults)); err != nil {
			return err
		}
		var req healthMonitorReq
		if err := b.decodeInto("healthmonitor", &req, monitorUpdateFields); err != nil {
			return err
		}
		req.apply(&hm)
		hm.ProvisioningStatus = h.provisioning(false)
		if err := validate(&hm); err != nil {
			return err
		}
		if err := h.checkMonitor(tx, &hm); err != nil {
			return err
		}
		return tx.UpdateHealthMonitor(&hm)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"healthmonitor": h.monitorView(&hm)})
	return nil
}

func (h *Handler) deleteHealthMonitor(w http.ResponseWriter, r *http.Request) error {
	err := h.update(r.Context(), func(tx store.Tx) error {
		hm, err := tx.HealthMonitor(r.PathValue("id"))
		if err != nil {
			return err
		}
		p, err := tx.Pool(hm.PoolID)
		if err != nil {
			return err
		}
		if err := h.touchLoadBalancer(tx, p.LoadBalancerID); err != nil {
			return err
		}
		return tx.DeleteHealthMonitor(hm.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
