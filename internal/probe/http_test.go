package probe

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// httpStatusServer answers every request with the status code in the
// "code" query parameter (default 200) and the body in "body".
func httpStatusServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		io.WriteString(w, r.URL.Query().Get("body"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// httpAddr is the host:port of an httptest server.
func httpAddr(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// httpReadHead reads a request's head, up to and including the empty line.
func httpReadHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for b.Len() < 64<<10 {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			return b.String(), err
		}
	}
	return b.String(), errors.New("request head too long")
}

// httpRawServer reads each request's head, hands its raw text to the
// returned channel, writes reply and closes the connection.
func httpRawServer(t *testing.T, reply string) (addr string, heads <-chan string) {
	t.Helper()
	ch := make(chan string, 16)
	addr = serveTCP(t, func(c net.Conn) {
		defer c.Close()
		head, err := httpReadHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		ch <- head
		io.WriteString(c, reply)
	})
	return addr, ch
}

// httpRecv takes what a server recorded for a probe that has returned. The
// server records before it replies, so the value is already there; a probe
// that never reached the server gives "".
func httpRecv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	default:
		t.Error("the server recorded nothing")
		return ""
	}
}

// httpSpec is a spec for addr with a generous timeout.
func httpSpec(addr string) Spec { return Spec{Address: addr, Timeout: 5 * time.Second} }

func httpWant(t *testing.T, r Result, status Status, reason string) {
	t.Helper()
	if r.Status != status || r.Reason != reason {
		t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, status, reason)
	}
}

func TestHTTPStatusCodes(t *testing.T) {
	addr := httpAddr(httpStatusServer(t))
	for _, tc := range []struct {
		codes  string
		status int
		want   Status
		reason string
	}{
		{"", 200, Pass, "HTTP 200"},
		{"", 204, Fail, "HTTP 204 not in 200"},
		{"", 404, Fail, "HTTP 404 not in 200"},
		{"200-204", 204, Pass, "HTTP 204"},
		{"200-204", 500, Fail, "HTTP 500 not in 200-204"},
		{"200,202", 202, Pass, "HTTP 202"},
		{"200 , 202", 201, Fail, "HTTP 201 not in 200,202"},
		{"200-204,301", 301, Pass, "HTTP 301"},
		{"200-204,301", 302, Fail, "HTTP 302 not in 200-204,301"},
		{"503", 503, Pass, "HTTP 503"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.codes, tc.status), func(t *testing.T) {
			s := httpSpec(addr)
			s.ExpectedCodes = tc.codes
			s.URLPath = fmt.Sprintf("/?code=%d", tc.status)
			httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), tc.want, tc.reason)
		})
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	s := httpSpec(httpAddr(srv))
	s.URLPath = "/old"
	httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Fail, "HTTP 301 not in 200")
	s.ExpectedCodes = "301"
	httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Pass, "HTTP 301")
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestHTTPBodyRegex(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status: ok\n") })
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("a", MaxBody)+"ok") // "ok" just past what is read
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for _, part := range []string{"sta", "tus: ", "ready"} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 256 { // 16 MiB, never read without body_regex
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		path, regex string
		want        Status
		reason      string
	}{
		{"/text", "ok", Pass, "HTTP 200"},
		{"/text", `(?m)^status: ok$`, Pass, "HTTP 200"},
		{"/text", "^ready$", Fail, `HTTP 200 body does not match "^ready$"`},
		{"/late", "ok", Fail, `HTTP 200 body does not match "ok"`},
		{"/late", "^a+$", Pass, "HTTP 200"},
		{"/chunked", "status: ready", Pass, "HTTP 200"},
		{"/huge", "", Pass, "HTTP 200"},
		{"/huge", "x{100}", Pass, "HTTP 200"},
	} {
		t.Run(tc.path+"/"+tc.regex, func(t *testing.T) {
			s := httpSpec(httpAddr(srv))
			s.URLPath, s.BodyRegex = tc.path, tc.regex
			httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), tc.want, tc.reason)
		})
	}
}

func TestHTTPMethods(t *testing.T) {
	methods := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methods <- r.Method
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		io.WriteString(w, "a body that HEAD must not wait for")
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ method, codes, reason string }{
		{"HEAD", "", "HTTP 200"},
		{"OPTIONS", "200-204", "HTTP 204"},
		{"GET", "", "HTTP 200"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			s := httpSpec(httpAddr(srv))
			s.HTTPMethod, s.ExpectedCodes = tc.method, tc.codes
			httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Pass, tc.reason)
			if got := httpRecv(t, methods); got != tc.method {
				t.Errorf("server saw %s, want %s", got, tc.method)
			}
		})
	}
}

// TestHTTPRequestText asserts the exact bytes of the request.
func TestHTTPRequestText(t *testing.T) {
	addr, heads := httpRawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	const tail = "User-Agent: vitals-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		name   string
		adjust func(*Spec)
		want   string
	}{
		{"default", func(*Spec) {}, "GET / HTTP/1.1\r\nHost: " + addr + "\r\n" + tail},
		{"http1.0 has no host", func(s *Spec) { s.HTTPVersion, s.URLPath = "1.0", "/health?x=1" },
			"GET /health?x=1 HTTP/1.0\r\n" + tail},
		{"http1.1 explicit", func(s *Spec) { s.HTTPVersion = "1.1" }, "GET / HTTP/1.1\r\nHost: " + addr + "\r\n" + tail},
		{"domain_name is the host", func(s *Spec) { s.DomainName = "db1.example.com" },
			"GET / HTTP/1.1\r\nHost: db1.example.com\r\n" + tail},
		{"haproxy style", func(s *Spec) { s.HTTPMethod, s.HTTPVersion = "OPTIONS", "1.0" }, "OPTIONS / HTTP/1.0\r\n" + tail},
		{"post has empty body", func(s *Spec) { s.HTTPMethod = "POST" },
			"POST / HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: vitals-probe\r\nAccept: */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := httpSpec(addr)
			tc.adjust(&s)
			httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Pass, "HTTP 200")
			if got := httpRecv(t, heads); got != tc.want {
				t.Errorf("request:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
	for _, m := range httpMethods {
		t.Run("method "+m, func(t *testing.T) {
			s := httpSpec(addr)
			s.HTTPMethod = m
			httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Pass, "HTTP 200")
			if got, want := httpRecv(t, heads), m+" / HTTP/1.1\r\n"; !strings.HasPrefix(got, want) {
				t.Errorf("request %q does not start with %q", got, want)
			}
		})
	}
}

// TestHTTPMisbehavingPeers checks that a probe fails with a clear reason,
// and within its timeout, whatever the peer does.
func TestHTTPMisbehavingPeers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	readThen := func(then func(c net.Conn)) func(c net.Conn) {
		return func(c net.Conn) {
			if _, err := httpReadHead(bufio.NewReader(c)); err == nil {
				then(c)
			}
			c.Close()
		}
	}
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	for _, tc := range []struct {
		name   string
		kind   string
		addr   func(t *testing.T) string
		regex  string
		reason string
	}{
		{"refused", "http", refusedAddr, "", "connect %s: connection refused"},
		{"accept and hang", "http", func(t *testing.T) string { return serveTCP(t, hang) }, "",
			"timeout after 300ms during read response"},
		{"https accept and hang", "https", func(t *testing.T) string { return serveTCP(t, hang) }, "",
			"timeout after 300ms during TLS handshake"},
		{"https against plain http", "https", func(*testing.T) string { return httpAddr(plain) }, "",
			"TLS handshake: tls: first record does not look like a TLS handshake"},
		{"headers then stall", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
				hang(c)
			}))
		}, "", "timeout after 300ms during read response"},
		{"body stalls", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
				hang(c)
			}))
		}, "ok", "timeout after 300ms during read body"},
		{"trickle", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Trickle: ")
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for range tick.C {
					if _, err := io.WriteString(c, "a"); err != nil {
						return
					}
				}
			}))
		}, "", "timeout after 300ms during read response"},
		{"half-close mid reply", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				c.(*net.TCPConn).CloseWrite()
				hang(c)
			}))
		}, "", "read response: connection closed by peer"},
		{"close without reply", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(net.Conn) {}))
		}, "", "read response: connection closed by peer"},
		{"reset", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) }))
		}, "", "read response: connection reset by peer"},
		{"not http", "http", func(t *testing.T) string {
			return serveTCP(t, readThen(func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n") }))
		}, "", `read response: malformed HTTP response "SSH-2.0-OpenSSH_9.6"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			s := Spec{Address: addr, Timeout: timeout, BodyRegex: tc.regex}
			if !strings.HasPrefix(tc.reason, "timeout") {
				s.Timeout = 5 * time.Second // so a loaded machine cannot turn it into a timeout
			}
			r := runBounded(t, mustProbe(t, tc.kind, s), s.Timeout)
			want := tc.reason
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, addr)
			}
			httpWant(t, r, Fail, want)
		})
	}
}

// TestHTTPReplyTooLong checks that endless headers end the read at 1 MiB,
// well before the timeout.
func TestHTTPReplyTooLong(t *testing.T) {
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		if _, err := httpReadHead(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("X-Junk: " + strings.Repeat("j", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	s := httpSpec(addr)
	httpWant(t, runBounded(t, mustProbe(t, "http", s), s.Timeout), Fail, "read response: reply longer than 1 MiB")
}

func TestHTTPCanceled(t *testing.T) {
	for _, kind := range []string{"http", "https"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			addr := serveTCP(t, func(c net.Conn) {
				cancel()
				hang(c)
			})
			r := mustProbe(t, kind, httpSpec(addr)).Probe(ctx)
			httpWant(t, r, Fail, "canceled")
			if r.Latency > 2*time.Second {
				t.Errorf("a canceled probe took %s", r.Latency)
			}
		})
	}
}

// httpCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, and its key, as PEM files in a temporary directory.
func httpCert(t *testing.T, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vitals test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	httpWritePEM(t, certFile, "CERTIFICATE", der)
	httpWritePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func httpWritePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPS(t *testing.T) {
	sni := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host="+r.Host)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := httpAddr(srv)

	// httptest's certificate is its own CA, valid for 127.0.0.1 and example.com.
	serverCA := filepath.Join(t.TempDir(), "server-ca.pem")
	httpWritePEM(t, serverCA, "CERTIFICATE", srv.Certificate().Raw)
	otherCA, _ := httpCert(t, x509.ExtKeyUsageServerAuth)

	for _, tc := range []struct {
		name    string
		adjust  func(*Spec)
		want    Status
		reason  string
		wantSNI string
	}{
		{"no verification by default", func(s *Spec) { s.BodyRegex = "^host=" + addr + "$" }, Pass, "HTTP 200", ""},
		{"domain_name is SNI and Host", func(s *Spec) { s.DomainName, s.BodyRegex = "db1.example.com", "^host=db1.example.com$" },
			Pass, "HTTP 200", "db1.example.com"},
		{"ca_file of the server", func(s *Spec) { s.CAFile = serverCA }, Pass, "HTTP 200", ""},
		{"ca_file with matching domain_name", func(s *Spec) { s.CAFile, s.DomainName = serverCA, "example.com" },
			Pass, "HTTP 200", "example.com"},
		{"ca_file with wrong domain_name", func(s *Spec) { s.CAFile, s.DomainName = serverCA, "db1.example.net" },
			Fail, "TLS handshake: tls: failed to verify certificate: x509: certificate is valid for example.com, *.example.com, not db1.example.net", "db1.example.net"},
		{"ca_file of another CA", func(s *Spec) { s.CAFile = otherCA },
			Fail, "TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := httpSpec(addr)
			tc.adjust(&s)
			httpWant(t, runBounded(t, mustProbe(t, "https", s), s.Timeout), tc.want, tc.reason)
			if got := httpRecv(t, sni); got != tc.wantSNI {
				t.Errorf("server saw SNI %q, want %q", got, tc.wantSNI)
			}
		})
	}
}

func TestHTTPSClientCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	certFile, keyFile := httpCert(t, x509.ExtKeyUsageClientAuth)

	t.Run("without", func(t *testing.T) {
		s := httpSpec(httpAddr(srv))
		r := runBounded(t, mustProbe(t, "https", s), s.Timeout)
		// With TLS 1.3 the server rejects the missing certificate after the
		// client's side of the handshake is done. The alert reads as part of
		// the handshake; a reset, if the server has closed by the time the
		// request goes out, is also a failure.
		switch r.Reason {
		case "TLS handshake: remote error: tls: certificate required",
			"send request: connection reset by peer", "read response: connection reset by peer":
		default:
			t.Errorf("got %s %q, want a failed TLS handshake", r.Status, r.Reason)
		}
		if r.Status != Fail {
			t.Errorf("got %s, want fail", r.Status)
		}
	})
	t.Run("with", func(t *testing.T) {
		s := httpSpec(httpAddr(srv))
		s.CertFile, s.KeyFile = certFile, keyFile
		httpWant(t, runBounded(t, mustProbe(t, "https", s), s.Timeout), Pass, "HTTP 200")
	})
}

// TestHTTPValidation asserts the message a user sees for each bad value.
func TestHTTPValidation(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := httpCert(t, x509.ExtKeyUsageClientAuth)
	otherCert, _ := httpCert(t, x509.ExtKeyUsageClientAuth)
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name   string
		kind   string
		adjust func(*Spec)
		field  string
		msg    string
	}{
		{"bad method", "http", func(s *Spec) { s.HTTPMethod = "FETCH" }, "http_method",
			`"FETCH" is not supported (want one of CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE)`},
		{"lower-case method", "http", func(s *Spec) { s.HTTPMethod = "get" }, "http_method", `"get" must be upper case: write "GET"`},
		{"relative path", "http", func(s *Spec) { s.URLPath = "health" }, "url_path", `"health" must start with "/", e.g. "/health"`},
		{"url", "http", func(s *Spec) { s.URLPath = "http://x/" }, "url_path", `"http://x/" is a URL, not a path; give only the path, e.g. "/"`},
		{"url with userinfo", "http", func(s *Spec) { s.URLPath = "https://u:secret@x:8443/h?q=1" }, "url_path",
			`"https://u:xxxxx@x:8443/h?q=1" is a URL, not a path; give only the path, e.g. "/h?q=1"`},
		{"host and port", "http", func(s *Spec) { s.URLPath = "db1:8080/health" }, "url_path",
			`"db1:8080/health" is a URL, not a path; give only the path, e.g. "/health"`},
		{"double slash", "http", func(s *Spec) { s.URLPath = "//x" }, "url_path", `"//x" starts with "//", which reads as a host; use one "/", e.g. "/x"`},
		{"space", "http", func(s *Spec) { s.URLPath = "/a b" }, "url_path", `"/a b" has a space; percent-encode it as %20`},
		{"newline", "http", func(s *Spec) { s.URLPath = "/a\r\nX-Injected: 1" }, "url_path",
			`"/a\r\nX-Injected: 1" has a control character ("\r"); percent-encode it as %0D`},
		{"non-ascii", "http", func(s *Spec) { s.URLPath = "/é" }, "url_path",
			`"/é" has a non-ASCII character; percent-encode its UTF-8 bytes as %C3%A9`},
		{"fragment", "http", func(s *Spec) { s.URLPath = "/a#top" }, "url_path",
			`"/a#top" has a fragment ("#"), which is never sent; remove it or write %23 for a literal "#"`},
		{"bad escape", "http", func(s *Spec) { s.URLPath = "/100%" }, "url_path",
			`"/100%" has a "%" not followed by two hex digits; write %25 for a literal "%"`},
		{"descending range", "http", func(s *Spec) { s.ExpectedCodes = "204-200" }, "expected_codes",
			`range "204-200": start 204 is greater than end 200; write "200-204"`},
		{"short code", "http", func(s *Spec) { s.ExpectedCodes = "20" }, "expected_codes", `"20" is not a status code: want 3 digits from 100 to 599`},
		{"junk codes", "http", func(s *Spec) { s.ExpectedCodes = "abc" }, "expected_codes",
			`"abc" is not a status code or range (want e.g. "200", "200,202", "200-204" or "200-204,301")`},
		{"empty item", "http", func(s *Spec) { s.ExpectedCodes = "200,,201" }, "expected_codes", `"200,,201" has an empty item; remove the extra comma`},
		{"code too high", "http", func(s *Spec) { s.ExpectedCodes = "600" }, "expected_codes", `"600" is not a status code: want 3 digits from 100 to 599`},
		{"bad version", "http", func(s *Spec) { s.HTTPVersion = "2" }, "http_version", `"2" is not supported (want "1.0" or "1.1")`},
		{"domain_name with 1.0", "http", func(s *Spec) { s.HTTPVersion, s.DomainName = "1.0", "db1.example.com" }, "domain_name",
			`needs http_version "1.1"; HTTP/1.0 sends no Host header`},
		{"domain_name with port", "https", func(s *Spec) { s.DomainName = "db1.example.com:8443" }, "domain_name",
			`"db1.example.com:8443" is not a host name: use dot-separated labels of letters, digits, "-" and "_" (no port, scheme or path)`},
		{"domain_name with header", "http", func(s *Spec) { s.DomainName = "x\r\nX-Injected: 1" }, "domain_name",
			`"x\r\nX-Injected: 1" is not a host name: use dot-separated labels of letters, digits, "-" and "_" (no port, scheme or path)`},
		{"bad regex", "http", func(s *Spec) { s.BodyRegex = "(ok" }, "body_regex", "invalid regular expression: missing closing ): `(ok`"},
		{"regex with HEAD", "http", func(s *Spec) { s.HTTPMethod, s.BodyRegex = "HEAD", "ok" }, "body_regex",
			"cannot match: a reply to HEAD has no body; use GET or remove body_regex"},
		{"ca_file missing", "https", func(s *Spec) { s.CAFile = missing }, "ca_file", "cannot read " + missing + ": no such file or directory"},
		{"ca_file junk", "https", func(s *Spec) { s.CAFile = junk }, "ca_file", junk + " holds no PEM certificate"},
		{"cert without key", "https", func(s *Spec) { s.CertFile = certFile }, "key_file", "is required with cert_file"},
		{"key without cert", "https", func(s *Spec) { s.KeyFile = keyFile }, "cert_file", "is required with key_file"},
		{"key unreadable", "https", func(s *Spec) { s.CertFile, s.KeyFile = certFile, missing }, "key_file",
			"cannot read " + missing + ": no such file or directory"},
		{"key of another cert", "https", func(s *Spec) { s.CertFile, s.KeyFile = otherCert, keyFile }, "cert_file",
			otherCert + " with key " + keyFile + ": tls: private key does not match public key"},
		{"ca_file on http", "http", func(s *Spec) { s.CAFile = junk }, "ca_file", "is not allowed for type http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Spec{Address: "127.0.0.1:8080", Timeout: time.Second}
			tc.adjust(&s)
			_, err := New(tc.kind, s)
			fe, ok := errors.AsType[*FieldError](err)
			if !ok {
				t.Fatalf("New: %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || fe.Msg != tc.msg {
				t.Errorf("got  %s: %s\nwant %s: %s", fe.Field, fe.Msg, tc.field, tc.msg)
			}
		})
	}
}

func TestValidateURLPathAccepts(t *testing.T) {
	for _, p := range []string{"/", "/health", "/status?full=1&x=%20y", "/a:b@c/d", "/~user/x.html", "/?", "/a/b/"} {
		if err := ValidateURLPath(p); err != nil {
			t.Errorf("ValidateURLPath(%q): %v", p, err)
		}
	}
}
