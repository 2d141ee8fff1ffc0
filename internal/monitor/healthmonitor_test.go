package monitor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"vitals/internal/octavia"

	"vitals/internal/probe"
)

// base is a valid monitor of type typ.
func base(typ string) octavia.HealthMonitor {
	h := octavia.NewHealthMonitor()
	h.Type, h.Delay, h.Timeout, h.MaxRetries = typ, 5*time.Second, 3*time.Second, 2
	return h
}

// TestNewMonitorRules checks each rule's field and message at the level
// of the monitor; internal/lb's table checks the full messages with files
// and lines, and the YAML-only ones (a field left out, a zero written).
func TestNewMonitorRules(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("x"), 0o600)
	type H = octavia.HealthMonitor
	tests := []struct {
		name     string
		edit     func(h *H)
		protocol string
		settings func(s *Settings)
		field    string
		msg      string // substring
	}{
		{"type required", func(h *H) { h.Type = "" }, "", nil, "type", "is required"},
		{"sctp refused", func(h *H) { h.Type = "SCTP" }, "", nil, "type", "SCTP is not supported"},
		{"unknown type", func(h *H) { h.Type = "SMTP" }, "", nil, "type", `"SMTP" is not supported`},
		{"delay zero", func(h *H) { h.Delay = 0 }, "", nil, "delay", "must be positive, got 0s"},
		{"timeout zero", func(h *H) { h.Timeout = 0 }, "", nil, "timeout", "must be positive, got 0s"},
		{"timeout not whole milliseconds", func(h *H) { h.Timeout = 1500 * time.Microsecond }, "", nil, "timeout", "must be a whole number of milliseconds, got 1.5ms"},
		{"timeout under a millisecond", func(h *H) { h.Timeout = 100 * time.Microsecond }, "", nil, "timeout", "must be a whole number of milliseconds, got 100µs"},
		{"delay over 24 days", func(h *H) { h.Delay = 3000000 * time.Second }, "", nil, "delay", "must be at most 24 days (2073600 seconds), got 833h20m0s"},
		{"delay of 24 days", func(h *H) { h.Delay = 2073600 * time.Second }, "", nil, "", ""},
		{"delay under the minimum", func(h *H) { h.Delay, h.Timeout = 50*time.Millisecond, 10*time.Millisecond }, "", nil, "delay", "shorter than 100ms"},
		{"timeout over delay", func(h *H) { h.Timeout = 6 * time.Second }, "", nil, "timeout", "longer than delay"},
		{"max_retries zero", func(h *H) { h.MaxRetries = 0 }, "", nil, "max_retries", "from 1 to 10, got 0"},
		{"max_retries_down range", func(h *H) { h.MaxRetriesDown = 11 }, "", nil, "max_retries_down", "from 1 to 10, got 11"},
		{"http field on TCP", func(h *H) { h.Type = TypeTCP; h.ExpectedCodes = "200" }, "", nil, "expected_codes", "is not allowed for type TCP"},
		{"db field on HTTPS", func(h *H) { h.Database = "app" }, "", nil, "database", "is not allowed for type HTTPS"},
		{"ca_file only on HTTPS", func(h *H) { h.Type = TypeHTTP; h.CAFile = pw }, "", nil, "ca_file", "is not allowed for type HTTP"},
		{"ca_file must be a file", func(h *H) { h.CAFile = "/dev/null" }, "", nil, "ca_file", "not a regular file"},
		{"ca_file must hold a certificate", func(h *H) { h.CAFile = pw }, "", nil, "ca_file", "holds no PEM certificate"},
		{"UDP-CONNECT delay minimum", func(h *H) { h.Type = TypeUDPConnect; h.Delay, h.Timeout = 2*time.Second, time.Second }, ProtocolUDP, nil, "delay", "shorter than 3s"},
		{"UDP-CONNECT minimum is a setting", func(h *H) { h.Type = TypeUDPConnect; h.Delay, h.Timeout = time.Second, time.Second }, ProtocolUDP, func(s *Settings) { s.UDPConnectMinDelay = time.Second }, "", ""},
		{"UDP-CONNECT needs a UDP pool", func(h *H) { h.Type = TypeUDPConnect }, ProtocolTCP, nil, "type", "only supported for pools of protocol UDP"},
		{"UDP pool takes HTTP", func(h *H) { h.Type = TypeHTTP }, ProtocolUDP, nil, "", ""},
		{"UDP pool refuses MYSQL", func(h *H) { h.Type = TypeMySQL; h.User = "u" }, ProtocolUDP, nil, "type", "not supported on a pool of protocol UDP (want HTTP, TCP, UDP-CONNECT)"},
		{"PING can be disabled", func(h *H) { h.Type = TypePing }, "", func(s *Settings) { s.AllowPing = false }, "type", "PING is disabled"},
		{"MYSQL needs a user", func(h *H) { h.Type = TypeMySQL }, "", nil, "user", "is required for type MYSQL"},
		{"one password source", func(h *H) { h.Type = TypeMySQL; h.User = "u"; h.PasswordFile = pw; h.PasswordEnv = "X" }, "", nil, "password_file", "both set"},
		{"password file", func(h *H) { h.Type = TypePgSQL; h.User = "u"; h.PasswordFile = pw }, "", nil, "", ""},
		{"sslmode checked by the probe", func(h *H) { h.Type = TypePgSQL; h.User = "u"; h.SSLMode = "always" }, "", nil, "sslmode", `"always" is not one of`},
		{"http_version accepted on PING (as Octavia does)", func(h *H) { h.Type = TypePing; h.HTTPVersion = "1.0" }, "", nil, "", ""},
		{"http_version checked on TCP", func(h *H) { h.Type = TypeTCP; h.HTTPVersion = "2.0" }, "", nil, "http_version", "2.0 is not supported (want 1.0 or 1.1)"},
		{"domain_name needs http_version", func(h *H) { h.DomainName = "db.example" }, "", nil, "domain_name", "needs http_version: 1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base(TypeHTTPS)
			tt.edit(&h)
			s := DefaultSettings()
			if tt.settings != nil {
				tt.settings(&s)
			}
			proto := tt.protocol
			if proto == "" {
				proto = ProtocolTCP
			}
			m, err := NewMonitor(h, proto, s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if m.Kind() == "" {
					t.Error("no probe kind")
				}
				return
			}
			var fe *probe.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *probe.FieldError", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("got %s %s, want %s …%s…", fe.Field, fe.Msg, tt.field, tt.msg)
			}
		})
	}
}

// TestNewMonitorDefaultsAndKinds: every supported type of the model's
// declaration runs with the probe kind the declaration names, and gets
// its declared defaults.
func TestNewMonitorDefaultsAndKinds(t *testing.T) {
	want := map[string]string{TypeHTTP: "http", TypeHTTPS: "https", TypePing: "ping", TypeTCP: "tcp", TypeTLSHello: "tls-hello", TypeUDPConnect: "udp-connect", TypeMySQL: "mysql", TypePgSQL: "postgres"}
	for _, mt := range octavia.MonitorTypes() {
		if !mt.Supported {
			continue
		}
		h := base(mt.Name)
		for _, f := range mt.Required {
			fd, _ := octavia.LookupMonitorField(f)
			fd.Set(&h, "health")
		}
		proto := ProtocolTCP
		if !slices.Contains(mt.PoolProtocols, proto) {
			proto = ProtocolUDP
		}
		m, err := NewMonitor(h, proto, DefaultSettings())
		if err != nil {
			t.Fatalf("%s: %v", mt.Name, err)
		}
		if m.Kind() != want[mt.Name] || m.MaxRetriesDown != 3 {
			t.Errorf("%s: kind %s fall %d", mt.Name, m.Kind(), m.MaxRetriesDown)
		}
		if mt.HTTP != (m.HTTPMethod == "GET" && m.URLPath == "/" && m.ExpectedCodes == "200") {
			t.Errorf("%s: http defaults %q %q %q", mt.Name, m.HTTPMethod, m.URLPath, m.ExpectedCodes)
		}
	}
	if len(want) != len(octavia.SupportedMonitorTypeNames()) {
		t.Errorf("the declaration has types %v; this test knows %d", octavia.SupportedMonitorTypeNames(), len(want))
	}
}

// TestSpecCoversEveryField: every type-dependent field the model declares
// reaches the probe spec under its own name, so that no field is dropped
// between the API (or the file) and the check.
func TestSpecCoversEveryField(t *testing.T) {
	for _, f := range octavia.MonitorFields() {
		var s probe.Spec
		if err := s.SetString(f.Name, "x"); err != nil {
			t.Errorf("field %s: %v", f.Name, err)
		}
	}
	h := base(TypeHTTPS)
	h.URLPath, h.HTTPVersion, h.DomainName, h.ExpectedCodes = "/health", "1.1", "db.example", "200-204"
	m, err := NewMonitor(h, ProtocolTCP, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	s := m.Spec("10.0.0.9:8081")
	if s.URLPath != "/health" || s.HTTPVersion != "1.1" || s.DomainName != "db.example" || s.ExpectedCodes != "200-204" || s.HTTPMethod != "GET" {
		t.Errorf("spec %+v", s)
	}
	// A PING monitor accepts http_version and domain_name, as Octavia
	// does, but its check does not read them.
	p := base(TypePing)
	p.HTTPVersion, p.DomainName = "1.1", "db.example"
	pm, err := NewMonitor(p, ProtocolTCP, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if s := pm.Spec("10.0.0.9"); s.HTTPVersion != "" || s.DomainName != "" {
		t.Errorf("PING spec carries HTTP fields: %+v", s)
	}
}

func TestTargetAndSpec(t *testing.T) {
	h := base(TypeHTTP)
	h.URLPath = "/health"
	m, _ := NewMonitor(h, ProtocolTCP, DefaultSettings())
	if got := m.Target("10.0.0.1", 5432, "", 0); got != "10.0.0.1:5432" {
		t.Errorf("target %s", got)
	}
	if got := m.Target("10.0.0.1", 5432, "10.0.0.9", 8081); got != "10.0.0.9:8081" {
		t.Errorf("target with monitor_address and monitor_port %s", got)
	}
	if got := m.Target("::1", 5432, "", 8081); got != "[::1]:8081" {
		t.Errorf("IPv6 target %s", got)
	}
	s := m.Spec("10.0.0.9:8081")
	if s.URLPath != "/health" || s.Timeout != 3*time.Second || s.Address != "10.0.0.9:8081" {
		t.Errorf("spec %+v", s)
	}
	pm, _ := NewMonitor(base(TypePing), ProtocolTCP, DefaultSettings())
	if got := pm.Target("10.0.0.1", 5432, "", 8081); got != "10.0.0.1" {
		t.Errorf("PING target %s, want the bare host", got)
	}
	other := *m
	other.MaxRetries, other.Delay, other.Name = 7, time.Minute, "renamed"
	if !m.SameCheck(&other) {
		t.Error("thresholds, delay and name changed the check")
	}
	// Every declared field is part of the check.
	for _, f := range octavia.MonitorFields() {
		changed := *m
		f.Set(&changed.HealthMonitor, f.Get(&m.HealthMonitor)+"x")
		if m.SameCheck(&changed) {
			t.Errorf("a new %s kept the check", f.Name)
		}
	}
}

func TestSecondsForms(t *testing.T) {
	for raw, want := range map[string]time.Duration{"5": 5 * time.Second, "0.5": 500 * time.Millisecond, "250ms": 250 * time.Millisecond, " 2s ": 2 * time.Second, "-1": -time.Second} {
		got, err := Seconds{Raw: raw, Set: true}.Value()
		if err != nil || got != want {
			t.Errorf("%q: %s, %v; want %s", raw, got, err, want)
		}
	}
	for _, raw := range []string{"", "often", "5 s", "0x10", "1e400", "99999999999999999999"} {
		if _, err := (Seconds{Raw: raw, Set: true}).Value(); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
	if got, _ := (Milliseconds{Raw: "50000", Set: true}).Value(); got != 50*time.Second {
		t.Errorf("50000 ms = %s", got)
	}
}
