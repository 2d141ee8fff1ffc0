package cluster

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	api "vitals/internal/api/octavia"
	model "vitals/internal/octavia"
)

// Statuses is the status tree's source with several nodes: the active
// node's observed statuses (as it last reported them), this node's own
// when it is the active one, when no node is MASTER, or for an object
// the active node did not report.
type Statuses struct {
	Agent *Agent
	Local api.StatusSource
}

// OperatingStatus implements api.StatusSource.
func (s Statuses) OperatingStatus(k api.Kind, id string) (model.OperatingStatus, bool) {
	if n, ok := s.Agent.Active(s.Agent.Nodes()); ok && n.Name != s.Agent.Name() {
		if st, ok := n.Statuses[id]; ok {
			return model.OperatingStatus(st), true
		}
	}
	return s.Local.OperatingStatus(k, id)
}

// NodeViews implements api.NodeSource: every node that reported, read
// from the store now.
func (a *Agent) NodeViews(ctx context.Context) ([]api.NodeView, error) {
	nodes, err := a.ReadNodes(ctx)
	if err != nil {
		return nil, err
	}
	active, hasActive := a.Active(nodes)
	now := a.o.Now()
	out := make([]api.NodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, api.NodeView{
			Name: n.Name, Alive: n.Alive(now, a.o.Timeout), Active: hasActive && n.Name == active.Name, Self: n.Name == a.o.Name,
			LastSeen: n.LastSeen, AppliedRevision: n.AppliedRevision, FailedRevision: n.FailedRevision, ApplyError: n.ApplyError,
			VRRPRole: n.VRRPRole, Serving: n.Serving, OperatingStatuses: n.Statuses,
		})
	}
	return out, nil
}

// The agent's series:
//
//	vitals_lb_store_up                 1 while the shared store answers this node's reports
//	vitals_lb_store_applied_revision   the store revision this node runs
//	vitals_lb_nodes_alive              nodes that reported within the node timeout (as last read)
//	vitals_lb_vrrp_master              1 while keepalived says this node is MASTER
var (
	descStoreUp    = prometheus.NewDesc("vitals_lb_store_up", "1 while the shared configuration store answers this node's reports; 0 while it is unreachable (the node keeps serving its last applied configuration).", nil, nil)
	descApplied    = prometheus.NewDesc("vitals_lb_store_applied_revision", "The store revision whose configuration this node runs.", nil, nil)
	descAlive      = prometheus.NewDesc("vitals_lb_nodes_alive", "Nodes that reported within the node timeout, as this node last read them.", nil, nil)
	descVRRPMaster = prometheus.NewDesc("vitals_lb_vrrp_master", "1 while keepalived reports this node MASTER.", nil, nil)
)

// Describe implements prometheus.Collector.
func (a *Agent) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStoreUp, descApplied, descAlive, descVRRPMaster} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (a *Agent) Collect(ch chan<- prometheus.Metric) {
	st := a.State()
	now := a.o.Now()
	alive := 0
	for _, n := range a.Nodes() {
		if n.Alive(now, a.o.Timeout) {
			alive++
		}
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, b(st.StoreUp))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.AppliedRevision))
	ch <- prometheus.MustNewConstMetric(descAlive, prometheus.GaugeValue, float64(alive))
	ch <- prometheus.MustNewConstMetric(descVRRPMaster, prometheus.GaugeValue, b(st.Role == "MASTER"))
}
