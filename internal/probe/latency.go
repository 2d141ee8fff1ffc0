package probe

import (
	"strconv"
	"time"
)

// FormatMS writes a latency in milliseconds with three decimals (whole
// microseconds), the unit of the JSON outputs' latency_ms: 0.946ms,
// 7.000ms, 1000.000ms. Every text output of a latency uses it, so one
// command never mixes µs, ms and s.
func FormatMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64) + "ms"
}
