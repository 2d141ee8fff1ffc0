package probe

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzQuantity checks that parseQuantity never panics, that what it accepts
// is in range and round-trips through its canonical form, and that a
// reading below the threshold never prints as the threshold.
func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"10%", "0%", "100%", "12.5%", " 10 % ", "512MiB", "1GiB", "500MB", "1.5KiB", "1048576",
		"", "%", ".5", "5.", "1e3", "0x10", "-1", "NaN", "150%", "9000PiB", "10 M", "1.2.3"} {
		f.Add(s, uint64(420), uint64(1000))
	}
	f.Add("10%", uint64(96), uint64(1000))
	f.Add("512MiB", uint64(512<<20-1), uint64(1<<40))
	f.Add("1%", uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, s string, have, total uint64) {
		q, err := parseQuantity(s)
		if err != nil {
			if q != (quantity{}) {
				t.Fatalf("parseQuantity(%q) returned %+v with error %v", s, q, err)
			}
			return
		}
		if q.text != strings.TrimSpace(s) {
			t.Fatalf("text %q, want %q", q.text, strings.TrimSpace(s))
		}
		if q.isShare && !(q.share >= 0 && q.share <= 100) || !q.isShare && q.bytes >= maxQuantityBytes {
			t.Fatalf("parseQuantity(%q) = %+v, out of range", s, q)
		}
		back, err := parseQuantity(q.canonical())
		if err != nil || back.isShare != q.isShare || back.share != q.share || back.bytes != q.bytes {
			t.Fatalf("canonical %q of %q parses to %+v, %v; want %+v", q.canonical(), s, back, err, q)
		}
		r := q.reading(have, total)
		if !q.below(have, total) {
			return
		}
		if q.isShare {
			v, err := strconv.ParseFloat(strings.TrimSuffix(r, "%"), 64)
			if err != nil || v == q.share {
				t.Fatalf("reading %q of %d/%d is below %q but prints as it", r, have, total, s)
			}
		} else if r == fmtBytes(q.bytes) {
			t.Fatalf("reading %q of %d bytes is below %q but prints as it", r, have, s)
		}
	})
}

// FuzzLoadavg checks that parseLoadavg never panics on junk and returns
// only finite, non-negative load averages.
func FuzzLoadavg(f *testing.F) {
	for _, s := range []string{"0.12 0.34 0.56 1/234 5678\n", "", "junk", "-1", "NaN", "Inf", "1e308", "0x1p3", "\x00\xff",
		strings.Repeat("9", 400) + ".5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseLoadavg(b)
		if err == nil && !(v >= 0 && v <= math.MaxFloat64) {
			t.Fatalf("parseLoadavg(%q) = %v", b, v)
		}
	})
}

// FuzzLoadMeminfo checks that parseMeminfo never panics on junk and that
// what it accepts is consistent.
func FuzzLoadMeminfo(f *testing.F) {
	for _, s := range []string{meminfo(16318412, 12000000), "", "junk", "MemTotal: 10 kB\nMemAvailable: 20 kB\n",
		"MemTotal:18446744073709551615 kB\nMemAvailable:1\n", "MemTotal: 0\nMemAvailable: 0\n", ":\n::\nMemTotal:\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		avail, total, err := parseMeminfo(b)
		if err == nil && (total == 0 || avail > total) {
			t.Fatalf("parseMeminfo(%q) = %d, %d", b, avail, total)
		}
	})
}

// FuzzExecFirstLine checks that the reason made from a command's output is
// one printable, trimmed, bounded line of valid UTF-8.
func FuzzExecFirstLine(f *testing.F) {
	for _, s := range []string{"", "ok\n", "\n\n  first  \nsecond", "a\x00b\x1b[31mred", "\xff\xfe", strings.Repeat("é", 150)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := firstLine(b)
		if !utf8.ValidString(s) || len(s) > maxExecReason+len("…") || s != strings.TrimSpace(s) && !strings.HasSuffix(s, "…") {
			t.Fatalf("firstLine(%q) = %q", b, s)
		}
		if strings.ContainsFunc(s, unicode.IsControl) {
			t.Fatalf("firstLine(%q) = %q has a control character", b, s)
		}
	})
}
