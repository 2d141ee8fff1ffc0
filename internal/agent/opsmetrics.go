package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// registerOpsMetrics adds the operator's view to the agent's registry: the
// maintenance and drain state, read at scrape time, and the Go runtime's
// and the process's collectors (go_*, process_*), as vitals lb has them.
//
//	vitals_agent_maintenance   1 while the agent is in maintenance (every endpoint 503)
//	vitals_agent_drain         1 while the agent drains (endpoints answer drain_code)
func (a *Agent) registerOpsMetrics() {
	flag := func(on bool) float64 {
		if on {
			return 1
		}
		return 0
	}
	a.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vitals_agent_maintenance",
			Help: "1 while the agent is in maintenance (vitals agent maintenance on): every endpoint answers 503.",
		}, func() float64 { return flag(a.admin.Load().Maintenance) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vitals_agent_drain",
			Help: "1 while the agent drains (vitals agent drain on): endpoints answer drain_code.",
		}, func() float64 { return flag(a.admin.Load().Drain) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}
