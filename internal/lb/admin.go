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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vitals/internal/monitor"
)

// The admin endpoint serves a read-only subset of Octavia's API v2 for the
// one load balancer, plus Prometheus metrics:
//
//	GET /v2/lbaas/loadbalancers                  {"loadbalancers": [...]}
//	GET /v2/lbaas/loadbalancers/{id}/status      the status tree (id or name)
//	GET /v2/lbaas/loadbalancers/{id}/stats       {"stats": {...}} (stats.go)
//	GET /v2/lbaas/listeners/{id}/stats           {"stats": {...}} of one listener (id or name)
//	GET /v2/lbaas/healthmonitors                 {"healthmonitors": [...]}
//	GET /v2/lbaas/healthmonitors/{id}            {"healthmonitor": {...}} (id or name)
//	GET /v2/lbaas/pools/{pool}/members           {"members": [...]}
//	GET /v2/lbaas/pools/{pool}/members/{member}  {"member": {...}} (ids, names, or address:port)
//	PUT /v2/lbaas/pools/{pool}/members/{member}  {"member": {"admin_state_up": false, "weight": 5}}:
//	                                             over the unix socket, or with the admin token in
//	                                             X-Auth-Token over TCP (control.go)
//	POST /reload                                 re-read the configuration file as SIGHUP does;
//	                                             409 with the reason when it is rejected (same
//	                                             rights as PUT)
//	GET /metrics                                 Prometheus text format
//	GET /debug/pprof/                            Go profiles (the endpoint is local only; seconds=1..60)
//	GET /                                        the live status page (statuspage.go)
//	GET /events, /status.json                    its data: server-sent events, one snapshot

// NewAdminHandler serves cfg's load balancer with statuses from eng and
// metrics from g. It is read-only.
func NewAdminHandler(cfg *Config, eng *monitor.Engine, g prometheus.Gatherer) http.Handler {
	return newAdminHandler(func() *Config { return cfg }, nil, eng, g)
}

// newAdminHandler is NewAdminHandler with the configuration read on every
// request, so that a reload shows, and changes applied through ctl (nil:
// read-only).
func newAdminHandler(cfg func() *Config, ctl *control, eng *monitor.Engine, g prometheus.Gatherer) *http.ServeMux {
	a := &admin{cfg: cfg, eng: eng, ctl: ctl, g: g}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/lbaas/loadbalancers", a.loadBalancers)
	mux.HandleFunc("GET /v2/lbaas/loadbalancers/{id}/status", a.status)
	mux.HandleFunc("GET /v2/lbaas/loadbalancers/{id}/stats", a.loadBalancerStats)
	mux.HandleFunc("GET /v2/lbaas/listeners/{id}/stats", a.listenerStats)
	mux.HandleFunc("POST /reload", a.reload)
	mux.HandleFunc("GET /v2/lbaas/healthmonitors", a.healthMonitors)
	mux.HandleFunc("GET /v2/lbaas/healthmonitors/{id}", a.healthMonitor)
	mux.HandleFunc("GET /v2/lbaas/pools/{pool}/members", a.listMembers)
	mux.HandleFunc("GET /v2/lbaas/pools/{pool}/members/{member}", a.getMember)
	mux.HandleFunc("PUT /v2/lbaas/pools/{pool}/members/{member}", a.putMember)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /debug/pprof/", boundedSeconds(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", boundedSeconds(pprof.Profile))
	newStatusPage(cfg, eng, g, a.adminMode).register(mux) // GET /, /events, /status.json
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fault(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such resource (try /v2/lbaas/loadbalancers)", r.Method, r.URL.Path))
	})
	return mux
}

type admin struct {
	cfg func() *Config
	eng *monitor.Engine
	ctl *control
	g   prometheus.Gatherer
}

// LoadBalancerSummary is one entry of GET /v2/lbaas/loadbalancers.
type LoadBalancerSummary struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	AdminStateUp       bool   `json:"admin_state_up"`
	VIPAddress         string `json:"vip_address"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
}

func (a *admin) tree() monitor.StatusTree {
	return monitor.BuildTree(a.cfg().Tree(), a.eng.Status())
}

func (a *admin) loadBalancers(w http.ResponseWriter, r *http.Request) {
	lb := a.cfg().LoadBalancer
	t := a.tree().Statuses.LoadBalancer
	writeJSON(w, map[string][]LoadBalancerSummary{"loadbalancers": {{
		ID: lb.ID, Name: lb.Name, AdminStateUp: lb.Up(), VIPAddress: lb.VIPAddress,
		OperatingStatus: t.OperatingStatus.String(), ProvisioningStatus: monitor.Active,
	}}})
}

func (a *admin) status(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if lb := a.cfg().LoadBalancer; id != lb.ID && id != lb.Name {
		fault(w, http.StatusNotFound, fmt.Sprintf("Load Balancer %s could not be found.", id))
		return
	}
	writeJSON(w, a.tree())
}

// monitors returns every pool's monitor as Octavia shows it.
func (a *admin) monitors() []monitor.OctaviaHealthMonitor {
	snap := a.eng.Status()
	var out []monitor.OctaviaHealthMonitor
	for _, p := range a.cfg().LoadBalancer.Pools {
		if p.Monitor == nil {
			continue
		}
		op := "OFFLINE"
		if ps := snap.Pool(p.ID); ps != nil {
			op = ps.MonitorStatus.String()
		}
		out = append(out, p.Monitor.Octavia(p.ID, a.cfg().Loaded, time.Time{}, op))
	}
	return out
}

func (a *admin) healthMonitors(w http.ResponseWriter, r *http.Request) {
	hms := a.monitors()
	if hms == nil {
		hms = []monitor.OctaviaHealthMonitor{}
	}
	writeJSON(w, map[string]any{"healthmonitors": hms})
}

func (a *admin) healthMonitor(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var found []monitor.OctaviaHealthMonitor
	for _, hm := range a.monitors() {
		if hm.ID == id || (hm.Name != "" && hm.Name == id) {
			found = append(found, hm)
		}
	}
	switch len(found) {
	case 0:
		fault(w, http.StatusNotFound, fmt.Sprintf("Health Monitor %s could not be found.", id))
	case 1:
		writeJSON(w, map[string]any{"healthmonitor": found[0]})
	default:
		fault(w, http.StatusConflict, fmt.Sprintf("Multiple health monitors are named %s; use an ID.", id))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.Encode(v)
}

// fault answers as Octavia's API does on errors.
func fault(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"faultcode": "Client", "faultstring": msg, "debuginfo": nil})
}

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
			return fmt.Errorf("%s: %w", f.Faultstring, ErrNotFound)
		}
		return errors.New(f.Faultstring)
	}
	if err := json.Unmarshal(answer, v); err != nil {
		return fmt.Errorf("admin endpoint: decode %s: %w", path, err)
	}
	return nil
}

// Status returns the status tree of the load balancer with the given ID or
// name, or of the only one when idOrName is "".
func (c *Client) Status(ctx context.Context, idOrName string) (monitor.StatusTree, error) {
	var t monitor.StatusTree
	if idOrName == "" {
		var list struct {
			LoadBalancers []LoadBalancerSummary `json:"loadbalancers"`
		}
		if err := c.get(ctx, "/v2/lbaas/loadbalancers", &list); err != nil {
			return t, err
		}
		if len(list.LoadBalancers) == 0 {
			return t, fmt.Errorf("the admin endpoint serves no load balancer: %w", ErrNotFound)
		}
		idOrName = list.LoadBalancers[0].ID
	}
	err := c.byName(ctx, idOrName, "/v2/lbaas/loadbalancers", func(id string) error {
		return c.get(ctx, "/v2/lbaas/loadbalancers/"+url.PathEscape(id)+"/status", &t)
	})
	return t, err
}

// SetMemberAdminStateUp sets a member's admin_state_up; pool and member
// are IDs or names (a member also by address:port).
func (c *Client) SetMemberAdminStateUp(ctx context.Context, pool, member string, up bool) (MemberView, error) {
	return c.putMember(ctx, pool, member, map[string]any{"admin_state_up": up})
}

// HealthMonitor returns the health monitor with the given ID or name.
func (c *Client) HealthMonitor(ctx context.Context, idOrName string) (monitor.OctaviaHealthMonitor, error) {
	var v struct {
		HealthMonitor monitor.OctaviaHealthMonitor `json:"healthmonitor"`
	}
	err := c.byName(ctx, idOrName, "/v2/lbaas/healthmonitors", func(id string) error {
		return c.get(ctx, "/v2/lbaas/healthmonitors/"+url.PathEscape(id), &v)
	})
	return v.HealthMonitor, err
}
