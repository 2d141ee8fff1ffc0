package octavia

import (
	"net/http"

	model "vitals/internal/octavia"
)

// providerView is one provider driver, as GET /providers lists it.
type providerView struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// providers are the drivers this API offers: vitals only, the value of
// every load balancer's provider field.
var providers = []providerView{{Name: model.Provider, Description: "vitals: the TCP load balancer in this process"}}

// listProviders serves GET /providers, which `openstack loadbalancer
// provider list` reads.
func (h *Handler) listProviders(w http.ResponseWriter, r *http.Request) error {
	views := make([]any, len(providers))
	for i, p := range providers {
		views[i] = p
	}
	return writeList(w, r, "providers", providerView{}, views)
}
