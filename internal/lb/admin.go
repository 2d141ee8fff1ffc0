package lb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"time"

	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/promx"
)

// The admin endpoint serves the status page, Prometheus metrics and the
// run-time changes of file mode. The Octavia v2 API's reads (load
// balancers, listeners, pools, members, health monitors, status trees and
// stats) are internal/api/octavia's, which `vitals lb` mounts on the same
// endpoint in both modes (cmd/vitals/lbapi.go); this handler has no reads
// of its own under /v2.
//
//	PUT /v2/lbaas/pools/{pool}/members/{member}  {"member": {"admin_state_up": false, "weight": 5}}:
//	                                             over the unix socket, or with the admin token in
//	                                             X-Auth-Token over TCP (control.go); also under /v2.0
//	POST /reload                                 re-read the configuration file as SIGHUP does;
//	                                             409 with the reason when it is rejected (same
//	                                             rights as PUT)
//	GET /metrics                                 Prometheus text format
//	GET /debug/pprof/                            Go profiles (the endpoint is local only; seconds=1..60)
//	GET /                                        the live status page (statuspage.go)
//	GET /events, /status.json                    its data: server-sent events, one snapshot

// NewAdminHandler serves cfg's status page with statuses from eng and
// metrics from g. It is read-only.
func NewAdminHandler(cfg *Config, eng *monitor.Engine, g *promx.Registry) http.Handler {
	return newAdminHandler(func() *Config { return cfg }, nil, eng, g)
}

// newAdminHandler is NewAdminHandler with the configuration read on every
// request, so that a reload shows, and changes applied through ctl (nil:
// read-only).
func newAdminHandler(cfg func() *Config, ctl *control, eng *monitor.Engine, g *promx.Registry) *http.ServeMux {
	a := &admin{cfg: cfg, eng: eng, ctl: ctl, g: g}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", a.reload)
	for _, prefix := range []string{"/v2", "/v2.0"} {
		mux.HandleFunc("PUT "+prefix+"/lbaas/pools/{pool}/members/{member}", a.putMember)
	}
	mux.Handle("GET /metrics", g) // text 0.0.4, per-member series written straight out
	mux.HandleFunc("GET /debug/pprof/", boundedSeconds(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", boundedSeconds(pprof.Profile))
	newStatusPage(cfg, eng, g, a.adminMode).register(mux) // GET /, /events, /status.json
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fault(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such resource (try /status.json, or /v2/lbaas/loadbalancers on vitals lb's admin endpoint)", r.Method, r.URL.Path))
	})
	return mux
}

type admin struct {
	cfg func() *Config
	eng *monitor.Engine
	ctl *control
	g   *promx.Registry
}

// LoadBalancerSummary is what Client reads of an entry of GET
// /v2/lbaas/loadbalancers.
type LoadBalancerSummary struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	AdminStateUp       bool   `json:"admin_state_up"`
	VIPAddress         string `json:"vip_address"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.Encode(v)
}

// fault answers as Octavia's API does on errors.
func fault(w http.ResponseWriter, code int, msg string) { octavia.WriteFault(w, code, msg) }

// Client talks to a running `vitals lb`'s admin endpoint, over its unix
// socket or a loopback TCP address.
type Client struct {
	hc   *http.Client
	base string
	// Token is sent as X-Auth-Token: the admin token that allows changes
	// over TCP. The unix socket needs none.
	Token string
}

// NewClient returns a client for the admin endpoint at socket (a unix
// socket path) or, when socket is "", at the TCP address addr.
func NewClient(socket, addr string) *Client {
	tr := &http.Transport{DisableKeepAlives: true}
	base := "http://" + addr
	if socket != "" {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		}
		base = "http://vitals-lb"
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: base}
}

// ErrNotFound is returned when the endpoint has no such object.
var ErrNotFound = errors.New("not found")

// faultNotFound is a 404's fault: it reads as the endpoint's own words (which
// say what was not found) and is ErrNotFound.
type faultNotFound string

func (e faultNotFound) Error() string        { return string(e) }
func (e faultNotFound) Is(target error) bool { return target == ErrNotFound }

// get fetches path into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, nil, v)
}

// do sends a request with an optional JSON body and decodes the answer
// into v.
func (c *Client) do(ctx context.Context, method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("X-Auth-Token", c.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin endpoint: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin endpoint: read %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var f struct {
			Faultstring string `json:"faultstring"`
		}
		json.Unmarshal(answer, &f)
		if f.Faultstring == "" {
			f.Faultstring = resp.Status
		}
		if resp.StatusCode == http.StatusNotFound {
			return faultNotFound(f.Faultstring)
		}
		return errors.New(f.Faultstring)
	}
	if err := json.Unmarshal(answer, v); err != nil {
		return fmt.Errorf("admin endpoint: decode %s: %w", path, err)
	}
	return nil
}

// LoadBalancers lists the load balancers the endpoint serves.
func (c *Client) LoadBalancers(ctx context.Context) ([]LoadBalancerSummary, error) {
	var list struct {
		LoadBalancers []LoadBalancerSummary `json:"loadbalancers"`
	}
	err := c.get(ctx, "/v2/lbaas/loadbalancers", &list)
	return list.LoadBalancers, err
}

// Status returns the status tree of the load balancer with the given ID or
// name, or of the only one when idOrName is "", with every pool of the
// load balancer (clientstatus.go).
func (c *Client) Status(ctx context.Context, idOrName string) (monitor.StatusTree, error) {
	var t monitor.StatusTree
	id, err := c.loadBalancerID(ctx, idOrName)
	if err != nil {
		return t, err
	}
	err = c.byName(ctx, id, "/v2/lbaas/loadbalancers", func(id string) error {
		return c.get(ctx, "/v2/lbaas/loadbalancers/"+url.PathEscape(id)+"/status", &t)
	})
	if err != nil {
		return t, err
	}
	return t, c.fillPools(ctx, &t)
}

// Statuses returns the status tree of every load balancer, in the API's
// order.
func (c *Client) Statuses(ctx context.Context) ([]monitor.StatusTree, error) {
	lbs, err := c.LoadBalancers(ctx)
	if err != nil {
		return nil, err
	}
	if len(lbs) == 0 {
		return nil, fmt.Errorf("the admin endpoint serves no load balancer: %w", ErrNotFound)
	}
	out := make([]monitor.StatusTree, len(lbs))
	for i, l := range lbs {
		if err := c.get(ctx, "/v2/lbaas/loadbalancers/"+url.PathEscape(l.ID)+"/status", &out[i]); err != nil {
			return nil, err
		}
		if err := c.fillPools(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetMemberAdminStateUp sets a member's admin_state_up; pool and member
// are IDs or names (a member also by address:port).
func (c *Client) SetMemberAdminStateUp(ctx context.Context, pool, member string, up bool) (MemberView, error) {
	return c.putMember(ctx, pool, member, map[string]any{"admin_state_up": up})
}

// HealthMonitorView is a health monitor as the API shows it: Fields by
// name, and as JSON in the API's own field order (what MarshalJSON
// writes, so that `-f json` and `-f yaml` print the fields as
// `openstack loadbalancer healthmonitor show` does, not sorted).
type HealthMonitorView struct {
	Fields map[string]json.RawMessage
	raw    json.RawMessage
}

// UnmarshalJSON keeps the object as it came and its fields by name.
func (v *HealthMonitorView) UnmarshalJSON(b []byte) error {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	v.Fields, v.raw = f, append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the object as the API sent it.
func (v HealthMonitorView) MarshalJSON() ([]byte, error) {
	if v.raw == nil {
		return json.Marshal(v.Fields)
	}
	return v.raw, nil
}

// HealthMonitor returns the health monitor with the given ID or name.
func (c *Client) HealthMonitor(ctx context.Context, idOrName string) (HealthMonitorView, error) {
	var v struct {
		HealthMonitor HealthMonitorView `json:"healthmonitor"`
	}
	err := c.byName(ctx, idOrName, "/v2/lbaas/healthmonitors", func(id string) error {
		return c.get(ctx, "/v2/lbaas/healthmonitors/"+url.PathEscape(id), &v)
	})
	return v.HealthMonitor, err
}
