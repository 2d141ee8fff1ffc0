package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzExpectedCodes checks that ParseCodes never panics, that its errors
// are one line, and that String gives a canonical form that parses back to
// the same set.
func FuzzExpectedCodes(f *testing.F) {
	for _, s := range []string{"200", "200,202", "200 , 202", "200-204", "200-204,301", "100-599",
		"204-200", "20", "abc", "200,,201", "600", "", "200-", "-", ",", "200\t-\t204", "2\u00e900"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCodes(s)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Errorf("ParseCodes(%q): error has a line break: %q", s, msg)
			}
			if !c.IsZero() {
				t.Errorf("ParseCodes(%q) returned a set with its error", s)
			}
			return
		}
		if c.IsZero() {
			t.Fatalf("ParseCodes(%q) gave an empty set without error", s)
		}
		canon := c.String()
		c2, err := ParseCodes(canon)
		if err != nil {
			t.Fatalf("ParseCodes(%q).String() = %q, which does not parse: %v", s, canon, err)
		}
		if c2 != c {
			t.Fatalf("ParseCodes(%q) = %s, but its String %q parses to %s", s, c, canon, c2)
		}
		if c2.String() != canon {
			t.Fatalf("String is not canonical: %q then %q", canon, c2.String())
		}
		for code := range 1000 {
			if c.Contains(code) && (code < 100 || code > 599) {
				t.Fatalf("ParseCodes(%q) contains %d", s, code)
			}
		}
	})
}

// FuzzURLPath checks that ValidateURLPath never panics, and that a path it
// accepts goes out as exactly that request target: the request a check
// builds with it parses back with the same method, target and headers.
func FuzzURLPath(f *testing.F) {
	for _, s := range []string{"/", "/health", "/status?full=1", "health", "http://x/", "//x", "/a b",
		"/a\r\nX: y", "/é", "/a#b", "/%zz", "/%41", "db1:8080/h", "https://u:p@h:1/p?q", "?x", "/?%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateURLPath(p)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Errorf("ValidateURLPath(%q): error has a line break: %q", p, msg)
			}
			return
		}
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
			t.Fatalf("ValidateURLPath accepted %q", p)
		}
		raw := httpRequest("GET", p, "1.1", "example.com")
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("ValidateURLPath accepted %q, but the request does not parse: %v", p, err)
		}
		if req.RequestURI != p || req.Method != "GET" || req.Host != "example.com" || len(req.Header) != 3 {
			t.Fatalf("path %q went out as %s %q host %q headers %v", p, req.Method, req.RequestURI, req.Host, req.Header)
		}
		if req.URL.Host != "" || req.URL.Scheme != "" || req.URL.User != nil {
			t.Fatalf("path %q parses with a scheme, host or userinfo: %#v", p, req.URL)
		}
	})
}

// FuzzHTTPResponse feeds arbitrary bytes as a server's reply through the
// check's response reader, with and without body_regex and for HEAD.
func FuzzHTTPResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 500 Internal Server Error\r\n\r\nboom",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 999 What\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	checks := make([]*httpCheck, 0, 3)
	for _, s := range []Spec{
		{Address: "127.0.0.1:80", ExpectedCodes: "200-204,301"},
		{Address: "127.0.0.1:80", BodyRegex: "ok"},
		{Address: "127.0.0.1:80", HTTPMethod: "HEAD", HTTPVersion: "1.0"},
	} {
		c, err := buildHTTP(s)
		if err != nil {
			f.Fatal(err)
		}
		checks = append(checks, c)
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		for _, c := range checks {
			detail, err := c.readReply(bytes.NewReader(reply))
			if err == nil {
				if !strings.HasPrefix(detail, "HTTP ") {
					t.Fatalf("pass with detail %q", detail)
				}
				continue
			}
			status, reason := judge(context.Background(), err, time.Second)
			if status != Fail || reason == "" || strings.ContainsAny(reason, "\r\n") {
				t.Fatalf("reply %q judged %s %q", reply, status, reason)
			}
		}
	})
}

// FuzzPlainHead checks readReply's fast path against http.ReadResponse:
// a head that plainHead accepts parses with ReadResponse to a final
// response with the same status code, and readReply judges every reply
// exactly as the http.ReadResponse path alone (slowReply) does.
func FuzzPlainHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"HTTP/1.0 204\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"HTTP/1.1 200 OK\r\n X: a\r\n\r\n",
		"HTTP/1.1 200 OK\nX: a\n\n",
		"HTTP/1.1 200 OK\r\nBad Key: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: \xff\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
		"HTTP/1.1 +20 OK\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 200\tOK\r\n\r\n",
		"HTTP/1.1 200 OK\r\r\n\r\n",
		"HTTP/1.1 999 What\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
	} {
		f.Add([]byte(s))
	}
	var checks []*httpCheck
	for _, s := range []Spec{
		{Address: "127.0.0.1:80"},
		{Address: "127.0.0.1:80", ExpectedCodes: "100-599"},
		{Address: "127.0.0.1:80", HTTPMethod: "HEAD", HTTPVersion: "1.0"},
	} {
		c, err := buildHTTP(s)
		if err != nil {
			f.Fatal(err)
		}
		checks = append(checks, c)
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		var buf [headBufSize]byte
		if _, end, _ := readHead(bytes.NewReader(reply), buf[:]); end > 0 {
			if code, ok := plainHead(buf[:end]); ok {
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(reply)), &http.Request{Method: "GET"})
				if err != nil {
					t.Fatalf("plainHead accepted %q (code %d), ReadResponse: %v", reply[:end], code, err)
				}
				if resp.StatusCode != code || code < 200 {
					t.Fatalf("plainHead read code %d from %q, ReadResponse %d", code, reply[:end], resp.StatusCode)
				}
			}
		}
		for _, c := range checks {
			d2, err2 := c.slowReply(&capReader{r: bytes.NewReader(reply), n: maxHTTPReply})
			for _, r := range []io.Reader{bytes.NewReader(reply), iotest.OneByteReader(bytes.NewReader(reply)), iotest.DataErrReader(bytes.NewReader(reply))} {
				d1, err1 := c.readReply(r)
				if d1 != d2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Fatalf("reply %q: readReply %q, %v; ReadResponse path %q, %v", reply, d1, err1, d2, err2)
				}
			}
		}
	})
}
