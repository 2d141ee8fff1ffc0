package lb

import (
	"context"
	"net/http"
)

// VRRPCheck asks the node whether it serves (GET /vrrp/check), for
// keepalived's track_script: nil when it does, else the reason.
func (c *Client) VRRPCheck(ctx context.Context) error {
	var v map[string]any
	return c.do(ctx, http.MethodGet, "/vrrp/check", nil, &v)
}

// VRRPState tells the node its VRRP state (POST /vrrp/state), from
// keepalived's notify script: MASTER, BACKUP or FAULT.
func (c *Client) VRRPState(ctx context.Context, state string) error {
	var v map[string]any
	return c.do(ctx, http.MethodPost, "/vrrp/state", map[string]string{"state": state}, &v)
}
