package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	api "vitals/internal/api/octavia"
	"vitals/internal/cluster"
	"vitals/internal/controller"
	"vitals/internal/lb"
	"vitals/internal/store"
)

// nodeFlags are the flags of a node sharing a PostgreSQL store.
type nodeFlags struct {
	name, dbPasswordFile *string
	heartbeat, timeout   *time.Duration
}

func defineNodeFlags(fs *flag.FlagSet) *nodeFlags {
	return &nodeFlags{
		name:           fs.String("node", "", "this node's `name` among the nodes sharing a postgres:// store (default: the host name)"),
		dbPasswordFile: fs.String("db-password-file", "", "`file` holding the PostgreSQL password (else PGPASSWORD or ~/.pgpass)"),
		heartbeat:      fs.Duration("node-heartbeat", cluster.DefaultHeartbeat, "how often this node reports itself to the shared store"),
		timeout:        fs.Duration("node-timeout", cluster.DefaultTimeout, "a node that has not reported for this long counts as gone"),
	}
}

// store returns the store the flags name.
func (o *lbRunOpts) store() storeOpts {
	return storeOpts{db: *o.db, passwordFile: *o.node.dbPasswordFile, node: o.node}
}

// nodeName is --node, or the host name.
func (f *nodeFlags) nodeName() (string, error) {
	if f != nil && *f.name != "" {
		return *f.name, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("no --node NAME and no host name (%v): give --node", err)
	}
	return h, nil
}

// startNode makes the controller one node of several: the agent reports
// to the store, holds ACTIVE back until every live node runs a revision,
// and gives the API the active node's statuses and the per-node views.
// It returns nil (and changes nothing) for a store of one node (SQLite).
func startNode(ctx context.Context, so storeOpts, s store.Store, ctl *controller.Controller, p *lb.Plane, log *slog.Logger) (*cluster.Agent, error) {
	if !so.shared() {
		return nil, nil
	}
	name, err := so.node.nodeName()
	if err != nil {
		return nil, err
	}
	a, err := cluster.New(cluster.Options{
		Name: name, Store: s, Heartbeat: *so.node.heartbeat, Timeout: *so.node.timeout,
		Statuses: p.OperatingStatuses,
		Serving:  func() bool { return ctx.Err() == nil && ctl.Current() != nil },
		Poke:     ctl.Poke, Log: log,
	})
	if err != nil {
		return nil, err
	}
	ctl.Reconciled, ctl.Ready = a.Reconciled, a.Ready
	if err := p.Register(a); err != nil {
		return nil, err
	}
	log.Info("node of a shared store", "node", name, "store", so.name(), "heartbeat", *so.node.heartbeat, "timeout", *so.node.timeout)
	return a, nil
}

// runController runs the controller until ctx ends. With several nodes
// a store error (the database went away) does not stop it: it logs,
// waits and starts again, while the lb keeps its last configuration.
func runController(ctx context.Context, ctl *controller.Controller, a *cluster.Agent, log *slog.Logger) {
	for {
		err := ctl.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if a == nil {
			log.Error("controller stopped: changes in the store are no longer applied", "err", err)
			return
		}
		log.Warn("controller: the store failed; the running configuration stays, retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// nodeAPI adds the cluster's views to the API's options.
func nodeAPI(o api.Options, a *cluster.Agent) api.Options {
	if a != nil {
		o.Statuses = cluster.Statuses{Agent: a, Local: o.Statuses}
		o.Nodes = a
	}
	return o
}

// vrrpRoutes serves keepalived on the admin endpoint:
//
//	GET  /vrrp/check  200 while this node serves (its listeners run a
//	                  configuration from the store), 503 otherwise: for
//	                  track_script (vitals lb vrrp-check)
//	POST /vrrp/state  {"state": "MASTER"|"BACKUP"|"FAULT"}: keepalived's
//	                  notify script (vitals lb vrrp-state); over the unix
//	                  socket, or over TCP with the admin token
func vrrpRoutes(mux *http.ServeMux, ctx context.Context, ctl *controller.Controller, a *cluster.Agent, token string) {
	mux.HandleFunc("GET /vrrp/check", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case ctx.Err() != nil:
			writeAPIFault(w, http.StatusServiceUnavailable, "vitals lb is stopping")
		case ctl.Current() == nil:
			writeAPIFault(w, http.StatusServiceUnavailable, "vitals lb has applied no configuration from the store yet")
		default:
			v := map[string]any{"serving": true}
			if a != nil {
				st := a.State()
				v["node"], v["store_up"], v["applied_revision"], v["vrrp_role"] = a.Name(), st.StoreUp, st.AppliedRevision, st.Role
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		}
	})
	mux.HandleFunc("POST /vrrp/state", func(w http.ResponseWriter, r *http.Request) {
		if !adminAllowed(r, token) {
			writeAPIFault(w, http.StatusUnauthorized, "A VRRP state over TCP needs the admin token in X-Auth-Token.")
			return
		}
		if a == nil {
			writeAPIFault(w, http.StatusConflict, "This vitals lb is not a node of a shared store (--db postgres://…): it has no VRRP state.")
			return
		}
		var body struct {
			State string `json:"state"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			writeAPIFault(w, http.StatusBadRequest, `Want {"state": "MASTER"|"BACKUP"|"FAULT"}: `+err.Error())
			return
		}
		if err := a.SetRole(strings.ToUpper(body.State)); err != nil {
			writeAPIFault(w, http.StatusBadRequest, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"node": a.Name(), "vrrp_role": a.State().Role})
	})
}
