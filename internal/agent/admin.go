package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The admin socket speaks HTTP over a unix socket (mode 0600, so only the
// agent's user and root reach it). There is no network admin surface.
//
//	GET  /state                       → {"maintenance":false,"drain":false}
//	POST /maintenance?state=on|off    → the new state
//	POST /drain?state=on|off          → the new state
//	POST /reload                      → 200, or 422 with the reason the config was rejected

// SetReloader sets how Reload reads the configuration again (the file the
// agent was started with).
func (a *Agent) SetReloader(load func() (*Config, error)) {
	a.mu.Lock()
	a.reload = load
	a.mu.Unlock()
}

// Reload reads the configuration again and applies it. A configuration that
// does not load is rejected, logged, and the old one keeps serving.
func (a *Agent) Reload() error {
	a.mu.Lock()
	load := a.reload
	a.mu.Unlock()
	if load == nil {
		return errors.New("this agent has no configuration file to reload")
	}
	a.notify.Reloading()
	cfg, err := load()
	if err == nil {
		err = a.Apply(cfg)
	}
	if err != nil {
		a.log.Error("reload rejected; the old configuration keeps serving", "err", err)
		a.notify.Ready("reload rejected; the old configuration keeps serving")
		return err
	}
	a.log.Info("configuration reloaded", "checks", len(cfg.Checks))
	a.notify.Ready(fmt.Sprintf("configuration reloaded: %d checks", len(cfg.Checks)))
	return nil
}

func (a *Agent) adminHandler() http.Handler {
	mux := http.NewServeMux()
	writeState := func(w http.ResponseWriter, st AdminState, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]any{"maintenance": st.Maintenance, "drain": st.Drain, "error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(st)
	}
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, _ *http.Request) {
		writeState(w, a.State(), nil)
	})
	toggle := func(set func(*AdminState, bool)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var on bool
			switch r.URL.Query().Get("state") {
			case "on":
				on = true
			case "off":
			default:
				http.Error(w, "state must be on or off", http.StatusBadRequest)
				return
			}
			st, err := a.SetState(func(s *AdminState) { set(s, on) })
			writeState(w, st, err)
		}
	}
	mux.HandleFunc("POST /maintenance", toggle(func(s *AdminState, on bool) { s.Maintenance, s.Reason = on, "" }))
	mux.HandleFunc("POST /drain", toggle(func(s *AdminState, on bool) { s.Drain = on }))
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		io.WriteString(w, "reloaded\n")
	})
	return mux
}

// AdminClient talks to a running agent over its admin socket.
type AdminClient struct {
	hc *http.Client
}

// NewAdminClient returns a client for the agent listening on socket.
func NewAdminClient(socket string) *AdminClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &AdminClient{hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// Do sends one admin request, e.g. Do(ctx, "POST", "/maintenance?state=on"),
// and returns the body. A non-2xx answer is an error holding the body.
func (c *AdminClient) Do(ctx context.Context, method, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	body := strings.TrimSpace(string(b))
	if resp.StatusCode/100 != 2 {
		return body, errors.New(body)
	}
	return body, nil
}
