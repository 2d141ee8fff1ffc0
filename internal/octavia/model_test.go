package octavia

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"vitals/internal/probe"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidID(id) || id[14] != '4' || !slices.Contains([]byte("89ab"), id[19]) {
			t.Fatalf("NewID() = %q, not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "pool1", "5a1c2d3e4f50461788 99aabbccddeeff", "5a1c2d3e-4f50-4617-8899-aabbccddeefg", "5a1c2d3e-4f50-4617-8899_aabbccddeeff"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
	if !ValidID("5A1C2D3E-4F50-1617-8899-AABBCCDDEEFF") {
		t.Error("ValidID refuses an uppercase version 1 UUID, which Octavia accepts")
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		d        time.Duration
		ms, secs int64
		text     string
	}{
		{0, 0, 0, "0"},
		{500 * time.Millisecond, 500, 1, "500ms"},
		{5 * time.Second, 5000, 5, "5"},
		{1500 * time.Millisecond, 1500, 2, "1.5s"},
		{50 * time.Second, 50000, 50, "50"},
	}
	for _, tt := range tests {
		if got := Millis(tt.d); got != tt.ms {
			t.Errorf("Millis(%v) = %d, want %d", tt.d, got, tt.ms)
		}
		if got := Seconds(tt.d); got != tt.secs {
			t.Errorf("Seconds(%v) = %d, want %d", tt.d, got, tt.secs)
		}
		if got := FormatDelay(tt.d); got != tt.text {
			t.Errorf("FormatDelay(%v) = %q, want %q", tt.d, got, tt.text)
		}
		if got := FromMillis(tt.ms); got != tt.d.Truncate(time.Millisecond) {
			t.Errorf("FromMillis(%d) = %v", tt.ms, got)
		}
	}
	if FromSeconds(15) != 15*time.Second {
		t.Error("FromSeconds(15)")
	}
	if FromSeconds(math.MaxInt64) != math.MaxInt64 || FromMillis(math.MinInt64) != math.MinInt64 {
		t.Error("FromSeconds/FromMillis do not saturate")
	}
	// A saturated value is then refused by Validate, not wrapped around.
	h := validMonitor(MonitorTCP)
	h.Delay = FromSeconds(math.MaxInt64)
	var fe *FieldError
	if err := h.Validate(); !errors.As(err, &fe) || fe.Field != "delay" {
		t.Errorf("huge delay: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	l := NewListener()
	if !l.AdminStateUp || l.ConnectionLimit != -1 || l.TimeoutClientData != 50*time.Second || l.TimeoutMemberConnect != 5*time.Second ||
		l.TimeoutMemberData != 50*time.Second || l.TimeoutTCPInspect != 0 || l.ProvisioningStatus != ProvisioningPendingCreate || l.OperatingStatus != OperatingOffline {
		t.Errorf("NewListener() = %+v", l)
	}
	if m := NewMember(); m.Weight != 1 || m.Backup || !m.AdminStateUp {
		t.Errorf("NewMember() = %+v", m)
	}
	if lb := NewLoadBalancer(); lb.Provider != "vitals" || !lb.AdminStateUp {
		t.Errorf("NewLoadBalancer() = %+v", lb)
	}
	if p := NewPool(); p.OnMemberDown != OnMemberDownShutdown || !p.AdminStateUp {
		t.Errorf("NewPool() = %+v", p)
	}
	tests := []struct {
		typ                          string
		method, path, codes, sslmode string
	}{
		{MonitorHTTP, "GET", "/", "200", ""},
		{MonitorHTTPS, "GET", "/", "200", ""},
		{MonitorTCP, "", "", "", ""},
		{MonitorPing, "", "", "", ""},
		{MonitorPgSQL, "", "", "", "prefer"},
		{MonitorMySQL, "", "", "", ""},
		{"BOGUS", "", "", "", ""},
	}
	for _, tt := range tests {
		h := HealthMonitor{Type: tt.typ}
		h.ApplyDefaults()
		if h.HTTPMethod != tt.method || h.URLPath != tt.path || h.ExpectedCodes != tt.codes || h.SSLMode != tt.sslmode || h.MaxRetriesDown != 3 {
			t.Errorf("%s: ApplyDefaults gave %+v", tt.typ, h)
		}
	}
	// Values given are kept.
	h := HealthMonitor{Type: MonitorHTTP, HTTPMethod: "HEAD", URLPath: "/h", ExpectedCodes: "204", MaxRetriesDown: 5}
	h.ApplyDefaults()
	if h.HTTPMethod != "HEAD" || h.URLPath != "/h" || h.ExpectedCodes != "204" || h.MaxRetriesDown != 5 {
		t.Errorf("ApplyDefaults overwrote values: %+v", h)
	}
	if s := DefaultSettings(); !s.AllowPing || s.UDPConnectMinDelay != 3*time.Second {
		t.Errorf("DefaultSettings() = %+v", s)
	}
}

func TestRegistryConsistent(t *testing.T) {
	if MinDelay != probe.MinInterval {
		t.Errorf("MinDelay %v != probe.MinInterval %v", MinDelay, probe.MinInterval)
	}
	fields := names(monitorFields, func(f MonitorField) string { return f.Name })
	for _, mt := range monitorTypes {
		for _, f := range mt.Fields {
			if !slices.Contains(fields, f) {
				t.Errorf("type %s lists undeclared field %s", mt.Name, f)
			}
		}
		for _, p := range mt.PoolProtocols {
			if pr, ok := LookupProtocol(p); !ok || !pr.Pool {
				t.Errorf("type %s monitors pools of %s, which vitals does not serve", mt.Name, p)
			}
		}
	}
	// Each field's ptr reaches a distinct struct field.
	var h HealthMonitor
	for i, f := range monitorFields {
		*f.ptr(&h) = f.Name
		for _, g := range monitorFields[:i] {
			if *g.ptr(&h) != g.Name {
				t.Errorf("%s and %s share a struct field", f.Name, g.Name)
			}
		}
	}
	for _, s := range ProvisioningStatuses() {
		if !s.Valid() || s.Summary() == "" {
			t.Errorf("provisioning status %s", s)
		}
	}
	for _, s := range OperatingStatuses() {
		if !s.Valid() || s.Summary() == "" {
			t.Errorf("operating status %s", s)
		}
	}
	if ProvisioningStatus("BUSY").Valid() || OperatingStatus("UP").Valid() || ProvisioningStatus("X").Summary() != "" {
		t.Error("undeclared status accepted")
	}
	pending := 0
	for _, s := range ProvisioningStatuses() {
		if s.Pending() {
			pending++
		}
	}
	if pending != 3 {
		t.Errorf("%d pending statuses, want 3", pending)
	}
	if got := AlgorithmNames(); !slices.Equal(got, []string{"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"}) {
		t.Errorf("AlgorithmNames() = %v", got)
	}
	if len(Algorithms()) != 4 || len(Protocols()) != 9 || len(MonitorFields()) != len(monitorFields) || len(HTTPMethods()) != 9 || len(HTTPVersions()) != 2 {
		t.Error("views disagree with the declaration")
	}
	if _, ok := LookupMonitorType("http"); ok {
		t.Error("monitor types are case-sensitive, as in Octavia")
	}
}
