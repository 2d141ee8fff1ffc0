package lb

import (
	"strings"
	"testing"
)

// twoLBs is a file with two load balancers whose pools have the same
// name: pools are named within their load balancer.
const twoLBs = `loadbalancers:
  - name: a
    vip_address: 127.0.0.1
    listeners:
      - {name: web, protocol: TCP, protocol_port: 18001, default_pool: p}
    pools:
      - name: p
        lb_algorithm: ROUND_ROBIN
        members:
          - {address: 127.0.0.1, protocol_port: 19001}
  - name: b
    vip_address: 127.0.0.1
    listeners:
      - {name: web, protocol: TCP, protocol_port: 18002, default_pool: p}
    pools:
      - name: p
        lb_algorithm: LEAST_CONNECTIONS
        members:
          - {address: 127.0.0.1, protocol_port: 19002}
`

// TestParseLoadBalancers: loadbalancers: runs each load balancer with
// its own pools, IDs derived from each one's names as loadbalancer:
// derives them; loadbalancer: is moved into LoadBalancers.
func TestParseLoadBalancers(t *testing.T) {
	c, err := Parse("x.yaml", []byte(twoLBs))
	if err != nil {
		t.Fatal(err)
	}
	if c.LoadBalancer != nil || len(c.LoadBalancers) != 2 {
		t.Fatalf("LoadBalancer %v, %d LoadBalancers; want nil and 2", c.LoadBalancer, len(c.LoadBalancers))
	}
	a, b := c.LoadBalancers[0], c.LoadBalancers[1]
	if a.ID != DeriveID("loadbalancer", "a") || b.ID != DeriveID("loadbalancer", "b") {
		t.Errorf("IDs %s, %s are not derived from the names", a.ID, b.ID)
	}
	if a.Pools[0].ID == b.Pools[0].ID || a.Listeners[0].ID == b.Listeners[0].ID || a.Pools[0].Members[0].ID == b.Pools[0].Members[0].ID {
		t.Error("objects of the same name in two load balancers share an ID")
	}
	if p := b.Pool(b.Listeners[0].DefaultPool); p == nil || p.LBAlgorithm != "LEAST_CONNECTIONS" {
		t.Errorf("b's listener resolves its pool to %+v, want b's own", p)
	}
	if n := len(c.MonitorPools()); n != 2 {
		t.Errorf("%d monitor pools, want 2", n)
	}
	if lbs, listeners, pools, members, _ := c.Counts(); lbs != 2 || listeners != 2 || pools != 2 || members != 2 {
		t.Errorf("counts %d %d %d %d", lbs, listeners, pools, members)
	}
	one, err := Parse("y.yaml", []byte(strings.Replace(twoLBs[strings.Index(twoLBs, "  - name: a"):strings.Index(twoLBs, "  - name: b")], "  - name: a", "loadbalancer:\n    name: a", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if one.LoadBalancer != nil || len(one.LoadBalancers) != 1 || one.LoadBalancers[0].ID != a.ID || one.LoadBalancers[0].Listeners[0].ID != a.Listeners[0].ID {
		t.Errorf("loadbalancer: gives %+v, want a with the same IDs", one.LoadBalancers)
	}
}

// TestParseLoadBalancersRefuses: each error is one line naming the file,
// the line and the field.
func TestParseLoadBalancersRefuses(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"both keys", "loadbalancer:\n  name: x\n" + twoLBs, `x.yaml:3: loadbalancers cannot be given with loadbalancer:`},
		{"duplicate names", strings.Replace(twoLBs, "name: b", "name: a", 1), `x.yaml:11: loadbalancer "a": name is used by loadbalancer 1; names must be unique`},
		{"no name", strings.Replace(twoLBs, "  - name: b\n    vip_address: 127.0.0.1\n", "  - vip_address: 127.0.0.1\n", 1), `x.yaml:11: loadbalancer 2: name is required in loadbalancers`},
		{"same port", strings.Replace(twoLBs, "18002", "18001", 1), `x.yaml:14: listener "web" of loadbalancer "b": protocol_port 18001 is used by listener "web" of loadbalancer "a"; a port can have only one listener`},
		{"wildcard over another", strings.Replace(strings.Replace(twoLBs, "18002", "18001", 1), "protocol_port: 18001, default_pool: p}\n    pools:\n      - name: p\n        lb_algorithm: LEAST", "protocol_port: 18001, default_pool: p, address: 0.0.0.0}\n    pools:\n      - name: p\n        lb_algorithm: LEAST", 1), `x.yaml:14: listener "web" of loadbalancer "b": address 0.0.0.0:18001 overlaps listener "web" of loadbalancer "a" on 127.0.0.1:18001`},
		{"empty list", "loadbalancers: []\n", `x.yaml:1: loadbalancers is empty`},
		{"a mapping", "loadbalancers:\n  name: a\n", `x.yaml:1: loadbalancers must be a list of load balancers`},
		{"pool of the other", strings.Replace(twoLBs, "protocol_port: 18002, default_pool: p}", "protocol_port: 18002, default_pool: q}", 1), `x.yaml:14: listener "web" of loadbalancer "b": default_pool "q" is not a pool of this load balancer`},
	} {
		_, err := Parse("x.yaml", []byte(tt.yaml))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v\nwant one line starting %q", tt.name, err, tt.want)
		}
	}
}
