package storetest

import (
	"context"
	"testing"
	"time"

	"vitals/internal/octavia"
	"vitals/internal/store"
)

// Update runs fn in a write transaction and fails the test on error.
func Update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// Tree is one of each resource, every field set to a value other than its
// zero and its default, so that a round trip proves each column.
type Tree struct {
	LB       octavia.LoadBalancer
	Listener octavia.Listener
	Pool     octavia.Pool
	Member   octavia.Member
	Monitor  octavia.HealthMonitor
}

// FullMeta is a Meta with every field set.
func FullMeta(name string) octavia.Meta {
	created := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	return octavia.Meta{
		ProjectID: "e3cd678b11784734bc366148aa37580e", Name: name, AdminStateUp: false,
		ProvisioningStatus: octavia.ProvisioningPendingUpdate, OperatingStatus: octavia.OperatingDegraded,
		Tags: []string{"a", "b c"}, CreatedAt: created, UpdatedAt: created.Add(time.Minute),
	}
}

// NewTree returns a Tree with every field set.
func NewTree() Tree {
	var tr Tree
	tr.LB = octavia.LoadBalancer{Meta: FullMeta("lb1"), Description: "the db tier", VIPAddress: "127.0.0.2",
		VIPPortID: octavia.NewID(), VIPSubnetID: octavia.NewID(), VIPNetworkID: octavia.NewID(), VIPQoSPolicyID: octavia.NewID(),
		Provider: "vitals", FlavorID: octavia.NewID(), AvailabilityZone: "az1"}
	tr.Pool = octavia.Pool{Meta: FullMeta("pool1"), Description: "primary", Protocol: octavia.ProtocolProxyV2,
		LBAlgorithm: octavia.AlgorithmLeastConnections, FailOpen: true, OnMemberDown: octavia.OnMemberDownKeep,
		SessionPersistence: &octavia.SessionPersistence{Type: "APP_COOKIE", CookieName: "sid", PersistenceTimeout: 60, PersistenceGranularity: "255.255.255.0"}}
	tr.Listener = octavia.Listener{Meta: FullMeta("listener1"), Description: "sql", Protocol: octavia.ProtocolTCP, ProtocolPort: 5432,
		ConnectionLimit: 100, TimeoutClientData: 1500 * time.Millisecond, TimeoutMemberConnect: 2 * time.Second,
		TimeoutMemberData: 3 * time.Second, TimeoutTCPInspect: 4 * time.Millisecond, AllowedCIDRs: []string{"10.0.0.0/8", "::1/128"},
		BindAddress: "127.0.0.3", ConnectionLog: true}
	tr.Member = octavia.Member{Meta: FullMeta("member1"), Address: "10.0.0.7", ProtocolPort: 5432, Weight: 7, Backup: true,
		MonitorAddress: "10.0.0.8", MonitorPort: 8081, SubnetID: octavia.NewID()}
	tr.Monitor = octavia.HealthMonitor{Meta: FullMeta("hm1"), Type: octavia.MonitorPgSQL, Delay: 1500 * time.Millisecond,
		Timeout: time.Second, MaxRetries: 4, MaxRetriesDown: 5, HTTPMethod: "HEAD", URLPath: "/health", ExpectedCodes: "200-204",
		HTTPVersion: "1.1", DomainName: "db.example", CAFile: "/ca.pem", User: "vitals", PasswordFile: "/pw", PasswordEnv: "PW",
		Database: "postgres", Query: "SELECT 1", SSLMode: "require"}
	return tr
}

// Create stores the Tree, linking the parents.
func (tr *Tree) Create(tx store.Tx) error {
	if err := tx.CreateLoadBalancer(&tr.LB); err != nil {
		return err
	}
	tr.Pool.LoadBalancerID = tr.LB.ID
	if err := tx.CreatePool(&tr.Pool); err != nil {
		return err
	}
	tr.Listener.LoadBalancerID, tr.Listener.DefaultPoolID = tr.LB.ID, tr.Pool.ID
	if err := tx.CreateListener(&tr.Listener); err != nil {
		return err
	}
	tr.Member.PoolID, tr.Monitor.PoolID = tr.Pool.ID, tr.Pool.ID
	if err := tx.CreateMember(&tr.Member); err != nil {
		return err
	}
	return tx.CreateHealthMonitor(&tr.Monitor)
}

// Read reads the Tree with the same IDs back.
func (tr Tree) Read(ctx context.Context, t *testing.T, s store.Store) Tree {
	t.Helper()
	var got Tree
	err := s.View(ctx, func(tx store.Tx) (err error) {
		if got.LB, err = tx.LoadBalancer(tr.LB.ID); err != nil {
			return err
		}
		if got.Listener, err = tx.Listener(tr.Listener.ID); err != nil {
			return err
		}
		if got.Pool, err = tx.Pool(tr.Pool.ID); err != nil {
			return err
		}
		if got.Member, err = tx.Member(tr.Member.ID); err != nil {
			return err
		}
		got.Monitor, err = tx.HealthMonitor(tr.Monitor.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// CreateLB creates a load balancer with the defaults.
func CreateLB(tx store.Tx) error {
	lb := octavia.NewLoadBalancer()
	return tx.CreateLoadBalancer(&lb)
}

// CountLBs counts the load balancers in s.
func CountLBs(t *testing.T, s store.Store) int {
	t.Helper()
	var n int
	err := s.View(t.Context(), func(tx store.Tx) error {
		lbs, err := tx.LoadBalancers()
		n = len(lbs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Revision reads s's revision, failing the test on error.
func Revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}
