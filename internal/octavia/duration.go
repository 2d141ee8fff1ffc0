package octavia

import (
	"math"
	"time"
)

// The API writes listener timeouts in integer milliseconds and monitor
// delays and timeouts in integer seconds; the model holds time.Duration.

// Millis returns d in whole milliseconds, as the API writes listener
// timeouts; a fraction of a millisecond is dropped.
func Millis(d time.Duration) int64 { return int64(d / time.Millisecond) }

// FromMillis returns ms milliseconds; it saturates instead of overflowing.
func FromMillis(ms int64) time.Duration { return scale(ms, time.Millisecond) }

// Seconds returns d in whole seconds for the API's integer delay and
// timeout, rounded up so that a positive sub-second delay never shows as
// 0 (the exact value travels in a millisecond extension field).
func Seconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	return s
}

// FromSeconds returns s seconds; it saturates instead of overflowing.
func FromSeconds(s int64) time.Duration { return scale(s, time.Second) }

func scale(n int64, unit time.Duration) time.Duration {
	switch {
	case n > math.MaxInt64/int64(unit):
		return math.MaxInt64
	case n < math.MinInt64/int64(unit):
		return math.MinInt64
	}
	return time.Duration(n) * unit
}
