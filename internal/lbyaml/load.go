package lbyaml

import (
	"fmt"
	"slices"

	"vitals/internal/lb"
	"vitals/internal/monitor"
	"vitals/internal/octavia"
	"vitals/internal/store"
)

// The file is decoded and validated by internal/lb (lb.LoadFile, lb.Parse):
// its strict decoder and its errors, which name file, line, object and
// field, stay the one description of the YAML format. This package maps
// the validated *lb.Config onto the model and checks the result with the
// model's own validation, so that whatever a file may say is also a valid
// model tree.
//
// IDs are lb's derived IDs (lb.DeriveID of the load balancer's name and
// the object's name, port or address), so a file loads to the same IDs
// every time, and file mode keeps the IDs it has always shown.

// LoadFile reads, decodes and validates a config file and returns it both
// as lb runs it and as a model tree (Revision 0).
func LoadFile(path string) (*lb.Config, store.Snapshot, error) {
	c, err := lb.LoadFile(path)
	if err != nil {
		return nil, store.Snapshot{}, err
	}
	t, err := FromConfig(c)
	if err != nil {
		return nil, store.Snapshot{}, err
	}
	return c, t, nil
}

// Parse is LoadFile for data already read; name is used in messages.
func Parse(name string, data []byte) (*lb.Config, store.Snapshot, error) {
	c, err := lb.Parse(name, data)
	if err != nil {
		return nil, store.Snapshot{}, err
	}
	t, err := FromConfig(c)
	if err != nil {
		return nil, store.Snapshot{}, err
	}
	return c, t, nil
}

// ModelError is a config that lb accepts and the model refuses: the two
// validations disagree, which is a bug in one of them.
type ModelError struct {
	File   string
	Object string // e.g. `pool "web"`
	Err    error  // octavia.Errors
}

func (e *ModelError) Error() string {
	return fmt.Sprintf("%s: %s: the model refuses what the file format accepts (a vitals bug, please report it): %v", e.File, e.Object, e.Err)
}

func (e *ModelError) Unwrap() error { return e.Err }

// Settings returns the operator settings of c for the model's checks.
func Settings(c *lb.Config) octavia.Settings {
	return octavia.Settings{AllowPing: c.Settings.AllowPing, UDPConnectMinDelay: c.Settings.UDPConnectMinDelay}
}

// FromConfig maps a validated config (from lb.LoadFile or lb.Parse) onto
// the model: every load balancer with its listeners, pools, members and
// monitors, in file order, every object ProvisioningStatus
// PENDING_CREATE and OperatingStatus OFFLINE (octavia.NewX). Each object
// is checked with Validate, monitors with CheckMonitorPool and listeners
// with CheckListenerPool; a refusal is a *ModelError.
func FromConfig(c *lb.Config) (store.Snapshot, error) {
	var t store.Snapshot
	for _, l := range c.LoadBalancers {
		if err := fromLoadBalancer(c, l, &t); err != nil {
			return t, err
		}
	}
	return t, nil
}

// fromLoadBalancer maps one load balancer of c onto t.
func fromLoadBalancer(c *lb.Config, l *lb.LoadBalancer, t *store.Snapshot) error {
	check := func(object string, err error) error {
		if err != nil {
			return &ModelError{File: c.File, Object: object, Err: err}
		}
		return nil
	}

	mlb := octavia.NewLoadBalancer()
	mlb.ID, mlb.Name, mlb.AdminStateUp, mlb.VIPAddress = l.ID, l.Name, l.Up(), l.VIPAddress
	if err := check(fmt.Sprintf("loadbalancer %q", l.Name), mlb.Validate()); err != nil {
		return err
	}
	t.LoadBalancers = append(t.LoadBalancers, mlb)

	settings := Settings(c)
	poolByName := map[string]*octavia.Pool{}
	for i := range l.Pools {
		p := &l.Pools[i]
		obj := fmt.Sprintf("pool %q", p.Name)
		mp := octavia.NewPool()
		mp.ID, mp.Name, mp.LoadBalancerID, mp.AdminStateUp = p.ID, p.Name, l.ID, p.Up()
		mp.Protocol, mp.LBAlgorithm, mp.FailOpen, mp.OnMemberDown = p.Protocol, p.LBAlgorithm, p.FailOpen, p.OnMemberDown
		if err := check(obj, mp.Validate()); err != nil {
			return err
		}
		t.Pools = append(t.Pools, mp)
		poolByName[p.Name] = &mp
		if m := p.Monitor; m != nil {
			h := monitorFrom(m, p.ID)
			hobj := "healthmonitor of " + obj
			if err := check(hobj, h.Validate()); err != nil {
				return err
			}
			if err := check(hobj, octavia.CheckMonitorPool(&h, mp.Protocol, settings)); err != nil {
				return err
			}
			t.HealthMonitors = append(t.HealthMonitors, h)
		}
		for j := range p.Members {
			m := &p.Members[j]
			mm := octavia.NewMember()
			mm.ID, mm.Name, mm.PoolID, mm.AdminStateUp = m.ID, m.Name, p.ID, m.Up()
			mm.Address, mm.ProtocolPort, mm.Weight, mm.Backup = m.Address, m.ProtocolPort, m.WeightOr1(), m.Backup
			mm.MonitorAddress = m.MonitorAddress
			if m.MonitorPort != nil {
				mm.MonitorPort = *m.MonitorPort
			}
			if err := check(fmt.Sprintf("member %s of %s", m.Label(), obj), mm.Validate()); err != nil {
				return err
			}
			t.Members = append(t.Members, mm)
		}
	}

	for i := range l.Listeners {
		ls := &l.Listeners[i]
		obj := "listener " + ls.Label()
		ml := octavia.NewListener()
		ml.ID, ml.Name, ml.LoadBalancerID, ml.AdminStateUp = ls.ID, ls.Name, l.ID, ls.Up()
		ml.Protocol, ml.ProtocolPort, ml.ConnectionLog = ls.Protocol, ls.ProtocolPort, ls.ConnectionLog
		if ls.ConnectionLimit != nil {
			ml.ConnectionLimit = *ls.ConnectionLimit
		}
		if ls.Address != l.VIPAddress {
			ml.BindAddress = ls.Address
		}
		ml.TimeoutClientData, ml.TimeoutMemberConnect, ml.TimeoutMemberData, ml.TimeoutWriteStall = ls.ClientData, ls.MemberConnect, ls.MemberData, ls.WriteStall
		if ls.DefaultPool != "" {
			ml.DefaultPoolID = poolByName[ls.DefaultPool].ID
		}
		if err := check(obj, ml.Validate()); err != nil {
			return err
		}
		if p := poolByName[ls.DefaultPool]; p != nil {
			if err := check(obj, octavia.CheckListenerPool(&ml, p)); err != nil {
				return err
			}
		}
		t.Listeners = append(t.Listeners, ml)
	}
	return nil
}

// monitorFrom returns lb's resolved monitor (defaults applied) as the
// model's: the monitor is the model's health monitor, with the statuses
// of a new object.
func monitorFrom(m *monitor.Monitor, poolID string) octavia.HealthMonitor {
	h := m.HealthMonitor
	fresh := octavia.NewHealthMonitor()
	h.PoolID, h.ProvisioningStatus, h.OperatingStatus = poolID, fresh.ProvisioningStatus, fresh.OperatingStatus
	h.Tags = slices.Clone(h.Tags)
	return h
}
