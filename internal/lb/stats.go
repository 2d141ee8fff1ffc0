package lb

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are a load balancer's or a listener's counters, as Octavia's
// GET /v2/lbaas/loadbalancers/{id}/stats and /v2/lbaas/listeners/{id}/stats
// show them. They are read from the data plane's metrics: bytes are
// counted when a copy returns (at the end of a session, or at each
// idle-timeout window), and request_errors are the client connections
// closed at once (connection limit, descriptor budget, no usable member or
// every connect failed).
type Stats struct {
	ActiveConnections int64 `json:"active_connections"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	RequestErrors     int64 `json:"request_errors"`
	TotalConnections  int64 `json:"total_connections"`
}

// StatsFields lists Stats's fields in the order
// `openstack loadbalancer stats show` prints them.
var StatsFields = []string{"active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections"}

// Rows returns the stats as field and value rows, in StatsFields order.
func (s Stats) Rows() [][2]string {
	vals := []int64{s.ActiveConnections, s.BytesIn, s.BytesOut, s.RequestErrors, s.TotalConnections}
	rows := make([][2]string, len(StatsFields))
	for i, f := range StatsFields {
		rows[i] = [2]string{f, fmt.Sprint(vals[i])}
	}
	return rows
}

// gatherStats sums the listener metrics of g of the listeners with the
// given labels (all listeners when labels is nil).
func gatherStats(g prometheus.Gatherer, labels map[string]bool) (Stats, error) {
	var s Stats
	fams, err := g.Gather()
	if err != nil && len(fams) == 0 {
		return s, err
	}
	fields := map[string]*int64{
		"vitals_lb_listener_connections_active":         &s.ActiveConnections,
		"vitals_lb_listener_bytes_in_total":             &s.BytesIn,
		"vitals_lb_listener_bytes_out_total":            &s.BytesOut,
		"vitals_lb_listener_connections_rejected_total": &s.RequestErrors,
		"vitals_lb_listener_connections_total":          &s.TotalConnections,
	}
	for _, f := range fams {
		dst := fields[f.GetName()]
		if dst == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			listener := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" {
					listener = l.GetValue()
				}
			}
			if labels != nil && !labels[listener] {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				*dst += int64(m.GetCounter().GetValue())
			case m.GetGauge() != nil:
				*dst += int64(m.GetGauge().GetValue())
			}
		}
	}
	return s, nil
}

// Stats returns the stats of the load balancer with the given ID or name
// (the only one when ""), or with listener set, of that listener (ID or
// name).
func (c *Client) Stats(ctx context.Context, lbRef, listener string) (Stats, error) {
	var v struct {
		Stats Stats `json:"stats"`
	}
	if listener != "" {
		err := c.byName(ctx, listener, "/v2/lbaas/listeners", func(id string) error {
			return c.get(ctx, "/v2/lbaas/listeners/"+url.PathEscape(id)+"/stats", &v)
		})
		return v.Stats, err
	}
	id, err := c.loadBalancerID(ctx, lbRef)
	if err != nil {
		return v.Stats, err
	}
	err = c.byName(ctx, id, "/v2/lbaas/loadbalancers", func(id string) error {
		return c.get(ctx, "/v2/lbaas/loadbalancers/"+url.PathEscape(id)+"/stats", &v)
	})
	return v.Stats, err
}

// loadBalancerID returns ref, or the ID of the only load balancer when ref
// is "" (an error names them when there are several).
func (c *Client) loadBalancerID(ctx context.Context, ref string) (string, error) {
	if ref != "" {
		return ref, nil
	}
	lbs, err := c.LoadBalancers(ctx)
	if err != nil {
		return "", err
	}
	switch len(lbs) {
	case 0:
		return "", fmt.Errorf("the admin endpoint serves no load balancer: %w", ErrNotFound)
	case 1:
		return lbs[0].ID, nil
	}
	names := make([]string, len(lbs))
	for i, l := range lbs {
		names[i] = quoteOr(l.Name, l.ID)
	}
	return "", fmt.Errorf("%d load balancers run (%s); name one", len(lbs), strings.Join(names, ", "))
}

// Members returns the members of the pool with the given ID or name.
func (c *Client) Members(ctx context.Context, pool string) ([]MemberView, error) {
	var v struct {
		Members []MemberView `json:"members"`
	}
	err := c.byName(ctx, pool, "/v2/lbaas/pools", func(id string) error {
		return c.get(ctx, "/v2/lbaas/pools/"+url.PathEscape(id)+"/members", &v)
	})
	return v.Members, err
}

// SetMemberWeight sets a member's weight until the next reload; pool and
// member are IDs or names (a member also by address:port).
func (c *Client) SetMemberWeight(ctx context.Context, pool, member string, weight int) (MemberView, error) {
	return c.putMember(ctx, pool, member, map[string]any{"weight": weight})
}
