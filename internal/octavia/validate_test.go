package octavia

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	lbID   = "5a1c2d3e-4f50-4617-8899-aabbccddeeff"
	poolID = "6b1c2d3e-4f50-4617-8899-aabbccddeeff"
)

func validLB() LoadBalancer { lb := NewLoadBalancer(); lb.VIPAddress = "127.0.0.1"; return lb }

func validListener() Listener {
	l := NewListener()
	l.LoadBalancerID, l.Protocol, l.ProtocolPort = lbID, ProtocolTCP, 8080
	return l
}

func validPool() Pool {
	p := NewPool()
	p.LoadBalancerID, p.Protocol, p.LBAlgorithm = lbID, ProtocolTCP, AlgorithmRoundRobin
	return p
}

func validMember() Member {
	m := NewMember()
	m.PoolID, m.Address, m.ProtocolPort = poolID, "10.0.0.1", 80
	return m
}

func validMonitor(typ string) HealthMonitor {
	h := NewHealthMonitor()
	h.PoolID, h.Type, h.Delay, h.Timeout, h.MaxRetries = poolID, typ, 5*time.Second, 3*time.Second, 2
	if t, ok := LookupMonitorType(typ); ok {
		for _, name := range t.Required {
			f, _ := LookupMonitorField(name)
			f.Set(&h, "vitals")
		}
	}
	h.ApplyDefaults()
	return h
}

// wantErr asserts err holds exactly one field error for field with msg.
func wantErr(t *testing.T, err error, field, msg string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v, want field errors", err)
	}
	if len(es) != 1 {
		t.Fatalf("got %d errors (%v), want 1", len(es), err)
	}
	if es[0].Field != field || es[0].Msg != msg {
		t.Fatalf("got %q: %q\nwant %q: %q", es[0].Field, es[0].Msg, field, msg)
	}
}

func TestValidDefaultsPass(t *testing.T) {
	lb, l, p, m := validLB(), validListener(), validPool(), validMember()
	for name, err := range map[string]error{"lb": lb.Validate(), "listener": l.Validate(), "pool": p.Validate(), "member": m.Validate()} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, mt := range MonitorTypes() {
		h := validMonitor(mt.Name)
		err := h.Validate()
		if mt.Supported && err != nil {
			t.Errorf("monitor %s: %v", mt.Name, err)
		}
		if !mt.Supported && err == nil {
			t.Errorf("monitor %s: unsupported type passed", mt.Name)
		}
	}
}

func TestMonitorValidate(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		edit   func(*HealthMonitor)
		field  string
		msg    string
		unsupp bool
	}{
		{"no type", "", nil, "type", "Invalid input for field/attribute type. Value: 'None'. Mandatory field missing.", false},
		{"unknown type", "FTP", nil, "type", "Invalid input for field/attribute type. Value: 'FTP'. Value should be one of: HTTP, HTTPS, PING, TCP, TLS-HELLO, UDP-CONNECT, SCTP, MYSQL, PGSQL", false},
		{"SCTP unsupported", MonitorSCTP, nil, "type", "Provider 'vitals' does not support a requested option: health monitor type SCTP", true},
		{"no pool", MonitorTCP, func(h *HealthMonitor) { h.PoolID = "" }, "pool_id", "Invalid input for field/attribute pool_id. Value: 'None'. Mandatory field missing.", false},
		{"bad pool id", MonitorTCP, func(h *HealthMonitor) { h.PoolID = "pool1" }, "pool_id", "Invalid input for field/attribute pool_id. Value: 'pool1'. Value should be UUID format", false},
		{"no delay", MonitorTCP, func(h *HealthMonitor) { h.Delay = 0 }, "delay", "Invalid input for field/attribute delay. Value: 'None'. Mandatory field missing.", false},
		{"negative delay", MonitorTCP, func(h *HealthMonitor) { h.Delay = -time.Second }, "delay", "Invalid input for field/attribute delay. Value: '-1'. Value should be greater or equal to 100ms", false},
		{"delay too short", MonitorTCP, func(h *HealthMonitor) { h.Delay, h.Timeout = 50*time.Millisecond, 10*time.Millisecond }, "delay", "Invalid input for field/attribute delay. Value: '50ms'. Value should be greater or equal to 100ms", false},
		{"delay too long", MonitorTCP, func(h *HealthMonitor) { h.Delay = MaxDelay + time.Second }, "delay", "Invalid input for field/attribute delay. Value: '2073601'. Value should be lower or equal to 2073600", false},
		{"delay not whole ms", MonitorTCP, func(h *HealthMonitor) { h.Delay = 5*time.Second + 1 }, "delay", "Invalid input for field/attribute delay. Value: '5.000000001s'. Value should be a whole number of milliseconds", false},
		{"no timeout", MonitorTCP, func(h *HealthMonitor) { h.Timeout = 0 }, "timeout", "Invalid input for field/attribute timeout. Value: 'None'. Mandatory field missing.", false},
		{"timeout > delay", MonitorTCP, func(h *HealthMonitor) { h.Timeout = 10 * time.Second }, "timeout", "Validation failure: timeout 10 is longer than delay 5; a check must end before the next one is due", false},
		{"no max_retries", MonitorTCP, func(h *HealthMonitor) { h.MaxRetries = 0 }, "max_retries", "Invalid input for field/attribute max_retries. Value: 'None'. Mandatory field missing.", false},
		{"max_retries 11", MonitorTCP, func(h *HealthMonitor) { h.MaxRetries = 11 }, "max_retries", "Invalid input for field/attribute max_retries. Value: '11'. Value should be lower or equal to 10", false},
		{"max_retries -1", MonitorTCP, func(h *HealthMonitor) { h.MaxRetries = -1 }, "max_retries", "Invalid input for field/attribute max_retries. Value: '-1'. Value should be greater or equal to 1", false},
		{"max_retries_down 0", MonitorTCP, func(h *HealthMonitor) { h.MaxRetriesDown = 0 }, "max_retries_down", "Invalid input for field/attribute max_retries_down. Value: '0'. Value should be greater or equal to 1", false},
		{"max_retries_down 11", MonitorTCP, func(h *HealthMonitor) { h.MaxRetriesDown = 11 }, "max_retries_down", "Invalid input for field/attribute max_retries_down. Value: '11'. Value should be lower or equal to 10", false},
		{"http_method on TCP", MonitorTCP, func(h *HealthMonitor) { h.HTTPMethod = "GET" }, "http_method", "http_method is not a valid option for health monitors of type TCP", false},
		{"url_path on PING", MonitorPing, func(h *HealthMonitor) { h.URLPath = "/" }, "url_path", "url_path is not a valid option for health monitors of type PING", false},
		{"expected_codes on UDP-CONNECT", MonitorUDPConnect, func(h *HealthMonitor) { h.ExpectedCodes = "200" }, "expected_codes", "expected_codes is not a valid option for health monitors of type UDP-CONNECT", false},
		{"ca_file on HTTP", MonitorHTTP, func(h *HealthMonitor) { h.CAFile = "/ca.pem" }, "ca_file", "ca_file is not a valid option for health monitors of type HTTP", false},
		{"query on TCP", MonitorTCP, func(h *HealthMonitor) { h.Query = "SELECT 1" }, "query", "query is not a valid option for health monitors of type TCP", false},
		{"bad method", MonitorHTTP, func(h *HealthMonitor) { h.HTTPMethod = "FETCH" }, "http_method", "Invalid input for field/attribute http_method. Value: 'FETCH'. Value should be one of: CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE", false},
		{"url_path relative", MonitorHTTP, func(h *HealthMonitor) { h.URLPath = "health" }, "url_path", "Invalid input for field/attribute url_path. Value: 'health'. Value must be a valid URL Path string", false},
		{"url_path with host", MonitorHTTP, func(h *HealthMonitor) { h.URLPath = "//evil.example/x" }, "url_path", "Invalid input for field/attribute url_path. Value: '//evil.example/x'. Value must be a valid URL Path string", false},
		{"url_path with space", MonitorHTTP, func(h *HealthMonitor) { h.URLPath = "/a b" }, "url_path", "Invalid input for field/attribute url_path. Value: '/a b'. Value must be a valid URL Path string", false},
		{"url_path scheme", MonitorHTTPS, func(h *HealthMonitor) { h.URLPath = "http://h/x" }, "url_path", "Invalid input for field/attribute url_path. Value: 'http://h/x'. Value must be a valid URL Path string", false},
		{"expected_codes bad", MonitorHTTP, func(h *HealthMonitor) { h.ExpectedCodes = "2xx" }, "expected_codes", `Invalid input for field/attribute expected_codes. Value: '2xx'. Value should match the pattern ^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$`, false},
		{"url_path fragment", MonitorHTTP, func(h *HealthMonitor) { h.URLPath = "/a#b" }, "url_path", `Invalid input for field/attribute url_path. Value: '/a#b'. Value must be a valid URL Path string: "/a#b" has a fragment ("#"), which is never sent; remove it or write %23 for a literal "#"`, false},
		{"url_path not ASCII", MonitorHTTP, func(h *HealthMonitor) { h.URLPath = "/é" }, "url_path", `Invalid input for field/attribute url_path. Value: '/é'. Value must be a valid URL Path string: "/é" has a non-ASCII character; percent-encode its UTF-8 bytes as %C3%A9`, false},
		{"expected_codes 600", MonitorHTTP, func(h *HealthMonitor) { h.ExpectedCodes = "600" }, "expected_codes", `Invalid input for field/attribute expected_codes. Value: '600'. "600" is not a status code: want 3 digits from 100 to 599`, false},
		{"expected_codes reversed", MonitorHTTP, func(h *HealthMonitor) { h.ExpectedCodes = "204-200" }, "expected_codes", `Invalid input for field/attribute expected_codes. Value: '204-200'. range "204-200": start 204 is greater than end 200; write "200-204"`, false},
		{"http_version 2", MonitorTCP, func(h *HealthMonitor) { h.HTTPVersion = "2.0" }, "http_version", "Invalid input for field/attribute http_version. Value: '2.0'. Value should be one of: 1.0, 1.1", false},
		{"domain_name without version", MonitorHTTP, func(h *HealthMonitor) { h.DomainName = "example.com" }, "domain_name", "Validation failure: 'http_version' must be specified when 'domain_name' is provided.", false},
		{"domain_name with 1.0", MonitorHTTP, func(h *HealthMonitor) { h.DomainName, h.HTTPVersion = "example.com", "1.0" }, "http_version", "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name health check", false},
		{"domain_name bad", MonitorHTTP, func(h *HealthMonitor) { h.DomainName, h.HTTPVersion = "-bad.example", "1.1" }, "domain_name", "Invalid input for field/attribute domain_name. Value: '-bad.example'. Value should match the pattern of a DNS domain name", false},
		{"sslmode bad", MonitorPgSQL, func(h *HealthMonitor) { h.SSLMode = "sometimes" }, "sslmode", "Invalid input for field/attribute sslmode. Value: 'sometimes'. Value should be one of: disable, allow, prefer, require, verify-ca, verify-full", false},
		{"no user", MonitorPgSQL, func(h *HealthMonitor) { h.User = "" }, "user", "Validation failure: 'user' is required for health monitors of type PGSQL.", false},
		{"two passwords", MonitorMySQL, func(h *HealthMonitor) { h.PasswordFile, h.PasswordEnv = "/p", "P" }, "password_env", "Validation failure: password_file and password_env are mutually exclusive; give one.", false},
		{"long name", MonitorTCP, func(h *HealthMonitor) { h.Name = strings.Repeat("n", 256) }, "name", "Invalid input for field/attribute name. Value: '" + strings.Repeat("n", 256) + "'. Value should have a maximum character requirement of 255", false},
		{"long tag", MonitorTCP, func(h *HealthMonitor) { h.Tags = []string{"ok", strings.Repeat("t", 256)} }, "tags", "Invalid input for field/attribute tags. Value: '" + strings.Repeat("t", 256) + "'. Value should have a maximum character requirement of 255", false},
		{"long project", MonitorTCP, func(h *HealthMonitor) { h.ProjectID = strings.Repeat("p", 37) }, "project_id", "Invalid input for field/attribute project_id. Value: '" + strings.Repeat("p", 37) + "'. Value should have a maximum character requirement of 36", false},
		{"bad id", MonitorTCP, func(h *HealthMonitor) { h.ID = "x" }, "id", "Invalid input for field/attribute id. Value: 'x'. Value should be UUID format", false},
		{"bad provisioning", MonitorTCP, func(h *HealthMonitor) { h.ProvisioningStatus = "BUSY" }, "provisioning_status", "Invalid input for field/attribute provisioning_status. Value: 'BUSY'. Value should be one of: ACTIVE, DELETED, ERROR, PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE", false},
		{"bad operating", MonitorTCP, func(h *HealthMonitor) { h.OperatingStatus = "UP" }, "operating_status", "Invalid input for field/attribute operating_status. Value: 'UP'. Value should be one of: ONLINE, DRAINING, OFFLINE, DEGRADED, ERROR, NO_MONITOR", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validMonitor(tt.typ)
			if tt.edit != nil {
				tt.edit(&h)
			}
			err := h.Validate()
			wantErr(t, err, tt.field, tt.msg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Unsupported != tt.unsupp {
				t.Errorf("Unsupported = %v, want %v", fe != nil && fe.Unsupported, tt.unsupp)
			}
		})
	}
}

func TestMonitorAccepted(t *testing.T) {
	// Octavia accepts http_version on every type; sub-second delays are a
	// vitals extension; a good domain name with 1.1 passes.
	for _, edit := range []func(*HealthMonitor){
		func(h *HealthMonitor) { h.Delay, h.Timeout = MinDelay, MinDelay },
		func(h *HealthMonitor) { h.HTTPVersion, h.DomainName = "1.1", "_srv.example.com." },
		func(h *HealthMonitor) { h.ExpectedCodes = "200-204" },
		func(h *HealthMonitor) { h.ExpectedCodes = "200, 202,204" },
		func(h *HealthMonitor) { h.ExpectedCodes = "200-204,301" }, // vitals' extension, as lb's YAML accepts
		func(h *HealthMonitor) { h.URLPath = "/health?full=1" },
		func(h *HealthMonitor) { h.MaxRetries, h.MaxRetriesDown = 10, 1 },
	} {
		h := validMonitor(MonitorHTTP)
		edit(&h)
		h.ApplyDefaults()
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: %v", h, err)
		}
	}
	for _, typ := range []string{MonitorPing, MonitorTCP, MonitorUDPConnect, MonitorTLSHello} {
		h := validMonitor(typ)
		h.HTTPVersion, h.DomainName = "1.1", "example.com"
		if err := h.Validate(); err != nil {
			t.Errorf("http_version on %s: %v", typ, err)
		}
	}
}

func TestListenerValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Listener)
		field string
		msg   string
	}{
		{"no lb", func(l *Listener) { l.LoadBalancerID = "" }, "loadbalancer_id", "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field missing."},
		{"no protocol", func(l *Listener) { l.Protocol = "" }, "protocol", "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing."},
		{"unknown protocol", func(l *Listener) { l.Protocol = "QUIC" }, "protocol", "Invalid input for field/attribute protocol. Value: 'QUIC'. Value should be one of: TCP, UDP, HTTP, HTTPS, TERMINATED_HTTPS, SCTP, PROMETHEUS"},
		{"pool-only protocol", func(l *Listener) { l.Protocol = ProtocolProxy }, "protocol", "Invalid input for field/attribute protocol. Value: 'PROXY'. Value should be one of: TCP, UDP, HTTP, HTTPS, TERMINATED_HTTPS, SCTP, PROMETHEUS"},
		{"UDP unsupported", func(l *Listener) { l.Protocol = ProtocolUDP }, "protocol", "Provider 'vitals' does not support a requested option: listener protocol UDP; use one of TCP"},
		{"HTTP unsupported", func(l *Listener) { l.Protocol = ProtocolHTTP }, "protocol", "Provider 'vitals' does not support a requested option: listener protocol HTTP; use one of TCP"},
		{"no port", func(l *Listener) { l.ProtocolPort = 0 }, "protocol_port", "Invalid input for field/attribute protocol_port. Value: 'None'. Mandatory field missing."},
		{"port 65536", func(l *Listener) { l.ProtocolPort = 65536 }, "protocol_port", "Invalid input for field/attribute protocol_port. Value: '65536'. Value should be lower or equal to 65535"},
		{"port -1", func(l *Listener) { l.ProtocolPort = -1 }, "protocol_port", "Invalid input for field/attribute protocol_port. Value: '-1'. Value should be greater or equal to 1"},
		{"connection_limit -2", func(l *Listener) { l.ConnectionLimit = -2 }, "connection_limit", "Invalid input for field/attribute connection_limit. Value: '-2'. Value should be greater or equal to -1"},
		{"timeout negative", func(l *Listener) { l.TimeoutClientData = -time.Millisecond }, "timeout_client_data", "Invalid input for field/attribute timeout_client_data. Value: '-1'. Value should be greater or equal to 0"},
		{"timeout too long", func(l *Listener) { l.TimeoutMemberData = MaxTimeout + time.Millisecond }, "timeout_member_data", "Invalid input for field/attribute timeout_member_data. Value: '2073600001'. Value should be lower or equal to 2073600000"},
		{"timeout sub-ms", func(l *Listener) { l.TimeoutMemberConnect = time.Microsecond }, "timeout_member_connect", "Invalid input for field/attribute timeout_member_connect. Value: '1µs'. Value should be a whole number of milliseconds"},
		{"tcp inspect", func(l *Listener) { l.TimeoutTCPInspect = -time.Second }, "timeout_tcp_inspect", "Invalid input for field/attribute timeout_tcp_inspect. Value: '-1000'. Value should be greater or equal to 0"},
		{"bad cidr", func(l *Listener) { l.AllowedCIDRs = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "allowed_cidrs", "Invalid input for field/attribute allowed_cidrs. Value: '10.0.0.0/33'. Value should be IPv4 or IPv6 CIDR format"},
		{"bad default pool", func(l *Listener) { l.DefaultPoolID = "pool1" }, "default_pool_id", "Invalid input for field/attribute default_pool_id. Value: 'pool1'. Value should be UUID format"},
		{"bad bind", func(l *Listener) { l.BindAddress = "localhost" }, "bind_address", "Invalid input for field/attribute bind_address. Value: 'localhost'. Value should be IPv4 or IPv6 format"},
		{"long description", func(l *Listener) { l.Description = strings.Repeat("d", 256) }, "description", "Invalid input for field/attribute description. Value: '" + strings.Repeat("d", 256) + "'. Value should have a maximum character requirement of 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validListener()
			tt.edit(&l)
			wantErr(t, l.Validate(), tt.field, tt.msg)
		})
	}
	l := validListener()
	l.AllowedCIDRs, l.TimeoutTCPInspect, l.ConnectionLimit = []string{"192.0.2.1/24", "::/0"}, MaxTimeout, 0
	if err := l.Validate(); err != nil {
		t.Errorf("edge values: %v", err)
	}
}

func TestPoolValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Pool)
		field string
		msg   string
	}{
		{"no algorithm", func(p *Pool) { p.LBAlgorithm = "" }, "lb_algorithm", "Invalid input for field/attribute lb_algorithm. Value: 'None'. Mandatory field missing."},
		{"unknown algorithm", func(p *Pool) { p.LBAlgorithm = "RANDOM" }, "lb_algorithm", "Invalid input for field/attribute lb_algorithm. Value: 'RANDOM'. Value should be one of: ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT"},
		{"lowercase algorithm", func(p *Pool) { p.LBAlgorithm = "round_robin" }, "lb_algorithm", "Invalid input for field/attribute lb_algorithm. Value: 'round_robin'. Value should be one of: ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT"},
		{"no protocol", func(p *Pool) { p.Protocol = "" }, "protocol", "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing."},
		{"unknown protocol", func(p *Pool) { p.Protocol = "TERMINATED_HTTPS" }, "protocol", "Invalid input for field/attribute protocol. Value: 'TERMINATED_HTTPS'. Value should be one of: TCP, UDP, PROXY, PROXYV2, HTTP, HTTPS, SCTP"},
		{"HTTPS unsupported", func(p *Pool) { p.Protocol = ProtocolHTTPS }, "protocol", "Provider 'vitals' does not support a requested option: pool protocol HTTPS; use one of TCP, UDP, PROXY, PROXYV2"},
		{"no lb", func(p *Pool) { p.LoadBalancerID = "" }, "loadbalancer_id", "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field missing."},
		{"sp no type", func(p *Pool) { p.SessionPersistence = &SessionPersistence{} }, "session_persistence.type", "Invalid input for field/attribute session_persistence.type. Value: 'None'. Mandatory field missing."},
		{"sp unknown", func(p *Pool) { p.SessionPersistence = &SessionPersistence{Type: "STICKY"} }, "session_persistence.type", "Invalid input for field/attribute session_persistence.type. Value: 'STICKY'. Value should be one of: SOURCE_IP, HTTP_COOKIE, APP_COOKIE"},
		{"sp unsupported", func(p *Pool) { p.SessionPersistence = &SessionPersistence{Type: "APP_COOKIE"} }, "session_persistence.type", "Provider 'vitals' does not support a requested option: session persistence APP_COOKIE"},
		{"on_member_down", func(p *Pool) { p.OnMemberDown = "kill" }, "on_member_down", "Invalid input for field/attribute on_member_down. Value: 'kill'. Value should be one of: shutdown_sessions, none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPool()
			tt.edit(&p)
			wantErr(t, p.Validate(), tt.field, tt.msg)
		})
	}
	for _, a := range AlgorithmNames() {
		p := validPool()
		p.LBAlgorithm = a
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestMemberValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Member)
		field string
		msg   string
	}{
		{"no address", func(m *Member) { m.Address = "" }, "address", "Invalid input for field/attribute address. Value: 'None'. Mandatory field missing."},
		{"hostname", func(m *Member) { m.Address = "db1" }, "address", "Invalid input for field/attribute address. Value: 'db1'. Value should be IPv4 or IPv6 format"},
		{"no port", func(m *Member) { m.ProtocolPort = 0 }, "protocol_port", "Invalid input for field/attribute protocol_port. Value: 'None'. Mandatory field missing."},
		{"weight 257", func(m *Member) { m.Weight = 257 }, "weight", "Invalid input for field/attribute weight. Value: '257'. Value should be lower or equal to 256"},
		{"weight -1", func(m *Member) { m.Weight = -1 }, "weight", "Invalid input for field/attribute weight. Value: '-1'. Value should be greater or equal to 0"},
		{"monitor_address", func(m *Member) { m.MonitorAddress = "10.0.0.300" }, "monitor_address", "Invalid input for field/attribute monitor_address. Value: '10.0.0.300'. Value should be IPv4 or IPv6 format"},
		{"monitor_port", func(m *Member) { m.MonitorPort = 70000 }, "monitor_port", "Invalid input for field/attribute monitor_port. Value: '70000'. Value should be lower or equal to 65535"},
		{"subnet", func(m *Member) { m.SubnetID = "net" }, "subnet_id", "Invalid input for field/attribute subnet_id. Value: 'net'. Value should be UUID format"},
		{"no pool", func(m *Member) { m.PoolID = "" }, "pool_id", "Invalid input for field/attribute pool_id. Value: 'None'. Mandatory field missing."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMember()
			tt.edit(&m)
			wantErr(t, m.Validate(), tt.field, tt.msg)
		})
	}
	m := validMember()
	m.Weight, m.Address, m.MonitorAddress, m.MonitorPort = 0, "::1", "127.0.0.1", 8081
	if err := m.Validate(); err != nil {
		t.Errorf("edge values: %v", err)
	}
}

func TestLoadBalancerValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*LoadBalancer)
		field string
		msg   string
	}{
		{"vip", func(lb *LoadBalancer) { lb.VIPAddress = "0.0.0.0.0" }, "vip_address", "Invalid input for field/attribute vip_address. Value: '0.0.0.0.0'. Value should be IPv4 or IPv6 format"},
		{"vip subnet", func(lb *LoadBalancer) { lb.VIPSubnetID = "public" }, "vip_subnet_id", "Invalid input for field/attribute vip_subnet_id. Value: 'public'. Value should be UUID format"},
		{"flavor", func(lb *LoadBalancer) { lb.FlavorID = "small" }, "flavor_id", "Invalid input for field/attribute flavor_id. Value: 'small'. Value should be UUID format"},
		{"provider", func(lb *LoadBalancer) { lb.Provider = "amphora" }, "provider", "Provider 'amphora' is not enabled."},
		{"az", func(lb *LoadBalancer) { lb.AvailabilityZone = strings.Repeat("z", 256) }, "availability_zone", "Invalid input for field/attribute availability_zone. Value: '" + strings.Repeat("z", 256) + "'. Value should have a maximum character requirement of 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := validLB()
			tt.edit(&lb)
			wantErr(t, lb.Validate(), tt.field, tt.msg)
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	var h HealthMonitor
	err := h.Validate()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range es {
		fields = append(fields, e.Field)
	}
	want := "pool_id type delay timeout max_retries max_retries_down"
	if got := strings.Join(fields, " "); got != want {
		t.Errorf("fields = %q, want %q", got, want)
	}
}

func TestCheckMonitorPool(t *testing.T) {
	s := DefaultSettings()
	tests := []struct {
		name, typ, poolProto string
		edit                 func(*HealthMonitor, *Settings)
		field, msg           string
	}{
		{"UDP-CONNECT on TCP", MonitorUDPConnect, ProtocolTCP, nil, "type", "Validation failure: The UDP-CONNECT type is only supported for pools of type UDP."},
		{"PING on UDP", MonitorPing, ProtocolUDP, nil, "type", "Validation failure: The associated pool protocol is UDP, so only a HTTP/TCP/UDP-CONNECT health monitor is supported."},
		{"UDP-CONNECT delay", MonitorUDPConnect, ProtocolUDP, func(h *HealthMonitor, _ *Settings) { h.Delay, h.Timeout = 2*time.Second, time.Second }, "delay", "Validation failure: The request delay value 2 should be larger than 3 for UDP-CONNECT health monitor type."},
		{"PING disabled", MonitorPing, ProtocolTCP, func(_ *HealthMonitor, s *Settings) { s.AllowPing = false }, "type", "The selected type is not allowed in this deployment: PING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, s := validMonitor(tt.typ), s
			if tt.edit != nil {
				tt.edit(&h, &s)
			}
			wantErr(t, CheckMonitorPool(&h, tt.poolProto, s), tt.field, tt.msg)
		})
	}
	for _, ok := range []struct{ typ, proto string }{{MonitorTCP, ProtocolUDP}, {MonitorHTTP, ProtocolUDP}, {MonitorUDPConnect, ProtocolUDP}, {MonitorTLSHello, ProtocolProxyV2}, {MonitorPgSQL, ProtocolTCP}} {
		h := validMonitor(ok.typ)
		if err := CheckMonitorPool(&h, ok.proto, s); err != nil {
			t.Errorf("%s on %s: %v", ok.typ, ok.proto, err)
		}
	}
	h := validMonitor(MonitorUDPConnect)
	h.Delay, h.Timeout = time.Second, time.Second
	if err := CheckMonitorPool(&h, ProtocolUDP, Settings{AllowPing: true}); err != nil {
		t.Errorf("zero UDPConnectMinDelay allows any: %v", err)
	}
}

func TestCheckListenerPool(t *testing.T) {
	l, p := validListener(), validPool()
	if err := CheckListenerPool(&l, &p); err != nil {
		t.Fatal(err)
	}
	p.Protocol = ProtocolUDP
	wantErr(t, CheckListenerPool(&l, &p), "protocol", "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol is 'TCP'.")
	p = validPool()
	p.ID, p.LoadBalancerID = poolID, "7b1c2d3e-4f50-4617-8899-aabbccddeeff"
	wantErr(t, CheckListenerPool(&l, &p), "default_pool_id", "Validation failure: Pool "+poolID+" is on load balancer 7b1c2d3e-4f50-4617-8899-aabbccddeeff, not on the listener's load balancer "+lbID+".")
}
