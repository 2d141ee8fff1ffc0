package octavia

import (
	"net/http"

	"vitals/internal/store"
)

// The status tree of GET /loadbalancers/{id}/status.

type statusNode struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
}

type monitorStatus struct {
	statusNode
	Type string `json:"type"`
}

type memberStatus struct {
	statusNode
	Address      string `json:"address"`
	ProtocolPort int    `json:"protocol_port"`
}

// poolStatus carries the monitor twice: health_monitor as Octavia's
// server writes it, healthmonitor as its api-ref and gophercloud read it.
type poolStatus struct {
	statusNode
	HealthMonitor  *monitorStatus `json:"health_monitor,omitempty"`
	HealthMonitor2 *monitorStatus `json:"healthmonitor,omitempty"`
	Members        []memberStatus `json:"members"`
}

type listenerStatus struct {
	statusNode
	Pools []poolStatus `json:"pools"`
}

type loadBalancerStatus struct {
	statusNode
	Listeners []listenerStatus `json:"listeners"`
}

func (h *Handler) statusTree(w http.ResponseWriter, r *http.Request) error {
	var tree loadBalancerStatus
	err := h.view(r.Context(), func(tx store.Tx) error {
		lb, err := tx.LoadBalancer(r.PathValue("id"))
		if err != nil {
			return err
		}
		tree.statusNode = statusNode{lb.ID, lb.Name, h.operating(KindLoadBalancer, &lb.Meta), string(lb.ProvisioningStatus)}
		tree.Listeners = []listenerStatus{}
		ls, err := tx.Listeners(lb.ID)
		if err != nil {
			return err
		}
		for _, l := range ls {
			node := listenerStatus{statusNode: statusNode{l.ID, l.Name, h.operating(KindListener, &l.Meta), string(l.ProvisioningStatus)}, Pools: []poolStatus{}}
			if l.DefaultPoolID != "" {
				p, err := tx.Pool(l.DefaultPoolID)
				if err != nil {
					return err
				}
				ps := poolStatus{statusNode: statusNode{p.ID, p.Name, h.operating(KindPool, &p.Meta), string(p.ProvisioningStatus)}, Members: []memberStatus{}}
				hms, err := tx.HealthMonitors(p.ID)
				if err != nil {
					return err
				}
				for _, hm := range hms {
					ms := &monitorStatus{statusNode{hm.ID, hm.Name, h.operating(KindHealthMonitor, &hm.Meta), string(hm.ProvisioningStatus)}, hm.Type}
					ps.HealthMonitor, ps.HealthMonitor2 = ms, ms
				}
				members, err := tx.Members(p.ID)
				if err != nil {
					return err
				}
				for _, m := range members {
					ps.Members = append(ps.Members, memberStatus{statusNode{m.ID, m.Name, h.memberOperating(&m, len(hms) > 0), string(m.ProvisioningStatus)}, m.Address, m.ProtocolPort})
				}
				node.Pools = append(node.Pools, ps)
			}
			tree.Listeners = append(tree.Listeners, node)
		}
		return nil
	})
	if err != nil {
		return err
	}
	body := map[string]any{"statuses": map[string]any{"loadbalancer": tree}}
	if h.opts.Nodes != nil && r.URL.Query().Get("per_node") == "true" {
		nodes, err := h.perNode(r.Context(), tree.ids())
		if err != nil {
			return err
		}
		body["vitals_nodes"] = nodes
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// ids are the IDs of every object in the tree.
func (t *loadBalancerStatus) ids() map[string]bool {
	ids := map[string]bool{t.ID: true}
	for _, l := range t.Listeners {
		ids[l.ID] = true
		for _, p := range l.Pools {
			ids[p.ID] = true
			if p.HealthMonitor != nil {
				ids[p.HealthMonitor.ID] = true
			}
			for _, m := range p.Members {
				ids[m.ID] = true
			}
		}
	}
	return ids
}

func (h *Handler) loadBalancerStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := h.view(r.Context(), func(tx store.Tx) error { _, err := tx.LoadBalancer(id); return err })
	if err != nil {
		return err
	}
	var s Stats
	if h.opts.Stats != nil {
		s, _ = h.opts.Stats.LoadBalancerStats(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": s})
	return nil
}

func (h *Handler) listenerStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := h.view(r.Context(), func(tx store.Tx) error { _, err := tx.Listener(id); return err })
	if err != nil {
		return err
	}
	var s Stats
	if h.opts.Stats != nil {
		s, _ = h.opts.Stats.ListenerStats(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stats": s})
	return nil
}
