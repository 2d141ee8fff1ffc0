package lb

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// control is the running configuration: the file's, with the changes made
// through the admin endpoint on top (Octavia's PUT
// /v2/lbaas/pools/{pool}/members/{member}). A member's admin_state_up set
// there lasts across reloads, until it is set back, the member leaves the
// file, or the process restarts. A member's weight set there lasts until
// the next reload, which goes back to the file's weight. To make either
// permanent, edit the file.
type control struct {
	srv *Server
	log *slog.Logger

	mu      sync.Mutex      // serializes apply and the member changes
	file    *Config         // as loaded from the file
	over    map[string]bool // member ID -> admin_state_up set at run time
	weights map[string]int  // member ID -> weight set at run time, until a reload
	current atomic.Pointer[Config]
	// applied, when set, is called with each configuration setMember ran
	// (RunOptions.Applied), so that what shows the running configuration
	// (the file mode's API) shows run-time changes too.
	applied func(*Config)

	// reloads, when not nil, takes reload requests from the admin
	// endpoint to Run's loop, which answers on the channel sent; stopping
	// is closed when the loop has ended.
	reloads  chan chan error
	stopping chan struct{}
}

func newControl(srv *Server, log *slog.Logger) *control {
	return &control{srv: srv, log: log, over: map[string]bool{}, weights: map[string]int{}}
}

// Current returns the running configuration.
func (c *control) Current() *Config { return c.current.Load() }

// apply makes file (a fresh load of the configuration file) the base and
// runs it with the run-time admin_state_up changes on top; weights set at
// run time are dropped, and so are changes to members no longer in the
// file.
func (c *control) apply(file *Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, lb := range file.LoadBalancers {
		for _, p := range lb.Pools {
			for _, m := range p.Members {
				live[m.ID] = true
			}
		}
	}
	over := map[string]bool{}
	for id, up := range c.over {
		if live[id] {
			over[id] = up
		}
	}
	weights := map[string]int{}
	run := withMemberChanges(file, over, weights)
	if err := c.srv.Apply(run); err != nil {
		return err
	}
	if len(c.weights) > 0 {
		c.log.Info("reload: member weights set through the admin endpoint are back to the file's", "members", len(c.weights))
	}
	c.file, c.over, c.weights = file, over, weights
	c.current.Store(run)
	return nil
}

// setMember applies a run-time change of a member's admin_state_up and
// weight (nil: unchanged), and returns the pool and member as they now
// run.
func (c *control) setMember(poolRef, memberRef string, up *bool, weight *int) (*Pool, *Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, m, err := findMember(c.file, poolRef, memberRef)
	if err != nil {
		return nil, nil, err
	}
	_, running, _ := findMember(c.current.Load(), p.ID, m.ID)
	over, weights := maps.Clone(c.over), maps.Clone(c.weights)
	if up != nil {
		if *up == m.Up() {
			delete(over, m.ID) // back to what the file says
		} else {
			over[m.ID] = *up
		}
	}
	if weight != nil {
		if *weight == m.WeightOr1() {
			delete(weights, m.ID)
		} else {
			weights[m.ID] = *weight
		}
	}
	run := withMemberChanges(c.file, over, weights)
	if err := c.srv.Apply(run); err != nil {
		return nil, nil, err
	}
	c.over, c.weights = over, weights
	c.current.Store(run)
	if c.applied != nil {
		c.applied(run)
	}
	if up != nil && running != nil {
		c.log.Info("member admin_state_up changed through the admin endpoint", "pool", p.Name, "member", m.Label(), "old", running.Up(), "new", *up)
	}
	if weight != nil && running != nil {
		c.log.Info("member weight changed through the admin endpoint; a reload sets it back to the file's", "pool", p.Name, "member", m.Label(), "old", running.WeightOr1(), "new", *weight)
	}
	return findMember(run, p.ID, m.ID)
}

// WeightOr1 is the member's weight, 1 when the file leaves it out.
func (m *Member) WeightOr1() int {
	if m.Weight == nil {
		return 1
	}
	return *m.Weight
}

// withMemberChanges returns cfg with the members in over set to their
// admin_state_up and those in weights to their weight; cfg itself is not
// changed.
func withMemberChanges(cfg *Config, over map[string]bool, weights map[string]int) *Config {
	if len(over) == 0 && len(weights) == 0 {
		return cfg
	}
	out := *cfg
	out.LoadBalancers = make([]*LoadBalancer, len(cfg.LoadBalancers))
	for k, in := range cfg.LoadBalancers {
		lb := *in
		out.LoadBalancers[k] = &lb
		lb.Pools = slices.Clone(in.Pools)
		for i := range lb.Pools {
			p := &lb.Pools[i]
			p.Members = slices.Clone(p.Members)
			for j := range p.Members {
				if up, ok := over[p.Members[j].ID]; ok {
					p.Members[j].AdminStateUp = &up
				}
				if w, ok := weights[p.Members[j].ID]; ok {
					p.Members[j].Weight = &w
				}
			}
		}
	}
	return &out
}

// notFound is answered with 404 and its message, as Octavia words it.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// findMember finds a pool by ID, or by name when one pool of all the load
// balancers has it, and a member of it by ID, name or address:port.
func findMember(cfg *Config, poolRef, memberRef string) (*Pool, *Member, error) {
	var found []*Pool
	for _, lb := range cfg.LoadBalancers {
		for i := range lb.Pools {
			if p := &lb.Pools[i]; p.ID == poolRef {
				found = []*Pool{p}
				break
			} else if p.Name == poolRef {
				found = append(found, p)
			}
		}
		if len(found) == 1 && found[0].ID == poolRef {
			break
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, &notFound{fmt.Sprintf("Pool %s could not be found.", poolRef)}
	case 1:
	default:
		return nil, nil, fmt.Errorf("%d pools are named %s (in different load balancers); use the pool's ID", len(found), poolRef)
	}
	p := found[0]
	for j := range p.Members {
		m := &p.Members[j]
		if m.ID == memberRef || (m.Name != "" && m.Name == memberRef) || joinHostPort(m.Address, m.ProtocolPort) == memberRef {
			return p, m, nil
		}
	}
	if p.Name != "" {
		poolRef = p.Name
	}
	return nil, nil, &notFound{fmt.Sprintf("Member %s could not be found in pool %s.", memberRef, poolRef)}
}

// Label names the member in messages: its name, else address:port.
func (m *Member) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return joinHostPort(m.Address, m.ProtocolPort)
}

// MemberView is a member as Octavia's API shows it.
type MemberView struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	PoolID             string `json:"pool_id"`
	Address            string `json:"address"`
	ProtocolPort       int    `json:"protocol_port"`
	Weight             int    `json:"weight"`
	Backup             bool   `json:"backup"`
	AdminStateUp       bool   `json:"admin_state_up"`
	MonitorAddress     any    `json:"monitor_address"`
	MonitorPort        any    `json:"monitor_port"`
	OperatingStatus    string `json:"operating_status"`
	ProvisioningStatus string `json:"provisioning_status"`
}

// Who may change things through the admin endpoint.
type (
	localConnKey struct{}
)

// markLocal is the admin server's ConnContext: requests that come over the
// unix socket are local, and may change things without a token.
func markLocal(ctx context.Context, c net.Conn) context.Context {
	if c.LocalAddr().Network() == "unix" {
		return context.WithValue(ctx, localConnKey{}, true)
	}
	return ctx
}

func isLocal(r *http.Request) bool { return r.Context().Value(localConnKey{}) != nil }

// mayChange answers 403 or 401 and returns false unless r may change
// things: it came over the unix socket, or carries the admin token.
func (a *admin) mayChange(w http.ResponseWriter, r *http.Request) bool {
	if a.ctl == nil {
		fault(w, http.StatusForbidden, "This admin endpoint is read-only.")
		return false
	}
	if isLocal(r) {
		return true
	}
	tok := a.cfg().Admin.Token()
	if tok == "" {
		fault(w, http.StatusForbidden, "Changes over TCP need admin.token_file in the configuration; or use the unix socket (vitals lb member ...).")
		return false
	}
	got := r.Header.Get("X-Auth-Token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
		w.Header().Set("WWW-Authenticate", `Token realm="vitals lb"`)
		fault(w, http.StatusUnauthorized, "Missing or wrong X-Auth-Token.")
		return false
	}
	return true
}

// adminMode tells the status page what it may do for r: "local" (unix
// socket), "token" (changes need the token) or "" (read-only).
func (a *admin) adminMode(r *http.Request) string {
	switch {
	case a.ctl == nil:
		return ""
	case isLocal(r):
		return "local"
	case a.cfg().Admin.Token() != "":
		return "token"
	}
	return ""
}

func (a *admin) memberView(p *Pool, m *Member) MemberView {
	op := "OFFLINE"
	snap := a.eng.Status()
	if ps := snap.Pool(p.ID); ps != nil {
		for _, ms := range ps.Members {
			if ms.ID == m.ID {
				op = ms.Status.String()
			}
		}
	}
	v := MemberView{
		ID: m.ID, Name: m.Name, PoolID: p.ID, Address: m.Address, ProtocolPort: m.ProtocolPort,
		Weight: 1, Backup: m.Backup, AdminStateUp: m.Up(),
		OperatingStatus: op, ProvisioningStatus: "ACTIVE",
	}
	if m.Weight != nil {
		v.Weight = *m.Weight
	}
	if m.MonitorAddress != "" {
		v.MonitorAddress = m.MonitorAddress
	}
	if m.MonitorPort != nil {
		v.MonitorPort = *m.MonitorPort
	}
	return v
}

func memberFault(w http.ResponseWriter, err error) {
	if nf, ok := errors.AsType[*notFound](err); ok {
		fault(w, http.StatusNotFound, nf.msg)
		return
	}
	fault(w, http.StatusConflict, err.Error())
}

// putMember serves PUT /v2/lbaas/pools/{pool}/members/{member} with a body
// of {"member": {"admin_state_up": true|false, "weight": 0..256}} (either
// or both).
func (a *admin) putMember(w http.ResponseWriter, r *http.Request) {
	if !a.mayChange(w, r) {
		return
	}
	var body struct {
		Member *struct {
			AdminStateUp *bool `json:"admin_state_up"`
			Weight       *int  `json:"weight"`
		} `json:"member"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		fault(w, http.StatusBadRequest, fmt.Sprintf("Invalid input: %v. Send {\"member\": {\"admin_state_up\": false}} or {\"member\": {\"weight\": 5}}; other fields change only through the configuration file and a reload.", err))
		return
	}
	if body.Member == nil || (body.Member.AdminStateUp == nil && body.Member.Weight == nil) {
		fault(w, http.StatusBadRequest, `Invalid input: member.admin_state_up or member.weight is required, as in {"member": {"admin_state_up": false}}.`)
		return
	}
	if wt := body.Member.Weight; wt != nil && (*wt < 0 || *wt > maxWeight) {
		fault(w, http.StatusBadRequest, fmt.Sprintf("Invalid input: member.weight must be from 0 to %d, got %d.", maxWeight, *wt))
		return
	}
	p, m, err := a.ctl.setMember(r.PathValue("pool"), r.PathValue("member"), body.Member.AdminStateUp, body.Member.Weight)
	if err != nil {
		memberFault(w, err)
		return
	}
	writeJSON(w, map[string]MemberView{"member": a.memberView(p, m)})
}

// reload serves POST /reload: Run's loop re-reads the configuration file
// as on SIGHUP; 200 {"reloaded": true} when it runs, 409 with the reason
// when it was rejected (the running configuration stays).
func (a *admin) reload(w http.ResponseWriter, r *http.Request) {
	if !a.mayChange(w, r) {
		return
	}
	if a.ctl.reloads == nil {
		fault(w, http.StatusForbidden, "This load balancer was started without a configuration file to reload.")
		return
	}
	reply := make(chan error, 1)
	select {
	case a.ctl.reloads <- reply:
	case <-a.ctl.stopping:
		fault(w, http.StatusServiceUnavailable, "The load balancer is shutting down.")
		return
	case <-r.Context().Done():
		return
	}
	select {
	case err := <-reply:
		if err != nil {
			fault(w, http.StatusConflict, "Reload rejected; the running configuration stays: "+err.Error())
			return
		}
		writeJSON(w, map[string]bool{"reloaded": true})
	case <-r.Context().Done():
	}
}

// Reload makes the running vitals lb re-read its configuration file, as
// SIGHUP does; the error says why a new configuration was rejected.
func (c *Client) Reload(ctx context.Context) error {
	var v struct {
		Reloaded bool `json:"reloaded"`
	}
	return c.do(ctx, http.MethodPost, "/reload", nil, &v)
}
