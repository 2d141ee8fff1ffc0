package probe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tlsHelloCert makes a self-signed certificate for 127.0.0.1 with the given
// common name and writes it and its key as PEM files into a temporary
// directory.
func tlsHelloCert(t *testing.T, cn string) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
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
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

// serveTLSHello runs a TLS server with cfg on a free loopback port. Each
// connection does its handshake, then, if it succeeded, waits for the
// client to go.
func serveTLSHello(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		hang(tc)
	})
}

// rawReply reads what the client sends first, answers with reply and then
// waits for the client to go.
func rawReply(reply []byte) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		c.Write(reply)
		hang(c)
	}
}

func TestTLSHello(t *testing.T) {
	const timeout = 2 * time.Second
	serverCert, _, _ := tlsHelloCert(t, "server")
	server := func(mod func(*tls.Config)) func(t *testing.T) string {
		return func(t *testing.T) string {
			cfg := &tls.Config{Certificates: []tls.Certificate{serverCert}}
			if mod != nil {
				mod(cfg)
			}
			return serveTLSHello(t, cfg)
		}
	}
	raw := func(h func(net.Conn)) func(t *testing.T) string {
		return func(t *testing.T) string { return serveTCP(t, h) }
	}
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
		status  Status
		reason  string // see checkReason
	}{
		{"httptest server", func(t *testing.T) string {
			srv := httptest.NewTLSServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}, timeout, Pass, "ServerHello received, TLS 1.3"},
		{"client cert required", server(func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert }), timeout, Pass, "ServerHello received, TLS 1.3"},
		{"client cert required, TLS 1.2", server(func(c *tls.Config) {
			c.ClientAuth = tls.RequireAnyClientCert
			c.MaxVersion = tls.VersionTLS12
		}), timeout, Pass, "ServerHello received, TLS 1.2"},
		{"TLS 1.2 only", server(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12 }), timeout, Pass, "ServerHello received, TLS 1.2"},
		{"TLS 1.0 only", server(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }), timeout, Pass, "ServerHello received, TLS 1.0"},
		{"HTTP reply", raw(rawReply([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))), timeout, Fail, `reply "HTTP/1.1 400 Bad Request\r\n\r\n" is not a TLS ServerHello`},
		{"alert reply", raw(rawReply([]byte{21, 3, 1, 0, 2, 2, 70})), timeout, Fail, "server sent TLS alert protocol version not supported"},
		{"unknown alert", raw(rawReply([]byte{21, 3, 3, 0, 2, 2, 255})), timeout, Fail, "server sent TLS alert 255"},
		{"ServerHello then hang", raw(rawReply(tlsRecords(22, craftServerHello(tls.VersionTLS12, 0)))), 300 * time.Millisecond, Pass, "ServerHello received, TLS 1.2"},
		{"hang", raw(hang), 300 * time.Millisecond, Fail, "timeout after 300ms during TLS handshake"},
		{"half a record then hang", raw(rawReply([]byte{22, 3, 3})), 300 * time.Millisecond, Fail, "timeout after 300ms during TLS handshake"},
		// Closing before the ClientHello arrives may reset it (the kernel
		// answers data on a closed socket with RST) or read as a clean EOF,
		// depending on which side the scheduler runs first.
		{"closed after accept", raw(func(c net.Conn) { c.Close() }), timeout, Fail,
			"TLS handshake: connection closed by peer || TLS handshake: connection reset by peer"},
		{"closed after ClientHello", raw(func(c net.Conn) {
			var hdr [5]byte
			if _, err := io.ReadFull(c, hdr[:]); err == nil {
				io.CopyN(io.Discard, c, int64(hdr[3])<<8|int64(hdr[4]))
			}
			c.Close()
		}), timeout, Fail, "TLS handshake: connection closed by peer"},
		{"refused", refusedAddr, timeout, Fail, "*: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Spec{Address: tt.addr(t), Timeout: tt.timeout}
			r := runBounded(t, mustProbe(t, "tls-hello", s), tt.timeout)
			if r.Status != tt.status {
				t.Errorf("status %s, want %s (reason %q)", r.Status, tt.status, r.Reason)
			}
			checkReason(t, r.Reason, tt.reason)
			if tt.name == "refused" && !strings.HasPrefix(r.Reason, "connect "+s.Address) {
				t.Errorf("reason %q does not name the connect step", r.Reason)
			}
		})
	}
}

// TestTLSHelloClientHello checks what the check offers: a client
// certificate when configured, and SNI from domain_name or a host name but
// never an IP address.
func TestTLSHelloClientHello(t *testing.T) {
	serverCert, _, _ := tlsHelloCert(t, "server")
	clientCert, certFile, keyFile := tlsHelloCert(t, "client")
	tests := []struct {
		name       string
		spec       Spec
		host       string // in the address; default 127.0.0.1
		wantSNI    string
		wantClient string // common name of the client certificate seen
	}{
		{"by IP", Spec{}, "", "", ""},
		{"domain_name", Spec{DomainName: "db.example"}, "", "db.example", ""},
		{"host name", Spec{}, "localhost", "localhost", ""},
		{"client certificate", Spec{CertFile: certFile, KeyFile: keyFile}, "", "", "client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan *tls.ClientHelloInfo, 1)
			peer := make(chan string, 1)
			pool := x509.NewCertPool()
			pool.AddCert(clientCert.Leaf)
			addr := serveTLSHello(t, &tls.Config{
				Certificates: []tls.Certificate{serverCert},
				ClientAuth:   tls.VerifyClientCertIfGiven,
				ClientCAs:    pool,
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					seen <- h
					return nil, nil
				},
				VerifyConnection: func(cs tls.ConnectionState) error {
					cn := ""
					if len(cs.PeerCertificates) > 0 {
						cn = cs.PeerCertificates[0].Subject.CommonName
					}
					peer <- cn
					return nil
				},
			})
			s := tt.spec
			s.Address, s.Timeout = addr, 2*time.Second
			if tt.host != "" {
				_, port, _ := net.SplitHostPort(addr)
				s.Address = net.JoinHostPort(tt.host, port)
			}
			r := runBounded(t, mustProbe(t, "tls-hello", s), s.Timeout)
			if r.Status != Pass {
				t.Fatalf("got %s %q, want pass", r.Status, r.Reason)
			}
			h := <-seen
			if h.ServerName != tt.wantSNI {
				t.Errorf("SNI %q, want %q", h.ServerName, tt.wantSNI)
			}
			for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS13} {
				if !slices.Contains(h.SupportedVersions, v) {
					t.Errorf("ClientHello does not offer %s (offers %x)", tls.VersionName(v), h.SupportedVersions)
				}
			}
			for _, cs := range []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256} {
				if !slices.Contains(h.CipherSuites, cs) {
					t.Errorf("ClientHello does not offer %s", tls.CipherSuiteName(cs))
				}
			}
			if cn := <-peer; cn != tt.wantClient {
				t.Errorf("client certificate %q, want %q", cn, tt.wantClient)
			}
		})
	}
}

// craftServerHello builds a ServerHello handshake message (header
// included) with the given legacy_version and, when sv is not 0, a
// supported_versions extension selecting sv.
func craftServerHello(legacy, sv uint16) []byte {
	body := []byte{byte(legacy >> 8), byte(legacy)}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // empty session id
	body = append(body, 0xc0, 0x2f, 0)       // ECDHE-RSA-AES128-GCM-SHA256, no compression
	if sv != 0 {
		body = append(body, 0, 6, 0, extSupportedVersions, 0, 2, byte(sv>>8), byte(sv))
	}
	n := len(body)
	return append([]byte{handshakeServerHello, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// tlsRecords wraps payload in records of the given type, each carrying at
// most the sizes given (the rest goes in one last record).
func tlsRecords(typ byte, payload []byte, sizes ...int) []byte {
	var out []byte
	for len(payload) > 0 {
		n := len(payload)
		if len(sizes) > 0 {
			n, sizes = min(n, sizes[0]), sizes[1:]
		}
		out = append(out, typ, 3, 3, byte(n>>8), byte(n))
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	return out
}

func TestTLSHelloRecognize(t *testing.T) {
	hello12 := tlsRecords(22, craftServerHello(tls.VersionTLS12, 0))
	hello13 := tlsRecords(22, craftServerHello(tls.VersionTLS12, tls.VersionTLS13))
	tests := []struct {
		name string
		in   []byte
		want serverFlight
	}{
		{"nothing", nil, serverFlight{kind: flightIncomplete}},
		{"one byte", []byte{22}, serverFlight{kind: flightIncomplete}},
		{"header only", hello12[:5], serverFlight{kind: flightIncomplete}},
		{"handshake type only", hello12[:6], serverFlight{kind: flightIncomplete}},
		{"handshake header", hello12[:9], serverFlight{kind: flightIncomplete}},
		{"half legacy_version", hello12[:10], serverFlight{kind: flightIncomplete}},
		{"legacy_version", hello12[:11], serverFlight{kind: flightServerHello}},
		{"bad legacy_version major", []byte{22, 3, 3, 0, 8, 2, 0, 0, 38, '0'}, serverFlight{kind: flightNotTLS}},
		{"bad legacy_version minor", []byte{22, 3, 3, 0, 8, 2, 0, 0, 38, 3, 9}, serverFlight{kind: flightNotTLS}},
		{"TLS 1.2", hello12, serverFlight{kind: flightServerHello, version: tls.VersionTLS12}},
		{"TLS 1.3", hello13, serverFlight{kind: flightServerHello, version: tls.VersionTLS13}},
		{"TLS 1.3 then more", append(slices.Clip(hello13), 20, 3, 3, 0, 1, 1), serverFlight{kind: flightServerHello, version: tls.VersionTLS13}},
		{"split across records", tlsRecords(22, craftServerHello(tls.VersionTLS12, tls.VersionTLS13), 2, 3, 10), serverFlight{kind: flightServerHello, version: tls.VersionTLS13}},
		{"split, second record cut", tlsRecords(22, craftServerHello(tls.VersionTLS12, 0), 2)[:9], serverFlight{kind: flightIncomplete}},
		{"alert", []byte{21, 3, 3, 0, 2, 2, 40}, serverFlight{kind: flightAlert, alert: 40}},
		{"SSL 3.0 alert", []byte{21, 3, 0, 0, 2, 2, 40}, serverFlight{kind: flightAlert, alert: 40}},
		{"alert cut", []byte{21, 3, 3, 0, 2, 2}, serverFlight{kind: flightIncomplete}},
		{"alert too short", []byte{21, 3, 3, 0, 1, 2}, serverFlight{kind: flightNotTLS}},
		{"HTTP", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), serverFlight{kind: flightNotTLS}},
		{"SSH banner", []byte("SSH-2.0-OpenSSH_9.6\r\n"), serverFlight{kind: flightNotTLS}},
		{"application data first", tlsRecords(23, []byte("x")), serverFlight{kind: flightNotTLS}},
		{"version 2", []byte{22, 2, 0, 0, 4}, serverFlight{kind: flightNotTLS}},
		{"empty record", []byte{22, 3, 3, 0, 0}, serverFlight{kind: flightNotTLS}},
		{"huge record", []byte{22, 3, 3, 0xff, 0xff}, serverFlight{kind: flightNotTLS}},
		{"certificate first", tlsRecords(22, []byte{11, 0, 0, 3, 0, 0, 0}), serverFlight{kind: flightNotTLS}},
		{"ServerHello too short", tlsRecords(22, []byte{2, 0, 0, 4, 3, 3, 0, 0}), serverFlight{kind: flightNotTLS}},
		{"ServerHello bad legacy version", tlsRecords(22, craftServerHello(0x0202, 0)), serverFlight{kind: flightNotTLS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recognizeServerFlight(tt.in); got != tt.want {
				t.Errorf("recognizeServerFlight(% x) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTLSHelloSpec(t *testing.T) {
	_, certFile, keyFile := tlsHelloCert(t, "client")
	tests := []struct {
		name  string
		spec  Spec
		field string
	}{
		{"cert without key", Spec{CertFile: certFile}, "key_file"},
		{"key without cert", Spec{KeyFile: keyFile}, "cert_file"},
		{"missing file", Spec{CertFile: certFile + ".missing", KeyFile: keyFile}, "cert_file"},
		{"key is not a key", Spec{CertFile: certFile, KeyFile: certFile}, "cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.Address, s.Timeout = "127.0.0.1:443", time.Second
			_, err := New("tls-hello", s)
			if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Field != tt.field {
				t.Errorf("New: %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
}
