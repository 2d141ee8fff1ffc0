package lb

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParseSettings: the --db settings file takes the process settings,
// as strictly as the configuration file, and refuses a loadbalancer with
// the way to import it.
func TestParseSettings(t *testing.T) {
	c, err := ParseSettings("s.yaml", []byte("admin:\n  socket: /tmp/x.sock\n  listen: 127.0.0.1:9180\nmonitor:\n  max_concurrent_checks: 7\nshutdown_grace: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Socket != "/tmp/x.sock" || c.Admin.Listen != "127.0.0.1:9180" || c.Monitor.MaxConcurrentChecks != 7 || c.Grace != 2*time.Second {
		t.Errorf("settings %+v, grace %v", c.Admin, c.Grace)
	}
	if len(c.LoadBalancers) != 0 || c.LoadBalancer != nil {
		t.Errorf("load balancers %+v, want none (the store holds them)", c.LoadBalancers)
	}
	d, err := ParseSettings("", nil)
	if err != nil || d.Admin.Socket != DefaultAdminSocket || d.Grace != DefaultShutdownGrace {
		t.Errorf("no file: %v, %+v", err, d)
	}
	bad := []struct{ name, yaml, want string }{
		{"loadbalancer", "admin:\n  socket: /tmp/x.sock\nloadbalancer:\n  name: a\n", "s.yaml:3: loadbalancer is not read with --db: the store holds the load balancers; load this file into it with vitals lb import"},
		{"unknown field", "admin:\n  sockett: /tmp/x.sock\n", "s.yaml:2:"},
		{"bad value", "monitor:\n  max_concurrent_checks: -1\n", "s.yaml:2: monitor: max_concurrent_checks must be from 1"},
		{"relative socket", "admin:\n  socket: x.sock\n", "must be an absolute path"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSettings("s.yaml", []byte(tt.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tt.want)
			}
		})
	}
}
