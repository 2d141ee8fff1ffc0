package probe

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// quantityForms is the hint that ends a message about a malformed quantity.
const quantityForms = `want a share such as "10%" or a size such as "512MiB", "1GiB", "500MB" or a number of bytes`

// quantity is a threshold on an amount that has a known total, such as free
// disk space: either a share of the total ("10%") or a number of bytes
// ("512MiB"). The zero value is the share 0%, which no reading is below.
type quantity struct {
	text    string  // as the user wrote it, trimmed; used in reasons
	isShare bool    // share rather than bytes
	share   float64 // percent of the total, 0 to 100, when isShare
	bytes   uint64  // when !isShare
}

// sizeUnits maps a lower-cased unit to its multiplier. Decimal units (kB,
// MB, …) are powers of 1000 and binary units (KiB, MiB, …) powers of 1024,
// as in IEC 80000-13. Single letters such as "M" are not accepted: they do
// not say which of the two is meant.
var sizeUnits = map[string]float64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"pb":  1e15,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
	"pib": 1 << 50,
}

// maxQuantityBytes bounds a size so that it converts exactly to a uint64.
const maxQuantityBytes = 1 << 63

// parseQuantity parses a share ("10%", "12.5%", from 0% to 100%) or a size:
// a decimal number ("512", "1.5") followed by an optional unit, B, kB, MB,
// GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024).
// Units are case-insensitive, spaces may surround the number and the unit,
// and a size with a fraction is rounded down to whole bytes. Signs,
// exponents, hexadecimal, NaN and infinities are rejected.
func parseQuantity(s string) (quantity, error) {
	text := strings.TrimSpace(s)
	end := 0
	for end < len(text) && (text[end] >= '0' && text[end] <= '9' || text[end] == '.') {
		end++
	}
	num, unit := text[:end], strings.TrimSpace(text[end:])
	if !isDecimal(num) {
		return quantity{}, fmt.Errorf("%q is not a share or a size; %s", s, quantityForms)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return quantity{}, fmt.Errorf("%q is not a share or a size; %s", s, quantityForms)
	}
	if unit == "%" {
		if v > 100 {
			return quantity{}, fmt.Errorf("%q is not a share from 0%% to 100%%", s)
		}
		return quantity{text: text, isShare: true, share: v}, nil
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return quantity{}, fmt.Errorf("%q has an unknown unit %q; %s", s, unit, quantityForms)
	}
	b := v * mult
	if b >= maxQuantityBytes {
		return quantity{}, fmt.Errorf("%q is too large", s)
	}
	return quantity{text: text, bytes: uint64(b)}, nil
}

// isDecimal reports whether s is digits with at most one inner decimal
// point, e.g. "12" or "0.5", but not "", ".5", "5." or "1.2.3".
func isDecimal(s string) bool {
	digits, dot := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	return digits > 0 && dot != 0 && dot != len(s)-1
}

// String returns the quantity as the user wrote it.
func (q quantity) String() string { return q.text }

// canonical returns a form that parses back to the same quantity: "12.5%"
// or a plain number of bytes.
func (q quantity) canonical() string {
	if q.isShare {
		return strconv.FormatFloat(q.share, 'f', -1, 64) + "%"
	}
	return strconv.FormatUint(q.bytes, 10)
}

// below reports whether have, out of total, is below the threshold. A
// share compares have/total with the share; a size compares have with it.
func (q quantity) below(have, total uint64) bool {
	if q.isShare {
		return percent(have, total) < q.share
	}
	return have < q.bytes
}

// reading formats have, out of total, in the threshold's own terms, so that
// it can be read against it: "42%" for a share and "1.2GiB" for a size. When
// have is below the threshold it never prints as the threshold itself
// ("10%" below "10%"): it gains decimals, or becomes exact bytes.
func (q quantity) reading(have, total uint64) string {
	if q.isShare {
		return fmtNear(percent(have, total), q.share, 0) + "%"
	}
	s := fmtBytes(have)
	if have < q.bytes && s == fmtBytes(q.bytes) {
		return strconv.FormatUint(have, 10) + " bytes"
	}
	return s
}

// percent returns part as a percentage of total; 0 when total is 0.
func percent(part, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return float64(part) / float64(total) * 100
}

// fmtNear formats v with at least dec decimals, adding decimals (up to 6)
// while v would print the same as limit, so that a reading just past a
// threshold does not read as equal to it.
func fmtNear(v, limit float64, dec int) string {
	for d := dec; d <= 6; d++ {
		s := strconv.FormatFloat(v, 'f', d, 64)
		if v == limit || s != strconv.FormatFloat(limit, 'f', d, 64) {
			return s
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// fmtBytes formats b with a binary unit and at most one decimal: "900B",
// "1.5KiB", "512MiB", "6.2GiB".
func fmtBytes(b uint64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return strconv.FormatUint(b, 10) + "B"
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + units[i:i+1] + "iB"
}
