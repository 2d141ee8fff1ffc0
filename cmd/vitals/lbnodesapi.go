package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"vitals/internal/cluster"
	"vitals/internal/lb"
	"vitals/internal/store"
)

// nodeRoutes serves the operator's view of the nodes sharing the store
// on the admin endpoint, over the unix socket, or over TCP with the admin
// token (as the API of --db mode: the list holds apply errors):
//
//	GET    /nodes         {"nodes": [...], "node_timeout_seconds": 5}: every node
//	                      that reported (vitals lb nodes)
//	DELETE /nodes/{name}  forget a gone node and its statuses (vitals lb nodes
//	                      forget): 404 for a name the store does not have, 409 for
//	                      a node that is alive or the one that answers
//
// Without a shared store (--config, or a SQLite --db) a is nil and both
// answer 409: there are no nodes.
func nodeRoutes(mux *http.ServeMux, a *cluster.Agent, token string) {
	guard := func(what string, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !adminAllowed(r, token) {
				writeAPIFault(w, http.StatusUnauthorized, what+" over TCP needs the admin token in X-Auth-Token (the unix socket needs none).")
				return
			}
			if a == nil {
				writeAPIFault(w, http.StatusConflict, noNodesFault)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /nodes", guard("Listing the nodes", func(w http.ResponseWriter, r *http.Request) {
		views, err := a.NodeViews(r.Context())
		if err != nil {
			writeAPIFault(w, storeFaultCode(err), "Cannot read the nodes: "+err.Error())
			return
		}
		list := lb.NodeList{Nodes: make([]lb.NodeSummary, 0, len(views)), Timeout: a.Timeout().Seconds()}
		for _, v := range views {
			list.Nodes = append(list.Nodes, lb.NodeSummary{Name: v.Name, Alive: v.Alive, Active: v.Active, Self: v.Self,
				LastSeen: v.LastSeen, AppliedRevision: v.AppliedRevision, FailedRevision: v.FailedRevision, ApplyError: v.ApplyError,
				VRRPRole: v.VRRPRole, Serving: v.Serving})
		}
		writeNodesJSON(w, list)
	}))
	forget := guard("Forgetting a node", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if msg := nodeNameProblem(name); msg != "" {
			writeAPIFault(w, http.StatusBadRequest, msg)
			return
		}
		n, err := a.Forget(r.Context(), name)
		switch {
		case errors.Is(err, cluster.ErrNoNode):
			writeAPIFault(w, http.StatusNotFound, fmt.Sprintf("Node %s not found: no node of that name has reported to the store (vitals lb nodes lists them).", name))
		case errors.Is(err, cluster.ErrNodeAlive), errors.Is(err, cluster.ErrNodeSelf):
			writeAPIFault(w, http.StatusConflict, "Refused: "+err.Error()+".")
		case err != nil:
			writeAPIFault(w, storeFaultCode(err), "Cannot forget the node: "+err.Error())
		default:
			writeNodesJSON(w, map[string]any{"node": lb.NodeSummary{Name: n.Name, LastSeen: n.LastSeen, AppliedRevision: n.AppliedRevision,
				FailedRevision: n.FailedRevision, ApplyError: n.ApplyError, VRRPRole: n.VRRPRole, Serving: n.Serving}})
		}
	})
	mux.HandleFunc("DELETE /nodes/{name}", forget)
	// No name: the same guard first, so that the answer over TCP without
	// the token does not depend on the path.
	mux.HandleFunc("DELETE /nodes/{$}", guard("Forgetting a node", func(w http.ResponseWriter, r *http.Request) {
		writeAPIFault(w, http.StatusBadRequest, "Want a node name: DELETE /nodes/NAME.")
	}))
}

// noNodesFault is the answer of the node routes without a shared store.
const noNodesFault = "This vitals lb is not a node of a shared store (--db postgres://…): it has no nodes to list or forget."

// adminAllowed: a request over the unix socket, or over TCP with the admin
// token, may use the admin actions.
func adminAllowed(r *http.Request, token string) bool {
	return lb.IsLocal(r) || (token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Auth-Token")), []byte(token)) == 1)
}

// nodeNameProblem says what is wrong with a name no --node would give
// (control characters, white space at its ends, longer than a host
// name), or "".
func nodeNameProblem(name string) string {
	switch {
	case len(name) > 255:
		return fmt.Sprintf("A node name has at most 255 bytes; this one has %d.", len(name))
	case strings.TrimSpace(name) != name:
		return fmt.Sprintf("Node name %q begins or ends with white space.", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Sprintf("Node name %q holds control characters.", name)
	}
	return ""
}

// storeFaultCode is 503 for a store that cannot be reached, else 500.
func storeFaultCode(err error) int {
	if errors.Is(err, store.ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeNodesJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.Encode(v)
}
