package health

import (
	"encoding/json"
	"testing"
)

func TestMemberStatus(t *testing.T) {
	tests := []struct {
		name       string
		adminUp    bool
		weight     int
		hasMonitor bool
		state      State
		want       OperatingStatus
	}{
		{"admin down wins over passing checks", false, 1, true, Up, Offline},
		{"admin down wins over no monitor", false, 1, false, Unknown, Offline},
		{"admin down wins over weight 0", false, 0, true, Up, Offline},
		{"no monitor", true, 1, false, Unknown, NoMonitor},
		{"no monitor at weight 0 drains", true, 0, false, Unknown, Draining},
		{"not yet checked is offline", true, 1, true, Unknown, Offline},
		{"not yet checked at weight 0 is offline", true, 0, true, Unknown, Offline},
		{"passing", true, 1, true, Up, Online},
		{"passing at weight 256", true, 256, true, Up, Online},
		{"failing", true, 1, true, Down, Error},
		{"passing at weight 0 drains", true, 0, true, Up, Draining},
		{"failing at weight 0 is an error", true, 0, true, Down, Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MemberStatus(tt.adminUp, tt.weight, tt.hasMonitor, tt.state); got != tt.want {
				t.Errorf("MemberStatus(%v, %d, %v, %s) = %s, want %s", tt.adminUp, tt.weight, tt.hasMonitor, tt.state, got, tt.want)
			}
		})
	}
}

// statuses is shorthand: O online, E error, F offline, D draining, N no
// monitor, G degraded.
func statuses(s string) []OperatingStatus {
	m := map[rune]OperatingStatus{'O': Online, 'E': Error, 'F': Offline, 'D': Draining, 'N': NoMonitor, 'G': Degraded}
	var out []OperatingStatus
	for _, c := range s {
		out = append(out, m[c])
	}
	return out
}

func TestPoolStatus(t *testing.T) {
	tests := []struct {
		name    string
		adminUp bool
		members string
		want    OperatingStatus
	}{
		{"admin down", false, "OO", Offline},
		{"admin down with failing members", false, "EE", Offline},
		{"no members is online, as HAProxy's empty backend is UP", true, "", Online},
		{"all online", true, "OOO", Online},
		{"all no monitor", true, "NN", Online},
		{"one of three failing degrades", true, "OEO", Degraded},
		{"no monitor and failing degrades", true, "NE", Degraded},
		{"all failing is an error", true, "EEE", Error},
		{"draining does not degrade", true, "OD", Online},
		{"offline does not degrade", true, "OF", Online},
		{"only draining is an error: nothing takes new connections", true, "DD", Error},
		{"only offline is an error", true, "FF", Error},
		{"failing and draining is an error", true, "ED", Error},
		{"failing and not yet checked is an error", true, "EF", Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PoolStatus(tt.adminUp, statuses(tt.members)...); got != tt.want {
				t.Errorf("PoolStatus(%v, %s) = %s, want %s", tt.adminUp, tt.members, got, tt.want)
			}
		})
	}
}

func TestStatusCountsFollowMembers(t *testing.T) {
	var c StatusCounts
	c.Add(Online)
	c.Add(Online)
	if got := c.PoolStatus(true); got != Online {
		t.Fatalf("two online: %s", got)
	}
	c.Remove(Online)
	c.Add(Error)
	if got := c.PoolStatus(true); got != Degraded {
		t.Fatalf("online + error: %s", got)
	}
	c.Remove(Online)
	c.Add(Error)
	if got := c.PoolStatus(true); got != Error {
		t.Fatalf("two errors: %s", got)
	}
	if c.Total() != 2 {
		t.Fatalf("total %d, want 2", c.Total())
	}
}

func TestLoadBalancerStatus(t *testing.T) {
	tests := []struct {
		name    string
		adminUp bool
		pools   string
		want    OperatingStatus
	}{
		{"admin down", false, "O", Offline},
		{"no pools", true, "", Online},
		{"all pools online", true, "OO", Online},
		{"a degraded pool degrades", true, "OG", Degraded},
		{"an error pool is an error", true, "OGE", Error},
		{"error wins whatever the order", true, "EGO", Error},
		{"an admin-down pool does not count", true, "OF", Online},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LoadBalancerStatus(tt.adminUp, statuses(tt.pools)...); got != tt.want {
				t.Errorf("LoadBalancerStatus(%v, %s) = %s, want %s", tt.adminUp, tt.pools, got, tt.want)
			}
			if got := ListenerStatus(tt.adminUp, statuses(tt.pools)...); got != tt.want {
				t.Errorf("ListenerStatus(%v, %s) = %s, want %s", tt.adminUp, tt.pools, got, tt.want)
			}
		})
	}
}

// TestOneFailingMemberDegradesUpToTheLoadBalancer is issue item 6 at the
// level of the pure functions: one member ERROR makes its pool and the load
// balancer DEGRADED.
func TestOneFailingMemberDegradesUpToTheLoadBalancer(t *testing.T) {
	member := MemberStatus(true, 1, true, Down)
	pool := PoolStatus(true, Online, member)
	lb := LoadBalancerStatus(true, pool)
	if member != Error || pool != Degraded || lb != Degraded {
		t.Errorf("member %s pool %s load balancer %s, want ERROR DEGRADED DEGRADED", member, pool, lb)
	}
}

func TestOperatingStatusText(t *testing.T) {
	for _, s := range OperatingStatuses() {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back OperatingStatus
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: round trip gave %s, %v", s, back, err)
		}
	}
	want := map[OperatingStatus]string{Online: "ONLINE", Error: "ERROR", Offline: "OFFLINE", Draining: "DRAINING", NoMonitor: "NO_MONITOR", Degraded: "DEGRADED"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("%d.String() = %s, want %s", s, s, name)
		}
	}
	var zero OperatingStatus
	if zero != Offline {
		t.Errorf("zero value is %s, want OFFLINE", zero)
	}
	if _, err := OperatingStatus(99).MarshalText(); err == nil {
		t.Error("MarshalText accepted an invalid status")
	}
	if err := zero.UnmarshalText([]byte("online")); err == nil {
		t.Error("UnmarshalText accepted lower case")
	}
	if !Online.Usable() || !NoMonitor.Usable() || Draining.Usable() || Error.Usable() || Offline.Usable() {
		t.Error("Usable: want only ONLINE and NO_MONITOR")
	}
}
