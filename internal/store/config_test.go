package store

import (
	"reflect"
	"testing"
	"time"

	"vitals/internal/octavia"
)

func TestSameConfig(t *testing.T) {
	a := octavia.NewListener()
	a.ID, a.ProtocolPort, a.AllowedCIDRs = octavia.NewID(), 80, []string{}
	b := a
	b.ProvisioningStatus, b.OperatingStatus, b.UpdatedAt, b.AllowedCIDRs = octavia.ProvisioningActive, octavia.OperatingOnline, time.Now(), nil
	if !SameConfig(a, b) {
		t.Error("statuses, timestamps and an empty list made a difference")
	}
	b.ProtocolPort = 81
	if SameConfig(a, b) {
		t.Error("a port change made no difference")
	}
	if a.AllowedCIDRs == nil {
		t.Error("SameConfig changed its argument")
	}
}

func TestConfigOnly(t *testing.T) {
	m := octavia.NewMember()
	m.ID, m.CreatedAt, m.Tags = octavia.NewID(), time.Now(), []string{}
	s := Snapshot{Revision: 7, Members: []octavia.Member{m}}
	c := ConfigOnly(s)
	want := m
	want.ProvisioningStatus, want.OperatingStatus, want.CreatedAt, want.Tags = "", "", time.Time{}, nil
	if c.Revision != 0 || !reflect.DeepEqual(c.Members, []octavia.Member{want}) {
		t.Errorf("ConfigOnly = %+v", c)
	}
	if s.Members[0].CreatedAt.IsZero() || s.Members[0].ProvisioningStatus == "" {
		t.Error("ConfigOnly changed the snapshot it was given")
	}
}
