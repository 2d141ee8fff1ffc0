package probe

import (
	"testing"
	"time"
)

func TestFormatMS(t *testing.T) {
	for d, want := range map[time.Duration]string{
		946 * time.Microsecond:  "0.946ms",
		7 * time.Millisecond:    "7.000ms",
		1620 * time.Microsecond: "1.620ms",
		1500 * time.Nanosecond:  "0.001ms",
		2 * time.Second:         "2000.000ms",
	} {
		if got := FormatMS(d); got != want {
			t.Errorf("FormatMS(%s) = %s, want %s", d, got, want)
		}
	}
}
