package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
	"vitals/internal/store/sqlstore"
)

func openTemp(t *testing.T) (*sqlstore.DB, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lb.db")
	s, err := Open(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, file
}

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// tree is one of each resource, every field set to a value other than its
// zero and its default, so that a round trip proves each column.
type tree struct {
	lb       octavia.LoadBalancer
	listener octavia.Listener
	pool     octavia.Pool
	member   octavia.Member
	monitor  octavia.HealthMonitor
}

func fullMeta(name string) octavia.Meta {
	created := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	return octavia.Meta{
		ProjectID: "e3cd678b11784734bc366148aa37580e", Name: name, AdminStateUp: false,
		ProvisioningStatus: octavia.ProvisioningPendingUpdate, OperatingStatus: octavia.OperatingDegraded,
		Tags: []string{"a", "b c"}, CreatedAt: created, UpdatedAt: created.Add(time.Minute),
	}
}

func newTree() tree {
	var tr tree
	tr.lb = octavia.LoadBalancer{Meta: fullMeta("lb1"), Description: "the db tier", VIPAddress: "127.0.0.2",
		VIPPortID: octavia.NewID(), VIPSubnetID: octavia.NewID(), VIPNetworkID: octavia.NewID(), VIPQoSPolicyID: octavia.NewID(),
		Provider: "vitals", FlavorID: octavia.NewID(), AvailabilityZone: "az1"}
	tr.pool = octavia.Pool{Meta: fullMeta("pool1"), Description: "primary", Protocol: octavia.ProtocolProxyV2,
		LBAlgorithm: octavia.AlgorithmLeastConnections, FailOpen: true, OnMemberDown: octavia.OnMemberDownKeep,
		SessionPersistence: &octavia.SessionPersistence{Type: "APP_COOKIE", CookieName: "sid", PersistenceTimeout: 60, PersistenceGranularity: "255.255.255.0"}}
	tr.listener = octavia.Listener{Meta: fullMeta("listener1"), Description: "sql", Protocol: octavia.ProtocolTCP, ProtocolPort: 5432,
		ConnectionLimit: 100, TimeoutClientData: 1500 * time.Millisecond, TimeoutMemberConnect: 2 * time.Second,
		TimeoutMemberData: 3 * time.Second, TimeoutTCPInspect: 4 * time.Millisecond, AllowedCIDRs: []string{"10.0.0.0/8", "::1/128"},
		BindAddress: "127.0.0.3", ConnectionLog: true}
	tr.member = octavia.Member{Meta: fullMeta("member1"), Address: "10.0.0.7", ProtocolPort: 5432, Weight: 7, Backup: true,
		MonitorAddress: "10.0.0.8", MonitorPort: 8081, SubnetID: octavia.NewID()}
	tr.monitor = octavia.HealthMonitor{Meta: fullMeta("hm1"), Type: octavia.MonitorPgSQL, Delay: 1500 * time.Millisecond,
		Timeout: time.Second, MaxRetries: 4, MaxRetriesDown: 5, HTTPMethod: "HEAD", URLPath: "/health", ExpectedCodes: "200-204",
		HTTPVersion: "1.1", DomainName: "db.example", CAFile: "/ca.pem", User: "vitals", PasswordFile: "/pw", PasswordEnv: "PW",
		Database: "postgres", Query: "SELECT 1", SSLMode: "require"}
	return tr
}

// create stores the tree, linking the parents.
func (tr *tree) create(tx store.Tx) error {
	if err := tx.CreateLoadBalancer(&tr.lb); err != nil {
		return err
	}
	tr.pool.LoadBalancerID = tr.lb.ID
	if err := tx.CreatePool(&tr.pool); err != nil {
		return err
	}
	tr.listener.LoadBalancerID, tr.listener.DefaultPoolID = tr.lb.ID, tr.pool.ID
	if err := tx.CreateListener(&tr.listener); err != nil {
		return err
	}
	tr.member.PoolID, tr.monitor.PoolID = tr.pool.ID, tr.pool.ID
	if err := tx.CreateMember(&tr.member); err != nil {
		return err
	}
	return tx.CreateHealthMonitor(&tr.monitor)
}

// read reads the tree with the same IDs back.
func (tr tree) read(ctx context.Context, t *testing.T, s store.Store) tree {
	t.Helper()
	var got tree
	err := s.View(ctx, func(tx store.Tx) (err error) {
		if got.lb, err = tx.LoadBalancer(tr.lb.ID); err != nil {
			return err
		}
		if got.listener, err = tx.Listener(tr.listener.ID); err != nil {
			return err
		}
		if got.pool, err = tx.Pool(tr.pool.ID); err != nil {
			return err
		}
		if got.member, err = tx.Member(tr.member.ID); err != nil {
			return err
		}
		got.monitor, err = tx.HealthMonitor(tr.monitor.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
