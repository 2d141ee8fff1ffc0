package octavia

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// placeholders are tokens from examples and defaults that must never
// protect an API: New refuses them.
var placeholders = []string{"notused", "not-used", "none", "null", "token", "changeme", "secret", "password", "admin", "test"}

func checkToken(tok string) error {
	if tok == "" {
		return nil
	}
	if slices.Contains(placeholders, strings.ToLower(strings.TrimSpace(tok))) {
		return fmt.Errorf("octavia api: the token %q is a placeholder; write a random token (e.g. openssl rand -hex 32) to the token file", tok)
	}
	if strings.TrimSpace(tok) != tok {
		return fmt.Errorf("octavia api: the token has leading or trailing white space")
	}
	return nil
}

type trustedKey struct{}

// WithTrusted marks a request context as trusted (a connection on the
// admin unix socket): it needs no token. Use it in http.Server's
// ConnContext.
func WithTrusted(ctx context.Context) context.Context {
	return context.WithValue(ctx, trustedKey{}, true)
}

// Trusted reports whether ctx was marked by WithTrusted.
func Trusted(ctx context.Context) bool {
	t, _ := ctx.Value(trustedKey{}).(bool)
	return t
}

// authenticate checks X-Auth-Token against the configured token in
// constant time; nil means the request may proceed.
func (h *Handler) authenticate(r *http.Request) *Fault {
	if h.opts.Token == "" || Trusted(r.Context()) {
		return nil
	}
	got := r.Header.Get("X-Auth-Token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1 {
		return nil
	}
	return fault(http.StatusUnauthorized, msgAuthRequired)
}
