package octavia

import (
	"errors"
	"testing"
	"time"
)

// FuzzValidate feeds arbitrary field values to every Validate and to the
// relation checks: none may panic, and every error must be a field error
// that names a field and has a message.
func FuzzValidate(f *testing.F) {
	f.Add("HTTP", "GET", "/", "200", "1.1", "example.com", int64(5000), int64(3000), 3, 3, "10.0.0.1", 80, 1, "TCP", "ROUND_ROBIN", poolID)
	f.Add("TCP", "FETCH", "x", "2xx", "2", "-a", int64(-1), int64(0), 0, 11, "db1", 0, 257, "HTTP", "RANDOM", "pool1")
	f.Add("", "", "", "", "", "", int64(0), int64(0), 0, 0, "", -1, -1, "", "", "")
	f.Fuzz(func(t *testing.T, typ, method, path, codes, version, domain string, delayMS, timeoutMS int64, rise, fall int, addr string, port, weight int, proto, algo, id string) {
		h := NewHealthMonitor()
		h.Type, h.HTTPMethod, h.URLPath, h.ExpectedCodes, h.HTTPVersion, h.DomainName = typ, method, path, codes, version, domain
		h.Delay, h.Timeout, h.MaxRetries, h.MaxRetriesDown, h.PoolID = FromMillis(delayMS), time.Duration(timeoutMS), rise, fall, id
		h.ApplyDefaults()
		m := NewMember()
		m.Address, m.ProtocolPort, m.Weight, m.PoolID, m.MonitorAddress, m.MonitorPort = addr, port, weight, id, domain, port
		p := NewPool()
		p.Protocol, p.LBAlgorithm, p.LoadBalancerID, p.SessionPersistence = proto, algo, id, &SessionPersistence{Type: method}
		l := NewListener()
		l.Protocol, l.ProtocolPort, l.LoadBalancerID, l.AllowedCIDRs, l.TimeoutClientData = proto, port, id, []string{addr}, time.Duration(timeoutMS)
		lb := NewLoadBalancer()
		lb.VIPAddress, lb.Provider, lb.VIPSubnetID = addr, algo, id
		for _, err := range []error{h.Validate(), m.Validate(), p.Validate(), l.Validate(), lb.Validate(),
			CheckMonitorPool(&h, proto, DefaultSettings()), CheckListenerPool(&l, &p)} {
			if err == nil {
				continue
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, e := range es {
				if e.Field == "" || e.Msg == "" {
					t.Fatalf("field error without field or message: %+v", e)
				}
			}
		}
	})
}
