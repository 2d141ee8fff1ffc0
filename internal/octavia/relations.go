package octavia

import (
	"slices"
	"strings"
)

// CheckMonitorPool checks the rules between a monitor and the protocol of
// the pool it monitors, with the operator's settings, in Octavia's
// wording. It assumes both passed Validate.
func CheckMonitorPool(h *HealthMonitor, poolProtocol string, s Settings) error {
	var v validator
	t, _ := LookupMonitorType(h.Type)
	if !slices.Contains(t.PoolProtocols, poolProtocol) {
		if poolProtocol == ProtocolUDP {
			var fit []string
			for _, mt := range monitorTypes {
				if mt.Supported && slices.Contains(mt.PoolProtocols, ProtocolUDP) {
					fit = append(fit, mt.Name)
				}
			}
			v.add(validationFailure("type", "The associated pool protocol is %s, so only a %s health monitor is supported.", poolProtocol, strings.Join(fit, "/")))
		} else {
			v.add(validationFailure("type", "The %s type is only supported for pools of type %s.", h.Type, strings.Join(t.PoolProtocols, "/")))
		}
	}
	if h.Type == MonitorPing && !s.AllowPing {
		v.add(disabledOption("type", MonitorPing))
	}
	if h.Type == MonitorUDPConnect && h.Delay < s.UDPConnectMinDelay {
		v.add(validationFailure("delay", "The request delay value %s should be larger than %s for %s health monitor type.", FormatDelay(h.Delay), FormatDelay(s.UDPConnectMinDelay), MonitorUDPConnect))
	}
	return v.err()
}

// listenerPools says which pool protocols a listener protocol can send
// to (Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP, for what vitals serves).
var listenerPools = map[string][]string{
	ProtocolTCP: {ProtocolTCP, ProtocolProxy, ProtocolProxyV2},
	ProtocolUDP: {ProtocolUDP},
}

// CheckListenerPool checks that p can be l's default pool: the same load
// balancer and a protocol the listener can send to.
func CheckListenerPool(l *Listener, p *Pool) error {
	var v validator
	if l.LoadBalancerID != p.LoadBalancerID {
		v.add(validationFailure("default_pool_id", "Pool %s is on load balancer %s, not on the listener's load balancer %s.", p.ID, p.LoadBalancerID, l.LoadBalancerID))
	}
	if !slices.Contains(listenerPools[l.Protocol], p.Protocol) {
		v.add(validationFailure("protocol", "The pool protocol '%s' is invalid while the listener protocol is '%s'.", p.Protocol, l.Protocol))
	}
	return v.err()
}
