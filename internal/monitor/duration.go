package monitor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Seconds is a duration written as Octavia writes delay and timeout, an
// integer number of seconds ("5"), or as a Go duration string ("500ms",
// "1.5s"). Decoding never fails on a scalar: a value that is not a
// duration is kept in Raw and reported by Value, so that the error can
// name the object and field it belongs to.
type Seconds struct {
	// Raw is the value as written; "" when the field is absent.
	Raw string
	// Set reports whether the field was present (and not null).
	Set bool
}

// UnmarshalYAML records the scalar as written.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a number of seconds or a duration such as 500ms, not a %s", n.Line, kindName(n.Kind))}}
	}
	if n.Tag == "!!null" {
		*s = Seconds{}
		return nil
	}
	*s = Seconds{Raw: n.Value, Set: true}
	return nil
}

// SecondsOf returns d as a Seconds value, as if written in a config.
func SecondsOf(d time.Duration) Seconds {
	if d%time.Second == 0 {
		return Seconds{Raw: strconv.FormatInt(int64(d/time.Second), 10), Set: true}
	}
	return Seconds{Raw: d.String(), Set: true}
}

// Value parses Raw: digits are whole seconds, a decimal number is seconds
// ("1.5"), and anything else must be a Go duration ("500ms").
func (s Seconds) Value() (time.Duration, error) {
	return parseDuration(s.Raw, time.Second, "seconds")
}

// parseDuration reads a number of units or a Go duration string.
func parseDuration(raw string, unit time.Duration, unitName string) (time.Duration, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return 0, fmt.Errorf("is empty")
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
			return 0, fmt.Errorf("%s is too large", v)
		}
		return time.Duration(n) * unit, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXpP") {
		d := f * float64(unit)
		if math.IsNaN(d) || math.IsInf(d, 0) || d > math.MaxInt64 || d < math.MinInt64 {
			return 0, fmt.Errorf("%s is too large", v)
		}
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a number of %s nor a duration such as 500ms or 2s", raw, unitName)
	}
	return d, nil
}

// Milliseconds is a duration written as Octavia writes listener timeouts, an
// integer number of milliseconds ("50000"), or as a Go duration string
// ("50s"). Like Seconds, it keeps what was written for later validation.
type Milliseconds struct {
	// Raw is the value as written; "" when the field is absent.
	Raw string
	// Set reports whether the field was present (and not null).
	Set bool
}

// UnmarshalYAML records the scalar as written.
func (m *Milliseconds) UnmarshalYAML(n *yaml.Node) error {
	var s Seconds
	if err := s.UnmarshalYAML(n); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a number of milliseconds or a duration such as 50s, not a %s", n.Line, kindName(n.Kind))}}
	}
	*m = Milliseconds(s)
	return nil
}

// Value parses Raw: a number is milliseconds, anything else must be a Go
// duration ("50s").
func (m Milliseconds) Value() (time.Duration, error) {
	return parseDuration(m.Raw, time.Millisecond, "milliseconds")
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "value"
}
