package store

import (
	"context"
	"time"
)

// Nodes is what a store shared by several vitals lb nodes keeps about
// them, beside the configuration: each node's liveness, the revision it
// runs, its VRRP role and the operating statuses it observes. Node
// reports do not change the configuration revision.
type Nodes interface {
	// ReportNode writes one node's report, replacing its previous one
	// (statuses included), stamped with seen.
	ReportNode(ctx context.Context, r NodeReport, seen time.Time) error
	// ListNodes returns every node that ever reported, by name, with its
	// statuses.
	ListNodes(ctx context.Context) ([]Node, error)
	// ForgetNode removes the node name and its statuses if its last
	// report is older than silentSince, in one statement, so that a node
	// that reports meanwhile is kept. It reports whether it removed the
	// node: false when the node reported at or after silentSince, or is
	// not in the store.
	ForgetNode(ctx context.Context, name string, silentSince time.Time) (bool, error)
}

// VRRP roles a node reports (keepalived's states); "" before keepalived
// said anything.
const (
	RoleMaster = "MASTER"
	RoleBackup = "BACKUP"
	RoleFault  = "FAULT"
)

// NodeReport is what a node says about itself.
type NodeReport struct {
	Name string
	// AppliedRevision is the latest revision whose configuration the
	// node runs.
	AppliedRevision int64
	// FailedRevision is the latest revision the node failed to apply,
	// with ApplyError; 0 when its last apply succeeded.
	FailedRevision int64
	ApplyError     string
	// VRRPRole is keepalived's state for this node (RoleMaster …).
	VRRPRole string
	// Serving: the node's listeners run a configuration from the store.
	Serving bool
	// Statuses are the operating statuses the node observes, by object
	// ID (load balancers, listeners, pools, members, monitors).
	Statuses map[string]string
}

// Node is a node's last report and when it was made.
type Node struct {
	NodeReport
	LastSeen time.Time
}

// Alive reports whether the node reported within timeout of now.
func (n Node) Alive(now time.Time, timeout time.Duration) bool {
	return now.Sub(n.LastSeen) <= timeout
}
