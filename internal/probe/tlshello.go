package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// tlsHelloCheck sends a real TLS ClientHello and passes once a ServerHello
// comes back, however the rest of the handshake goes. A server that demands
// a client certificate the check does not have still passes: it answered
// in TLS, which is what the check asks.
type tlsHelloCheck struct {
	addr string      // host:port
	cfg  *tls.Config // shared by all runs; never modified after New
}

// tlsFirstBytes is how much of the server's first flight a tls-hello check
// keeps to judge it: enough for any ServerHello.
const tlsFirstBytes = 4096

func newTLSHello(s Spec) (checker, error) {
	// Offer as much as crypto/tls can speak, so that the check judges the
	// server's TLS and not our taste in ciphers.
	var suites []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites = append(suites, cs.ID)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS10,
		MaxVersion:         tls.VersionTLS13,
		CipherSuites:       suites,
		InsecureSkipVerify: true, // we test that TLS answers, not who
	}
	host, _, _ := net.SplitHostPort(s.Address)
	switch {
	case s.DomainName != "":
		cfg.ServerName = s.DomainName
	case net.ParseIP(host) == nil:
		cfg.ServerName = host
	}
	switch {
	case s.CertFile != "" && s.KeyFile == "":
		return nil, &FieldError{Field: "key_file", Msg: "is required with cert_file"}
	case s.KeyFile != "" && s.CertFile == "":
		return nil, &FieldError{Field: "cert_file", Msg: "is required with key_file"}
	case s.CertFile != "":
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, &FieldError{Field: "cert_file", Msg: fmt.Sprintf("cannot load client certificate: %v", err)}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &tlsHelloCheck{addr: s.Address, cfg: cfg}, nil
}

// check connects and runs a TLS handshake over a connection that records
// the first bytes the server sends, then judges those bytes, whether the
// handshake succeeded or not. Reasons:
//
//	ServerHello received, TLS 1.3                        (pass)
//	server sent TLS alert protocol version               (fail)
//	reply "HTTP/1.1 400 Bad Request\r\n\r\n" is not a TLS ServerHello (fail)
//	TLS handshake: connection closed by peer             (fail)
//	timeout after 1s during TLS handshake                (fail, from judge)
func (c *tlsHelloCheck) check(ctx context.Context) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return "", step("connect "+c.addr, err)
	}
	defer conn.Close()
	setConnDeadline(ctx, conn)

	rec := &recordingConn{Conn: conn}
	tc := tls.Client(rec, c.cfg)
	herr := tc.HandshakeContext(ctx)
	if herr == nil {
		defer tc.Close() // sends close_notify before the deferred conn.Close
	}
	f := recognizeServerFlight(rec.got)
	switch f.kind {
	case flightServerHello:
		v := f.version
		if herr == nil {
			v = tc.ConnectionState().Version
		}
		if v == 0 {
			return "ServerHello received", nil
		}
		return "ServerHello received, " + tls.VersionName(v), nil
	case flightAlert:
		return "", mismatch("server sent TLS alert %s", alertName(f.alert))
	case flightNotTLS:
		return "", mismatch("reply %s is not a TLS ServerHello", clipQuote(rec.got))
	}
	if herr == nil {
		// crypto/tls cannot finish a handshake without a ServerHello.
		return "", errors.New("TLS handshake completed but no ServerHello was recorded")
	}
	return "", ioStepErr(ctx, "TLS handshake", herr)
}

// recordingConn keeps the first tlsFirstBytes bytes read from a connection.
// Only the goroutine running the handshake reads, so got needs no lock;
// read it after the handshake returns.
type recordingConn struct {
	net.Conn
	got []byte
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if room := tlsFirstBytes - len(c.got); room > 0 && n > 0 {
		c.got = append(c.got, b[:min(n, room)]...)
	}
	return n, err
}

// alertName names a TLS alert description, e.g. "handshake failure", or
// gives its number when crypto/tls does not know it.
func alertName(desc uint8) string {
	s := strings.TrimPrefix(tls.AlertError(desc).Error(), "tls: ")
	if strings.HasPrefix(s, "alert(") {
		return strconv.Itoa(int(desc))
	}
	return s
}

// flightKind is what the first bytes from a TLS server are.
type flightKind uint8

const (
	flightIncomplete  flightKind = iota // too few bytes to tell (none at all, say)
	flightServerHello                   // a handshake record starting with a ServerHello
	flightAlert                         // an alert record
	flightNotTLS                        // anything else
)

// serverFlight is the verdict on the first bytes a TLS server sent.
type serverFlight struct {
	kind    flightKind
	version uint16 // the version a ServerHello selects; 0 if not known
	alert   uint8  // the alert's description, for flightAlert
}

// TLS record and handshake constants (RFC 8446).
const (
	recordAlert          = 21
	recordHandshake      = 22
	recordHeaderLen      = 5
	maxRecordLen         = 16384 + 2048 // largest TLSCiphertext fragment
	handshakeServerHello = 2
	minServerHelloLen    = 2 + 32 + 1 + 2 + 1 // version, random, empty session id, suite, compression
	extSupportedVersions = 43
)

// recognizeServerFlight judges the first bytes a server sent in answer to a
// ClientHello. It is a pure function of b and never panics: a handshake
// record (type 22) whose first message is a ServerHello (type 2) of a
// plausible length and legacy_version 3.x is flightServerHello, with the
// version it selects when b holds the whole message; an alert record (type 21) first is flightAlert; a prefix of
// either that is too short to judge is flightIncomplete; anything else is
// flightNotTLS. A ServerHello may span several handshake records.
func recognizeServerFlight(b []byte) serverFlight {
	if !plausibleRecordPrefix(b[:min(len(b), 3)]) {
		return serverFlight{kind: flightNotTLS}
	}
	if len(b) < recordHeaderLen {
		return serverFlight{kind: flightIncomplete}
	}
	if b[0] == recordAlert {
		if n := int(b[3])<<8 | int(b[4]); n < 2 || n > maxRecordLen {
			return serverFlight{kind: flightNotTLS}
		}
		if len(b) < recordHeaderLen+2 {
			return serverFlight{kind: flightIncomplete}
		}
		return serverFlight{kind: flightAlert, alert: b[recordHeaderLen+1]}
	}
	// Gather the handshake bytes of the leading handshake records, until
	// the first message is whole or the bytes run out.
	var hs []byte
	for len(b) >= recordHeaderLen && b[0] == recordHandshake && plausibleRecordPrefix(b[:3]) {
		n := int(b[3])<<8 | int(b[4])
		if n == 0 || n > maxRecordLen {
			if hs == nil {
				return serverFlight{kind: flightNotTLS}
			}
			break
		}
		body := b[recordHeaderLen:min(len(b), recordHeaderLen+n)]
		hs = append(hs, body...)
		if len(body) < n || len(hs) >= 4 && len(hs) >= 4+handshakeLen(hs) {
			break
		}
		b = b[recordHeaderLen+n:]
	}
	if len(hs) == 0 {
		return serverFlight{kind: flightIncomplete}
	}
	if hs[0] != handshakeServerHello {
		return serverFlight{kind: flightNotTLS}
	}
	if len(hs) >= 4 && handshakeLen(hs) < minServerHelloLen {
		return serverFlight{kind: flightNotTLS}
	}
	if len(hs) >= 5 && hs[4] != 3 || len(hs) >= 6 && hs[5] > 4 {
		return serverFlight{kind: flightNotTLS} // legacy_version is 3.0 to 3.3
	}
	if len(hs) < 6 {
		return serverFlight{kind: flightIncomplete} // judge nothing before legacy_version
	}
	msgLen := handshakeLen(hs)
	msg := hs[4:min(len(hs), 4+msgLen)]
	return serverFlight{kind: flightServerHello, version: serverHelloVersion(msg, msgLen)}
}

// handshakeLen is the body length in a handshake message header (hs holds
// at least 4 bytes).
func handshakeLen(hs []byte) int { return int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]) }

// plausibleRecordPrefix reports whether b, up to 3 bytes of a record
// header, could begin an alert or handshake record of TLS 1.0 to 1.3 (or
// SSL 3.0, whose alert a server may still send).
func plausibleRecordPrefix(b []byte) bool {
	if len(b) >= 1 && b[0] != recordAlert && b[0] != recordHandshake {
		return false
	}
	if len(b) >= 2 && b[1] != 3 {
		return false
	}
	return len(b) < 3 || b[2] <= 4
}

// serverHelloVersion returns the version a ServerHello body selects: its
// supported_versions extension if present, else legacy_version. It returns
// 0 when msg is not the whole msgLen-byte body or does not parse.
func serverHelloVersion(msg []byte, msgLen int) uint16 {
	if len(msg) != msgLen {
		return 0
	}
	legacy := uint16(msg[0])<<8 | uint16(msg[1])
	p := msg[34:] // after legacy_version and random
	sid := int(p[0])
	if sid > 32 || len(p) < 1+sid+3 {
		return 0
	}
	p = p[1+sid+3:] // after session id, cipher suite and compression
	if len(p) == 0 {
		return legacy // no extensions: TLS 1.2 or older
	}
	if len(p) < 2 || int(p[0])<<8|int(p[1]) != len(p)-2 {
		return 0
	}
	for p = p[2:]; len(p) >= 4; {
		typ, n := int(p[0])<<8|int(p[1]), int(p[2])<<8|int(p[3])
		if len(p) < 4+n {
			return 0
		}
		if typ == extSupportedVersions && n == 2 {
			return uint16(p[4])<<8 | uint16(p[5])
		}
		p = p[4+n:]
	}
	return legacy
}
