package octavia

import (
	"context"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/pagination"

	model "vitals/internal/octavia"
)

// lbClient is a gophercloud load-balancer client for s, built as
// openstack.NewLoadBalancerV2 builds one (ResourceBase endpoint+"v2.0/"),
// without Keystone: the token is sent as X-Auth-Token.
func lbClient(s *apiServer) *gophercloud.ServiceClient {
	pc := &gophercloud.ProviderClient{HTTPClient: *s.Client()}
	pc.SetToken(s.token)
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: s.URL + "/", ResourceBase: s.URL + "/v2.0/", Type: "load-balancer"}
}

// TestGophercloud drives the real client through the flow of
// gophercloud's acceptance test for load balancers
// (internal/acceptance/openstack/loadbalancer/v2/loadbalancers_test.go).
func TestGophercloud(t *testing.T) {
	s := newServer(t, Options{Token: "a7c1b2f0e9d84c36"})
	c := lbClient(s)
	ctx := t.Context()
	active := func(what string, status string) {
		t.Helper()
		if status != "ACTIVE" {
			t.Fatalf("%s: provisioning_status %s, want ACTIVE", what, status)
		}
	}
	waitLB := func(id string) {
		t.Helper()
		lb, err := loadbalancers.Get(ctx, c, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		active("load balancer", lb.ProvisioningStatus)
	}

	// Load balancer: create, update, stats.
	subnet := model.NewID()
	lb, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{Name: "lb-acc", VipSubnetID: subnet, VipAddress: "127.0.0.1", Tags: []string{"test"}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if lb.VipSubnetID != subnet || lb.CreatedAt.IsZero() || lb.Provider != "vitals" {
		t.Errorf("created load balancer: %+v", lb)
	}
	waitLB(lb.ID)
	desc := "updated"
	newTags := []string{"updated"}
	lbu, err := loadbalancers.Update(ctx, c, lb.ID, loadbalancers.UpdateOpts{Description: &desc, Tags: &newTags}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if lbu.Description != desc || len(lbu.Tags) != 1 || lbu.Tags[0] != "updated" || lbu.Name != "lb-acc" {
		t.Errorf("updated load balancer: %+v", lbu)
	}
	stats, err := loadbalancers.GetStats(ctx, c, lb.ID).Extract()
	if err != nil || stats.TotalConnections != 0 {
		t.Errorf("stats: %+v, %v", stats, err)
	}

	// Listener.
	l, err := listeners.Create(ctx, c, listeners.CreateOpts{Name: "l-acc", LoadbalancerID: lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: 8080}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	active("listener", l.ProvisioningStatus)
	waitLB(lb.ID)
	cl := 100
	td := 1000
	lu, err := listeners.Update(ctx, c, l.ID, listeners.UpdateOpts{ConnLimit: &cl, TimeoutClientData: &td}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if lu.ConnLimit != 100 || lu.TimeoutClientData != 1000 || lu.TimeoutMemberConnect != 5000 {
		t.Errorf("updated listener: %+v", lu)
	}
	if _, err := listeners.GetStats(ctx, c, l.ID).Extract(); err != nil {
		t.Errorf("listener stats: %v", err)
	}

	// Pool on the listener.
	p, err := pools.Create(ctx, c, pools.CreateOpts{Name: "pool-acc", ListenerID: l.ID, Protocol: pools.ProtocolTCP, LBMethod: pools.LBMethodRoundRobin}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Listeners) != 1 || p.Listeners[0].ID != l.ID || len(p.Loadbalancers) != 1 || p.Loadbalancers[0].ID != lb.ID {
		t.Errorf("created pool: %+v", p)
	}
	pd := "pool"
	if _, err := pools.Update(ctx, c, p.ID, pools.UpdateOpts{Description: &pd, LBMethod: pools.LBMethodLeastConnections}).Extract(); err != nil {
		t.Fatal(err)
	}

	// Members: one by one, then a batch update.
	weight := 10
	m, err := pools.CreateMember(ctx, c, p.ID, pools.CreateMemberOpts{Name: "m1", Address: "127.0.0.2", ProtocolPort: 80, Weight: &weight}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if m.Weight != 10 || m.PoolID != p.ID {
		t.Errorf("created member: %+v", m)
	}
	nw := 2
	if mu, err := pools.UpdateMember(ctx, c, p.ID, m.ID, pools.UpdateMemberOpts{Weight: &nw}).Extract(); err != nil || mu.Weight != 2 {
		t.Fatalf("updated member: %+v %v", mu, err)
	}
	n2, n3 := "m2", "m3"
	batch := []pools.BatchUpdateMemberOpts{
		{Address: "127.0.0.2", ProtocolPort: 80, Weight: &weight},
		{Address: "127.0.0.3", ProtocolPort: 80, Name: &n2},
		{Address: "127.0.0.4", ProtocolPort: 80, Name: &n3},
	}
	if err := pools.BatchUpdateMembers(ctx, c, p.ID, batch).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	var got []pools.Member
	err = pools.ListMembers(c, p.ID, pools.ListMembersOpts{}).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		ms, err := pools.ExtractMembers(page)
		got = append(got, ms...)
		return true, err
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("members after batch: %d %v", len(got), err)
	}

	// A PING monitor with http_version, replaced by an HTTP monitor.
	ping, err := monitors.Create(ctx, c, monitors.CreateOpts{PoolID: p.ID, Type: monitors.TypePING, Delay: 10, Timeout: 5, MaxRetries: 5, MaxRetriesDown: 4, HTTPVersion: "1.1"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if ping.HTTPVersion != "1.1" || ping.Delay != 10 || ping.MaxRetriesDown != 4 || len(ping.Pools) != 1 || ping.Pools[0].ID != p.ID {
		t.Errorf("PING monitor: %+v", ping)
	}
	if err := monitors.Delete(ctx, c, ping.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	hm, err := monitors.Create(ctx, c, monitors.CreateOpts{PoolID: p.ID, Type: monitors.TypeHTTP, Delay: 15, Timeout: 10, MaxRetries: 4, URLPath: "/health", ExpectedCodes: "200-204", HTTPMethod: "HEAD"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if hm.URLPath != "/health" || hm.HTTPMethod != "HEAD" || hm.ExpectedCodes != "200-204" {
		t.Errorf("HTTP monitor: %+v", hm)
	}
	newDelay := 20
	if hmu, err := monitors.Update(ctx, c, hm.ID, monitors.UpdateOpts{Delay: newDelay, Timeout: 15}).Extract(); err != nil || hmu.Delay != 20 || hmu.Timeout != 15 {
		t.Fatalf("updated monitor: %+v %v", hmu, err)
	}

	// The status tree.
	tree, err := loadbalancers.GetStatuses(ctx, c, lb.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	tl := tree.Loadbalancer
	if tl.ID != lb.ID || len(tl.Listeners) != 1 || len(tl.Listeners[0].Pools) != 1 {
		t.Fatalf("status tree: %+v", tl)
	}
	tp := tl.Listeners[0].Pools[0]
	if tp.ID != p.ID || tp.Monitor.ID != hm.ID || tp.Monitor.Type != "HTTP" || len(tp.Members) != 3 {
		t.Errorf("status tree pool: %+v", tp)
	}

	// Listing by name finds exactly one.
	all, err := loadbalancers.List(c, loadbalancers.ListOpts{Name: "lb-acc"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lbs, _ := loadbalancers.ExtractLoadBalancers(all); len(lbs) != 1 || lbs[0].ID != lb.ID {
		t.Errorf("list by name: %+v", lbs)
	}

	// Paging: gophercloud follows the next links.
	for _, n := range []string{"p1", "p2", "p3"} {
		if _, err := loadbalancers.Create(ctx, c, loadbalancers.CreateOpts{Name: n}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	pages, total := 0, 0
	err = loadbalancers.List(c, loadbalancers.ListOpts{Limit: 2}).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		lbs, err := loadbalancers.ExtractLoadBalancers(page)
		pages++
		total += len(lbs)
		return pages < 10, err
	})
	if err != nil || total != 4 || pages < 2 {
		t.Errorf("paged list: %d load balancers in %d pages, %v", total, pages, err)
	}

	// Cascade delete.
	if err := loadbalancers.Delete(ctx, c, lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = loadbalancers.Get(ctx, c, lb.ID).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("after cascade delete: %v", err)
	}
	if _, err := pools.Get(ctx, c, p.ID).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("pool after cascade delete: %v", err)
	}
}
