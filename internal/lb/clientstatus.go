package lb

import (
	"context"
	"net/url"
	"slices"

	"vitals/internal/health"
	"vitals/internal/monitor"
)

// The API's status tree (Octavia's) has only the pools that listeners
// use. `vitals lb status` shows every pool of the load balancer, as newer
// Octavia releases' trees do (LoadBalancerStatus.Pools): a pool no
// listener uses, such as a UDP pool that is only monitored, is read from
// the pools list with its members and monitor.

// apiPool is what fillPools reads of a pool.
type apiPool struct {
	ID                 string                 `json:"id"`
	Name               string                 `json:"name"`
	OperatingStatus    health.OperatingStatus `json:"operating_status"`
	ProvisioningStatus string                 `json:"provisioning_status"`
	LoadBalancers      []struct {
		ID string `json:"id"`
	} `json:"loadbalancers"`
	HealthMonitorID *string `json:"healthmonitor_id"`
}

// fillPools sets t's Pools to every pool of its load balancer, in the
// API's order, and gives each listener an empty l7policies list.
func (c *Client) fillPools(ctx context.Context, t *monitor.StatusTree) error {
	lb := &t.Statuses.LoadBalancer
	used := map[string]monitor.PoolStatus{}
	for i := range lb.Listeners {
		l := &lb.Listeners[i]
		if l.L7Policies == nil {
			l.L7Policies = []struct{}{}
		}
		for _, p := range l.Pools {
			used[p.ID] = p
		}
	}
	var list struct {
		Pools []apiPool `json:"pools"`
	}
	if err := c.get(ctx, "/v2/lbaas/pools", &list); err != nil {
		return err
	}
	lb.Pools = []monitor.PoolStatus{}
	for _, p := range list.Pools {
		if !slices.ContainsFunc(p.LoadBalancers, func(r struct {
			ID string `json:"id"`
		}) bool {
			return r.ID == lb.ID
		}) {
			continue
		}
		if ps, ok := used[p.ID]; ok {
			lb.Pools = append(lb.Pools, ps)
			continue
		}
		ps, err := c.poolStatus(ctx, p)
		if err != nil {
			return err
		}
		lb.Pools = append(lb.Pools, ps)
	}
	return nil
}

// poolStatus reads a pool's members and monitor into its place in the
// tree.
func (c *Client) poolStatus(ctx context.Context, p apiPool) (monitor.PoolStatus, error) {
	ps := monitor.PoolStatus{ID: p.ID, Name: p.Name, OperatingStatus: p.OperatingStatus, ProvisioningStatus: p.ProvisioningStatus, Members: []monitor.MemberStatus{}}
	var members struct {
		Members []monitor.MemberStatus `json:"members"`
	}
	if err := c.get(ctx, "/v2/lbaas/pools/"+url.PathEscape(p.ID)+"/members", &members); err != nil {
		return ps, err
	}
	ps.Members = append(ps.Members, members.Members...)
	if p.HealthMonitorID != nil && *p.HealthMonitorID != "" {
		var hm struct {
			HealthMonitor monitor.HealthMonitorStatus `json:"healthmonitor"`
		}
		if err := c.get(ctx, "/v2/lbaas/healthmonitors/"+url.PathEscape(*p.HealthMonitorID), &hm); err != nil {
			return ps, err
		}
		ps.HealthMonitor = hm.HealthMonitor
	}
	return ps, nil
}
