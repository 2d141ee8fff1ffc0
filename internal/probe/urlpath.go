package probe

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxURLPath is the longest url_path accepted, in bytes, as in Octavia's
// database column.
const maxURLPath = 2048

// ValidateURLPath checks a url_path: the path and optional query a health
// check requests, such as "/health" or "/status?full=1". It must start with
// a single "/" and hold only printable ASCII, with "%" starting a valid
// escape. A scheme, host, userinfo, port, fragment, whitespace or control
// character is an error. Errors say what to write instead. An empty path is
// an error: the caller applies the default ("/").
func ValidateURLPath(p string) error {
	if p == "" {
		return errors.New(`is empty; use "/" or a path such as "/health"`)
	}
	if len(p) > maxURLPath {
		return fmt.Errorf("is %d bytes long; the limit is %d", len(p), maxURLPath)
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b == ' ':
			return fmt.Errorf("%q has a space; percent-encode it as %%20", p)
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("%q has a control character (%q); percent-encode it as %%%02X", p, string(b), b)
		case b >= 0x80:
			_, size := utf8.DecodeRuneInString(p[i:])
			return fmt.Errorf("%q has a non-ASCII character; percent-encode its UTF-8 bytes as %s", p, percentEncode(p[i:i+size]))
		case b == '#':
			return fmt.Errorf(`%q has a fragment ("#"), which is never sent; remove it or write %%23 for a literal "#"`, p)
		case b == '%' && (i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2])):
			return fmt.Errorf(`%q has a "%%" not followed by two hex digits; write %%25 for a literal "%%"`, p)
		}
	}
	if strings.HasPrefix(p, "//") {
		return fmt.Errorf(`%q starts with "//", which reads as a host; use one "/", e.g. %q`, p, "/"+strings.TrimLeft(p, "/"))
	}
	if strings.HasPrefix(p, "/") {
		return nil
	}
	// A URL may hold a password: quote it redacted.
	if u, err := url.Parse(p); err == nil && u.Host != "" {
		return fmt.Errorf("%q is a URL, not a path; give only the path, e.g. %q", u.Redacted(), u.RequestURI())
	}
	head := p
	if i := strings.IndexAny(p, "/?"); i >= 0 {
		head = p[:i]
	}
	if strings.ContainsAny(head, ":@") {
		shown, rest := p, "/"
		if i := strings.LastIndexByte(head, '@'); i >= 0 {
			shown = "…@" + p[i+1:]
		}
		if i := strings.IndexByte(p, '/'); i >= 0 {
			rest = p[i:]
		}
		return fmt.Errorf("%q is a URL, not a path; give only the path, e.g. %q", shown, rest)
	}
	return fmt.Errorf(`%q must start with "/", e.g. %q`, p, "/"+p)
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// percentEncode writes every byte of s as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}
