package lbyaml

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vitals/internal/lb"
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

// TestLoadMapsEveryObject checks counts, IDs and the links between
// objects against lb's own view of the file.
func TestLoadMapsEveryObject(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	for _, f := range testenv.ValidLBConfigs() {
		t.Run(f, func(t *testing.T) {
			c, tr, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			l := c.LoadBalancers[0]
			if len(tr.LoadBalancers) != 1 || tr.LoadBalancers[0].ID != l.ID || tr.LoadBalancers[0].Name != l.Name {
				t.Fatalf("load balancers = %+v, want one with ID %s", tr.LoadBalancers, l.ID)
			}
			if len(tr.Listeners) != len(l.Listeners) || len(tr.Pools) != len(l.Pools) {
				t.Fatalf("%d listeners, %d pools; want %d, %d", len(tr.Listeners), len(tr.Pools), len(l.Listeners), len(l.Pools))
			}
			members, monitors := 0, 0
			for i, p := range l.Pools {
				if tr.Pools[i].ID != p.ID || tr.Pools[i].LoadBalancerID != l.ID {
					t.Errorf("pool %d: ID %s lb %s, want %s %s", i, tr.Pools[i].ID, tr.Pools[i].LoadBalancerID, p.ID, l.ID)
				}
				for _, m := range p.Members {
					got := tr.Members[members]
					if got.ID != m.ID || got.PoolID != p.ID || got.Address != m.Address {
						t.Errorf("member %d = %s in %s at %s, want %s in %s at %s", members, got.ID, got.PoolID, got.Address, m.ID, p.ID, m.Address)
					}
					members++
				}
				if p.Monitor != nil {
					if got := tr.HealthMonitors[monitors]; got.ID != p.Monitor.ID || got.PoolID != p.ID || got.Type != p.Monitor.Type {
						t.Errorf("monitor = %s on %s type %s, want %s on %s type %s", got.ID, got.PoolID, got.Type, p.Monitor.ID, p.ID, p.Monitor.Type)
					}
					monitors++
				}
			}
			if len(tr.Members) != members || len(tr.HealthMonitors) != monitors {
				t.Errorf("%d members, %d monitors; want %d, %d", len(tr.Members), len(tr.HealthMonitors), members, monitors)
			}
			for i, ls := range l.Listeners {
				want := ""
				for _, p := range l.Pools {
					if p.Name == ls.DefaultPool {
						want = p.ID
					}
				}
				if got := tr.Listeners[i]; got.ID != ls.ID || got.DefaultPoolID != want {
					t.Errorf("listener %d = %s → %q, want %s → %q", i, got.ID, got.DefaultPoolID, ls.ID, want)
				}
			}
			for _, x := range tr.Members {
				if x.ProvisioningStatus != octavia.ProvisioningPendingCreate || x.OperatingStatus != octavia.OperatingOffline {
					t.Errorf("member %s statuses %s/%s, want PENDING_CREATE/OFFLINE", x.ID, x.ProvisioningStatus, x.OperatingStatus)
				}
			}
		})
	}
}

// TestLoadIDsStable loads each file twice: the same IDs both times.
func TestLoadIDsStable(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	for _, f := range testenv.ValidLBConfigs() {
		_, a, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(a), ids(b)) {
			t.Errorf("%s: IDs differ between two loads:\n%v\n%v", f, ids(a), ids(b))
		}
		if n := len(ids(a)); n < 3 {
			t.Errorf("%s: only %d IDs", f, n)
		}
	}
}

func ids(t store.Snapshot) []string {
	var out []string
	for _, x := range t.LoadBalancers {
		out = append(out, x.ID)
	}
	for _, x := range t.Listeners {
		out = append(out, x.ID)
	}
	for _, x := range t.Pools {
		out = append(out, x.ID)
	}
	for _, x := range t.Members {
		out = append(out, x.ID)
	}
	for _, x := range t.HealthMonitors {
		out = append(out, x.ID)
	}
	return out
}

// TestImportRoundTrip imports each file into an in-memory store and reads
// it back: the same tree, in file order, every object PENDING_CREATE.
func TestImportRoundTrip(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	for _, f := range testenv.ValidLBConfigs() {
		t.Run(f, func(t *testing.T) {
			_, tr, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := openMemory(t)
			ch, err := Import(t.Context(), s, tr)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(ids(tr)); ch != (Changes{Created: want}) {
				t.Errorf("changes = %+v, want %d created", ch, want)
			}
			got, err := store.Read(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Revision != 1 {
				t.Errorf("revision = %d, want 1", got.Revision)
			}
			if a, b := store.ConfigOnly(got), store.ConfigOnly(tr); !reflect.DeepEqual(a, b) {
				t.Errorf("read back:\n%+v\nwant:\n%+v", a, b)
			}
			for _, x := range got.Pools {
				if x.ProvisioningStatus != octavia.ProvisioningPendingCreate {
					t.Errorf("pool %s is %s, want PENDING_CREATE", x.Name, x.ProvisioningStatus)
				}
			}
		})
	}
}

// TestImportTwiceWritesNothing: the second import of the same file finds
// nothing to change and leaves the revision where it was, even after the
// controller has settled the statuses.
func TestImportTwiceWritesNothing(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	_, tr, err := LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := openMemory(t)
	if _, err := Import(t.Context(), s, tr); err != nil {
		t.Fatal(err)
	}
	// What a controller does: settle one status.
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(tr.Pools[0].ID)
		if err != nil {
			return err
		}
		p.ProvisioningStatus, p.OperatingStatus = octavia.ProvisioningActive, octavia.OperatingOnline
		return tx.UpdatePool(&p)
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Revision(t.Context())
	_, again, err := LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Import(t.Context(), s, again)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Revision(t.Context())
	if ch.Any() || after != before {
		t.Errorf("second import: changes %+v, revision %d → %d; want none", ch, before, after)
	}
	p := readPool(t, s, tr.Pools[0].ID)
	if p.ProvisioningStatus != octavia.ProvisioningActive || p.OperatingStatus != octavia.OperatingOnline {
		t.Errorf("pool statuses = %s/%s, want ACTIVE/ONLINE kept", p.ProvisioningStatus, p.OperatingStatus)
	}
}

func readPool(t *testing.T, s store.Store, id string) (p octavia.Pool) {
	t.Helper()
	if err := s.View(t.Context(), func(tx store.Tx) (err error) { p, err = tx.Pool(id); return err }); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportChangedFile re-imports an edited file: one revision with the
// changed object PENDING_UPDATE (operating status kept), the removed ones
// gone, the new one PENDING_CREATE, and another load balancer untouched.
func TestImportChangedFile(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	const base = `
loadbalancer:
  name: lb1
  listeners:
    - {name: web, protocol: TCP, protocol_port: 8080, default_pool: web}
  pools:
    - name: web
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 5, timeout: 3, max_retries: 2}
      members:
        - {name: a, address: 127.0.0.1, protocol_port: 9001}
        - {name: b, address: 127.0.0.1, protocol_port: 9002}
`
	edited := strings.NewReplacer("ROUND_ROBIN", "LEAST_CONNECTIONS",
		"        - {name: b, address: 127.0.0.1, protocol_port: 9002}\n", "        - {name: c, address: 127.0.0.1, protocol_port: 9003}\n",
		"      healthmonitor: {type: TCP, delay: 5, timeout: 3, max_retries: 2}\n", "").Replace(base)
	other := strings.ReplaceAll(base, "lb1", "lb2")

	s := openMemory(t)
	_, tr, err := Parse("base.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	_, tr2, err := Parse("other.yaml", []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []store.Snapshot{tr, tr2} {
		if _, err := Import(t.Context(), s, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		p, err := tx.Pool(tr.Pools[0].ID)
		if err != nil {
			return err
		}
		p.ProvisioningStatus, p.OperatingStatus = octavia.ProvisioningActive, octavia.OperatingDegraded
		return tx.UpdatePool(&p)
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Revision(t.Context())

	_, tr3, err := Parse("edited.yaml", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Import(t.Context(), s, tr3)
	if err != nil {
		t.Fatal(err)
	}
	// Deleted: member b and the monitor; created: member c; updated: the pool.
	if want := (Changes{Created: 1, Updated: 1, Deleted: 2}); ch != want {
		t.Errorf("changes = %+v, want %+v", ch, want)
	}
	if after, _ := s.Revision(t.Context()); after != before+1 {
		t.Errorf("revision %d → %d, want one step", before, after)
	}
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	p := readPool(t, s, tr.Pools[0].ID)
	if p.LBAlgorithm != "LEAST_CONNECTIONS" || p.ProvisioningStatus != octavia.ProvisioningPendingUpdate || p.OperatingStatus != octavia.OperatingDegraded {
		t.Errorf("pool = %s %s/%s, want LEAST_CONNECTIONS PENDING_UPDATE/DEGRADED", p.LBAlgorithm, p.ProvisioningStatus, p.OperatingStatus)
	}
	var lb1Members []string
	status := map[string]octavia.ProvisioningStatus{}
	for _, m := range snap.Members {
		if m.PoolID == p.ID {
			lb1Members = append(lb1Members, m.Name)
			status[m.Name] = m.ProvisioningStatus
		}
	}
	if !reflect.DeepEqual(lb1Members, []string{"a", "c"}) || status["c"] != octavia.ProvisioningPendingCreate || status["a"] != octavia.ProvisioningPendingCreate {
		t.Errorf("lb1's members = %v %v, want [a c], a unchanged and c PENDING_CREATE", lb1Members, status)
	}
	if len(snap.LoadBalancers) != 2 || len(snap.HealthMonitors) != 1 || snap.HealthMonitors[0].PoolID != tr2.Pools[0].ID {
		t.Errorf("lb2 was touched: %d load balancers, monitors %+v", len(snap.LoadBalancers), snap.HealthMonitors)
	}
}

// TestValidatorsAgree: lb's file validation and the model's validation
// (which the API answers with) give the same verdict on the values where
// they once disagreed. Where Octavia accepts a value, both accept it; a
// value that no check can use is refused by both, with the probe's reason.
func TestValidatorsAgree(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	const head = "loadbalancer:\n  name: lb1\n"
	monitor := func(fields string) string {
		return head + "  pools:\n    - name: p\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor: {" + fields + "}\n"
	}
	listener := func(fields string) string {
		return head + "  listeners:\n    - {protocol: TCP, protocol_port: 80, " + fields + "}\n  pools:\n    - {name: p, lb_algorithm: ROUND_ROBIN}\n"
	}
	hm := func(edit func(*octavia.HealthMonitor)) error {
		h := octavia.NewHealthMonitor()
		h.PoolID, h.Type, h.Delay, h.Timeout, h.MaxRetries = octavia.NewID(), octavia.MonitorHTTP, 2*time.Second, time.Second, 1
		edit(&h)
		return h.Validate()
	}
	ln := func(edit func(*octavia.Listener)) error {
		l := octavia.NewListener()
		l.LoadBalancerID, l.Protocol, l.ProtocolPort = octavia.NewID(), octavia.ProtocolTCP, 80
		edit(&l)
		return l.Validate()
	}
	for _, tt := range []struct {
		name   string
		yaml   string
		model  error
		accept bool
	}{
		{"http_version on a PING monitor (Octavia accepts it on every type)", monitor("type: PING, delay: 2, timeout: 1, max_retries: 1, http_version: 1.0"),
			hm(func(h *octavia.HealthMonitor) { h.Type, h.HTTPVersion = octavia.MonitorPing, "1.0" }), true},
		{"listener timeout of 48h (Octavia allows 24 days)", listener("timeout_client_data: 48h"), ln(func(l *octavia.Listener) { l.TimeoutClientData = 48 * time.Hour }), true},
		{"listener timeout not whole milliseconds", listener("timeout_member_data: 1.5"), ln(func(l *octavia.Listener) { l.TimeoutMemberData = 1500 * time.Microsecond }), false},
		{"monitor timeout not whole milliseconds", monitor("type: HTTP, max_retries: 1, delay: 5, timeout: 1500us"), hm(func(h *octavia.HealthMonitor) { h.Timeout = 1500 * time.Microsecond }), false},
		{"monitor timeout under a millisecond", monitor("type: HTTP, max_retries: 1, delay: 1, timeout: 0.0001"), hm(func(h *octavia.HealthMonitor) { h.Timeout = 100 * time.Microsecond }), false},
		{"monitor delay over 24 days", monitor("type: HTTP, max_retries: 1, delay: 3000000, timeout: 1"), hm(func(h *octavia.HealthMonitor) { h.Delay = 3000000 * time.Second }), false},
		{"url_path with a fragment", monitor(`type: HTTP, max_retries: 1, delay: 2, timeout: 1, url_path: "/a#b"`), hm(func(h *octavia.HealthMonitor) { h.URLPath = "/a#b" }), false},
		{"url_path not ASCII", monitor(`type: HTTP, max_retries: 1, delay: 2, timeout: 1, url_path: "/é"`), hm(func(h *octavia.HealthMonitor) { h.URLPath = "/é" }), false},
		{"expected_codes out of 100-599", monitor(`type: HTTP, max_retries: 1, delay: 2, timeout: 1, expected_codes: "600"`), hm(func(h *octavia.HealthMonitor) { h.ExpectedCodes = "600" }), false},
		{"expected_codes range reversed", monitor(`type: HTTP, max_retries: 1, delay: 2, timeout: 1, expected_codes: "204-200"`), hm(func(h *octavia.HealthMonitor) { h.ExpectedCodes = "204-200" }), false},
	} {
		_, lbErr := lb.Parse("x.yaml", []byte(tt.yaml))
		if ce := (*lb.ConfigError)(nil); lbErr != nil && !errors.As(lbErr, &ce) {
			t.Errorf("%s: lb.Parse err = %v, want a *lb.ConfigError", tt.name, lbErr)
		}
		if (lbErr == nil) != tt.accept || (tt.model == nil) != tt.accept {
			t.Errorf("%s: lb says %v, the model says %v; want both to %s", tt.name, lbErr, tt.model, map[bool]string{true: "accept it", false: "refuse it"}[tt.accept])
		}
		if tt.accept {
			if _, _, err := Parse("x.yaml", []byte(tt.yaml)); err != nil {
				t.Errorf("%s: lbyaml.Parse: %v", tt.name, err)
			}
		}
	}
}

// TestImportIntoFile is what `vitals lb import lb.yaml --db PATH` will do:
// import into a SQLite file, close it, open it again: the same tree, and
// a second import of the same file writes nothing.
func TestImportIntoFile(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	path := filepath.Join(t.TempDir(), "lb.db")
	_, tr, err := LoadFile("testdata/every-field.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(t.Context(), s, tr); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 1 || !reflect.DeepEqual(store.ConfigOnly(got), store.ConfigOnly(tr)) {
		t.Errorf("after reopening: revision %d, tree\n%+v\nwant\n%+v", got.Revision, store.ConfigOnly(got), store.ConfigOnly(tr))
	}
	ch, err := Import(t.Context(), s, tr)
	if err != nil {
		t.Fatal(err)
	}
	if rev, _ := s.Revision(t.Context()); ch.Any() || rev != 1 {
		t.Errorf("second import: %+v, revision %d; want nothing written", ch, rev)
	}
}

// TestImportAllOrNothing: a tree the store refuses half way (two members
// on one address and port) writes nothing at all.
func TestImportAllOrNothing(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	_, tr, err := LoadFile("../lb/testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dup := tr.Members[0]
	dup.ID = octavia.NewID()
	tr.Members = append(tr.Members, dup)
	s := openMemory(t)
	if _, err := Import(t.Context(), s, tr); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 0 || len(snap.LoadBalancers)+len(snap.Pools)+len(snap.Members) != 0 {
		t.Errorf("a failed import left revision %d with %d load balancers, %d pools, %d members", snap.Revision, len(snap.LoadBalancers), len(snap.Pools), len(snap.Members))
	}
}

// TestReplace: file mode's reload of a file whose load balancer was
// renamed leaves only the new one; Import would have kept both.
func TestReplace(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	const y = "loadbalancer:\n  name: NAME\n  pools:\n    - name: p\n      lb_algorithm: ROUND_ROBIN\n      members:\n        - {address: 127.0.0.1, protocol_port: 80}\n"
	_, a, err := Parse("a.yaml", []byte(strings.Replace(y, "NAME", "a", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := Parse("b.yaml", []byte(strings.Replace(y, "NAME", "b", 1)))
	if err != nil {
		t.Fatal(err)
	}
	s := openMemory(t)
	if _, err := Replace(t.Context(), s, a); err != nil {
		t.Fatal(err)
	}
	ch, err := Replace(t.Context(), s, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changes{Created: 3, Deleted: 3}); ch != want {
		t.Errorf("changes = %+v, want %+v", ch, want)
	}
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(store.ConfigOnly(snap), store.ConfigOnly(b)) {
		t.Errorf("store = %+v, want exactly b", store.ConfigOnly(snap))
	}
	if ch, err := Replace(t.Context(), s, b); err != nil || ch.Any() {
		t.Errorf("replacing with the same tree: %+v, %v; want nothing", ch, err)
	}
	if _, err := Import(t.Context(), s, a); err != nil {
		t.Fatal(err)
	}
	if snap, _ := store.Read(t.Context(), s); len(snap.LoadBalancers) != 2 {
		t.Errorf("Import (merge) left %d load balancers, want 2", len(snap.LoadBalancers))
	}
}

// TestLoadSeveralLoadBalancers: a file with loadbalancers: maps every
// load balancer with its own objects (pools of the same name kept apart
// by their load balancer), imports whole, and back through ToConfig's
// reverse the listeners name their own load balancer's pools.
func TestLoadSeveralLoadBalancers(t *testing.T) {
	testenv.SetLBConfigEnv(t)
	const y = "loadbalancers:\n" +
		"  - name: a\n    listeners:\n      - {protocol: TCP, protocol_port: 18101, default_pool: p}\n    pools:\n      - name: p\n        lb_algorithm: ROUND_ROBIN\n        healthmonitor: {type: TCP, delay: 2, timeout: 1, max_retries: 1}\n        members:\n          - {address: 127.0.0.1, protocol_port: 80}\n" +
		"  - name: b\n    listeners:\n      - {protocol: TCP, protocol_port: 18102, default_pool: p}\n    pools:\n      - name: p\n        lb_algorithm: SOURCE_IP\n        members:\n          - {address: 127.0.0.1, protocol_port: 81}\n"
	c, tree, err := Parse("x.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.LoadBalancers) != 2 || len(tree.Listeners) != 2 || len(tree.Pools) != 2 || len(tree.Members) != 2 || len(tree.HealthMonitors) != 1 {
		t.Fatalf("tree has %d load balancers, %d listeners, %d pools, %d members, %d monitors; want 2, 2, 2, 2, 1",
			len(tree.LoadBalancers), len(tree.Listeners), len(tree.Pools), len(tree.Members), len(tree.HealthMonitors))
	}
	for i, l := range c.LoadBalancers {
		ml, ls, p := tree.LoadBalancers[i], tree.Listeners[i], tree.Pools[i]
		if ml.ID != l.ID || ls.LoadBalancerID != l.ID || p.LoadBalancerID != l.ID || ls.DefaultPoolID != p.ID || p.ID != l.Pools[0].ID {
			t.Errorf("load balancer %s: %+v, listener %+v, pool %+v; want each linked to its own", l.Name, ml, ls, p)
		}
	}
	s := openMemory(t)
	if ch, err := Import(t.Context(), s, tree); err != nil || ch.Created != 9 {
		t.Fatalf("import: %+v, %v; want 9 created", ch, err)
	}
	snap, err := store.Read(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LoadBalancers) != 2 || len(snap.Listeners) != 2 {
		t.Errorf("store holds %d load balancers and %d listeners, want 2 and 2", len(snap.LoadBalancers), len(snap.Listeners))
	}
}
