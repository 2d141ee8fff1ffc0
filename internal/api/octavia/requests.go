package octavia

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	model "vitals/internal/octavia"
)

// The request bodies: one struct per resource for create and update,
// with pointers so that a field left out keeps its default (create) or
// its value (update). updateFields lists what PUT takes, as Octavia's
// *PUT types do; any other field is refused as unknown.

type metaReq struct {
	Name         *string   `json:"name"`
	AdminStateUp *bool     `json:"admin_state_up"`
	ProjectID    *string   `json:"project_id"`
	TenantID     *string   `json:"tenant_id"` // Octavia's deprecated alias
	Tags         *[]string `json:"tags"`
}

func (r *metaReq) apply(m *model.Meta) {
	set(&m.Name, r.Name)
	set(&m.AdminStateUp, r.AdminStateUp)
	set(&m.ProjectID, r.TenantID)
	set(&m.ProjectID, r.ProjectID)
	set(&m.Tags, r.Tags)
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

type loadBalancerReq struct {
	metaReq
	Description      *string `json:"description"`
	VIPAddress       *string `json:"vip_address"`
	VIPPortID        *string `json:"vip_port_id"`
	VIPSubnetID      *string `json:"vip_subnet_id"`
	VIPNetworkID     *string `json:"vip_network_id"`
	VIPQoSPolicyID   *string `json:"vip_qos_policy_id"`
	Provider         *string `json:"provider"`
	FlavorID         *string `json:"flavor_id"`
	AvailabilityZone *string `json:"availability_zone"`
}

var lbUpdateFields = []string{"name", "description", "admin_state_up", "vip_qos_policy_id", "tags"}

func (r *loadBalancerReq) apply(lb *model.LoadBalancer) {
	r.metaReq.apply(&lb.Meta)
	set(&lb.Description, r.Description)
	set(&lb.VIPAddress, r.VIPAddress)
	set(&lb.VIPPortID, r.VIPPortID)
	set(&lb.VIPSubnetID, r.VIPSubnetID)
	set(&lb.VIPNetworkID, r.VIPNetworkID)
	set(&lb.VIPQoSPolicyID, r.VIPQoSPolicyID)
	set(&lb.Provider, r.Provider)
	set(&lb.FlavorID, r.FlavorID)
	set(&lb.AvailabilityZone, r.AvailabilityZone)
}

type listenerReq struct {
	metaReq
	LoadBalancerID       *string   `json:"loadbalancer_id"`
	Description          *string   `json:"description"`
	Protocol             *string   `json:"protocol"`
	ProtocolPort         *integer  `json:"protocol_port"`
	ConnectionLimit      *integer  `json:"connection_limit"`
	DefaultPoolID        *string   `json:"default_pool_id"`
	TimeoutClientData    *integer  `json:"timeout_client_data"`
	TimeoutMemberConnect *integer  `json:"timeout_member_connect"`
	TimeoutMemberData    *integer  `json:"timeout_member_data"`
	TimeoutTCPInspect    *integer  `json:"timeout_tcp_inspect"`
	AllowedCIDRs         *[]string `json:"allowed_cidrs"`
	BindAddress          *string   `json:"bind_address"`
	ConnectionLog        *bool     `json:"connection_log"`
	TimeoutWriteStall    *integer  `json:"timeout_write_stall"`
}

var listenerUpdateFields = []string{"name", "description", "admin_state_up", "tags", "connection_limit",
	"default_pool_id", "timeout_client_data", "timeout_member_connect", "timeout_member_data",
	"timeout_tcp_inspect", "allowed_cidrs", "bind_address", "connection_log", "timeout_write_stall"}

func millis(dst *time.Duration, ms *integer) {
	if ms != nil {
		*dst = model.FromMillis(int64(*ms))
	}
}

func (r *listenerReq) apply(l *model.Listener) {
	r.metaReq.apply(&l.Meta)
	set(&l.LoadBalancerID, r.LoadBalancerID)
	set(&l.Description, r.Description)
	set(&l.Protocol, r.Protocol)
	setInt(&l.ProtocolPort, r.ProtocolPort)
	setInt(&l.ConnectionLimit, r.ConnectionLimit)
	set(&l.DefaultPoolID, r.DefaultPoolID)
	millis(&l.TimeoutClientData, r.TimeoutClientData)
	millis(&l.TimeoutMemberConnect, r.TimeoutMemberConnect)
	millis(&l.TimeoutMemberData, r.TimeoutMemberData)
	millis(&l.TimeoutTCPInspect, r.TimeoutTCPInspect)
	set(&l.AllowedCIDRs, r.AllowedCIDRs)
	set(&l.BindAddress, r.BindAddress)
	set(&l.ConnectionLog, r.ConnectionLog)
	millis(&l.TimeoutWriteStall, r.TimeoutWriteStall)
}

type sessionPersistenceReq struct {
	Type                   string `json:"type"`
	CookieName             string `json:"cookie_name"`
	PersistenceTimeout     int    `json:"persistence_timeout"`
	PersistenceGranularity string `json:"persistence_granularity"`
}

type poolReq struct {
	metaReq
	LoadBalancerID     *string                `json:"loadbalancer_id"`
	ListenerID         *string                `json:"listener_id"`
	Description        *string                `json:"description"`
	Protocol           *string                `json:"protocol"`
	LBAlgorithm        *string                `json:"lb_algorithm"`
	SessionPersistence *sessionPersistenceReq `json:"session_persistence"`
	FailOpen           *bool                  `json:"fail_open"`
	OnMemberDown       *string                `json:"on_member_down"`
}

var poolUpdateFields = []string{"name", "description", "admin_state_up", "tags", "lb_algorithm",
	"session_persistence", "fail_open", "on_member_down"}

func (r *poolReq) apply(p *model.Pool, fields map[string]json.RawMessage) {
	r.metaReq.apply(&p.Meta)
	set(&p.LoadBalancerID, r.LoadBalancerID)
	set(&p.Description, r.Description)
	set(&p.Protocol, r.Protocol)
	set(&p.LBAlgorithm, r.LBAlgorithm)
	if sp := r.SessionPersistence; sp != nil {
		p.SessionPersistence = &model.SessionPersistence{Type: sp.Type, CookieName: sp.CookieName,
			PersistenceTimeout: sp.PersistenceTimeout, PersistenceGranularity: sp.PersistenceGranularity}
	} else if raw, ok := fields["session_persistence"]; ok && string(raw) == "null" {
		p.SessionPersistence = nil
	}
	set(&p.FailOpen, r.FailOpen)
	set(&p.OnMemberDown, r.OnMemberDown)
}

type memberReq struct {
	metaReq
	Address        *string  `json:"address"`
	ProtocolPort   *integer `json:"protocol_port"`
	Weight         *integer `json:"weight"`
	Backup         *bool    `json:"backup"`
	MonitorAddress *string  `json:"monitor_address"`
	MonitorPort    *integer `json:"monitor_port"`
	SubnetID       *string  `json:"subnet_id"`
}

var memberUpdateFields = []string{"name", "admin_state_up", "tags", "weight", "backup", "monitor_address", "monitor_port"}

func (r *memberReq) apply(m *model.Member) {
	r.metaReq.apply(&m.Meta)
	set(&m.Address, r.Address)
	setInt(&m.ProtocolPort, r.ProtocolPort)
	setInt(&m.Weight, r.Weight)
	set(&m.Backup, r.Backup)
	set(&m.MonitorAddress, r.MonitorAddress)
	setInt(&m.MonitorPort, r.MonitorPort)
	set(&m.SubnetID, r.SubnetID)
}

// httpVersion is Octavia's float http_version; a string "1.1" is taken
// too, as python clients may send either.
type httpVersion string

func (v *httpVersion) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch s {
	case "null":
		return nil
	case "":
		*v = ""
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return &valueError{"http_version", string(b), "Value should be one of: 1.0, 1.1"}
	}
	*v = httpVersion(strconv.FormatFloat(f, 'f', 1, 64))
	return nil
}

type healthMonitorReq struct {
	healthMonitorCommonReq
	// typed holds the type-dependent fields (octavia.MonitorFields) the
	// request set, by name; a null is left out.
	typed map[string]string
}

// healthMonitorCommonReq are the fields every monitor has.
type healthMonitorCommonReq struct {
	metaReq
	PoolID         *string  `json:"pool_id"`
	Type           *string  `json:"type"`
	Delay          *integer `json:"delay"`
	Timeout        *integer `json:"timeout"`
	DelayMS        *integer `json:"delay_ms"`
	TimeoutMS      *integer `json:"timeout_ms"`
	MaxRetries     *integer `json:"max_retries"`
	MaxRetriesDown *integer `json:"max_retries_down"`
}

// fieldNames are the attributes a monitor request takes: the common ones
// and the model's declared type-dependent fields.
func (r *healthMonitorReq) fieldNames() []string {
	names := jsonNames(reflect.TypeFor[healthMonitorCommonReq]())
	for _, f := range model.MonitorFields() {
		names = append(names, f.Name)
	}
	return names
}

// UnmarshalJSON reads the declared type-dependent fields by name (each a
// string, http_version Octavia's float) and the rest strictly into the
// common fields.
func (r *healthMonitorReq) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	r.typed = map[string]string{}
	for _, f := range model.MonitorFields() {
		raw, ok := fields[f.Name]
		if !ok {
			continue
		}
		delete(fields, f.Name)
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var v string
		if f.Number {
			var hv httpVersion
			if err := hv.UnmarshalJSON(raw); err != nil {
				return err
			}
			v = string(hv)
		} else {
			var p *string
			if err := json.Unmarshal(raw, &p); err != nil {
				if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
					te.Field = f.Name
				}
				return err
			}
			if p == nil {
				continue
			}
			v = *p
		}
		r.typed[f.Name] = v
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return strictUnmarshal(rest, &r.healthMonitorCommonReq)
}

// monitorUpdateFields are the attributes an update may change: all but
// pool_id and type.
var monitorUpdateFields = slices.DeleteFunc((*healthMonitorReq).fieldNames(nil), func(n string) bool {
	return n == "pool_id" || n == "type" || n == "project_id" || n == "tenant_id"
})

func (r *healthMonitorReq) apply(h *model.HealthMonitor) {
	r.metaReq.apply(&h.Meta)
	set(&h.PoolID, r.PoolID)
	set(&h.Type, r.Type)
	if r.Delay != nil {
		h.Delay = model.FromSeconds(int64(*r.Delay))
	}
	if r.Timeout != nil {
		h.Timeout = model.FromSeconds(int64(*r.Timeout))
	}
	millis(&h.Delay, r.DelayMS)
	millis(&h.Timeout, r.TimeoutMS)
	setInt(&h.MaxRetries, r.MaxRetries)
	setInt(&h.MaxRetriesDown, r.MaxRetriesDown)
	for _, f := range model.MonitorFields() {
		if v, ok := r.typed[f.Name]; ok {
			f.Set(h, v)
		}
	}
}
