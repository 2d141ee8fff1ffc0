package statuspage_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"vitals/internal/buildinfo"
	"vitals/internal/statuspage"
)

// TestFooterShowsVersion: the page's footer names the running version,
// escaped, and no placeholder is left.
func TestFooterShowsVersion(t *testing.T) {
	buildinfo.Set("v1.0.0-2-g<b>")
	rec := httptest.NewRecorder()
	statuspage.ServeHTML(rec, "/events", false)
	body := rec.Body.String()
	if !strings.Contains(body, `<footer>vitals <span id="version">v1.0.0-2-g&lt;b&gt;</span></footer>`) {
		t.Errorf("the footer does not show the escaped version:\n%s", body[strings.Index(body, "</main>"):][:200])
	}
	if strings.Contains(body, "{{") {
		t.Error("a {{placeholder}} is left in the page")
	}
}
