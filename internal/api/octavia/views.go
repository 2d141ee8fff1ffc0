package octavia

import (
	"bytes"
	"encoding/json"
	"time"

	model "vitals/internal/octavia"
)

// The response bodies, field for field as Octavia's *Response types in
// octavia/api/v2/types write them. Optional IDs and texts Octavia keeps
// as NULL are null when empty. Fields marked "vitals" are extensions;
// clients ignore them.

// timeLayout is Octavia's (and gophercloud's RFC3339NoZ): UTC, no zone.
const timeLayout = "2006-01-02T15:04:05"

func stamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(timeLayout)
	return &s
}

// updated is null until the object is first updated, as in Octavia.
func updated(m *model.Meta) *string {
	if m.UpdatedAt.Equal(m.CreatedAt) {
		return nil
	}
	return stamp(m.UpdatedAt)
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func tags(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

type ref struct {
	ID string `json:"id"`
}

func refs(ids []string) []ref {
	out := make([]ref, len(ids))
	for i, id := range ids {
		out[i] = ref{id}
	}
	return out
}

type loadBalancerView struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Description        string   `json:"description"`
	ProjectID          string   `json:"project_id"`
	AdminStateUp       bool     `json:"admin_state_up"`
	ProvisioningStatus string   `json:"provisioning_status"`
	OperatingStatus    string   `json:"operating_status"`
	CreatedAt          *string  `json:"created_at"`
	UpdatedAt          *string  `json:"updated_at"`
	VIPAddress         *string  `json:"vip_address"`
	VIPPortID          *string  `json:"vip_port_id"`
	VIPSubnetID        *string  `json:"vip_subnet_id"`
	VIPNetworkID       *string  `json:"vip_network_id"`
	VIPQoSPolicyID     *string  `json:"vip_qos_policy_id"`
	VIPVnicType        string   `json:"vip_vnic_type"`
	AdditionalVIPs     []any    `json:"additional_vips"`
	Listeners          []ref    `json:"listeners"`
	Pools              []ref    `json:"pools"`
	Provider           string   `json:"provider"`
	FlavorID           *string  `json:"flavor_id"`
	AvailabilityZone   *string  `json:"availability_zone"`
	Tags               []string `json:"tags"`
}

type listenerView struct {
	ID                      string            `json:"id"`
	Name                    string            `json:"name"`
	Description             string            `json:"description"`
	ProjectID               string            `json:"project_id"`
	AdminStateUp            bool              `json:"admin_state_up"`
	ProvisioningStatus      string            `json:"provisioning_status"`
	OperatingStatus         string            `json:"operating_status"`
	CreatedAt               *string           `json:"created_at"`
	UpdatedAt               *string           `json:"updated_at"`
	Protocol                string            `json:"protocol"`
	ProtocolPort            int               `json:"protocol_port"`
	ConnectionLimit         int               `json:"connection_limit"`
	DefaultPoolID           *string           `json:"default_pool_id"`
	LoadBalancers           []ref             `json:"loadbalancers"`
	L7Policies              []ref             `json:"l7policies"`
	DefaultTLSContainerRef  *string           `json:"default_tls_container_ref"`
	SNIContainerRefs        []string          `json:"sni_container_refs"`
	InsertHeaders           map[string]string `json:"insert_headers"`
	TimeoutClientData       int64             `json:"timeout_client_data"`
	TimeoutMemberConnect    int64             `json:"timeout_member_connect"`
	TimeoutMemberData       int64             `json:"timeout_member_data"`
	TimeoutTCPInspect       int64             `json:"timeout_tcp_inspect"`
	ClientCATLSContainerRef *string           `json:"client_ca_tls_container_ref"`
	ClientAuthentication    string            `json:"client_authentication"`
	ClientCRLContainerRef   *string           `json:"client_crl_container_ref"`
	AllowedCIDRs            []string          `json:"allowed_cidrs"`
	TLSCiphers              *string           `json:"tls_ciphers"`
	TLSVersions             []string          `json:"tls_versions"`
	ALPNProtocols           []string          `json:"alpn_protocols"`
	Tags                    []string          `json:"tags"`
	BindAddress             string            `json:"bind_address"`        // vitals
	ConnectionLog           bool              `json:"connection_log"`      // vitals
	TimeoutWriteStall       int64             `json:"timeout_write_stall"` // vitals, ms
}

type sessionPersistenceView struct {
	Type                   string  `json:"type"`
	CookieName             *string `json:"cookie_name"`
	PersistenceTimeout     *int    `json:"persistence_timeout"`
	PersistenceGranularity *string `json:"persistence_granularity"`
}

type poolView struct {
	ID                 string                  `json:"id"`
	Name               string                  `json:"name"`
	Description        string                  `json:"description"`
	ProjectID          string                  `json:"project_id"`
	AdminStateUp       bool                    `json:"admin_state_up"`
	ProvisioningStatus string                  `json:"provisioning_status"`
	OperatingStatus    string                  `json:"operating_status"`
	CreatedAt          *string                 `json:"created_at"`
	UpdatedAt          *string                 `json:"updated_at"`
	Protocol           string                  `json:"protocol"`
	LBAlgorithm        string                  `json:"lb_algorithm"`
	SessionPersistence *sessionPersistenceView `json:"session_persistence"`
	LoadBalancers      []ref                   `json:"loadbalancers"`
	Listeners          []ref                   `json:"listeners"`
	Members            []ref                   `json:"members"`
	HealthMonitorID    *string                 `json:"healthmonitor_id"`
	TLSEnabled         bool                    `json:"tls_enabled"`
	TLSContainerRef    *string                 `json:"tls_container_ref"`
	CATLSContainerRef  *string                 `json:"ca_tls_container_ref"`
	CRLContainerRef    *string                 `json:"crl_container_ref"`
	TLSCiphers         *string                 `json:"tls_ciphers"`
	TLSVersions        []string                `json:"tls_versions"`
	ALPNProtocols      []string                `json:"alpn_protocols"`
	Tags               []string                `json:"tags"`
	FailOpen           bool                    `json:"fail_open"`      // vitals
	OnMemberDown       string                  `json:"on_member_down"` // vitals
}

type memberView struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	ProjectID          string   `json:"project_id"`
	AdminStateUp       bool     `json:"admin_state_up"`
	ProvisioningStatus string   `json:"provisioning_status"`
	OperatingStatus    string   `json:"operating_status"`
	CreatedAt          *string  `json:"created_at"`
	UpdatedAt          *string  `json:"updated_at"`
	PoolID             string   `json:"pool_id"`
	Address            string   `json:"address"`
	ProtocolPort       int      `json:"protocol_port"`
	Weight             int      `json:"weight"`
	Backup             bool     `json:"backup"`
	SubnetID           *string  `json:"subnet_id"`
	MonitorAddress     *string  `json:"monitor_address"`
	MonitorPort        *int     `json:"monitor_port"`
	VnicType           string   `json:"vnic_type"`
	Tags               []string `json:"tags"`
}

type healthMonitorView struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	ProjectID          string   `json:"project_id"`
	AdminStateUp       bool     `json:"admin_state_up"`
	ProvisioningStatus string   `json:"provisioning_status"`
	OperatingStatus    string   `json:"operating_status"`
	CreatedAt          *string  `json:"created_at"`
	UpdatedAt          *string  `json:"updated_at"`
	Pools              []ref    `json:"pools"`
	Type               string   `json:"type"`
	Delay              int64    `json:"delay"`
	Timeout            int64    `json:"timeout"`
	MaxRetries         int      `json:"max_retries"`
	MaxRetriesDown     int      `json:"max_retries_down"`
	Tags               []string `json:"tags"`
	// DelayMS and TimeoutMS are the exact delay and timeout in
	// milliseconds (vitals): delay and timeout are whole seconds, rounded
	// up, because clients decode them as integers.
	DelayMS   int64 `json:"delay_ms"`
	TimeoutMS int64 `json:"timeout_ms"`
	// typed are the type-dependent fields (octavia.MonitorFields) that
	// are set, by name; MarshalJSON writes them after the others.
	typed map[string]string
}

// MarshalJSON writes the common fields, then each declared
// type-dependent field: Octavia's always (null when unset, http_version
// as a number), vitals' own only when set.
func (v healthMonitorView) MarshalJSON() ([]byte, error) {
	type plain healthMonitorView
	b, err := json.Marshal(plain(v))
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(b[:len(b)-1])
	for _, f := range model.MonitorFields() {
		val, set := v.typed[f.Name]
		if !set && f.Extension {
			continue
		}
		key, _ := json.Marshal(f.Name)
		buf.WriteByte(',')
		buf.Write(key)
		buf.WriteByte(':')
		switch {
		case !set:
			buf.WriteString("null")
		case f.Number:
			buf.WriteString(val) // validated: 1.0 or 1.1
		default:
			s, _ := json.Marshal(val)
			buf.Write(s)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// children are the IDs a parent shows of its children.
type children struct {
	listeners, pools, members []string
	monitor                   string
	poolListeners             []string
}

func (h *Handler) lbView(lb *model.LoadBalancer, c children) loadBalancerView {
	return loadBalancerView{
		ID: lb.ID, Name: lb.Name, Description: lb.Description, ProjectID: lb.ProjectID,
		AdminStateUp: lb.AdminStateUp, ProvisioningStatus: string(lb.ProvisioningStatus),
		OperatingStatus: h.operating(KindLoadBalancer, &lb.Meta),
		CreatedAt:       stamp(lb.CreatedAt), UpdatedAt: updated(&lb.Meta),
		VIPAddress: null(lb.VIPAddress), VIPPortID: null(lb.VIPPortID), VIPSubnetID: null(lb.VIPSubnetID),
		VIPNetworkID: null(lb.VIPNetworkID), VIPQoSPolicyID: null(lb.VIPQoSPolicyID), VIPVnicType: "normal",
		AdditionalVIPs: []any{}, Listeners: refs(c.listeners), Pools: refs(c.pools),
		Provider: lb.Provider, FlavorID: null(lb.FlavorID), AvailabilityZone: null(lb.AvailabilityZone),
		Tags: tags(lb.Tags),
	}
}

func (h *Handler) listenerView(l *model.Listener) listenerView {
	return listenerView{
		ID: l.ID, Name: l.Name, Description: l.Description, ProjectID: l.ProjectID,
		AdminStateUp: l.AdminStateUp, ProvisioningStatus: string(l.ProvisioningStatus),
		OperatingStatus: h.operating(KindListener, &l.Meta),
		CreatedAt:       stamp(l.CreatedAt), UpdatedAt: updated(&l.Meta),
		Protocol: l.Protocol, ProtocolPort: l.ProtocolPort, ConnectionLimit: l.ConnectionLimit,
		DefaultPoolID: null(l.DefaultPoolID), LoadBalancers: refs([]string{l.LoadBalancerID}),
		L7Policies: []ref{}, SNIContainerRefs: []string{}, InsertHeaders: map[string]string{},
		TimeoutClientData:    model.Millis(l.TimeoutClientData),
		TimeoutMemberConnect: model.Millis(l.TimeoutMemberConnect),
		TimeoutMemberData:    model.Millis(l.TimeoutMemberData),
		TimeoutTCPInspect:    model.Millis(l.TimeoutTCPInspect),
		ClientAuthentication: "NONE", AllowedCIDRs: l.AllowedCIDRs, Tags: tags(l.Tags),
		BindAddress: l.BindAddress, ConnectionLog: l.ConnectionLog,
		TimeoutWriteStall: model.Millis(l.TimeoutWriteStall),
	}
}

func (h *Handler) poolView(p *model.Pool, c children) poolView {
	v := poolView{
		ID: p.ID, Name: p.Name, Description: p.Description, ProjectID: p.ProjectID,
		AdminStateUp: p.AdminStateUp, ProvisioningStatus: string(p.ProvisioningStatus),
		OperatingStatus: h.operating(KindPool, &p.Meta),
		CreatedAt:       stamp(p.CreatedAt), UpdatedAt: updated(&p.Meta),
		Protocol: p.Protocol, LBAlgorithm: p.LBAlgorithm,
		LoadBalancers: refs([]string{p.LoadBalancerID}), Listeners: refs(c.poolListeners),
		Members: refs(c.members), HealthMonitorID: null(c.monitor), Tags: tags(p.Tags),
		FailOpen: p.FailOpen, OnMemberDown: p.OnMemberDown,
	}
	if sp := p.SessionPersistence; sp != nil {
		v.SessionPersistence = &sessionPersistenceView{Type: sp.Type, CookieName: null(sp.CookieName),
			PersistenceGranularity: null(sp.PersistenceGranularity)}
		if sp.PersistenceTimeout != 0 {
			v.SessionPersistence.PersistenceTimeout = &sp.PersistenceTimeout
		}
	}
	return v
}

// memberView shows a member; monitored says whether its pool has a
// health monitor: a member nobody checks is NO_MONITOR, as in Octavia,
// unless the StatusSource knows better.
func (h *Handler) memberView(m *model.Member, monitored bool) memberView {
	v := memberView{
		ID: m.ID, Name: m.Name, ProjectID: m.ProjectID,
		AdminStateUp: m.AdminStateUp, ProvisioningStatus: string(m.ProvisioningStatus),
		OperatingStatus: h.memberOperating(m, monitored),
		CreatedAt:       stamp(m.CreatedAt), UpdatedAt: updated(&m.Meta),
		PoolID: m.PoolID, Address: m.Address, ProtocolPort: m.ProtocolPort, Weight: m.Weight,
		Backup: m.Backup, SubnetID: null(m.SubnetID), MonitorAddress: null(m.MonitorAddress),
		VnicType: "normal", Tags: tags(m.Tags),
	}
	if m.MonitorPort != 0 {
		v.MonitorPort = &m.MonitorPort
	}
	return v
}

func (h *Handler) monitorView(m *model.HealthMonitor) healthMonitorView {
	v := healthMonitorView{
		ID: m.ID, Name: m.Name, ProjectID: m.ProjectID,
		AdminStateUp: m.AdminStateUp, ProvisioningStatus: string(m.ProvisioningStatus),
		OperatingStatus: h.operating(KindHealthMonitor, &m.Meta),
		CreatedAt:       stamp(m.CreatedAt), UpdatedAt: updated(&m.Meta),
		Pools: refs([]string{m.PoolID}), Type: m.Type,
		Delay: model.Seconds(m.Delay), Timeout: model.Seconds(m.Timeout),
		MaxRetries: m.MaxRetries, MaxRetriesDown: m.MaxRetriesDown,
		Tags:    tags(m.Tags),
		DelayMS: model.Millis(m.Delay), TimeoutMS: model.Millis(m.Timeout),
		typed: map[string]string{},
	}
	for _, f := range model.MonitorFields() {
		if val := f.Get(m); val != "" {
			v.typed[f.Name] = val
		}
	}
	return v
}

func (h *Handler) memberOperating(m *model.Member, monitored bool) string {
	if h.opts.Statuses != nil {
		if s, ok := h.opts.Statuses.OperatingStatus(KindMember, m.ID); ok {
			return string(s)
		}
	}
	if !monitored {
		return string(model.OperatingNoMonitor)
	}
	return string(m.OperatingStatus)
}
