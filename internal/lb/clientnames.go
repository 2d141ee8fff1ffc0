package lb

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
)

// The admin endpoint of `vitals lb --config` takes names where IDs go;
// the Octavia API of `vitals lb --db` takes IDs only, as Octavia does. The
// client's commands take either: when the endpoint does not know a ref,
// they look the name up in the list (?name=, as the openstack CLI does)
// and try again with its ID.

// byName calls call with ref, and when that is not found and the list at
// listPath has exactly one object named ref, with that object's ID.
func (c *Client) byName(ctx context.Context, ref, listPath string, call func(id string) error) error {
	err := call(ref)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	id, ok := c.idOf(ctx, listPath, ref)
	if !ok || id == ref {
		return err
	}
	if err2 := call(id); !errors.Is(err2, ErrNotFound) {
		return err2
	}
	return err // in the words of the ref the user gave
}

// idOf returns the ID of the one object named name in the list at
// listPath.
func (c *Client) idOf(ctx context.Context, listPath, name string) (string, bool) {
	var v map[string]json.RawMessage
	if c.get(ctx, listPath+"?name="+url.QueryEscape(name), &v) != nil {
		return "", false
	}
	var ids []string
	for _, raw := range v {
		var objs []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &objs) != nil {
			continue
		}
		for _, o := range objs {
			if o.Name == name && o.ID != "" {
				ids = append(ids, o.ID)
			}
		}
	}
	if len(ids) != 1 {
		return "", false
	}
	return ids[0], true
}

// inPool calls call with the path of pool's member (IDs or names). The
// pool is looked up by name only when the endpoint does not know it, so
// that a missing member is reported as such.
func (c *Client) inPool(ctx context.Context, pool, member string, call func(path string) error) error {
	pid := pool
	var probe map[string]json.RawMessage
	if err := c.get(ctx, "/v2/lbaas/pools/"+url.PathEscape(pool)+"/members", &probe); errors.Is(err, ErrNotFound) {
		if id, ok := c.idOf(ctx, "/v2/lbaas/pools", pool); ok {
			pid = id
		}
	}
	base := "/v2/lbaas/pools/" + url.PathEscape(pid) + "/members"
	return c.byName(ctx, member, base, func(mid string) error {
		return call(base + "/" + url.PathEscape(mid))
	})
}

// putMember sends a member change (weight, admin_state_up).
func (c *Client) putMember(ctx context.Context, pool, member string, change map[string]any) (MemberView, error) {
	var v struct {
		Member MemberView `json:"member"`
	}
	err := c.inPool(ctx, pool, member, func(path string) error {
		return c.do(ctx, http.MethodPut, path, map[string]any{"member": change}, &v)
	})
	return v.Member, err
}
