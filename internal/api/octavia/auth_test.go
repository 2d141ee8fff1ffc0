package octavia

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTokenRefusesPlaceholders(t *testing.T) {
	s := newServer(t, Options{})
	for _, tok := range []string{"notused", "NOTUSED", "changeme", " padded-token "} {
		if _, err := New(Options{Store: s.store, Token: tok}); err == nil {
			t.Errorf("New accepted the token %q", tok)
		}
	}
	if _, err := New(Options{Store: s.store, Token: "1f3a9c0e7b5d4a28"}); err != nil {
		t.Errorf("New refused a real token: %v", err)
	}
}

func TestAuth(t *testing.T) {
	const tok = "1f3a9c0e7b5d4a28"
	s := newServer(t, Options{Token: tok})
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/", "", 200}, // version discovery is open
		{"/v2.0/lbaas/loadbalancers", "", 401},
		{"/v2.0/lbaas/loadbalancers", "wrong", 401},
		{"/v2.0/lbaas/loadbalancers", tok + "x", 401},
		{"/v2/lbaas/pools", "", 401},
		{"/v2.0/lbaas/loadbalancers", tok, 200},
	} {
		if got := get(c.path, c.token); got != c.want {
			t.Errorf("GET %s with token %q: %d, want %d", c.path, c.token, got, c.want)
		}
	}
	s.token = ""
	r := s.do(t, "POST", "/v2.0/lbaas/loadbalancers", `{"loadbalancer": {}}`)
	if _, msg := r.fault(t); r.code != 401 || msg != msgAuthRequired {
		t.Errorf("unauthenticated write: %d %s", r.code, r.raw)
	}
	if rev := revision(t, s.store); rev != 0 {
		t.Errorf("an unauthenticated write changed the store: revision %d", rev)
	}

	// A trusted connection (the admin unix socket) needs no token.
	h, err := New(Options{Store: s.store, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	trusted := httptest.NewUnstartedServer(h)
	trusted.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context { return WithTrusted(ctx) }
	trusted.Start()
	defer trusted.Close()
	resp, err := trusted.Client().Post(trusted.URL+"/v2.0/lbaas/loadbalancers", "application/json", strings.NewReader(`{"loadbalancer": {"name": "t"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("trusted write: %d", resp.StatusCode)
	}
}

func TestVersions(t *testing.T) {
	s := newServer(t, Options{Token: "1f3a9c0e7b5d4a28"})
	s.token = ""
	body := s.must(t, 200, "GET", "/", nil)
	vs := body["versions"].([]any)
	first, last := vs[0].(map[string]any), vs[len(vs)-1].(map[string]any)
	if first["id"] != "v2.0" || first["status"] != "SUPPORTED" || last["status"] != "CURRENT" {
		t.Errorf("versions: first %v last %v", first, last)
	}
	links := first["links"].([]any)
	if href := links[0].(map[string]any)["href"]; href != s.URL+"/v2" {
		t.Errorf("self link %v", href)
	}
	s.token = "1f3a9c0e7b5d4a28"
	r := s.do(t, "PATCH", "/v2/lbaas/loadbalancers", "")
	if _, msg := r.fault(t); r.code != 405 || msg != "The method PATCH is not allowed for this resource." {
		t.Errorf("PATCH: %d %s", r.code, r.raw)
	}
	r = s.do(t, "GET", "/v3/nothing", "")
	if _, msg := r.fault(t); r.code != 404 || msg != "The resource could not be found." {
		t.Errorf("unknown path: %d %s", r.code, r.raw)
	}
}

// TestReadOnly: in file mode every write is refused with a fault that
// says why, reads still work, and the store does not change.
func TestReadOnly(t *testing.T) {
	const why = "vitals lb runs from the configuration file lb.yaml: edit it and reload"
	s := newServer(t, Options{ReadOnly: why})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v2.0/lbaas/loadbalancers", `{"loadbalancer": {}}`},
		{"PUT", "/v2.0/lbaas/pools/x/members", `{"members": []}`},
		{"DELETE", "/v2/lbaas/healthmonitors/x", ""},
	} {
		r := s.do(t, c.method, c.path, c.body)
		if _, msg := r.fault(t); r.code != 403 || msg != why {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.code, r.raw)
		}
	}
	s.must(t, 200, "GET", "/v2.0/lbaas/loadbalancers", nil)
	if rev := revision(t, s.store); rev != 0 {
		t.Errorf("revision %d after refused writes", rev)
	}
}
