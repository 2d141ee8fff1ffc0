package controller

import (
	"reflect"
	"strings"
	"testing"

	"vitals/internal/lb"
	"vitals/internal/lbyaml"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/store"
	"vitals/internal/store/sqlite"
	"vitals/internal/testenv"
)

func openMemory(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.OpenMemory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// canonical returns a copy of c in the form ToConfig writes: each
// optional pointer set to the value lb runs with (a nil weight is 1, a nil
// admin_state_up true, ...), and the decode-only raw strings cleared.
// Everything else, the resolved monitors included (unexported fields
// too), is compared by reflect.DeepEqual.
func canonical(c *lb.Config) *lb.Config {
	out := *c
	l := *c.LoadBalancers[0]
	out.LoadBalancers = []*lb.LoadBalancer{&l}
	up := func(b *bool) *bool { return ptr(b == nil || *b) }
	l.AdminStateUp = up(l.AdminStateUp)
	l.Listeners = append([]lb.Listener(nil), l.Listeners...)
	for i := range l.Listeners {
		ls := &l.Listeners[i]
		ls.AdminStateUp = up(ls.AdminStateUp)
		ls.TimeoutClientData, ls.TimeoutMemberConnect, ls.TimeoutMemberData, ls.TimeoutWriteStall = monitor.Milliseconds{}, monitor.Milliseconds{}, monitor.Milliseconds{}, monitor.Milliseconds{}
	}
	l.Pools = append([]lb.Pool(nil), l.Pools...)
	for i := range l.Pools {
		p := &l.Pools[i]
		p.AdminStateUp = up(p.AdminStateUp)
		p.HealthMonitor = nil
		p.Members = append([]lb.Member(nil), p.Members...)
		for j := range p.Members {
			m := &p.Members[j]
			m.AdminStateUp = up(m.AdminStateUp)
			m.Weight = ptr(m.WeightOr1())
		}
	}
	return &out
}

// roundTrip takes a file through lbyaml, a store and ToConfig.
func roundTrip(t *testing.T, file string) (orig, back *lb.Config) {
	t.Helper()
	orig, tree, err := lbyaml.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := openMemory(t)
	if _, err := lbyaml.Import(t.Context(), s, tree); err != nil {
		t.Fatal(err)
	}
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	back, err = ToConfig(snap, orig)
	if err != nil {
		t.Fatal(err)
	}
	return orig, back
}

// TestToConfigEqualsLoadFile: YAML → lbyaml → store → ToConfig gives
// back, field by field, the *lb.Config that lb.LoadFile gives, for every
// valid file: the model carries everything the lb runs from.
func TestToConfigEqualsLoadFile(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	for _, f := range testenv.ValidLBConfigs() {
		t.Run(f, func(t *testing.T) {
			orig, back := roundTrip(t, f)
			want, got := canonical(orig), canonical(back)
			if !reflect.DeepEqual(want.LoadBalancers[0], got.LoadBalancers[0]) {
				diff(t, "loadbalancer", reflect.ValueOf(*want.LoadBalancers[0]), reflect.ValueOf(*got.LoadBalancers[0]))
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("configs differ outside the load balancer")
			}
			// ToConfig writes the canonical form itself.
			if !reflect.DeepEqual(back.LoadBalancers[0].Listeners, got.LoadBalancers[0].Listeners) {
				t.Errorf("ToConfig's listeners are not in canonical form")
			}
		})
	}
}

// diff reports the first differing fields, by path.
func diff(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	if a.Kind() == reflect.Pointer && !a.IsNil() && !b.IsNil() {
		diff(t, path, a.Elem(), b.Elem())
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if !reflect.DeepEqual(valueOf(a.Field(i)), valueOf(b.Field(i))) {
				diff(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
		return
	case reflect.Slice:
		if a.Len() == b.Len() {
			for i := range a.Len() {
				diff(t, path+"["+string(rune('0'+i))+"]", a.Index(i), b.Index(i))
			}
			return
		}
	}
	if !reflect.DeepEqual(valueOf(a), valueOf(b)) {
		t.Errorf("%s: LoadFile %v, round trip %v", path, valueOf(a), valueOf(b))
	}
}

func valueOf(v reflect.Value) any {
	if v.CanInterface() {
		return v.Interface()
	}
	return v.String()
}

// TestToConfigRefuses lists what a store may hold and lb.Config cannot
// say: each is an error naming the object, never a silent drop.
func TestToConfigRefuses(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	base, tree, err := lbyaml.LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		edit func(*store.Snapshot)
		want string
	}{
		"default pool without a name": {func(s *store.Snapshot) { s.Pools[0].Name = "" }, "needs a name"},
		"two pools of one name":       {func(s *store.Snapshot) { s.Pools[1].Name = s.Pools[0].Name }, "needs a name"},
		"UDP listener":                {func(s *store.Snapshot) { s.Listeners[0].Protocol = octavia.ProtocolUDP }, "protocol UDP is not served"},
	} {
		s := tree
		s.LoadBalancers, s.Pools, s.Listeners = append([]octavia.LoadBalancer(nil), tree.LoadBalancers...), append([]octavia.Pool(nil), tree.Pools...), append([]octavia.Listener(nil), tree.Listeners...)
		s.HealthMonitors = append([]octavia.HealthMonitor(nil), tree.HealthMonitors...)
		tt.edit(&s)
		if _, err := ToConfig(s, base); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tt.want)
		}
	}
	if _, err := ToConfig(tree, base); err != nil {
		t.Errorf("the unedited tree: %v", err)
	}
	// http_version on PING: Octavia accepts it and ignores it, so the
	// monitor runs as a plain PING monitor.
	s := tree
	s.HealthMonitors = append([]octavia.HealthMonitor(nil), tree.HealthMonitors...)
	h := &s.HealthMonitors[0]
	h.Type, h.HTTPMethod, h.URLPath, h.ExpectedCodes, h.HTTPVersion, h.DomainName = octavia.MonitorPing, "", "", "", "1.0", "example.com"
	cfg, err := ToConfig(s, base)
	if err != nil {
		t.Fatalf("PING with http_version and domain_name: %v", err)
	}
	pings := 0
	for _, p := range cfg.LoadBalancers[0].Pools {
		if m := p.Monitor; m != nil && m.Type == octavia.MonitorPing {
			pings++
			if m.HTTPVersion != "" || m.DomainName != "" {
				t.Errorf("PING monitor runs with http_version %q, domain_name %q; want neither", m.HTTPVersion, m.DomainName)
			}
		}
	}
	if pings != 1 {
		t.Errorf("%d PING monitors in the config, want 1", pings)
	}
}

// TestToConfigEmptyStore: no load balancer gives one with nothing to run.
func TestToConfigEmptyStore(t *testing.T) {
	base, err := lb.LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ToConfig(store.Snapshot{}, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LoadBalancers) != 0 || c.Admin != base.Admin {
		t.Errorf("empty store → %+v", c.LoadBalancers)
	}
}

// TestToConfigSeveralLoadBalancers: every live load balancer is mapped
// with its own pools and listeners, a listener's default pool named
// within its load balancer even when another has a pool of the same
// name; a load balancer PENDING_DELETE is left out.
func TestToConfigSeveralLoadBalancers(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	base, tree, err := lbyaml.LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := tree
	second := octavia.NewLoadBalancer()
	second.ID, second.Name, second.VIPAddress = octavia.NewID(), "second", "127.0.0.2"
	p := octavia.NewPool()
	p.ID, p.Name, p.LoadBalancerID, p.Protocol, p.LBAlgorithm = octavia.NewID(), tree.Pools[0].Name, second.ID, octavia.ProtocolTCP, "ROUND_ROBIN"
	m := octavia.NewMember()
	m.ID, m.PoolID, m.Address, m.ProtocolPort = octavia.NewID(), p.ID, "127.0.0.9", 9
	l := octavia.NewListener()
	l.ID, l.LoadBalancerID, l.Protocol, l.ProtocolPort, l.DefaultPoolID = octavia.NewID(), second.ID, octavia.ProtocolTCP, 7777, p.ID
	gone := octavia.NewLoadBalancer()
	gone.ID, gone.Name, gone.ProvisioningStatus = octavia.NewID(), "gone", octavia.ProvisioningPendingDelete
	s.LoadBalancers = append(append([]octavia.LoadBalancer(nil), tree.LoadBalancers...), second, gone)
	s.Pools = append(append([]octavia.Pool(nil), tree.Pools...), p)
	s.Members = append(append([]octavia.Member(nil), tree.Members...), m)
	s.Listeners = append(append([]octavia.Listener(nil), tree.Listeners...), l)
	c, err := ToConfig(s, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LoadBalancers) != 2 {
		t.Fatalf("%d load balancers, want 2 (the file's and second)", len(c.LoadBalancers))
	}
	first, got := c.LoadBalancers[0], c.LoadBalancers[1]
	if first.ID != tree.LoadBalancers[0].ID || len(first.Pools) != len(tree.Pools) || len(first.Listeners) != len(tree.Listeners) {
		t.Errorf("first load balancer %+v, want the file's", first)
	}
	if got.ID != second.ID || got.VIPAddress != "127.0.0.2" || len(got.Pools) != 1 || got.Pools[0].ID != p.ID || len(got.Pools[0].Members) != 1 ||
		len(got.Listeners) != 1 || got.Listeners[0].DefaultPool != p.Name || got.Listeners[0].Address != "127.0.0.2" {
		t.Errorf("second load balancer %+v", got)
	}
	if pl := got.Pool(got.Listeners[0].DefaultPool); pl == nil || pl.ID != p.ID {
		t.Errorf("second's listener resolves its pool to %+v, want its own %s", pl, p.ID)
	}
}
