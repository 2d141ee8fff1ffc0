package octavia

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	model "vitals/internal/octavia"
)

// unsupportedFields are the request fields Octavia defines that vitals
// does not serve (TLS, L7, graph creation, additional VIPs): an empty
// value (null, "", false, [], {} or client_authentication NONE) is
// accepted and ignored, any other is refused with 501 in Octavia's
// provider wording, rather than as an unknown attribute.
var unsupportedFields = map[string][]string{
	"loadbalancer": {"additional_vips", "vip_sg_ids", "listeners", "pools", "vip_vnic_type"},
	"listener": {"default_tls_container_ref", "sni_container_refs", "insert_headers", "l7policies",
		"client_ca_tls_container_ref", "client_authentication", "client_crl_container_ref", "tls_ciphers",
		"tls_versions", "alpn_protocols", "hsts_max_age", "hsts_include_subdomains", "hsts_preload", "default_pool"},
	"pool": {"tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers",
		"tls_versions", "alpn_protocols", "members", "healthmonitor"},
	"member": {"request_sriov", "vnic_type"},
}

func emptyValue(field string, raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "null", `""`, "false", "[]", "{}", "0":
		return true
	case `"NONE"`:
		return field == "client_authentication"
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		switch v := v.(type) {
		case []any:
			return len(v) == 0
		case map[string]any:
			return len(v) == 0
		}
	}
	return false
}

// dropUnsupported removes the empty unsupported fields from b and
// refuses a set one.
func (b *body) dropUnsupported(key string) error {
	list := unsupportedFields[key]
	changed := false
	for f, raw := range b.fields {
		if !slices.Contains(list, f) {
			continue
		}
		if !emptyValue(f, raw) {
			return fault(http.StatusNotImplemented, "Provider '%s' does not support a requested option: %s %s", model.Provider, key, f)
		}
		delete(b.fields, f)
		changed = true
	}
	if changed {
		raw, err := json.Marshal(b.fields)
		if err != nil {
			return err
		}
		b.raw = raw
	}
	return nil
}
