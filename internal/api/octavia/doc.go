// Package octavia serves the Octavia v2 REST API (/v2/lbaas and /v2.0/lbaas, with version discovery at /) over a store.Store.
package octavia
