package octavia

import (
	"encoding/json"
	"net/http"
)

// FaultCode is the faultcode of Octavia's error body for an answer with
// HTTP status: "Server" for a server error, "Client" otherwise (501 Not
// Implemented, what Octavia answers for a feature a provider lacks, is a
// client fault). Every fault vitals writes takes it from here.
func FaultCode(status int) string {
	if status >= 500 && status != http.StatusNotImplemented {
		return "Server"
	}
	return "Client"
}

// WriteFault answers status with Octavia's error body:
// {"faultcode": FaultCode(status), "faultstring": msg, "debuginfo": null}.
func WriteFault(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"faultcode": FaultCode(status), "faultstring": msg, "debuginfo": nil})
}
