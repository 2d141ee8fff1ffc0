package controller

import (
	"errors"
	"fmt"
	"slices"

	"vitals/internal/lb"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/probe"
	"vitals/internal/store"
)

// ToConfig converts a store snapshot into the *lb.Config that the running
// lb applies (lb.Server.Apply, monitor.Engine.Update through lb's control),
// the reverse of lbyaml.FromConfig. base carries what the model does not:
// the process settings (admin, api_settings, monitor, shutdown_grace,
// File, Loaded); they are copied as they are.
//
// The result is in the form lb.Parse returns: defaults applied, every
// pointer field set, each monitor built by monitor.NewMonitor (the gate
// the file's monitors pass too, which also checks what only this machine
// can tell, e.g. that a ca_file can be read). The YAML-only
// Pool.HealthMonitor is left nil. The decode-only fields (the listener's Timeout* strings) are
// left empty. Objects PENDING_DELETE are left out. Order is the store's
// (created_at, then id), which is file order for an imported file.
//
// Every live load balancer becomes one of lb.Config's LoadBalancers, in
// the store's order. lb.Config refers to pools by name within their load
// balancer: ToConfig refuses (with an error naming the object) a pool a
// listener uses whose name is empty or not unique in its load balancer,
// and a listener protocol other than TCP. Listeners of different load
// balancers on one address and port are left to lb.Server.Apply, which
// refuses them as it refuses a port that cannot bind. An empty store
// gives no load balancer.
func ToConfig(snap store.Snapshot, base *lb.Config) (*lb.Config, error) {
	if base == nil {
		return nil, errors.New("controller: no base configuration (the process settings)")
	}
	out := *base
	out.LoadBalancer, out.LoadBalancers = nil, nil
	monitors := map[string]octavia.HealthMonitor{}
	for _, h := range live(snap.HealthMonitors) {
		monitors[h.PoolID] = h
	}
	members := live(snap.Members)
	pools, listeners := live(snap.Pools), live(snap.Listeners)
	for _, ml := range live(snap.LoadBalancers) {
		l, err := loadBalancer(ml, pools, listeners, members, monitors, base)
		if err != nil {
			return nil, err
		}
		out.LoadBalancers = append(out.LoadBalancers, l)
	}
	return &out, nil
}

// loadBalancer maps one load balancer of a snapshot with its pools (their
// monitors and members) and listeners.
func loadBalancer(ml octavia.LoadBalancer, pools []octavia.Pool, listeners []octavia.Listener, members []octavia.Member, monitors map[string]octavia.HealthMonitor, base *lb.Config) (*lb.LoadBalancer, error) {
	l := &lb.LoadBalancer{ID: ml.ID, Name: ml.Name, AdminStateUp: ptr(ml.AdminStateUp), VIPAddress: ml.VIPAddress}
	if l.VIPAddress == "" {
		l.VIPAddress = "0.0.0.0"
	}
	poolNames := map[string]string{} // pool ID → name
	nameCount := map[string]int{}
	for _, mp := range pools {
		if mp.LoadBalancerID != ml.ID {
			continue
		}
		p := lb.Pool{ID: mp.ID, Name: mp.Name, Protocol: mp.Protocol, LBAlgorithm: mp.LBAlgorithm, AdminStateUp: ptr(mp.AdminStateUp),
			FailOpen: mp.FailOpen, OnMemberDown: mp.OnMemberDown}
		if p.OnMemberDown == "" {
			p.OnMemberDown = lb.ShutdownSessions
		}
		if h, ok := monitors[mp.ID]; ok {
			m, err := monitor.NewMonitor(h, monitorProtocol(mp.Protocol), base.Settings)
			if err != nil {
				var fe *probe.FieldError
				if errors.As(err, &fe) {
					err = fmt.Errorf("%s %s", fe.Field, fe.Msg)
				}
				return nil, fmt.Errorf("healthmonitor %s of pool %s: %w", h.ID, label(mp.Name, mp.ID), err)
			}
			p.Monitor = m
		}
		for _, mm := range members {
			if mm.PoolID != mp.ID {
				continue
			}
			m := lb.Member{ID: mm.ID, Name: mm.Name, Address: mm.Address, ProtocolPort: mm.ProtocolPort, Weight: ptr(mm.Weight),
				Backup: mm.Backup, AdminStateUp: ptr(mm.AdminStateUp), MonitorAddress: mm.MonitorAddress}
			if mm.MonitorPort != 0 {
				m.MonitorPort = ptr(mm.MonitorPort)
			}
			p.Members = append(p.Members, m)
		}
		l.Pools = append(l.Pools, p)
		poolNames[mp.ID] = mp.Name
		nameCount[mp.Name]++
	}

	for _, ms := range listeners {
		if ms.LoadBalancerID != ml.ID {
			continue
		}
		if ms.Protocol != octavia.ProtocolTCP {
			return nil, fmt.Errorf("listener %s: protocol %s is not served; vitals lb listens on TCP", label(ms.Name, ms.ID), ms.Protocol)
		}
		ls := lb.Listener{ID: ms.ID, Name: ms.Name, Protocol: ms.Protocol, ProtocolPort: ms.ProtocolPort, Address: ms.BindAddress,
			ConnectionLimit: ptr(ms.ConnectionLimit), AdminStateUp: ptr(ms.AdminStateUp),
			ClientData: ms.TimeoutClientData, MemberConnect: ms.TimeoutMemberConnect, MemberData: ms.TimeoutMemberData,
			WriteStall: ms.TimeoutWriteStall, ConnectionLog: ms.ConnectionLog}
		if ls.Address == "" {
			ls.Address = l.VIPAddress
		}
		if id := ms.DefaultPoolID; id != "" {
			name, ok := poolNames[id]
			switch {
			case !ok:
				return nil, fmt.Errorf("listener %s: default pool %s is not a pool of load balancer %s", label(ms.Name, ms.ID), id, ml.ID)
			case name == "" || nameCount[name] > 1:
				return nil, fmt.Errorf("listener %s: its default pool %s needs a name no other pool of the load balancer has (lb.Config refers to pools by name)", label(ms.Name, ms.ID), id)
			}
			ls.DefaultPool = name
		}
		l.Listeners = append(l.Listeners, ls)
	}
	return l, nil
}

// live returns the objects that are not being deleted.
func live[T store.Resource](xs []T) []T {
	return slices.DeleteFunc(slices.Clone(xs), func(x T) bool {
		return store.MetaOf(&x).ProvisioningStatus == octavia.ProvisioningPendingDelete
	})
}

// monitorProtocol is the protocol a pool's monitor checks: a PROXY pool's
// members speak TCP (as lb's own validation decides).
func monitorProtocol(poolProtocol string) string {
	if poolProtocol == octavia.ProtocolProxy || poolProtocol == octavia.ProtocolProxyV2 {
		return monitor.ProtocolTCP
	}
	return poolProtocol
}

func label(name, id string) string {
	if name != "" {
		return fmt.Sprintf("%q (%s)", name, id)
	}
	return id
}

func ptr[T any](v T) *T { return &v }
