package monitor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/probe"
)

func ints(n int) *int { return &n }

// base is a valid monitor of type typ.
func base(typ string) HealthMonitor {
	return HealthMonitor{Type: typ, Delay: Seconds{Raw: "5", Set: true}, Timeout: Seconds{Raw: "3", Set: true}, MaxRetries: ints(2)}
}

// TestResolveRules checks each rule's field and message at the level of
// the monitor; internal/lb's table checks the full messages with files and
// lines.
func TestResolveRules(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("x"), 0o600)
	tests := []struct {
		name     string
		edit     func(h *HealthMonitor)
		protocol string
		settings func(s *Settings)
		field    string
		msg      string // substring
	}{
		{"type required", func(h *HealthMonitor) { h.Type = "" }, "", nil, "type", "is required"},
		{"sctp refused", func(h *HealthMonitor) { h.Type = "SCTP" }, "", nil, "type", "SCTP is not supported"},
		{"lower case sctp refused", func(h *HealthMonitor) { h.Type = "sctp" }, "", nil, "type", "SCTP is not supported"},
		{"unknown type", func(h *HealthMonitor) { h.Type = "smtp" }, "", nil, "type", `"SMTP" is not supported`},
		{"delay required", func(h *HealthMonitor) { h.Delay = Seconds{} }, "", nil, "delay", "is required"},
		{"timeout zero", func(h *HealthMonitor) { h.Timeout = Seconds{Raw: "0", Set: true} }, "", nil, "timeout", "must be positive, got 0s"},
		{"timeout not whole milliseconds", func(h *HealthMonitor) { h.Timeout = Seconds{Raw: "1500us", Set: true} }, "", nil, "timeout", "must be a whole number of milliseconds, got 1.5ms"},
		{"timeout under a millisecond", func(h *HealthMonitor) { h.Timeout = Seconds{Raw: "0.0001", Set: true} }, "", nil, "timeout", "must be a whole number of milliseconds, got 100µs"},
		{"delay over 24 days", func(h *HealthMonitor) { h.Delay = Seconds{Raw: "3000000", Set: true} }, "", nil, "delay", "must be at most 24 days (2073600 seconds), got 833h20m0s"},
		{"delay of 24 days", func(h *HealthMonitor) { h.Delay = Seconds{Raw: "2073600", Set: true} }, "", nil, "", ""},
		{"timeout over delay", func(h *HealthMonitor) { h.Timeout = Seconds{Raw: "6", Set: true} }, "", nil, "timeout", "longer than delay"},
		{"max_retries required", func(h *HealthMonitor) { h.MaxRetries = nil }, "", nil, "max_retries", "is required"},
		{"max_retries_down range", func(h *HealthMonitor) { h.MaxRetriesDown = ints(11) }, "", nil, "max_retries_down", "from 1 to 10, got 11"},
		{"http field on TCP", func(h *HealthMonitor) { h.Type = TypeTCP; h.ExpectedCodes = "200" }, "", nil, "expected_codes", "is not allowed for type TCP"},
		{"db field on HTTPS", func(h *HealthMonitor) { h.Database = "app" }, "", nil, "database", "is not allowed for type HTTPS"},
		{"ca_file only on HTTPS", func(h *HealthMonitor) { h.Type = TypeHTTP; h.CAFile = pw }, "", nil, "ca_file", "is not allowed for type HTTP"},
		{"ca_file must be a file", func(h *HealthMonitor) { h.CAFile = "/dev/null" }, "", nil, "ca_file", "not a regular file"},
		{"ca_file must hold a certificate", func(h *HealthMonitor) { h.CAFile = pw }, "", nil, "ca_file", "holds no PEM certificate"},
		{"UDP-CONNECT delay minimum", func(h *HealthMonitor) { h.Type = TypeUDPConnect; h.Delay.Raw = "2"; h.Timeout.Raw = "1" }, ProtocolUDP, nil, "delay", "shorter than 3s"},
		{"UDP-CONNECT minimum is a setting", func(h *HealthMonitor) { h.Type = TypeUDPConnect; h.Delay.Raw = "1"; h.Timeout.Raw = "1" }, ProtocolUDP, func(s *Settings) { s.UDPConnectMinDelay = time.Second }, "", ""},
		{"UDP-CONNECT needs a UDP pool", func(h *HealthMonitor) { h.Type = TypeUDPConnect }, ProtocolTCP, nil, "type", "only supported for pools of protocol UDP"},
		{"UDP pool takes HTTP", func(h *HealthMonitor) { h.Type = TypeHTTP }, ProtocolUDP, nil, "", ""},
		{"UDP pool refuses MYSQL", func(h *HealthMonitor) { h.Type = TypeMySQL; h.User = "u" }, ProtocolUDP, nil, "type", "not supported on a pool of protocol UDP"},
		{"PING can be disabled", func(h *HealthMonitor) { h.Type = TypePing }, "", func(s *Settings) { s.AllowPing = false }, "type", "PING is disabled"},
		{"MYSQL needs a user", func(h *HealthMonitor) { h.Type = TypeMySQL }, "", nil, "user", "is required for type MYSQL"},
		{"one password source", func(h *HealthMonitor) { h.Type = TypeMySQL; h.User = "u"; h.PasswordFile = pw; h.PasswordEnv = "X" }, "", nil, "password_file", "both set"},
		{"password file", func(h *HealthMonitor) { h.Type = TypePgSQL; h.User = "u"; h.PasswordFile = pw }, "", nil, "", ""},
		{"sslmode checked by the probe", func(h *HealthMonitor) { h.Type = TypePgSQL; h.User = "u"; h.SSLMode = "always" }, "", nil, "sslmode", `"always" is not one of`},
		{"http_version 1 is 1.0", func(h *HealthMonitor) { h.HTTPVersion = "1" }, "", nil, "", ""},
		{"http_version accepted on PING (as Octavia does)", func(h *HealthMonitor) { h.Type = TypePing; h.HTTPVersion = "1.0" }, "", nil, "", ""},
		{"http_version checked on TCP", func(h *HealthMonitor) { h.Type = TypeTCP; h.HTTPVersion = "2.0" }, "", nil, "http_version", "2.0 is not supported (want 1.0 or 1.1)"},
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
			m, err := h.Resolve(proto, s)
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

func TestResolveDefaultsAndKinds(t *testing.T) {
	for typ, kind := range map[string]string{TypeHTTP: "http", TypeHTTPS: "https", TypePing: "ping", TypeTCP: "tcp", TypeTLSHello: "tls-hello", TypeMySQL: "mysql", TypePgSQL: "postgres"} {
		h := base(typ)
		if typ == TypeMySQL || typ == TypePgSQL {
			h.User = "health"
		}
		m, err := h.Resolve(ProtocolTCP, DefaultSettings())
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if m.Kind() != kind || m.MaxRetriesDown != 3 || !m.AdminStateUp {
			t.Errorf("%s: kind %s fall %d admin %v", typ, m.Kind(), m.MaxRetriesDown, m.AdminStateUp)
		}
		http := typ == TypeHTTP || typ == TypeHTTPS
		if http != (m.HTTPMethod == "GET" && m.URLPath == "/" && m.ExpectedCodes == "200") {
			t.Errorf("%s: http defaults %q %q %q", typ, m.HTTPMethod, m.URLPath, m.ExpectedCodes)
		}
	}
}

// TestTypeAnyCase: Octavia's client takes --type http, so the YAML takes
// the type in any case and stores it upper case, as Octavia shows it.
func TestTypeAnyCase(t *testing.T) {
	for typ, want := range map[string]string{"http": TypeHTTP, "Tls-Hello": TypeTLSHello, "pgsql": TypePgSQL, "TCP": TypeTCP} {
		h := base(typ)
		h.User = "health"
		if want != TypePgSQL {
			h.User = ""
		}
		m, err := h.Resolve(ProtocolTCP, DefaultSettings())
		if err != nil {
			t.Fatalf("type %q: %v", typ, err)
		}
		if m.Type != want {
			t.Errorf("type %q stored as %q, want %q", typ, m.Type, want)
		}
		if got := m.Octavia("p", time.Time{}, time.Time{}, "ONLINE").Type; got != want {
			t.Errorf("type %q shown as %q, want %q", typ, got, want)
		}
	}
}

func TestTargetAndSpec(t *testing.T) {
	h := base(TypeHTTP)
	h.URLPath = "/health"
	m, _ := h.Resolve(ProtocolTCP, DefaultSettings())
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
	p := base(TypePing)
	pm, _ := p.Resolve(ProtocolTCP, DefaultSettings())
	if got := pm.Target("10.0.0.1", 5432, "", 8081); got != "10.0.0.1" {
		t.Errorf("PING target %s, want the bare host", got)
	}
	other := *m
	other.MaxRetries, other.Delay, other.Name = 7, time.Minute, "renamed"
	if !m.SameCheck(&other) {
		t.Error("thresholds, delay and name changed the check")
	}
	other.URLPath = "/other"
	if m.SameCheck(&other) {
		t.Error("a new url_path kept the check")
	}
}

// TestOctaviaJSON: the healthmonitor body has Octavia's fields, with
// null where Octavia has null and numbers where it has numbers.
func TestOctaviaJSON(t *testing.T) {
	h := base(TypeHTTP)
	h.Name, h.URLPath, h.HTTPVersion = "80_healthcheck", "/health", "1.0"
	m, err := h.Resolve(ProtocolTCP, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	m.ID = "d8c8c074-574a-4e41-8c43-f0633a4e828d"
	created := time.Date(2018, 6, 25, 21, 22, 25, 0, time.UTC)
	b, err := json.Marshal(m.Octavia("96dde7c5-77c5-4ffe-9542-226714f5c58d", created, time.Time{}, "ONLINE"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"project_id":"","name":"80_healthcheck","admin_state_up":true,"pools":[{"id":"96dde7c5-77c5-4ffe-9542-226714f5c58d"}],"created_at":"2018-06-25T21:22:25","provisioning_status":"ACTIVE","updated_at":null,"delay":5,"expected_codes":"200","max_retries":2,"http_method":"GET","timeout":3,"max_retries_down":3,"url_path":"/health","type":"HTTP","id":"d8c8c074-574a-4e41-8c43-f0633a4e828d","operating_status":"ONLINE","http_version":1.0,"domain_name":null,"tags":[]}`
	if string(b) != want {
		t.Errorf("json\n got %s\nwant %s", b, want)
	}
	sub := base(TypeTCP)
	sub.Delay, sub.Timeout = SecondsOf(500*time.Millisecond), SecondsOf(250*time.Millisecond)
	sm, _ := sub.Resolve(ProtocolTCP, DefaultSettings())
	b, _ = json.Marshal(sm.Octavia("p", created, created, "OFFLINE"))
	for _, w := range []string{`"delay":0.5`, `"timeout":0.25`, `"http_method":null`, `"updated_at":"2018-06-25T21:22:25"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("json %s lacks %s", b, w)
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
