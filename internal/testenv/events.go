package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// CheckEventCap checks the cap of cap streams on the server-sent events
// at url: cap streams open at once, each answered 200 with a first
// "data: " line; one more is answered 503 with Retry-After; once one of
// the open streams is closed, a new one is accepted (within 5 s, the time
// the server may take to notice). It closes every stream it opened.
func CheckEventCap(t testing.TB, url string, cap int) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		return client.Do(req)
	}
	// stream opens a stream and reads its first event line; the response
	// is returned open when the server accepted it.
	stream := func(what string) *http.Response {
		t.Helper()
		resp, err := open()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			t.Fatalf("%s: answered %s; want 200 with a stream", what, resp.Status)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: ") {
			resp.Body.Close()
			t.Fatalf("%s: first line %q, %v; want an event", what, line, err)
		}
		return resp
	}
	var streams []*http.Response
	defer func() {
		for _, s := range streams {
			s.Body.Close()
		}
	}()
	for i := range cap {
		streams = append(streams, stream(fmt.Sprintf("stream %d of the cap of %d", i+1, cap)))
	}
	refused := func() (bool, string) {
		resp, err := open()
		if err != nil {
			t.Fatalf("one stream over the cap: %v", err)
		}
		defer resp.Body.Close()
		ok := resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
		return ok, resp.Status + ", Retry-After " + resp.Header.Get("Retry-After")
	}
	if ok, got := refused(); !ok {
		t.Fatalf("stream %d over a cap of %d: %s; want 503 with Retry-After", cap+1, cap, got)
	}
	// One leaves; the next is accepted once the server has seen it go,
	// and fills the cap again.
	streams[0].Body.Close()
	streams = streams[1:]
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := open()
		if err != nil {
			t.Fatalf("a stream after one left: %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			streams = append(streams, resp)
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a stream after one of %d left: still %s after 5 s; want 200", cap, resp.Status)
		}
	}
	if ok, got := refused(); !ok {
		t.Fatalf("stream %d over a cap of %d, after one left and one came: %s; want 503 with Retry-After", cap+1, cap, got)
	}
}
