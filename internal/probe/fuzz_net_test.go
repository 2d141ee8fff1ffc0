package probe

import (
	"bytes"
	"crypto/tls"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// FuzzRecognizeServerFlight checks that the ServerHello recognizer never
// panics, agrees with the record type it saw, and never changes its mind
// as more bytes arrive: every prefix of an input is either incomplete or
// judged the same way as the whole.
func FuzzRecognizeServerFlight(f *testing.F) {
	f.Add([]byte{})
	f.Add(tlsRecords(22, craftServerHello(tls.VersionTLS12, 0)))
	f.Add(tlsRecords(22, craftServerHello(tls.VersionTLS12, tls.VersionTLS13)))
	f.Add(tlsRecords(22, craftServerHello(tls.VersionTLS12, tls.VersionTLS13), 1, 2, 3))
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40})
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Add([]byte{22, 3, 1, 0, 4, 2, 0, 0, 0x26, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := recognizeServerFlight(b)
		switch got.kind {
		case flightServerHello:
			if b[0] != recordHandshake {
				t.Fatalf("ServerHello from record type %d", b[0])
			}
		case flightAlert:
			if b[0] != recordAlert || got.alert != b[6] {
				t.Fatalf("alert %d from % x", got.alert, b[:7])
			}
		}
		if got.version != 0 && got.kind != flightServerHello {
			t.Fatalf("version %x without a ServerHello", got.version)
		}
		if got.kind == flightIncomplete {
			return
		}
		for i := range len(b) {
			p := recognizeServerFlight(b[:i])
			if p.kind != flightIncomplete && p.kind != got.kind {
				t.Fatalf("prefix of %d bytes is %d, whole (%d bytes) is %d", i, p.kind, len(b), got.kind)
			}
		}
	})
}

// FuzzEchoClassify checks that the echo matcher never panics on whatever
// arrives on an ICMP socket, and matches only echo replies that carry the
// request's sequence number and payload.
func FuzzEchoClassify(f *testing.F) {
	data := []byte("0123456789abcdef")
	for _, typ := range []icmp.Type{ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeEcho, ipv6.ICMPTypeEchoReply} {
		b, _ := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: 1, Seq: 2, Data: data}}).Marshal(nil)
		f.Add(b, typ.Protocol() == protoICMPv6, true)
	}
	b, _ := (&icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &icmp.DstUnreach{Data: invoking(false, 8, 1, 2)}}).Marshal(nil)
	f.Add(b, false, true)
	b, _ = (&icmp.Message{Type: ipv6.ICMPTypeTimeExceeded, Body: &icmp.TimeExceeded{Data: invoking(true, 128, 1, 2)}}).Marshal(nil)
	f.Add(b, true, false)
	f.Fuzz(func(t *testing.T, b []byte, v6, checkID bool) {
		p := echoProbe{v6: v6, id: 1, seq: 2, data: data, checkID: checkID}
		got, why := p.classify(b)
		if (got == echoError) != (why != "") {
			t.Fatalf("verdict %d with reason %q", got, why)
		}
		if got != echoMatched {
			return
		}
		proto := protoICMP
		if v6 {
			proto = protoICMPv6
		}
		m, err := icmp.ParseMessage(proto, b)
		if err != nil {
			t.Fatalf("matched a message that does not parse: %v", err)
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.Seq != 2 || string(e.Data) != string(data) || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			t.Fatalf("matched %v %+v", m.Type, m.Body)
		}
	})
}

// FuzzClipQuote checks that a quoted reply is one line of valid UTF-8,
// bounded in length, and the exact reply when short enough.
func FuzzClipQuote(f *testing.F) {
	f.Add([]byte("+PONG\r\n"))
	f.Add([]byte(strings.Repeat("é", 40)))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		q := clipQuote(b)
		if !utf8.ValidString(q) || strings.ContainsAny(q, "\r\n") {
			t.Fatalf("clipQuote = %q", q)
		}
		if len(q) > 2+4*replyClip+len("…") {
			t.Fatalf("clipQuote gave %d bytes", len(q))
		}
		body, clipped := strings.CutSuffix(q, "…")
		s, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("clipQuote = %s: %v", q, err)
		}
		if !clipped && s != string(b) || clipped && !strings.HasPrefix(string(b), s) {
			t.Fatalf("clipQuote(%q) = %s", b, q)
		}
	})
}

// FuzzReadStreamReply checks that reading a reply in pieces of any size
// finds a substring exactly when the whole reply holds it, and stops right
// after its first occurrence.
func FuzzReadStreamReply(f *testing.F) {
	f.Add([]byte("+PONG\r\n"), "PONG", uint8(1))
	f.Add([]byte("aaab"), "aab", uint8(2))
	f.Add([]byte("xyz"), "q", uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, substr string, chunk uint8) {
		if substr == "" {
			return
		}
		w := replyWant{substr: substr}
		r := &chunkReader{b: in, n: int(chunk%16) + 1}
		reply, matched, _ := readStreamReply(r, w)
		whole := in[:min(len(in), maxReply)]
		if want := bytes.Contains(whole, []byte(substr)); matched != want {
			t.Fatalf("matched %v, want %v", matched, want)
		}
		if !bytes.HasPrefix(in, reply) {
			t.Fatalf("reply %q is not a prefix of the input", reply)
		}
		// The read that completed the first match is the last one.
		if end := bytes.Index(reply, []byte(substr)) + len(substr); matched && len(reply)-end >= r.n {
			t.Fatalf("read on after the match: %q", reply)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}
