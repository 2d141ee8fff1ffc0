package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// shapesYAML is one load balancer with a monitored pool and a member;
// {SOCKET} and {PORT} are filled per mode.
const shapesYAML = `admin:
  socket: {SOCKET}
loadbalancer:
  name: lb1
  vip_address: 127.0.0.1
  listeners:
    - {name: l1, protocol: TCP, protocol_port: {PORT}, default_pool: pool1}
  pools:
    - name: pool1
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {name: hm1, type: TCP, delay: 1, timeout: 1, max_retries: 1}
      members:
        - {name: m1, address: 127.0.0.1, protocol_port: {MEMBER}}
`

// TestLBSameShapesInBothModes: the same GET under /v2 and /v2.0 answers
// the same JSON shape (the same keys, at every depth) in --config mode
// and in --db mode, for load balancers, listeners, pools, members, health
// monitors, the status tree and the stats: one handler serves both.
func TestLBSameShapesInBothModes(t *testing.T) {
	bin := testenv.BuildVitals(t)
	backend := testenv.StartGreeter(t, "a")
	fill := func(dir string) string {
		return strings.NewReplacer("{SOCKET}", filepath.Join(dir, "lb.sock"), "{PORT}", fmt.Sprint(testenv.FreePort(t)), "{MEMBER}", fmt.Sprint(backend.Port)).Replace(shapesYAML)
	}

	fileDir := t.TempDir()
	fileCfg := filepath.Join(fileDir, "lb.yaml")
	if err := os.WriteFile(fileCfg, []byte(fill(fileDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	fileMode := testenv.StartVitals(t, "lb-file", bin, fileDir, "lb", "--config", fileCfg)

	dbDir := t.TempDir()
	dbCfg, db, settings := filepath.Join(dbDir, "lb.yaml"), filepath.Join(dbDir, "lb.db"), filepath.Join(dbDir, "settings.yaml")
	if err := os.WriteFile(dbCfg, []byte(fill(dbDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(settings, []byte("admin:\n  socket: "+filepath.Join(dbDir, "lb.sock")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runBin(t, bin, "lb", "import", dbCfg, "--db", db); code != 0 {
		t.Fatalf("vitals lb import: exit %d %q %q", code, out, errOut)
	}
	dbMode := testenv.StartVitals(t, "lb-db", bin, dbDir, "lb", "--db", db, "--config", settings)

	type mode struct {
		name string
		v    *testenv.Vitals
		get  func(path string) (int, any, error)
		ids  map[string]string // kind → ID
	}
	modes := []*mode{{name: "--config", v: fileMode}, {name: "--db", v: dbMode}}
	for i, dir := range []string{fileDir, dbDir} {
		sock := filepath.Join(dir, "lb.sock")
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		modes[i].get = func(path string) (int, any, error) {
			resp, err := hc.Get("http://lb" + path)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return 0, nil, err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return resp.StatusCode, nil, fmt.Errorf("%s: %v: %s", path, err, b)
			}
			return resp.StatusCode, v, nil
		}
	}
	for _, m := range modes {
		// Ready: everything ACTIVE and the member checked.
		if err := m.v.WaitReady(func() error {
			code, v, err := m.get("/v2/lbaas/loadbalancers/" + lbIDOf(v2List(m.get, "loadbalancers")) + "/status")
			if err != nil {
				return err
			}
			if b, _ := json.Marshal(v); code != 200 || !strings.Contains(string(b), `"name":"m1","operating_status":"ONLINE"`) {
				return fmt.Errorf("%s: status %d %s", m.name, code, b)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		m.ids = map[string]string{}
		for _, kind := range []string{"loadbalancers", "listeners", "pools", "healthmonitors"} {
			m.ids[kind] = lbIDOf(v2List(m.get, kind))
		}
		m.ids["members"] = lbIDOf(v2List(m.get, "pools/"+m.ids["pools"]+"/members"))
	}

	paths := []string{
		"/v2/lbaas/loadbalancers", "/v2/lbaas/loadbalancers/{loadbalancers}",
		"/v2/lbaas/loadbalancers/{loadbalancers}/status", "/v2/lbaas/loadbalancers/{loadbalancers}/stats",
		"/v2/lbaas/listeners", "/v2/lbaas/listeners/{listeners}", "/v2/lbaas/listeners/{listeners}/stats",
		"/v2/lbaas/pools", "/v2/lbaas/pools/{pools}",
		"/v2/lbaas/pools/{pools}/members", "/v2/lbaas/pools/{pools}/members/{members}",
		"/v2/lbaas/healthmonitors", "/v2/lbaas/healthmonitors/{healthmonitors}",
		"/v2.0/lbaas/loadbalancers/{loadbalancers}/status", "/v2.0/lbaas/pools/{pools}/members",
		"/v2.0/lbaas/healthmonitors/{healthmonitors}",
	}
	for _, p := range paths {
		var shapes [2][]string
		for i, m := range modes {
			path := p
			for kind, id := range m.ids {
				path = strings.ReplaceAll(path, "{"+kind+"}", id)
			}
			code, v, err := m.get(path)
			if err != nil || code != 200 {
				t.Errorf("%s GET %s: %d %v", m.name, path, code, err)
				continue
			}
			shapes[i] = keyPaths(v, "")
		}
		if len(shapes[0]) == 0 || !slices.Equal(shapes[0], shapes[1]) {
			t.Errorf("GET %s: the modes answer different shapes\n--config: %v\n--db:     %v", p, shapes[0], shapes[1])
		}
	}
}

// v2List returns the list a GET /v2/lbaas/{kind} answers.
func v2List(get func(string) (int, any, error), kind string) []any {
	_, v, err := get("/v2/lbaas/" + kind)
	obj, _ := v.(map[string]any)
	if err != nil || obj == nil {
		return nil
	}
	name := kind[strings.LastIndex(kind, "/")+1:]
	list, _ := obj[name].([]any)
	return list
}

// lbIDOf is the ID of a list's first object, or "none".
func lbIDOf(list []any) string {
	if len(list) > 0 {
		if o, ok := list[0].(map[string]any); ok {
			if id, ok := o["id"].(string); ok {
				return id
			}
		}
	}
	return "none"
}

// keyPaths lists every key of a JSON value at every depth, sorted, as
// paths: "pools[].members[].id". Lists are described by their elements.
func keyPaths(v any, prefix string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			p := prefix + "." + k
			out = append(out, p)
			out = append(out, keyPaths(c, p)...)
		}
	case []any:
		for _, c := range v {
			out = append(out, keyPaths(c, prefix+"[]")...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
