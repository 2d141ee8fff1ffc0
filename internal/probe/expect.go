package probe

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// maxReply is the most a tcp or udp-connect check reads of a reply: 64 KiB.
const maxReply = 64 << 10

// replyClip is how many bytes of a reply (or of an expected string) a
// reason quotes.
const replyClip = 60

// replyWant is the reply a tcp or udp-connect check wants, from the spec's
// expect (a substring) or expect_regex (an RE2 expression). At most one is
// set; the zero value wants nothing, and any reply, or none, will do.
type replyWant struct {
	substr string         // expect; "" when unset
	re     *regexp.Regexp // expect_regex, compiled at New; nil when unset
}

// newReplyWant validates expect and expect_regex and compiles the regexp.
func newReplyWant(s Spec) (replyWant, error) {
	if s.Expect != "" && s.ExpectRegex != "" {
		return replyWant{}, &FieldError{Field: "expect_regex", Msg: "set only one of expect and expect_regex"}
	}
	if s.ExpectRegex == "" {
		return replyWant{substr: s.Expect}, nil
	}
	re, err := regexp.Compile(s.ExpectRegex)
	if err != nil {
		return replyWant{}, &FieldError{Field: "expect_regex", Msg: fmt.Sprintf("invalid regular expression: %v", err)}
	}
	return replyWant{re: re}, nil
}

// set reports whether a reply is wanted at all.
func (w replyWant) set() bool { return w.substr != "" || w.re != nil }

// match reports whether reply is what the check wants.
func (w replyWant) match(reply []byte) bool { return w.matchGrown(reply, 0) }

// matchGrown is match for a reply whose first old bytes are known not to
// match: a substring is searched for only where it could newly appear. A
// regexp is run over the whole reply again, as it may be anchored; the
// 64 KiB limit and the deadline bound that work.
func (w replyWant) matchGrown(reply []byte, old int) bool {
	switch {
	case w.re != nil:
		return w.re.Match(reply)
	case w.substr != "":
		return bytes.Contains(reply[max(0, old-len(w.substr)+1):], []byte(w.substr))
	}
	return true
}

// matched is the detail of a passing check, e.g. `reply contains "+PONG"`.
func (w replyWant) matched() string {
	if w.re != nil {
		return "reply matches /" + w.re.String() + "/"
	}
	return "reply contains " + clipQuote([]byte(w.substr))
}

// mismatch is the error for a reply that is not what the check wants, e.g.
// `reply "-ERR unknown" does not contain "+PONG"`.
func (w replyWant) mismatch(reply []byte) error {
	if w.re != nil {
		return mismatch("reply %s does not match /%s/", clipQuote(reply), w.re)
	}
	return mismatch("reply %s does not contain %s", clipQuote(reply), clipQuote([]byte(w.substr)))
}

// readStreamReply reads from a stream until what it has read matches w, the
// peer closes the stream, maxReply bytes have arrived, or a read fails (at
// the connection's deadline, for instance). It never trusts a single Read.
// matched reports whether the reply matched; err is the read error that
// ended the reply, io.EOF when the peer closed, or nil.
func readStreamReply(r io.Reader, w replyWant) (reply []byte, matched bool, err error) {
	buf := make([]byte, 0, 512)
	for len(buf) < maxReply {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the next size
		}
		old := len(buf)
		n, err := r.Read(buf[old:min(cap(buf), maxReply)])
		buf = buf[:old+n]
		if n > 0 && w.matchGrown(buf, old) {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// clipQuote quotes b as a Go string, clipped to replyClip bytes (on a rune
// boundary when b is text) with "…" after the closing quote when clipped.
func clipQuote(b []byte) string {
	if len(b) <= replyClip {
		return strconv.Quote(string(b))
	}
	cut := replyClip
	for i := 1; i < utf8.UTFMax && !utf8.RuneStart(b[cut]); i++ {
		cut--
	}
	if !utf8.RuneStart(b[cut]) {
		cut = replyClip // not text: cut anywhere
	}
	return strconv.Quote(string(b[:cut])) + "…"
}
