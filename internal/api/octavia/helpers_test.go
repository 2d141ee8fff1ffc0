package octavia

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"vitals/internal/store"
	"vitals/internal/store/sqlite"
)

// apiServer is the handler over an in-memory store, served on loopback.
type apiServer struct {
	*httptest.Server
	store store.Store
	token string
}

func newServer(t *testing.T, opts Options) *apiServer {
	t.Helper()
	if opts.Store == nil {
		s, err := sqlite.OpenMemory(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		opts.Store = s
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apiServer{Server: srv, store: opts.Store, token: opts.Token}
}

// response is one answer, with its body decoded.
type response struct {
	code int
	raw  []byte
	body map[string]any
}

func (r response) fault(t *testing.T) (string, string) {
	t.Helper()
	var f struct {
		FaultCode   string          `json:"faultcode"`
		FaultString string          `json:"faultstring"`
		DebugInfo   json.RawMessage `json:"debuginfo"`
	}
	if err := json.Unmarshal(r.raw, &f); err != nil || string(f.DebugInfo) != "null" {
		t.Fatalf("not an Octavia fault (%v): %s", err, r.raw)
	}
	return f.FaultCode, f.FaultString
}

// do sends a request with a raw body ("" for none).
func (s *apiServer) do(t *testing.T, method, path, body string) response {
	t.Helper()
	r, err := s.try(t.Context(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is do for other goroutines than the test's: it returns errors.
func (s *apiServer) try(ctx context.Context, method, path, body string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if s.token != "" {
		req.Header.Set("X-Auth-Token", s.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{code: resp.StatusCode, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&r.body); err != nil {
			return r, fmt.Errorf("%s %s: %d, body is not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return r, nil
}

// must sends a request and fails the test unless the code is want.
func (s *apiServer) must(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	var b string
	switch v := body.(type) {
	case nil:
	case string:
		b = v
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	r := s.do(t, method, path, b)
	if r.code != want {
		t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.code, want, r.raw)
	}
	return r.body
}

// obj returns body[key] as an object.
func obj(t *testing.T, body map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := body[key].(map[string]any)
	if !ok {
		t.Fatalf("no object %q in %v", key, body)
	}
	return o
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

type M = map[string]any
