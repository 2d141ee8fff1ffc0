package lb

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// NodeSummary is one node of a shared store as GET /nodes lists it (the
// per-node status view's entry without its operating statuses).
type NodeSummary struct {
	Name string `json:"name"`
	// Alive: the node reported within the node timeout.
	Alive bool `json:"alive"`
	// Active: the live MASTER whose view the status tree shows.
	Active bool `json:"active"`
	// Self: the node that answered.
	Self            bool      `json:"self"`
	LastSeen        time.Time `json:"last_seen"`
	AppliedRevision int64     `json:"applied_revision"`
	// FailedRevision is the latest revision the node failed to apply,
	// with ApplyError; 0 when its last apply succeeded.
	FailedRevision int64  `json:"failed_revision"`
	ApplyError     string `json:"apply_error"`
	VRRPRole       string `json:"vrrp_role"`
	Serving        bool   `json:"serving"`
}

// NodeList is the body of GET /nodes.
type NodeList struct {
	Nodes []NodeSummary `json:"nodes"`
	// Timeout is the node timeout the answering node counts liveness
	// with, in seconds.
	Timeout float64 `json:"node_timeout_seconds"`
}

// Nodes lists the nodes that share the store (GET /nodes).
func (c *Client) Nodes(ctx context.Context) (NodeList, error) {
	var v NodeList
	err := c.get(ctx, "/nodes", &v)
	return v, err
}

// ForgetNode removes a gone node from the shared store (DELETE
// /nodes/{name}) and returns it as it was last seen.
func (c *Client) ForgetNode(ctx context.Context, name string) (NodeSummary, error) {
	var v struct {
		Node NodeSummary `json:"node"`
	}
	err := c.do(ctx, http.MethodDelete, "/nodes/"+url.PathEscape(name), nil, &v)
	return v.Node, err
}
