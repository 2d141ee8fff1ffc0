package octavia

import (
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
)

// Validate checks each field of the object alone, after defaults (the New
// functions and ApplyDefaults); rules that join two objects are
// CheckListenerPool and CheckMonitorPool. It returns nil or Errors, in
// field order.

// validator collects field errors.
type validator struct{ errs Errors }

func (v *validator) add(e *FieldError) { v.errs = append(v.errs, e) }

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func (v *validator) meta(m *Meta) {
	v.optionalID("id", m.ID)
	v.maxLen("project_id", m.ProjectID, MaxProjectIDLength)
	v.maxLen("name", m.Name, MaxNameLength)
	for _, t := range m.Tags {
		if len(t) > MaxNameLength {
			v.add(invalidInput("tags", t, maxChars(MaxNameLength)))
			break
		}
	}
	if m.ProvisioningStatus != "" && !m.ProvisioningStatus.Valid() {
		v.add(invalidInput("provisioning_status", string(m.ProvisioningStatus), oneOf(strs(ProvisioningStatuses()))))
	}
	if m.OperatingStatus != "" && !m.OperatingStatus.Valid() {
		v.add(invalidInput("operating_status", string(m.OperatingStatus), oneOf(strs(OperatingStatuses()))))
	}
}

func (v *validator) maxLen(field, s string, n int) {
	if len(s) > n {
		v.add(invalidInput(field, s, maxChars(n)))
	}
}

func (v *validator) optionalID(field, s string) {
	if s != "" && !ValidID(s) {
		v.add(invalidInput(field, s, reasonUUID))
	}
}

func (v *validator) requiredID(field, s string) {
	if s == "" {
		v.add(missing(field))
		return
	}
	v.optionalID(field, s)
}

func (v *validator) optionalIP(field, s string) {
	if s == "" {
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		v.add(invalidInput(field, s, reasonIP))
	}
}

func (v *validator) port(field string, p int, required bool) {
	switch {
	case p == 0 && required:
		v.add(missing(field))
	case p == 0:
	case p < MinPort:
		v.add(invalidInput(field, strconv.Itoa(p), atLeast(MinPort)))
	case p > MaxPort:
		v.add(invalidInput(field, strconv.Itoa(p), atMost(MaxPort)))
	}
}

func (v *validator) intRange(field string, n, min, max int) {
	switch {
	case n < min:
		v.add(invalidInput(field, strconv.Itoa(n), atLeast(min)))
	case n > max:
		v.add(invalidInput(field, strconv.Itoa(n), atMost(max)))
	}
}

// timeoutMillis checks a listener timeout: 0..MaxTimeout, whole ms.
func (v *validator) timeoutMillis(field string, d time.Duration) {
	ms := strconv.FormatInt(Millis(d), 10)
	switch {
	case d < 0:
		v.add(invalidInput(field, ms, atLeast(0)))
	case d > MaxTimeout:
		v.add(invalidInput(field, ms, atMost(Millis(MaxTimeout))))
	case d%time.Millisecond != 0:
		v.add(invalidInput(field, d.String(), reasonMS))
	}
}

// protocol checks a listener or pool protocol against the declaration.
func (v *validator) protocol(field, name string, known []string, served func(Protocol) bool, role string) {
	if name == "" {
		v.add(missing(field))
		return
	}
	if !slices.Contains(known, name) {
		v.add(invalidInput(field, name, oneOf(known)))
		return
	}
	if p, _ := LookupProtocol(name); !served(p) {
		v.add(unsupported(field, "%s protocol %s; use one of %s", role, name, strings.Join(filterNames(protocols, func(p Protocol) (string, bool) { return p.Name, served(p) }), ", ")))
	}
}

func strs[S ~string](list []S) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	return out
}

// Validate checks the load balancer's fields.
func (lb *LoadBalancer) Validate() error {
	var v validator
	v.meta(&lb.Meta)
	v.maxLen("description", lb.Description, MaxNameLength)
	v.optionalIP("vip_address", lb.VIPAddress)
	v.optionalID("vip_port_id", lb.VIPPortID)
	v.optionalID("vip_subnet_id", lb.VIPSubnetID)
	v.optionalID("vip_network_id", lb.VIPNetworkID)
	v.optionalID("vip_qos_policy_id", lb.VIPQoSPolicyID)
	v.optionalID("flavor_id", lb.FlavorID)
	v.maxLen("availability_zone", lb.AvailabilityZone, MaxNameLength)
	if lb.Provider != "" && lb.Provider != Provider {
		v.add(&FieldError{Field: "provider", Msg: "Provider '" + lb.Provider + "' is not enabled."})
	}
	return v.err()
}

// Validate checks the listener's fields.
func (l *Listener) Validate() error {
	var v validator
	v.meta(&l.Meta)
	v.requiredID("loadbalancer_id", l.LoadBalancerID)
	v.maxLen("description", l.Description, MaxNameLength)
	v.protocol("protocol", l.Protocol, ListenerProtocolNames(), func(p Protocol) bool { return p.Listener }, "listener")
	v.port("protocol_port", l.ProtocolPort, true)
	if l.ConnectionLimit < MinConnectionLimit {
		v.add(invalidInput("connection_limit", strconv.Itoa(l.ConnectionLimit), atLeast(MinConnectionLimit)))
	}
	v.optionalID("default_pool_id", l.DefaultPoolID)
	v.timeoutMillis("timeout_client_data", l.TimeoutClientData)
	v.timeoutMillis("timeout_member_connect", l.TimeoutMemberConnect)
	v.timeoutMillis("timeout_member_data", l.TimeoutMemberData)
	v.timeoutMillis("timeout_tcp_inspect", l.TimeoutTCPInspect)
	v.timeoutMillis("timeout_write_stall", l.TimeoutWriteStall)
	for _, c := range l.AllowedCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			v.add(invalidInput("allowed_cidrs", c, reasonCIDR))
			break
		}
	}
	v.optionalIP("bind_address", l.BindAddress)
	return v.err()
}

// Validate checks the pool's fields.
func (p *Pool) Validate() error {
	var v validator
	v.meta(&p.Meta)
	v.requiredID("loadbalancer_id", p.LoadBalancerID)
	v.maxLen("description", p.Description, MaxNameLength)
	v.protocol("protocol", p.Protocol, PoolProtocolNames(), func(p Protocol) bool { return p.Pool }, "pool")
	switch {
	case p.LBAlgorithm == "":
		v.add(missing("lb_algorithm"))
	case !slices.Contains(AlgorithmNames(), p.LBAlgorithm):
		v.add(invalidInput("lb_algorithm", p.LBAlgorithm, oneOf(AlgorithmNames())))
	}
	if sp := p.SessionPersistence; sp != nil {
		const f = "session_persistence.type"
		switch t, ok := lookup(sessionPersistenceTypes, func(t SessionPersistenceType) bool { return t.Name == sp.Type }); {
		case sp.Type == "":
			v.add(missing(f))
		case !ok:
			v.add(invalidInput(f, sp.Type, oneOf(SessionPersistenceTypeNames())))
		case !t.Supported:
			v.add(unsupported(f, "session persistence %s", sp.Type))
		}
	}
	switch p.OnMemberDown {
	case "", OnMemberDownShutdown, OnMemberDownKeep:
	default:
		v.add(invalidInput("on_member_down", p.OnMemberDown, oneOf([]string{OnMemberDownShutdown, OnMemberDownKeep})))
	}
	return v.err()
}

// Validate checks the member's fields.
func (m *Member) Validate() error {
	var v validator
	v.meta(&m.Meta)
	v.requiredID("pool_id", m.PoolID)
	if m.Address == "" {
		v.add(missing("address"))
	} else {
		v.optionalIP("address", m.Address)
	}
	v.port("protocol_port", m.ProtocolPort, true)
	v.intRange("weight", m.Weight, MinWeight, MaxWeight)
	v.optionalIP("monitor_address", m.MonitorAddress)
	v.port("monitor_port", m.MonitorPort, false)
	v.optionalID("subnet_id", m.SubnetID)
	return v.err()
}

var (
	// expectedCodesRE is Octavia's pattern for expected_codes.
	expectedCodesRE = regexp.MustCompile(`^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`)
	// expectedCodesMixedRE is vitals' extension, which lb's YAML files
	// have always accepted: a list that mixes codes and ranges, such as
	// 200-204,301. Refusals still quote Octavia's pattern.
	expectedCodesMixedRE = regexp.MustCompile(`^\d{3}(-\d{3})?(\s*,\s*\d{3}(-\d{3})?)*$`)
	sslModes             = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
)

// Validate checks the health monitor's fields.
func (h *HealthMonitor) Validate() error {
	var v validator
	v.meta(&h.Meta)
	v.requiredID("pool_id", h.PoolID)
	t, ok := LookupMonitorType(h.Type)
	switch {
	case h.Type == "":
		v.add(missing("type"))
	case !ok:
		v.add(invalidInput("type", h.Type, oneOf(MonitorTypeNames())))
	case !t.Supported:
		v.add(unsupported("type", "health monitor type %s", h.Type))
	}
	v.delay("delay", h.Delay)
	v.delay("timeout", h.Timeout)
	if h.Timeout > h.Delay && h.Delay > 0 {
		v.add(validationFailure("timeout", "timeout %s is longer than delay %s; a check must end before the next one is due", FormatDelay(h.Timeout), FormatDelay(h.Delay)))
	}
	if h.MaxRetries == 0 {
		v.add(missing("max_retries"))
	} else {
		v.intRange("max_retries", h.MaxRetries, MinRetries, MaxRetries)
	}
	v.intRange("max_retries_down", h.MaxRetriesDown, MinRetries, MaxRetries)
	if ok {
		for _, f := range monitorFields {
			if *f.ptr(h) != "" && !f.AcceptedBy(t) {
				v.add(invalidOption(f.Name, f.Name, "health monitors of type "+t.Name))
			}
		}
		for _, name := range t.Required {
			if f, _ := LookupMonitorField(name); f.Get(h) == "" {
				v.add(validationFailure(name, "'%s' is required for health monitors of type %s.", name, t.Name))
			}
		}
	}
	if h.HTTPMethod != "" && !slices.Contains(httpMethods, h.HTTPMethod) {
		v.add(invalidInput("http_method", h.HTTPMethod, oneOf(httpMethods)))
	}
	// url_path and expected_codes: Octavia's rules, then the probe's,
	// which the checks run with (one rule for the API, the YAML files and
	// `vitals probe`). The probe's are stricter where Octavia's pattern
	// lets through a value no check can use: a fragment, which is never
	// sent; raw non-ASCII bytes; a code outside 100-599 or a reversed
	// range, which no response can match.
	if h.URLPath != "" {
		if !validURLPath(h.URLPath) {
			v.add(invalidInput("url_path", h.URLPath, reasonPath))
		} else if err := probe.ValidateURLPath(h.URLPath); err != nil {
			v.add(invalidInput("url_path", h.URLPath, reasonPath+": "+err.Error()))
		}
	}
	if h.ExpectedCodes != "" {
		if !expectedCodesRE.MatchString(h.ExpectedCodes) && !expectedCodesMixedRE.MatchString(h.ExpectedCodes) {
			v.add(invalidInput("expected_codes", h.ExpectedCodes, "Value should match the pattern "+expectedCodesRE.String()))
		} else if _, err := probe.ParseCodes(h.ExpectedCodes); err != nil {
			v.add(invalidInput("expected_codes", h.ExpectedCodes, err.Error()))
		}
	}
	if h.HTTPVersion != "" && !slices.Contains(httpVersions, h.HTTPVersion) {
		v.add(invalidInput("http_version", h.HTTPVersion, oneOf(httpVersions)))
	}
	if h.DomainName != "" {
		switch {
		case !validDomainName(h.DomainName):
			v.add(invalidInput("domain_name", h.DomainName, "Value should match the pattern of a DNS domain name"))
		case h.HTTPVersion == "":
			v.add(validationFailure("domain_name", "'http_version' must be specified when 'domain_name' is provided."))
		case h.HTTPVersion == "1.0":
			v.add(invalidOption("http_version", "http_version "+h.HTTPVersion, "health monitors HTTP 1.1 domain name health check"))
		}
	}
	if h.SSLMode != "" && !slices.Contains(sslModes, h.SSLMode) {
		v.add(invalidInput("sslmode", h.SSLMode, oneOf(sslModes)))
	}
	if h.PasswordFile != "" && h.PasswordEnv != "" {
		v.add(validationFailure("password_env", "password_file and password_env are mutually exclusive; give one."))
	}
	return v.err()
}

// delay checks a monitor delay or timeout: MinDelay (timeout: 1ms) to
// MaxDelay, whole milliseconds.
func (v *validator) delay(field string, d time.Duration) {
	min := MinDelay
	if field == "timeout" {
		min = time.Millisecond
	}
	switch {
	case d == 0:
		v.add(missing(field))
	case d < min:
		v.add(invalidInput(field, FormatDelay(d), atLeast(FormatDelay(min))))
	case d > MaxDelay:
		v.add(invalidInput(field, FormatDelay(d), atMost(FormatDelay(MaxDelay))))
	case d%time.Millisecond != 0:
		v.add(invalidInput(field, FormatDelay(d), reasonMS))
	}
}

// FormatDelay writes a monitor delay or timeout as a person would: whole
// seconds as an integer ("5"), anything else as a Go duration ("500ms").
func FormatDelay(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return d.String()
}

// validURLPath follows Octavia's url_path rule: an absolute path with an
// optional query, and no scheme, host, user info, fragment or whitespace.
func validURLPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.ParseRequestURI(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Fragment == ""
}

// validDomainName follows Octavia's DOMAIN_NAME_REGEX: at most 253
// characters (plus an optional final dot), labels of 1..63 letters,
// digits, '-' and '_', not starting or ending with '-', with '_' only as
// a label's first character.
func validDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' && i == 0
			if !ok {
				return false
			}
		}
	}
	return true
}
