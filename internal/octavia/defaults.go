package octavia

import "time"

// Defaults: a decoder starts from NewX(), so that a field the user left
// out keeps its default while a zero the user wrote (weight 0,
// admin_state_up false, a 0 ms timeout) stays zero. A monitor's
// type-specific defaults depend on its type and are applied by
// ApplyDefaults once the type is known.

func newMeta() Meta {
	return Meta{
		AdminStateUp:       true,
		ProvisioningStatus: ProvisioningPendingCreate,
		OperatingStatus:    OperatingOffline,
	}
}

// NewLoadBalancer returns a load balancer with Octavia's defaults.
func NewLoadBalancer() LoadBalancer {
	return LoadBalancer{Meta: newMeta(), Provider: Provider}
}

// NewListener returns a listener with Octavia's defaults.
func NewListener() Listener {
	return Listener{
		Meta:                 newMeta(),
		ConnectionLimit:      DefaultConnectionLimit,
		TimeoutClientData:    DefaultTimeoutClientData,
		TimeoutMemberConnect: DefaultTimeoutMemberConnect,
		TimeoutMemberData:    DefaultTimeoutMemberData,
		TimeoutTCPInspect:    DefaultTimeoutTCPInspect,
		TimeoutWriteStall:    DefaultTimeoutWriteStall,
	}
}

// NewPool returns a pool with Octavia's defaults (and vitals' for its
// own fields).
func NewPool() Pool {
	return Pool{Meta: newMeta(), OnMemberDown: OnMemberDownShutdown}
}

// NewMember returns a member with Octavia's defaults.
func NewMember() Member {
	return Member{Meta: newMeta(), Weight: DefaultWeight}
}

// NewHealthMonitor returns a health monitor with Octavia's type-neutral
// defaults; call ApplyDefaults once Type is set.
func NewHealthMonitor() HealthMonitor {
	return HealthMonitor{Meta: newMeta(), MaxRetriesDown: DefaultMaxRetriesDown}
}

// ApplyDefaults fills the empty type-specific fields that h's type
// accepts with their declared defaults (http_method GET, url_path /,
// expected_codes 200 for HTTP and HTTPS; sslmode prefer for PGSQL), and
// an unset max_retries_down with 3. Fields the type does not accept stay
// as they are, for Validate to refuse. An unknown type gets nothing.
func (h *HealthMonitor) ApplyDefaults() {
	if h.MaxRetriesDown == 0 {
		h.MaxRetriesDown = DefaultMaxRetriesDown
	}
	t, ok := LookupMonitorType(h.Type)
	if !ok {
		return
	}
	for _, f := range monitorFields {
		if p := f.ptr(h); *p == "" && f.Default != "" && t.Accepts(f.Name) {
			*p = f.Default
		}
	}
}

// Settings are the operator's settings that Octavia keeps in
// [api_settings] and that change what a monitor may be.
type Settings struct {
	// AllowPing permits PING monitors. Default true.
	AllowPing bool
	// UDPConnectMinDelay is the shortest delay of an UDP-CONNECT monitor;
	// zero allows any. Default 3s.
	UDPConnectMinDelay time.Duration
}

// DefaultSettings are Octavia's defaults.
func DefaultSettings() Settings {
	return Settings{AllowPing: true, UDPConnectMinDelay: DefaultUDPConnectMinDelay}
}
