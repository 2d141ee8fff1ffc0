package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"vitals/internal/probe"
)

// The replication state of every mysql and postgres check, read at scrape
// time from the same views as the endpoints:
//
//	vitals_agent_check_role{check,role}                  1 for the role the check's latest run read (primary or replica), 0 for the other; both 0 when unknown
//	vitals_agent_check_replication_lag_bytes{check}      PostgreSQL: WAL received but not yet replayed; absent when unknown
//	vitals_agent_check_replication_lag_seconds{check}    replay delay (MySQL: Seconds_Behind_Source); absent when unknown
var (
	descRole       = prometheus.NewDesc("vitals_agent_check_role", "1 for the replication role the check's latest run read (primary or replica); both 0 when unknown.", []string{"check", "role"}, nil)
	descLagBytes   = prometheus.NewDesc("vitals_agent_check_replication_lag_bytes", "WAL received but not yet replayed (PostgreSQL), as the check's latest run read it.", []string{"check"}, nil)
	descLagSeconds = prometheus.NewDesc("vitals_agent_check_replication_lag_seconds", "Replication replay delay (MySQL: Seconds_Behind_Source), as the check's latest run read it.", []string{"check"}, nil)
)

// roleCollector reports the replication state of the database checks.
type roleCollector struct{ m *metrics }

func (c roleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRole
	ch <- descLagBytes
	ch <- descLagSeconds
}

func (c roleCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.views.Load()
	if f == nil {
		return
	}
	for _, v := range (*f)() {
		if !hasRoles(v.Type) {
			continue
		}
		for _, role := range []string{probe.RolePrimary, probe.RoleReplica} {
			val := 0.0
			if v.DB != nil && v.DB.Role == role {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(descRole, prometheus.GaugeValue, val, v.Name, role)
		}
		if v.DB == nil {
			continue
		}
		if b := v.DB.LagBytes; b != nil {
			ch <- prometheus.MustNewConstMetric(descLagBytes, prometheus.GaugeValue, float64(*b), v.Name)
		}
		if s := v.DB.LagSeconds; s != nil {
			ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, *s, v.Name)
		}
	}
}
