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
// through the admin endpoint on top. Today the one change is a member's
// admin_state_up (Octavia's PUT /v2/lbaas/pools/{pool}/members/{member}).
// A change lasts across reloads, until it is set back, the member leaves
// the file, or the process restarts; to make it permanent, edit the file.
type control struct {
	srv *Server
	log *slog.Logger

	mu      sync.Mutex      // serializes apply and setMemberUp
	file    *Config         // as loaded from the file
	over    map[string]bool // member ID -> admin_state_up set at run time
	current atomic.Pointer[Config]
}

func newControl(srv *Server, log *slog.Logger) *control {
	return &control{srv: srv, log: log, over: map[string]bool{}}
}

// Current returns the running configuration.
func (c *control) Current() *Config { return c.current.Load() }

// apply makes file (a fresh load of the configuration file) the base and
// runs it with the run-time changes on top. Changes to members no longer
// in the file are dropped.
func (c *control) apply(file *Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, p := range file.LoadBalancer.Pools {
		for _, m := range p.Members {
			live[m.ID] = true
		}
	}
	over := map[string]bool{}
	for id, up := range c.over {
		if live[id] {
			over[id] = up
		}
	}
	run := withMemberAdmin(file, over)
	if err := c.srv.Apply(run); err != nil {
		return err
	}
	c.file, c.over = file, over
	c.current.Store(run)
	return nil
}

// setMemberUp sets the admin_state_up of the member found by ID or name in
// the pool found by ID or name, and returns the pool and member as they
// now run.
func (c *control) setMemberUp(poolRef, memberRef string, up bool) (*Pool, *Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, m, err := findMember(c.file, poolRef, memberRef)
	if err != nil {
		return nil, nil, err
	}
	over := maps.Clone(c.over)
	if up == m.Up() {
		delete(over, m.ID) // back to what the file says
	} else {
		over[m.ID] = up
	}
	run := withMemberAdmin(c.file, over)
	if err := c.srv.Apply(run); err != nil {
		return nil, nil, err
	}
	c.over = over
	c.current.Store(run)
	old := !up
	c.log.Info("member admin_state_up changed through the admin endpoint", "pool", p.Name, "member", m.Label(), "old", old, "new", up)
	return findMember(run, p.ID, m.ID)
}

// withMemberAdmin returns cfg with the members in over set to their
// admin_state_up; cfg itself is not changed.
func withMemberAdmin(cfg *Config, over map[string]bool) *Config {
	if len(over) == 0 {
		return cfg
	}
	out := *cfg
	lb := *cfg.LoadBalancer
	out.LoadBalancer = &lb
	lb.Pools = slices.Clone(cfg.LoadBalancer.Pools)
	for i := range out.LoadBalancer.Pools {
		p := &out.LoadBalancer.Pools[i]
		p.Members = slices.Clone(p.Members)
		for j := range p.Members {
			if up, ok := over[p.Members[j].ID]; ok {
				p.Members[j].AdminStateUp = &up
			}
		}
	}
	return &out
}

// notFound is answered with 404 and its message, as Octavia words it.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// findMember finds a pool by ID or name, and a member of it by ID, name
// or address:port.
func findMember(cfg *Config, poolRef, memberRef string) (*Pool, *Member, error) {
	for i := range cfg.LoadBalancer.Pools {
		p := &cfg.LoadBalancer.Pools[i]
		if p.ID != poolRef && p.Name != poolRef {
			continue
		}
		for j := range p.Members {
			m := &p.Members[j]
			if m.ID == memberRef || (m.Name != "" && m.Name == memberRef) || joinHostPort(m.Address, m.ProtocolPort) == memberRef {
				return p, m, nil
			}
		}
		return nil, nil, &notFound{fmt.Sprintf("Member %s could not be found in pool %s.", memberRef, poolRef)}
	}
	return nil, nil, &notFound{fmt.Sprintf("Pool %s could not be found.", poolRef)}
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

// getMember serves GET /v2/lbaas/pools/{pool}/members/{member}.
func (a *admin) getMember(w http.ResponseWriter, r *http.Request) {
	p, m, err := findMember(a.cfg(), r.PathValue("pool"), r.PathValue("member"))
	if err != nil {
		memberFault(w, err)
		return
	}
	writeJSON(w, map[string]MemberView{"member": a.memberView(p, m)})
}

// putMember serves PUT /v2/lbaas/pools/{pool}/members/{member} with a body
// of {"member": {"admin_state_up": true|false}}.
func (a *admin) putMember(w http.ResponseWriter, r *http.Request) {
	if !a.mayChange(w, r) {
		return
	}
	var body struct {
		Member *struct {
			AdminStateUp *bool `json:"admin_state_up"`
		} `json:"member"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		fault(w, http.StatusBadRequest, fmt.Sprintf("Invalid input: %v. Send {\"member\": {\"admin_state_up\": false}}; other fields change only through the configuration file and a reload.", err))
		return
	}
	if body.Member == nil || body.Member.AdminStateUp == nil {
		fault(w, http.StatusBadRequest, `Invalid input: member.admin_state_up is required, as in {"member": {"admin_state_up": false}}.`)
		return
	}
	p, m, err := a.ctl.setMemberUp(r.PathValue("pool"), r.PathValue("member"), *body.Member.AdminStateUp)
	if err != nil {
		memberFault(w, err)
		return
	}
	writeJSON(w, map[string]MemberView{"member": a.memberView(p, m)})
}
