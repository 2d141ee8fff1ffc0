package octavia

import (
	"context"
	"time"
)

// NodeSource lists the vitals lb nodes that share the store, for the
// status tree's per-node extension: GET
// /v2/lbaas/loadbalancers/{id}/status?per_node=true adds "vitals_nodes",
// one entry per node with the operating statuses it observes for the
// objects of that tree. Without a NodeSource (one node) it adds nothing.
type NodeSource interface {
	NodeViews(ctx context.Context) ([]NodeView, error)
}

// NodeView is one node in "vitals_nodes".
type NodeView struct {
	Name string `json:"name"`
	// Alive: it reported within the node timeout.
	Alive bool `json:"alive"`
	// Active: the live MASTER whose view the status tree shows.
	Active bool `json:"active"`
	// Self: the node that answers.
	Self            bool      `json:"self"`
	LastSeen        time.Time `json:"last_seen"`
	AppliedRevision int64     `json:"applied_revision"`
	FailedRevision  int64     `json:"failed_revision,omitempty"`
	ApplyError      string    `json:"apply_error,omitempty"`
	VRRPRole        string    `json:"vrrp_role"`
	Serving         bool      `json:"serving"`
	// OperatingStatuses by object ID, as this node observes them.
	OperatingStatuses map[string]string `json:"operating_statuses"`
}

// perNode returns the nodes with their statuses cut down to ids.
func (h *Handler) perNode(ctx context.Context, ids map[string]bool) ([]NodeView, error) {
	views, err := h.opts.Nodes.NodeViews(ctx)
	if err != nil {
		return nil, err
	}
	for i := range views {
		st := map[string]string{}
		for id, s := range views[i].OperatingStatuses {
			if ids[id] {
				st[id] = s
			}
		}
		views[i].OperatingStatuses = st
	}
	return views, nil
}
