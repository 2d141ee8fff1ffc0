package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"

	"vitals/internal/testenv"
)

// TestLBDBTwoLoadBalancers: one `vitals lb --db` runs two load balancers
// that gophercloud created, each with a listener, a pool and a member of
// the same names: connections through each listener reach its own
// backend; the status trees and stats are per load balancer; `vitals lb
// status` shows both; a listener of one on the other's port is refused
// with 409; a cascade delete of one closes its listener and leaves the
// other serving, with its established session intact.
func TestLBDBTwoLoadBalancers(t *testing.T) {
	bin := testenv.BuildVitals(t)
	d := startDBLB(t, bin)
	a, b := testenv.StartGreeter(t, "a"), testenv.StartGreeter(t, "b")
	t1 := buildNamedTree(t, d, "lb1", a)
	t2 := buildNamedTree(t, d, "lb2", b)
	d.waitMembers(t, t1.lb.ID, map[string]string{t1.members[0].ID: "ONLINE"})
	d.waitMembers(t, t2.lb.ID, map[string]string{t2.members[0].ID: "ONLINE"})

	if seen := greetings(t, t1.addr, 4); seen["a"] != 4 {
		t.Errorf("4 connections through lb1's listener reached %v, want all at a", seen)
	}
	if seen := greetings(t, t2.addr, 6); seen["b"] != 6 {
		t.Errorf("6 connections through lb2's listener reached %v, want all at b", seen)
	}
	ctx := context.Background()
	d.poll(t, "each load balancer's stats count its own connections", 10*time.Second, func() error {
		s1, err := loadbalancers.GetStats(ctx, d.c, t1.lb.ID).Extract()
		if err != nil {
			return err
		}
		s2, err := loadbalancers.GetStats(ctx, d.c, t2.lb.ID).Extract()
		if err != nil {
			return err
		}
		l2, err := listeners.GetStats(ctx, d.c, t2.listener.ID).Extract()
		if err != nil {
			return err
		}
		if s1.TotalConnections != 4 || s2.TotalConnections != 6 || l2.TotalConnections != 6 {
			return fmt.Errorf("stats lb1 %+v, lb2 %+v, lb2's listener %+v; want 4, 6 and 6 connections", s1, s2, l2)
		}
		return nil
	})
	tree, err := loadbalancers.GetStatuses(ctx, d.c, t2.lb.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if l := tree.Loadbalancer; l.ID != t2.lb.ID || len(l.Listeners) != 1 || l.Listeners[0].ID != t2.listener.ID || len(l.Listeners[0].Pools) != 1 ||
		len(l.Listeners[0].Pools[0].Members) != 1 || l.Listeners[0].Pools[0].Members[0].ID != t2.members[0].ID {
		t.Errorf("lb2's status tree %+v, want only lb2's objects", l)
	}

	sock := filepath.Join(d.dir, "lb.sock")
	out, err := exec.Command(bin, "lb", "status", "--socket", sock).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `loadbalancer "lb1" ONLINE`) || !strings.Contains(string(out), `loadbalancer "lb2" ONLINE`) {
		t.Errorf("vitals lb status: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "lb", "stats", "--socket", sock, "lb2", "-f", "value").CombinedOutput()
	if f := strings.Fields(string(out)); err != nil || len(f) != 5 || f[4] != "6" { // active, bytes in, out, errors, total
		t.Errorf("vitals lb stats lb2: %v\n%s", err, out)
	}
	if out, err = exec.Command(bin, "lb", "stats", "--socket", sock).CombinedOutput(); err == nil || !strings.Contains(string(out), "2 load balancers run") {
		t.Errorf("vitals lb stats without a load balancer, with two running: %v\n%s", err, out)
	}

	// lb1's port is taken: a listener of lb2 on it is refused, and
	// nothing changes.
	_, port, _ := net.SplitHostPort(t1.addr)
	var p int
	fmt.Sscan(port, &p)
	_, err = listeners.Create(ctx, d.c, listeners.CreateOpts{Name: "clash", LoadbalancerID: t2.lb.ID, Protocol: listeners.ProtocolTCP, ProtocolPort: p}).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusConflict) || !strings.Contains(err.Error(), t1.listener.ID) {
		t.Errorf("a listener of lb2 on lb1's port: %v, want 409 naming lb1's listener", err)
	}
	d.waitActive(t, t2.lb.ID)

	// A session through lb2 stays open while lb1 is deleted.
	kept, err := net.DialTimeout("tcp", t2.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	kept.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(kept)
	if line, err := rd.ReadString('\n'); err != nil || line != "b\n" {
		t.Fatalf("session through lb2: %q, %v", line, err)
	}
	if err := loadbalancers.Delete(ctx, d.c, t1.lb.ID, loadbalancers.DeleteOpts{Cascade: true}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	d.poll(t, "lb1's listener closed", 15*time.Second, func() error {
		c, err := net.DialTimeout("tcp", t1.addr, time.Second)
		if err == nil {
			c.Close()
			return errors.New("lb1's listener still accepts")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		return nil
	})
	if _, err := io.WriteString(kept, "still here\n"); err != nil {
		t.Fatalf("the session through lb2 after lb1's delete: %v", err)
	}
	if line, err := rd.ReadString('\n'); err != nil || line != "still here\n" {
		t.Errorf("the session through lb2 after lb1's delete echoed %q, %v; want it intact", line, err)
	}
	if seen := greetings(t, t2.addr, 3); seen["b"] != 3 {
		t.Errorf("after lb1's delete, connections through lb2 reached %v", seen)
	}
	if l, err := loadbalancers.Get(ctx, d.c, t2.lb.ID).Extract(); err != nil || l.ProvisioningStatus != "ACTIVE" {
		t.Errorf("lb2 after lb1's delete: %+v, %v", l, err)
	}
}
