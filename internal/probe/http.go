package probe

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody is how much of a response body body_regex sees: the first 64 KiB.
// The rest is never read.
const MaxBody = 64 << 10

// maxHTTPReply caps the raw bytes an http or https check reads: status
// line, headers, body and chunk framing. A server that streams endless
// headers then fails the check rather than filling memory.
const maxHTTPReply = 1 << 20

// maxInterim is how many 1xx interim responses (e.g. 103 Early Hints) a
// check skips before it judges the final one.
const maxInterim = 5

// errReplyTooLong ends a read that passed maxHTTPReply.
var errReplyTooLong = errors.New("reply longer than 1 MiB")

// httpMethods are the methods a check may send: Octavia's nine.
var httpMethods = []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// httpCheck is an http or https check. It is immutable after New, so runs
// may share it.
type httpCheck struct {
	addr    string         // the target, host:port
	ip      netip.AddrPort // addr when it is an IP address and port (dialSock); else invalid
	method  string         // the request method, one of httpMethods
	request []byte         // the whole request, built at New
	codes   CodeSet        // status codes that pass
	body    *regexp.Regexp // must match the first MaxBody bytes; nil: body not read
	tls     *tls.Config    // nil for http
}

// newHTTP validates the http fields of s and builds an http check.
func newHTTP(s Spec) (checker, error) {
	c, err := buildHTTP(s)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newHTTPS is newHTTP over TLS. Certificates are not verified unless
// ca_file is set, as with Octavia's "check-ssl verify none". SNI is
// domain_name, else the target's host when it is a name.
func newHTTPS(s Spec) (checker, error) {
	c, err := buildHTTP(s)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		return nil, &FieldError{Field: "address", Msg: err.Error()}
	}
	// ServerName is the SNI and the name verified against ca_file. crypto/tls
	// sends no SNI for an IP address, and checks an IP against IP SANs.
	c.tls = &tls.Config{ServerName: host}
	if s.DomainName != "" {
		c.tls.ServerName = s.DomainName
	}
	if s.CAFile == "" {
		c.tls.InsecureSkipVerify = true // Octavia's "check-ssl verify none"
	} else {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, &FieldError{Field: "ca_file", Msg: fmt.Sprintf("cannot read %s: %v", s.CAFile, unwrapPathErr(err))}
		}
		c.tls.RootCAs = x509.NewCertPool()
		if !c.tls.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &FieldError{Field: "ca_file", Msg: fmt.Sprintf("%s holds no PEM certificate", s.CAFile)}
		}
	}
	cert, err := loadClientCert(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		// Always offer the certificate, even when the server's list of
		// acceptable CAs does not name its issuer: let the server decide.
		c.tls.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c, nil
}

// loadClientCert loads cert_file and key_file, both or neither. It returns
// nil when neither is set.
func loadClientCert(certFile, keyFile string) (*tls.Certificate, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, &FieldError{Field: "cert_file", Msg: "is required with key_file"}
	case keyFile == "":
		return nil, &FieldError{Field: "key_file", Msg: "is required with cert_file"}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &FieldError{Field: "cert_file", Msg: fmt.Sprintf("cannot read %s: %v", certFile, unwrapPathErr(err))}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &FieldError{Field: "key_file", Msg: fmt.Sprintf("cannot read %s: %v", keyFile, unwrapPathErr(err))}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &FieldError{Field: "cert_file", Msg: fmt.Sprintf("%s with key %s: %v", certFile, keyFile, err)}
	}
	return &cert, nil
}

// buildHTTP applies the defaults of the http fields, validates them and
// builds the request.
func buildHTTP(s Spec) (*httpCheck, error) {
	method := cmp.Or(s.HTTPMethod, "GET")
	if !slices.Contains(httpMethods, method) {
		msg := fmt.Sprintf("%q is not supported (want one of %s)", method, strings.Join(httpMethods, ", "))
		if up := strings.ToUpper(method); slices.Contains(httpMethods, up) {
			msg = fmt.Sprintf("%q must be upper case: write %q", method, up)
		}
		return nil, &FieldError{Field: "http_method", Msg: msg}
	}
	path := cmp.Or(s.URLPath, "/")
	if err := ValidateURLPath(path); err != nil {
		return nil, &FieldError{Field: "url_path", Msg: err.Error()}
	}
	version := cmp.Or(s.HTTPVersion, "1.1")
	if version != "1.0" && version != "1.1" {
		return nil, &FieldError{Field: "http_version", Msg: fmt.Sprintf(`%q is not supported (want "1.0" or "1.1")`, version)}
	}
	host := s.Address
	if s.DomainName != "" {
		if err := validDomainName(s.DomainName); err != nil {
			return nil, err
		}
		if version == "1.0" {
			return nil, &FieldError{Field: "domain_name", Msg: `needs http_version "1.1"; HTTP/1.0 sends no Host header`}
		}
		host = s.DomainName
	} else if version == "1.0" {
		host = ""
	}
	codes, err := ParseCodes(cmp.Or(s.ExpectedCodes, "200"))
	if err != nil {
		return nil, &FieldError{Field: "expected_codes", Msg: err.Error()}
	}
	c := &httpCheck{addr: s.Address, ip: sockAddrPort(s.Address), method: method, codes: codes}
	if s.BodyRegex != "" {
		if method == "HEAD" {
			return nil, &FieldError{Field: "body_regex", Msg: "cannot match: a reply to HEAD has no body; use GET or remove body_regex"}
		}
		c.body, err = regexp.Compile(s.BodyRegex)
		if err != nil {
			return nil, &FieldError{Field: "body_regex", Msg: fmt.Sprintf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))}
		}
	}
	c.request = httpRequest(method, path, version, host)
	return c, nil
}

// validDomainName checks domain_name as a host name: dot-separated labels
// of letters, digits, "-" and "_", at most 253 bytes. It is sent as the
// Host header and as SNI, so it can carry no port and no line break.
func validDomainName(name string) error {
	bad := len(strings.TrimSuffix(name, ".")) > 253
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.IndexFunc(label, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
			}) >= 0 {
			bad = true
		}
	}
	if bad {
		return &FieldError{Field: "domain_name", Msg: fmt.Sprintf(`%q is not a host name: use dot-separated labels of letters, digits, "-" and "_" (no port, scheme or path)`, name)}
	}
	return nil
}

// httpRequest builds the request a check sends. host is the Host header,
// or "" for none. Methods that usually carry a body declare an empty one,
// as some servers answer 411 Length Required otherwise.
func httpRequest(method, path, version, host string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/%s\r\n", method, path, version)
	if host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	b.WriteString("User-Agent: vitals-probe\r\nAccept: */*\r\n")
	if method == "POST" || method == "PUT" || method == "PATCH" {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return []byte(b.String())
}

// check implements checker: a fresh connection, TLS for https, one
// request and one response, all bounded by ctx's deadline. Redirects are
// never followed; expected_codes judges them.
func (c *httpCheck) check(ctx context.Context) (string, error) {
	raw, err := checkDialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return "", ctxStep(ctx, "connect "+c.addr, err)
	}
	defer closeReset(raw)
	setConnDeadline(ctx, raw)
	defer wakeOnCancel(ctx, raw)()
	conn := raw
	if c.tls != nil {
		tc := tls.Client(raw, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", ctxStep(ctx, "TLS handshake", err)
		}
		conn = tc
	}
	return c.exchange(ctx, conn)
}

// checkBy implements deadlineChecker: check, bounded by deadline rather
// than by a deadline on ctx. Plain http to an IP address connects with
// dialSock; https and host names go through check.
func (c *httpCheck) checkBy(ctx context.Context, deadline time.Time) (string, error) {
	if c.tls != nil || !c.ip.IsValid() {
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return c.check(ctx)
	}
	s, err := dialSock(ctx, c.ip, deadline, true) // the request goes at once
	if err != nil {
		return "", ctxStep(ctx, "connect "+c.addr, err)
	}
	defer s.close()
	return c.exchange(ctx, s)
}

// exchange sends the request on a connected conn, whose deadline is set
// and which wakes on cancel, and judges the reply.
func (c *httpCheck) exchange(ctx context.Context, conn io.ReadWriter) (string, error) {
	if _, err := conn.Write(c.request); err != nil {
		return "", c.sendErr(ctx, err)
	}
	detail, err := c.readReply(conn)
	return detail, c.replyErr(ctx, err)
}

// sendErr is the error of a failed write of the request.
func (c *httpCheck) sendErr(ctx context.Context, err error) error {
	return ctxStep(ctx, c.tlsStep("send request", err), err)
}

// replyErr is the error of a reply that failed to arrive or to pass.
func (c *httpCheck) replyErr(ctx context.Context, err error) error {
	if se, ok := errors.AsType[*stepError](err); ok {
		return ctxStep(ctx, c.tlsStep(se.step, se.err), se.err)
	}
	return err
}

// tlsStep names the step of an https error: a TLS alert from the server
// after the client's side of the handshake is done, such as TLS 1.3's
// "certificate required", belongs to the handshake, not to the request.
func (c *httpCheck) tlsStep(name string, err error) string {
	if oe, ok := errors.AsType[*net.OpError](err); ok && c.tls != nil && oe.Op == "remote error" {
		return "TLS handshake"
	}
	return name
}

// ctxStep is step, except that a failure after ctx was canceled reads as
// canceled rather than as the I/O error the cancellation caused.
func ctxStep(ctx context.Context, name string, err error) error {
	if cerr := ctxCanceled(ctx); cerr != nil {
		return step(name, cerr)
	}
	return step(name, err)
}

// readReply reads one response from r, skipping 1xx interim responses, and
// judges its status code and, when body_regex is set, its body. It reads
// at most maxHTTPReply bytes from r and at most MaxBody bytes of the body,
// and leaves the rest unread: the caller closes the connection, so there
// is nothing to drain.
//
// Without body_regex, it first reads the response head into a pooled
// buffer and judges it there when the head is plain (see plainHead): no
// bufio.Reader, no header map. Any other reply goes, replayed byte for
// byte with the read error that ended it, through http.ReadResponse
// (slowReply), so that the outcome never depends on the path taken.
func (c *httpCheck) readReply(r io.Reader) (string, error) {
	if c.body != nil {
		return c.slowReply(&capReader{r: r, n: maxHTTPReply})
	}
	buf := headBufs.Get().(*[headBufSize]byte)
	defer headBufs.Put(buf)
	n, end, err := readHead(r, buf[:])
	if detail, err, ok := c.judgeHead(buf[:n], end, err); ok {
		return detail, err
	}
	return c.restReply(buf[:n], r)
}

// judgeHead judges what readHead read, head (end bytes of it the complete
// head, if end > 0) and the read error that ended it, when that needs no
// more reading: the head is plain, or a read error ended the reply. ok
// false means the rest of the reply must be read (restReply).
func (c *httpCheck) judgeHead(head []byte, end int, err error) (detail string, _ error, ok bool) {
	if end > 0 {
		if code, plain := plainHead(head[:end]); plain {
			detail, err := c.judgeCode(code)
			return detail, err, true
		}
	}
	if err != nil {
		detail, err := c.slowReply(io.MultiReader(bytes.NewReader(head), errReader{err}))
		return detail, err, true
	}
	return "", nil, false
}

// restReply judges a reply through http.ReadResponse, reading from r what
// follows head, the bytes readHead read.
func (c *httpCheck) restReply(head []byte, r io.Reader) (string, error) {
	return c.slowReply(io.MultiReader(bytes.NewReader(head), &capReader{r: r, n: maxHTTPReply - int64(len(head))}))
}

// judgeCode judges the status code of a final response, for a check
// without body_regex.
func (c *httpCheck) judgeCode(code int) (string, error) {
	if !c.codes.Contains(code) {
		return "", mismatch("HTTP %d not in %s", code, c.codes)
	}
	return httpPass(code), nil
}

// slowReply is readReply through http.ReadResponse.
func (c *httpCheck) slowReply(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	req := &http.Request{Method: c.method} // tells ReadResponse when there is no body
	var resp *http.Response
	for range maxInterim + 1 {
		var err error
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return "", step("read response", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	code := resp.StatusCode
	if !c.codes.Contains(code) {
		return "", mismatch("HTTP %d not in %s", code, c.codes)
	}
	if c.body != nil {
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		if err != nil {
			return "", step("read body", err)
		}
		if !c.body.Match(body) {
			return "", mismatch("HTTP %d body does not match %q", code, c.body.String())
		}
	}
	return httpPass(code), nil
}

// httpPassReasons holds "HTTP 100" to "HTTP 599", the details of passing
// checks, so that a pass allocates no reason.
var httpPassReasons = func() (t [500]string) {
	for i := range t {
		t[i] = "HTTP " + strconv.Itoa(100+i)
	}
	return t
}()

// httpPass is the detail of a passing check: "HTTP 200".
func httpPass(code int) string {
	if code >= 100 && code < 600 {
		return httpPassReasons[code-100]
	}
	return "HTTP " + strconv.Itoa(code)
}

// headBufSize is the size of the buffer readReply reads a response head
// into; a longer head takes the http.ReadResponse path.
const headBufSize = 2048

var headBufs = sync.Pool{New: func() any { return new([headBufSize]byte) }}

// readHead reads from r into buf until buf holds the end of a response
// head ("\r\n\r\n"), a bare "\n" appears before it, buf is full, or a read
// fails. n is how much it read; end is the length of the head including
// its final "\r\n\r\n", or 0 when it did not find one (a bare "\n" or a
// full buf); err is the read error that ended it, if any. It never trusts
// a single Read, and reads nothing past the Read that completed the head.
func readHead(r io.Reader, buf []byte) (n, end int, err error) {
	for n < len(buf) {
		var m int
		m, err = r.Read(buf[n:])
		end, stop := scanHead(buf, n, n+m)
		n += m
		if stop || err != nil {
			return n, end, err
		}
	}
	return n, 0, nil
}

// scanHead scans buf[from:to], the bytes just read after the from bytes
// already scanned, for the end of a response head. stop reports that
// reading the head is over: at its end ("\r\n\r\n"; end is then the head's
// length) or at a bare "\n" (end 0: leave it to ReadResponse).
func scanHead(buf []byte, from, to int) (end int, stop bool) {
	for i := from; i < to; i++ {
		if buf[i] != '\n' {
			continue
		}
		if i == 0 || buf[i-1] != '\r' {
			return 0, true
		}
		if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
			return i + 1, true
		}
	}
	return 0, false
}

// plainHead judges a complete response head, lines ending in "\r\n" and
// the last one empty, and returns its status code when the head is plain:
// a status line "HTTP/1.1 200 OK" or "HTTP/1.0 200" with a final code
// (200 to 999), and header lines "Name: value" with a token for a name, no
// folding, no Transfer-Encoding or Trailer, and at most one Content-Length
// of 1 to 18 digits. For such a head http.ReadResponse succeeds with that
// status code, as FuzzPlainHead checks; anything else (ok false) must go
// through ReadResponse, which judges it exactly.
func plainHead(head []byte) (code int, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] != '0' && line[7] != '1' || line[8] != ' ' {
		return 0, false
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, false
		}
		code = code*10 + int(d-'0')
	}
	if code < 200 || len(line) > 12 && line[12] != ' ' || !validHeaderValue(line[12:]) {
		return 0, false
	}
	sawLength := false
	for {
		line, rest, _ = bytes.Cut(rest, crlf)
		if len(line) == 0 {
			return code, len(rest) == 0
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found || len(name) == 0 || !validHeaderValue(value) {
			return 0, false
		}
		for _, b := range name {
			if !isTokenByte(b) {
				return 0, false
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Trailer")):
			return 0, false
		case bytes.EqualFold(name, []byte("Content-Length")):
			v := bytes.Trim(value, " \t")
			if sawLength || len(v) == 0 || len(v) > 18 {
				return 0, false
			}
			for _, d := range v {
				if d < '0' || d > '9' {
					return 0, false
				}
			}
			sawLength = true
		}
	}
}

var crlf = []byte("\r\n")

// validHeaderValue reports whether every byte of v may appear in a header
// value as net/textproto reads it: HTAB, SP, VCHAR or obs-text.
func validHeaderValue(v []byte) bool {
	for _, b := range v {
		if b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// isTokenByte reports whether b may appear in a header name (an RFC 9110
// token).
func isTokenByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// errReader replays a read error.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// capReader reads from r until n bytes have been read, then fails with
// errReplyTooLong.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errReplyTooLong
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}
