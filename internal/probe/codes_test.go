package probe

import "testing"

func TestParseCodes(t *testing.T) {
	for _, tc := range []struct {
		in, canon string
		in1, out  []int // codes that must and must not be in the set
	}{
		{"200", "200", []int{200}, []int{199, 201}},
		{"200,202", "200,202", []int{200, 202}, []int{201}},
		{"200 , 202", "200,202", []int{200, 202}, []int{201}},
		{"200\t,\t202 ", "200,202", []int{200, 202}, []int{201}},
		{"200-204", "200-204", []int{200, 202, 204}, []int{199, 205}},
		{"200 - 204", "200-204", []int{200, 204}, []int{205}},
		{"200-204,301", "200-204,301", []int{204, 301}, []int{205, 300, 302}},
		{"301,200-204", "200-204,301", []int{204, 301}, []int{205}},
		{"200,201", "200,201", []int{200, 201}, []int{202}},
		{"200,201,202", "200-202", []int{200, 201, 202}, []int{203}},
		{"200-200", "200", []int{200}, []int{201}},
		{"200,200-204,203", "200-204", []int{200, 204}, []int{205}},
		{"100-599", "100-599", []int{100, 599}, []int{99, 600, 0, -1}},
		{"599", "599", []int{599}, []int{600}},
		{"100", "100", []int{100}, []int{99}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseCodes(tc.in)
			if err != nil {
				t.Fatalf("ParseCodes(%q): %v", tc.in, err)
			}
			if got := c.String(); got != tc.canon {
				t.Errorf("String() = %q, want %q", got, tc.canon)
			}
			for _, code := range tc.in1 {
				if !c.Contains(code) {
					t.Errorf("Contains(%d) = false", code)
				}
			}
			for _, code := range tc.out {
				if c.Contains(code) {
					t.Errorf("Contains(%d) = true", code)
				}
			}
			if c.IsZero() {
				t.Error("IsZero() = true")
			}
		})
	}
}

func TestParseCodesErrors(t *testing.T) {
	const grammar = `(want e.g. "200", "200,202", "200-204" or "200-204,301")`
	for _, tc := range []struct{ in, msg string }{
		{"", `is empty; want e.g. "200", "200,202", "200-204" or "200-204,301"`},
		{"  ", `is empty; want e.g. "200", "200,202", "200-204" or "200-204,301"`},
		{"204-200", `range "204-200": start 204 is greater than end 200; write "200-204"`},
		{"200,599-500", `range "599-500": start 599 is greater than end 500; write "500-599"`},
		{"20", `"20" is not a status code: want 3 digits from 100 to 599`},
		{"2000", `"2000" is not a status code: want 3 digits from 100 to 599`},
		{"600", `"600" is not a status code: want 3 digits from 100 to 599`},
		{"099", `"099" is not a status code: want 3 digits from 100 to 599`},
		{"abc", `"abc" is not a status code or range ` + grammar},
		{"2xx", `"2xx" is not a status code or range ` + grammar},
		{"+200", `"+200" is not a status code or range ` + grammar},
		{"200,,201", `"200,,201" has an empty item; remove the extra comma`},
		{"200,", `"200," has an empty item; remove the extra comma`},
		{",200", `",200" has an empty item; remove the extra comma`},
		{"200-", `"200-" is not a status code or range ` + grammar},
		{"-200", `"-200" is not a status code or range ` + grammar},
		{"200-204-206", `"200-204-206" is not a status code or range ` + grammar},
		{"200-600", `range "200-600": "600" is not a status code: want 3 digits from 100 to 599`},
		{"200 202", `"200 202" is not a status code or range ` + grammar},
		{"200;202", `"200;202" is not a status code or range ` + grammar},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseCodes(tc.in)
			if err == nil {
				t.Fatalf("ParseCodes(%q) = %s, want an error", tc.in, c)
			}
			if err.Error() != tc.msg {
				t.Errorf("ParseCodes(%q):\n got %s\nwant %s", tc.in, err, tc.msg)
			}
			if !c.IsZero() {
				t.Errorf("ParseCodes(%q) returned a non-empty set with its error", tc.in)
			}
		})
	}
}

func TestCodeSetZero(t *testing.T) {
	var c CodeSet
	if !c.IsZero() || c.String() != "" || c.Contains(200) {
		t.Errorf("zero CodeSet: IsZero %v, String %q, Contains(200) %v", c.IsZero(), c.String(), c.Contains(200))
	}
}
