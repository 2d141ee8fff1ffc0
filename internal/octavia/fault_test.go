package octavia

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFault: a 4xx answer is a client fault, a 5xx one a server fault
// (501 aside), with the message as faultstring and a null debuginfo.
func TestFault(t *testing.T) {
	for status, want := range map[int]string{
		400: "Client", 401: "Client", 403: "Client", 404: "Client", 409: "Client",
		500: "Server", 503: "Server", 501: "Client",
	} {
		rec := httptest.NewRecorder()
		WriteFault(rec, status, "it went wrong")
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d: %v: %s", status, err, rec.Body)
		}
		if rec.Code != status || rec.Header().Get("Content-Type") != "application/json" ||
			body["faultcode"] != want || body["faultstring"] != "it went wrong" || body["debuginfo"] != nil || len(body) != 3 {
			t.Errorf("%d: %d %s %v; want %d, faultcode %s", status, rec.Code, rec.Header().Get("Content-Type"), body, status, want)
		}
	}
	if got := FaultCode(http.StatusServiceUnavailable); got != "Server" {
		t.Errorf("FaultCode(503) = %q", got)
	}
}
