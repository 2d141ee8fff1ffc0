package lb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitals/internal/health"
	"vitals/internal/monitor"
)

// TestInvalidConfigs is issue item 4: every rule of REFERENCE.md's Octavia
// section (and of the model) has a file in testdata/invalid-* and the
// exact message a user sees, naming the file, line, object and field.
func TestInvalidConfigs(t *testing.T) {
	os.Unsetenv("VITALS_TEST_UNSET_PASSWORD")
	want := map[string]string{
		"invalid-admin-listen.yaml":                   `testdata/invalid-admin-listen.yaml:2: admin: listen "0.0.0.0:9180" is not a loopback address: the admin endpoint has no authentication (use 127.0.0.1 or ::1)`,
		"invalid-admin-token-missing.yaml":            `testdata/invalid-admin-token-missing.yaml:3: admin: token_file testdata/no-such.token cannot be read: no such file or directory`,
		"invalid-admin-token-device.yaml":             `testdata/invalid-admin-token-device.yaml:3: admin: token_file /dev/zero cannot be read: not a regular file but a character device; point it at a plain file`,
		"invalid-hm-delay-short.yaml":                 `testdata/invalid-hm-delay-short.yaml:8: healthmonitor of pool "web": delay 1ns is shorter than 100ms, the shortest delay between checks`,
		"invalid-hm-delay-long.yaml":                  `testdata/invalid-hm-delay-long.yaml:8: healthmonitor of pool "web": delay must be at most 24 days (2073600 seconds), got 833h20m0s`,
		"invalid-hm-timeout-sub-ms.yaml":              `testdata/invalid-hm-timeout-sub-ms.yaml:9: healthmonitor of pool "web": timeout must be a whole number of milliseconds, got 1.5ms`,
		"invalid-listener-overlap.yaml":               `testdata/invalid-listener-overlap.yaml:10: listener "local": address 127.0.0.1:19000 overlaps listener "any" on 0.0.0.0:19000: a wildcard address takes the port on every address, so one of them cannot start (use one listener, or specific addresses on both)`,
		"invalid-admin-token-no-listen.yaml":          `testdata/invalid-admin-token-no-listen.yaml:2: admin: token_file is set but listen is not: the token guards changes over the TCP listen address (the unix socket needs none)`,
		"invalid-admin-token-short.yaml":              `testdata/invalid-admin-token-short.yaml:3: admin: token_file testdata/short.token holds a token shorter than 16 characters; make a longer one (e.g. openssl rand -hex 16 > testdata/short.token)`,
		"invalid-admin-socket.yaml":                   `testdata/invalid-admin-socket.yaml:2: admin: socket "run/lb.sock" must be an absolute path`,
		"invalid-empty.yaml":                          `testdata/invalid-empty.yaml: is empty; it needs at least a loadbalancer: with pools`,
		"invalid-hm-admin-state.yaml":                 "testdata/invalid-hm-admin-state.yaml:11: cannot unmarshal !!str `maybe` into bool (write true or false)",
		"invalid-hm-delay-garbage.yaml":               `testdata/invalid-hm-delay-garbage.yaml:8: healthmonitor of pool "web": delay "often" is neither a number of seconds nor a duration such as 500ms or 2s`,
		"invalid-hm-delay-missing.yaml":               `testdata/invalid-hm-delay-missing.yaml:6: healthmonitor of pool "web": delay is required: seconds, e.g. delay: 5, or a duration such as 500ms`,
		"invalid-hm-delay-negative.yaml":              `testdata/invalid-hm-delay-negative.yaml:8: healthmonitor of pool "web": delay must be positive, got -1s`,
		"invalid-hm-delay-zero.yaml":                  `testdata/invalid-hm-delay-zero.yaml:8: healthmonitor of pool "web": delay must be positive, got 0s`,
		"invalid-hm-domain-http10.yaml":               `testdata/invalid-hm-domain-http10.yaml:12: healthmonitor of pool "web": domain_name needs http_version 1.1, not 1.0: HTTP/1.0 sends no Host header`,
		"invalid-hm-domain-invalid.yaml":              `testdata/invalid-hm-domain-invalid.yaml:12: healthmonitor of pool "web": domain_name "www.example.com:8080" is not a host name: use dot-separated labels of letters, digits, "-" and "_" (no port, scheme or path)`,
		"invalid-hm-domain-without-version.yaml":      `testdata/invalid-hm-domain-without-version.yaml:11: healthmonitor of pool "web": domain_name needs http_version: 1.1 (Octavia requires http_version when domain_name is set)`,
		"invalid-hm-expected-codes-on-tls-hello.yaml": `testdata/invalid-hm-expected-codes-on-tls-hello.yaml:8: healthmonitor of pool "web": expected_codes is not allowed for type TLS-HELLO`,
		"invalid-hm-expected-codes-reversed.yaml":     `testdata/invalid-hm-expected-codes-reversed.yaml:11: healthmonitor of pool "web": expected_codes range "204-200": start 204 is greater than end 200; write "200-204"`,
		"invalid-hm-expected-codes-short.yaml":        `testdata/invalid-hm-expected-codes-short.yaml:11: healthmonitor of pool "web": expected_codes "20" is not a status code: want 3 digits from 100 to 599`,
		"invalid-hm-http-method-lowercase.yaml":       `testdata/invalid-hm-http-method-lowercase.yaml:11: healthmonitor of pool "web": http_method "get" must be upper case: write "GET"`,
		"invalid-hm-http-method-on-tcp.yaml":          `testdata/invalid-hm-http-method-on-tcp.yaml:8: healthmonitor of pool "web": http_method is not allowed for type TCP`,
		"invalid-hm-http-method.yaml":                 `testdata/invalid-hm-http-method.yaml:11: healthmonitor of pool "web": http_method "FETCH" is not supported (want one of CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE)`,
		"invalid-hm-http-version.yaml":                `testdata/invalid-hm-http-version.yaml:11: healthmonitor of pool "web": http_version 2.0 is not supported (want 1.0 or 1.1)`,
		"invalid-hm-https-on-udp-pool.yaml":           `testdata/invalid-hm-https-on-udp-pool.yaml:8: healthmonitor of pool "web": type HTTPS is not supported on a pool of protocol UDP (want HTTP, TCP, UDP-CONNECT)`,
		"invalid-hm-max-retries-down-eleven.yaml":     `testdata/invalid-hm-max-retries-down-eleven.yaml:11: healthmonitor of pool "web": max_retries_down must be from 1 to 10, got 11`,
		"invalid-hm-max-retries-down-zero.yaml":       `testdata/invalid-hm-max-retries-down-zero.yaml:11: healthmonitor of pool "web": max_retries_down must be from 1 to 10, got 0`,
		"invalid-hm-max-retries-eleven.yaml":          `testdata/invalid-hm-max-retries-eleven.yaml:10: healthmonitor of pool "web": max_retries must be from 1 to 10, got 11`,
		"invalid-hm-max-retries-missing.yaml":         `testdata/invalid-hm-max-retries-missing.yaml:6: healthmonitor of pool "web": max_retries is required: the number of consecutive passes, 1 to 10, that bring a member back ONLINE`,
		"invalid-hm-max-retries-zero.yaml":            `testdata/invalid-hm-max-retries-zero.yaml:10: healthmonitor of pool "web": max_retries must be from 1 to 10, got 0`,
		"invalid-hm-mysql-field-on-http.yaml":         `testdata/invalid-hm-mysql-field-on-http.yaml:11: healthmonitor of pool "web": user is not allowed for type HTTP`,
		"invalid-hm-mysql-password-env.yaml":          `testdata/invalid-hm-mysql-password-env.yaml:9: healthmonitor of pool "web": password_env names VITALS_TEST_UNSET_PASSWORD, which is not set in the environment`,
		"invalid-hm-name-long.yaml":                   `testdata/invalid-hm-name-long.yaml:7: healthmonitor of pool "web": name is 256 characters long; the limit is 255`,
		"invalid-hm-pgsql-no-user.yaml":               `testdata/invalid-hm-pgsql-no-user.yaml:6: healthmonitor of pool "web": user is required for type PGSQL`,
		"invalid-hm-pgsql-password-file.yaml":         `testdata/invalid-hm-pgsql-password-file.yaml:9: healthmonitor of pool "web": password_file /nonexistent/vitals/pg.pass cannot be read: no such file or directory`,
		"invalid-hm-ping-disabled.yaml":               `testdata/invalid-hm-ping-disabled.yaml:9: healthmonitor of pool "web": type PING is disabled by the operator (api_settings.allow_ping_health_monitors is false)`,
		"invalid-hm-tag-long.yaml":                    `testdata/invalid-hm-tag-long.yaml:11: healthmonitor of pool "web": tags [1] is 256 characters long; the limit is 255`,
		"invalid-hm-timeout-missing.yaml":             `testdata/invalid-hm-timeout-missing.yaml:6: healthmonitor of pool "web": timeout is required: seconds, e.g. timeout: 5, or a duration such as 500ms`,
		"invalid-hm-timeout-negative.yaml":            `testdata/invalid-hm-timeout-negative.yaml:9: healthmonitor of pool "web": timeout must be positive, got -500ms`,
		"invalid-hm-timeout-over-delay.yaml":          `testdata/invalid-hm-timeout-over-delay.yaml:9: healthmonitor of pool "web": timeout 8s is longer than delay 5s; a check must end before the next one is due`,
		"invalid-hm-two-monitors.yaml":                `testdata/invalid-hm-two-monitors.yaml:11: a pool can have only one healthmonitor; another is at line 6 (Octavia answers 409 Conflict)`,
		"invalid-hm-type-missing.yaml":                `testdata/invalid-hm-type-missing.yaml:6: healthmonitor of pool "web": type is required (one of HTTP, HTTPS, PING, TCP, TLS-HELLO, UDP-CONNECT, MYSQL, PGSQL)`,
		"invalid-hm-type-sctp.yaml":                   `testdata/invalid-hm-type-sctp.yaml:7: healthmonitor of pool "web": type SCTP is not supported: vitals balances TCP and has no SCTP check (use TCP, or UDP-CONNECT on a UDP pool)`,
		"invalid-hm-type-unknown.yaml":                `testdata/invalid-hm-type-unknown.yaml:7: healthmonitor of pool "web": type "GRPC" is not supported (want one of HTTP, HTTPS, PING, TCP, TLS-HELLO, UDP-CONNECT, MYSQL, PGSQL)`,
		"invalid-hm-udp-delay.yaml":                   `testdata/invalid-hm-udp-delay.yaml:9: healthmonitor of pool "web": delay 2s is shorter than 3s, the minimum for type UDP-CONNECT (api_settings.udp_connect_min_interval_health_monitor)`,
		"invalid-hm-udp-on-tcp-pool.yaml":             `testdata/invalid-hm-udp-on-tcp-pool.yaml:7: healthmonitor of pool "web": type UDP-CONNECT is only supported for pools of protocol UDP`,
		"invalid-hm-unknown-field.yaml":               `testdata/invalid-hm-unknown-field.yaml:8: unknown field "dealy" in a healthmonitor (check the spelling; Octavia's field names are used)`,
		"invalid-hm-url-path-on-ping.yaml":            `testdata/invalid-hm-url-path-on-ping.yaml:8: healthmonitor of pool "web": url_path is not allowed for type PING`,
		"invalid-hm-url-path-relative.yaml":           `testdata/invalid-hm-url-path-relative.yaml:11: healthmonitor of pool "web": url_path "health" must start with "/", e.g. "/health"`,
		"invalid-hm-url-path-space.yaml":              `testdata/invalid-hm-url-path-space.yaml:11: healthmonitor of pool "web": url_path "/a b" has a space; percent-encode it as %20`,
		"invalid-hm-url-path-url.yaml":                `testdata/invalid-hm-url-path-url.yaml:11: healthmonitor of pool "web": url_path "http://admin:xxxxx@example.com:8080/health" is a URL, not a path; give only the path, e.g. "/health"`,
		"invalid-listener-connection-limit.yaml":      `testdata/invalid-listener-connection-limit.yaml:6: listener :80: connection_limit must be -1 (unlimited) or more, got -2`,
		"invalid-listener-default-pool.yaml":          `testdata/invalid-listener-default-pool.yaml:6: listener :80: default_pool "api" is not a pool of this load balancer`,
		"invalid-listener-no-port.yaml":               `testdata/invalid-listener-no-port.yaml:4: listener "web": protocol_port is required: the port to listen on, 1 to 65535`,
		"invalid-listener-port-duplicate.yaml":        `testdata/invalid-listener-port-duplicate.yaml:9: listener "b": protocol_port 80 is used by listener "a"; a port can have only one listener (Octavia answers 409 Conflict)`,
		"invalid-listener-protocol.yaml":              `testdata/invalid-listener-protocol.yaml:5: listener "https": protocol HTTPS is not supported for a listener: vitals balances TCP (want TCP)`,
		"invalid-listener-timeout.yaml":               `testdata/invalid-listener-timeout.yaml:6: listener :80: timeout_member_data must be from 0 to 24 days (2073600000 ms, Octavia's limit for listener timeouts), got 576h0m0.001s`,
		"invalid-listener-timeout-sub-ms.yaml":        `testdata/invalid-listener-timeout-sub-ms.yaml:6: listener :80: timeout_member_data must be a whole number of milliseconds, got 1.5ms; Octavia's listener timeouts are integer milliseconds`,
		"invalid-listener-udp-pool.yaml":              `testdata/invalid-listener-udp-pool.yaml:6: listener :53: default_pool "web" has protocol UDP; a TCP listener needs a TCP pool`,
		"invalid-max-concurrent.yaml":                 `testdata/invalid-max-concurrent.yaml:2: monitor: max_concurrent_checks must be from 1 to 1048576, got -1`,
		"invalid-member-address.yaml":                 `testdata/invalid-member-address.yaml:12: member db1.example.com:8080 of pool "web": address "db1.example.com" is not an IP address`,
		"invalid-member-duplicate-name.yaml":          `testdata/invalid-member-duplicate-name.yaml:15: member "a" of pool "web": name is used by member 1 of the pool; names must be unique in a pool`,
		"invalid-member-duplicate.yaml":               `testdata/invalid-member-duplicate.yaml:16: member "again" of pool "web": address 127.0.0.1 and protocol_port 8080 are already used by member 1 of the pool (Octavia answers 409 Conflict)`,
		"invalid-member-monitor-address.yaml":         `testdata/invalid-member-monitor-address.yaml:14: member 127.0.0.1:8080 of pool "web": monitor_address "agent.local" is not an IP address`,
		"invalid-member-monitor-port.yaml":            `testdata/invalid-member-monitor-port.yaml:14: member 127.0.0.1:8080 of pool "web": monitor_port must be from 1 to 65535, got 0`,
		"invalid-member-no-address.yaml":              `testdata/invalid-member-no-address.yaml:12: member "db1" of pool "web": address is required: the member's IP address`,
		"invalid-member-port-missing.yaml":            `testdata/invalid-member-port-missing.yaml:12: member 1 of pool "web": protocol_port is required: the member's port, 1 to 65535`,
		"invalid-member-port.yaml":                    `testdata/invalid-member-port.yaml:13: member 127.0.0.1:70000 of pool "web": protocol_port must be from 1 to 65535, got 70000`,
		"invalid-member-weight.yaml":                  `testdata/invalid-member-weight.yaml:14: member 127.0.0.1:8080 of pool "web": weight must be from 0 to 256, got 300`,
		"invalid-no-loadbalancer.yaml":                `testdata/invalid-no-loadbalancer.yaml:1: loadbalancer is required: the load balancer with its listeners and pools`,
		"invalid-no-pools.yaml":                       `testdata/invalid-no-pools.yaml:1: loadbalancer "lb1": pools are required: at least one pool with members`,
		"invalid-pool-algorithm-lowercase.yaml":       `testdata/invalid-pool-algorithm-lowercase.yaml:5: pool "web": lb_algorithm "round_robin" must be upper case: write "ROUND_ROBIN"`,
		"invalid-pool-algorithm.yaml":                 `testdata/invalid-pool-algorithm.yaml:5: pool "web": lb_algorithm "RANDOM" is not supported (want one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT)`,
		"invalid-pool-duplicate-name.yaml":            `testdata/invalid-pool-duplicate-name.yaml:14: pool "web": name is used by pool 1; names must be unique`,
		"invalid-pool-no-algorithm.yaml":              `testdata/invalid-pool-no-algorithm.yaml:4: pool "web": lb_algorithm is required (one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT)`,
		"invalid-pool-no-name.yaml":                   `testdata/invalid-pool-no-name.yaml:4: pool 1: name is required: listeners refer to pools by name`,
		"invalid-pool-protocol.yaml":                  `testdata/invalid-pool-protocol.yaml:5: pool "web": protocol HTTP is not supported for a pool: vitals balances TCP (want TCP, PROXY, PROXYV2 or UDP)`,
		"invalid-pool-on-member-down.yaml":            `testdata/invalid-pool-on-member-down.yaml:6: pool "pg": on_member_down "kill" is not supported (want shutdown_sessions or none)`,
		"invalid-pool-fail-open.yaml":                 "testdata/invalid-pool-fail-open.yaml:6: cannot unmarshal !!str `yes please` into bool (write true or false)",
		"invalid-listener-address.yaml":               `testdata/invalid-listener-address.yaml:6: listener "pg": address "localhost" is not an IP address to bind`,
		"invalid-shutdown-grace.yaml":                 `testdata/invalid-shutdown-grace.yaml:1: shutdown_grace must be from 0 to 24h, got -1s`,
		"invalid-unknown-top-field.yaml":              `testdata/invalid-unknown-top-field.yaml:1: unknown field "loadbalancerz" in the top level (check the spelling; Octavia's field names are used)`,
	}
	files, _ := filepath.Glob("testdata/invalid-*")
	if len(files) != len(want) {
		t.Errorf("%d invalid-* files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadFile(f)
			w, ok := want[filepath.Base(f)]
			switch {
			case !ok:
				t.Fatalf("no expectation for %s (error %v)", f, err)
			case err == nil:
				t.Fatalf("accepted; want %q", w)
			case err.Error() != w:
				t.Errorf("error\n got: %s\nwant: %s", err, w)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows a password: %s", err)
			}
		})
	}
}

// TestValidConfig loads testdata/valid.yaml and checks the defaults and the
// monitors' resolved values.
func TestValidConfig(t *testing.T) {
	c, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lb := c.LoadBalancers[0]
	if lb.Name != "lb1" || !lb.Up() || len(lb.Listeners) != 2 || len(lb.Pools) != 4 {
		t.Fatalf("load balancer %+v", lb)
	}
	if c.Admin.Socket != "/run/vitals/lb.sock" || c.Monitor.MaxConcurrentChecks != monitor.DefaultMaxConcurrent {
		t.Errorf("admin %+v monitor %+v", c.Admin, c.Monitor)
	}
	pg := lb.Listeners[0]
	if *pg.ConnectionLimit != -1 || pg.ClientData != time.Hour || pg.MemberConnect != 2*time.Second || pg.MemberData != DefaultTimeoutMemberData || pg.WriteStall != DefaultTimeoutWriteStall {
		t.Errorf("listener pg: limit %d timeouts %s %s %s %s", *pg.ConnectionLimit, pg.ClientData, pg.MemberConnect, pg.MemberData, pg.WriteStall)
	}
	if web := lb.Listeners[1]; web.WriteStall != 0 {
		t.Errorf("listener web: timeout_write_stall %s; want 0 (off) as written", web.WriteStall)
	}
	hm := lb.Pools[0].Monitor
	if hm.Type != "HTTP" || hm.Delay != 2*time.Second || hm.Timeout != time.Second || hm.MaxRetries != 2 || hm.MaxRetriesDown != 3 ||
		hm.HTTPMethod != "GET" || hm.URLPath != "/health" || hm.ExpectedCodes != "200" || hm.HTTPVersion != "" || !hm.AdminStateUp {
		t.Errorf("pg monitor with defaults: %+v", hm)
	}
	web := lb.Pools[1].Monitor
	if web.Delay != 500*time.Millisecond || web.Timeout != 300*time.Millisecond || web.HTTPVersion != "1.1" || web.ExpectedCodes != "200-204,301" {
		t.Errorf("web monitor: %+v", web)
	}
	if lb.Pools[3].Monitor != nil {
		t.Errorf("pool without a monitor got %+v", lb.Pools[3].Monitor)
	}
	pools := c.MonitorPools()
	db1 := pools[0].Members[0]
	if db1.Weight != 1 || db1.MonitorPort != 8081 || !db1.AdminStateUp || db1.ID == "" {
		t.Errorf("db1 %+v", db1)
	}
	if got := pools[0].Monitor.Target(db1.Address, db1.ProtocolPort, db1.MonitorAddress, db1.MonitorPort); got != "10.0.0.11:8081" {
		t.Errorf("db1 checks go to %s, want 10.0.0.11:8081 (monitor_port)", got)
	}
	if pools[1].Members[1].Weight != 0 || pools[1].Members[2].AdminStateUp {
		t.Errorf("web members %+v", pools[1].Members)
	}
	tree := c.LoadBalancers[0].Tree()
	if len(tree.Listeners) != 2 || tree.Listeners[0].PoolIDs[0] != lb.Pools[0].ID {
		t.Errorf("tree %+v", tree)
	}
}

// TestIDsAreStable: IDs are UUIDs derived from what identifies an object,
// so they survive restarts and reloads.
func TestIDsAreStable(t *testing.T) {
	a, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadFile("testdata/valid.yaml")
	if a.LoadBalancers[0].Pools[0].Members[0].ID != b.LoadBalancers[0].Pools[0].Members[0].ID || a.LoadBalancers[0].ID != b.LoadBalancers[0].ID {
		t.Error("IDs differ between two loads of one file")
	}
	seen := map[string]bool{}
	for _, id := range []string{a.LoadBalancers[0].ID, a.LoadBalancers[0].Listeners[0].ID, a.LoadBalancers[0].Pools[0].ID, a.LoadBalancers[0].Pools[0].Monitor.ID, a.LoadBalancers[0].Pools[0].Members[0].ID, a.LoadBalancers[0].Pools[0].Members[1].ID} {
		if len(id) != 36 || id[14] != '5' || seen[id] {
			t.Errorf("ID %s is not a fresh version-5 UUID", id)
		}
		seen[id] = true
	}
}

// TestDelayForms: delay and timeout take Octavia's integer seconds or a
// duration; listener timeouts take milliseconds or a duration.
func TestDelayForms(t *testing.T) {
	for _, tt := range []struct {
		delay, timeout string
		want           time.Duration
	}{
		{"5", "3", 5 * time.Second},
		{`"5"`, "3", 5 * time.Second},
		{"500ms", "300ms", 500 * time.Millisecond},
		{"1.5", "1", 1500 * time.Millisecond},
		{"2m", "30s", 2 * time.Minute},
	} {
		y := "loadbalancer:\n  pools:\n    - name: p\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor:\n        type: TCP\n        delay: " + tt.delay + "\n        timeout: " + tt.timeout + "\n        max_retries: 1\n"
		c, err := Parse("x.yaml", []byte(y))
		if err != nil {
			t.Errorf("delay %s: %v", tt.delay, err)
			continue
		}
		if got := c.LoadBalancers[0].Pools[0].Monitor.Delay; got != tt.want {
			t.Errorf("delay %s: %s, want %s", tt.delay, got, tt.want)
		}
	}
}

// TestListenerTimeoutLimit: listener timeouts go up to Octavia's 24 days,
// in either form.
func TestListenerTimeoutLimit(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want time.Duration
	}{
		{"48h", 48 * time.Hour},
		{"2073600000", 24 * 24 * time.Hour},
	} {
		y := "loadbalancer:\n  listeners:\n    - {protocol: TCP, protocol_port: 80, default_pool: p, timeout_client_data: " + tt.raw + "}\n  pools:\n    - {name: p, lb_algorithm: ROUND_ROBIN}\n"
		c, err := Parse("x.yaml", []byte(y))
		if err != nil {
			t.Errorf("timeout_client_data %s: %v", tt.raw, err)
			continue
		}
		if got := c.LoadBalancers[0].Listeners[0].ClientData; got != tt.want {
			t.Errorf("timeout_client_data %s: %s, want %s", tt.raw, got, tt.want)
		}
	}
}

// FuzzConfig: decoding any input never panics; what is refused gets a
// one-line error naming the file; what is accepted converts for the
// engine into monitor pools and a status tree whose pools, members and
// listeners are exactly those of the input.
func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("loadbalancer:\n  pools:\n    - name: p\n      lb_algorithm: ROUND_ROBIN\n      healthmonitor: {type: PING, delay: 1, timeout: 1, max_retries: 1}\n      members: [{address: '::1', protocol_port: 1}]\n"))
	f.Add([]byte("loadbalancer: [1, 2]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.yaml") || strings.Contains(msg, "\n") {
				t.Errorf("error is not one line naming the file: %q", msg)
			}
			return
		}
		checkConverted(t, c)
	})
}

// TestConverted runs FuzzConfig's checks on the valid example, which has
// pools, members and listeners for them to compare.
func TestConverted(t *testing.T) {
	c, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lb := c.LoadBalancers[0]
	if len(lb.Pools) == 0 || len(lb.Pools[0].Members) == 0 || len(lb.Listeners) == 0 || lb.Listeners[0].DefaultPool == "" {
		t.Fatalf("testdata/valid.yaml has %d pools, %d listeners; want some, with members and a default_pool", len(lb.Pools), len(lb.Listeners))
	}
	checkConverted(t, c)
}

// checkConverted checks that c's monitor pools and status tree hold
// exactly c's pools, members and listeners.
func checkConverted(t *testing.T, c *Config) {
	t.Helper()
	in := c.LoadBalancers[0]
	pools := c.MonitorPools()
	if len(pools) != len(in.Pools) {
		t.Fatalf("%d monitor pools for %d pools", len(pools), len(in.Pools))
	}
	ids := map[string]bool{}
	snap := monitor.Snapshot{}
	for i, p := range pools {
		ip := &in.Pools[i]
		if p.ID == "" || ids[p.ID] || p.Name != ip.Name || len(p.Members) != len(ip.Members) {
			t.Fatalf("pool %d: monitor pool %q (id %q, %d members) for pool %q with %d members (ids so far %v)",
				i, p.Name, p.ID, len(p.Members), ip.Name, len(ip.Members), ids)
		}
		ids[p.ID] = true
		ps := monitor.PoolSnapshot{ID: p.ID, Name: p.Name, AdminStateUp: p.AdminStateUp, Status: health.Online, Monitor: p.Monitor}
		for j, m := range p.Members {
			im := &ip.Members[j]
			weight := 1
			if im.Weight != nil {
				weight = *im.Weight
			}
			if m.ID == "" || ids[m.ID] || m.Name != im.Name || m.Address != im.Address || m.ProtocolPort != im.ProtocolPort ||
				m.Weight != weight || m.Backup != im.Backup || m.AdminStateUp != im.Up() {
				t.Fatalf("pool %q member %d: converted to %+v from %+v", ip.Name, j, m, *im)
			}
			ids[m.ID] = true
			ps.Members = append(ps.Members, monitor.MemberSnapshot{Member: m, Status: health.Online})
		}
		snap.Pools = append(snap.Pools, ps)
	}
	tree := monitor.BuildTree(c.LoadBalancers[0].Tree(), snap).Statuses.LoadBalancer
	if len(tree.Pools) != len(in.Pools) || len(tree.Listeners) != len(in.Listeners) {
		t.Fatalf("status tree has %d pools and %d listeners; the input %d and %d", len(tree.Pools), len(tree.Listeners), len(in.Pools), len(in.Listeners))
	}
	for i, p := range tree.Pools {
		ip := &in.Pools[i]
		if p.Name != ip.Name || len(p.Members) != len(ip.Members) {
			t.Fatalf("status tree pool %q with %d members for pool %q with %d", p.Name, len(p.Members), ip.Name, len(ip.Members))
		}
		for j, m := range p.Members {
			if im := &ip.Members[j]; m.Name != im.Name || m.Address != im.Address || m.ProtocolPort != im.ProtocolPort {
				t.Fatalf("status tree pool %q member %d: %+v for %+v", ip.Name, j, m, *im)
			}
		}
	}
	for i, l := range tree.Listeners {
		il := &in.Listeners[i]
		want := 0
		if il.DefaultPool != "" {
			want = 1
		}
		if l.Name != il.Name || len(l.Pools) != want || want == 1 && l.Pools[0].Name != il.DefaultPool {
			t.Fatalf("status tree listener %q with pools %+v for listener %q with default_pool %q", l.Name, l.Pools, il.Name, il.DefaultPool)
		}
	}
}

// TestExampleConfig keeps deploy/lb/lb.yaml valid.
func TestExampleConfig(t *testing.T) {
	t.Setenv("VITALS_PG_PASSWORD", "example")
	c, err := LoadFile("../../deploy/lb/lb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.LoadBalancers[0].Pools); n != 2 {
		t.Errorf("%d pools", n)
	}
}

// TestMonitorTypeAnyCase: `type: http` loads (Octavia users type
// --type http) and is stored and shown upper case.
func TestMonitorTypeAnyCase(t *testing.T) {
	c, err := LoadFile("testdata/hm-type-lowercase.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.LoadBalancers[0].Pools[0].Monitor.Type; got != monitor.TypeHTTP {
		t.Errorf("type stored as %q, want HTTP", got)
	}
	if got := c.MonitorPools()[0].Monitor.Type; got != monitor.TypeHTTP {
		t.Errorf("type in the monitor pool %q, want HTTP", got)
	}
}
