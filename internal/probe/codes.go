package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The status codes a CodeSet can hold.
const (
	minCode = 100
	maxCode = 599
)

// codesGrammar is the hint that ends a message about a malformed item.
const codesGrammar = `want e.g. "200", "200,202", "200-204" or "200-204,301"`

// CodeSet is a set of HTTP status codes from 100 to 599, the parsed form of
// an expected_codes value. The zero value holds no code. CodeSets are small
// values: copy and compare them with ==.
type CodeSet struct {
	bits [(maxCode - minCode + 64) / 64]uint64 // bit i is code minCode+i
}

// ParseCodes parses an expected_codes value. It accepts Octavia's grammar,
// a code ("200"), a comma list ("200,202") or a range ("200-204"), and its
// superset, a comma list of codes and ranges ("200-204,301"). Spaces and
// tabs may surround items. Each code has 3 digits from 100 to 599, and a
// range must not start after it ends. An empty value is an error: the
// caller applies the default ("200").
func ParseCodes(s string) (CodeSet, error) {
	var c CodeSet
	if strings.Trim(s, " \t") == "" {
		return c, errors.New("is empty; " + codesGrammar)
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.Trim(item, " \t")
		if item == "" {
			return CodeSet{}, fmt.Errorf("%q has an empty item; remove the extra comma", s)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			code, err := parseCode(item)
			if err != nil {
				return CodeSet{}, err
			}
			c.add(code, code)
			continue
		}
		lo, hi = strings.Trim(lo, " \t"), strings.Trim(hi, " \t")
		if !allDigits(lo) || !allDigits(hi) {
			return CodeSet{}, fmt.Errorf("%q is not a status code or range (%s)", item, codesGrammar)
		}
		first, err := parseCode(lo)
		if err != nil {
			return CodeSet{}, fmt.Errorf("range %q: %w", item, err)
		}
		last, err := parseCode(hi)
		if err != nil {
			return CodeSet{}, fmt.Errorf("range %q: %w", item, err)
		}
		if first > last {
			return CodeSet{}, fmt.Errorf("range %q: start %d is greater than end %d; write \"%d-%d\"", item, first, last, last, first)
		}
		c.add(first, last)
	}
	return c, nil
}

// parseCode parses one 3-digit status code.
func parseCode(s string) (int, error) {
	if !allDigits(s) {
		return 0, fmt.Errorf("%q is not a status code or range (%s)", s, codesGrammar)
	}
	n, err := strconv.Atoi(s)
	if len(s) != 3 || err != nil || n < minCode || n > maxCode {
		return 0, fmt.Errorf("%q is not a status code: want 3 digits from %d to %d", s, minCode, maxCode)
	}
	return n, nil
}

// allDigits reports whether s is a non-empty run of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// add puts the codes first through last, both valid, into c.
func (c *CodeSet) add(first, last int) {
	for code := first; code <= last; code++ {
		i := code - minCode
		c.bits[i/64] |= 1 << (i % 64)
	}
}

// Contains reports whether code is in the set. Codes outside 100..599 never
// are.
func (c CodeSet) Contains(code int) bool {
	if code < minCode || code > maxCode {
		return false
	}
	i := code - minCode
	return c.bits[i/64]&(1<<(i%64)) != 0
}

// IsZero reports whether the set holds no code, as the zero value does.
func (c CodeSet) IsZero() bool { return c == CodeSet{} }

// String returns the canonical form of the set: ascending, comma-separated,
// with runs of three or more codes written as ranges, e.g. "200-204,301,302".
// ParseCodes reads it back to an equal set. The zero value gives "".
func (c CodeSet) String() string {
	var b strings.Builder
	for code := minCode; code <= maxCode; code++ {
		if !c.Contains(code) {
			continue
		}
		last := code
		for last < maxCode && c.Contains(last+1) {
			last++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		switch last - code {
		case 0:
			fmt.Fprintf(&b, "%d", code)
		case 1:
			fmt.Fprintf(&b, "%d,%d", code, last)
		default:
			fmt.Fprintf(&b, "%d-%d", code, last)
		}
		code = last
	}
	return b.String()
}
