package agent

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/probe"
	"vitals/internal/statuspage"
	"vitals/internal/yamlconf"
)

// Defaults for fields left unset.
const (
	DefaultListen   = "0.0.0.0:8081"
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
	DefaultRise     = 1
	DefaultFall     = 1
)

// Config is the agent's configuration, as read from YAML.
type Config struct {
	// Listen is the address of the HTTP health listener. Default
	// 0.0.0.0:8081.
	Listen string `yaml:"listen"`
	// Checks are the checks the agent runs in the background.
	Checks []CheckConfig `yaml:"checks"`
	// Endpoints map HTTP paths to sets of checks. When none is given,
	// /health answers for every critical check.
	Endpoints []EndpointConfig `yaml:"endpoints"`
	// HideDetails leaves reasons out of response bodies, showing statuses
	// only.
	HideDetails bool `yaml:"hide_details"`
	// MaxEventSubscribers caps the status page's event streams
	// (/status/events) open at once; one more is answered 503 with
	// Retry-After. 1 to 1024, default 32. A reload applies to new streams.
	MaxEventSubscribers *int `yaml:"max_event_subscribers"`
	// AnyPath answers every unknown path as "/" instead of 404, as the
	// seed's script did. Set for configurations read with --ini.
	AnyPath bool `yaml:"any_path"`

	// AdminSocket is the unix socket (mode 0600) through which
	// `vitals agent maintenance|drain|reload` talk to the running agent.
	// Default /run/vitals/agent.sock; "off" disables it.
	AdminSocket string `yaml:"admin_socket"`
	// StateFile keeps maintenance and drain across restarts. Default
	// /var/lib/vitals/agent.state; "off" keeps them in memory only.
	StateFile string `yaml:"state_file"`
	// ShutdownDelay is how long, after SIGTERM or SIGINT, the endpoints keep
	// answering 503 "shutting down" before the agent exits, so load
	// balancers take the node out first. Default 5s; 0s exits at once.
	ShutdownDelay *time.Duration `yaml:"shutdown_delay"`
	// DrainCode is the HTTP status the endpoints answer while draining.
	// Default 503; 404 suits HAProxy's http-check disable-on-404.
	DrainCode int `yaml:"drain_code"`
	// AgentCheck configures the HAProxy agent-check port. Off when unset.
	AgentCheck *AgentCheckConfig `yaml:"agent_check"`
	// Metrics configures /metrics. By default it is served on Listen.
	Metrics MetricsConfig `yaml:"metrics"`
	// TLS, when set, serves the health listener over HTTPS.
	TLS *TLSConfig `yaml:"tls"`
}

// AgentCheckConfig is HAProxy's agent-check port.
type AgentCheckConfig struct {
	// Listen is the TCP address, e.g. 0.0.0.0:8082.
	Listen string `yaml:"listen"`
	// Endpoint is the path whose answer the port reports. Default /health.
	Endpoint string `yaml:"endpoint"`
	// WeightFrom lowers the advertised weight as a resource saturates:
	// "load" (the 1-minute load average per CPU against MaxLoadPerCPU).
	// Empty: always 100%.
	WeightFrom string `yaml:"weight_from"`
	// MaxLoadPerCPU is the load per CPU at which the weight reaches
	// MinWeight. Default 2.
	MaxLoadPerCPU float64 `yaml:"max_load_per_cpu"`
	// MinWeight is the lowest weight advertised, in percent. Default 10.
	MinWeight int `yaml:"min_weight"`
}

// MetricsConfig places the Prometheus endpoint.
type MetricsConfig struct {
	// Listen, when set, serves /metrics on its own address instead of on
	// the health listener.
	Listen string `yaml:"listen"`
	// Disabled turns /metrics off.
	Disabled bool `yaml:"disabled"`
}

// TLSConfig is a certificate for the health listener.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Defaults of the operational fields.
const (
	DefaultAdminSocket   = "/run/vitals/agent.sock"
	DefaultStateFile     = "/var/lib/vitals/agent.state"
	DefaultShutdownDelay = 5 * time.Second
)

// CheckConfig is one background check: a probe spec plus its schedule.
type CheckConfig struct {
	// Name identifies the check in endpoints, paths, bodies and logs.
	// Letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Type is a probe kind (see `vitals probe --help`).
	Type string `yaml:"type"`
	// Spec holds the kind's options; its timeout defaults to 1s here.
	probe.Spec `yaml:",inline"`
	// Interval is the time from the start of one run to the start of the
	// next. Default 2s.
	Interval time.Duration `yaml:"interval"`
	// Rise is the number of consecutive passes that turn a failing check
	// healthy. Default 1: the load balancer in front applies its own
	// hysteresis.
	Rise int `yaml:"rise"`
	// Fall is the number of consecutive failures that turn a healthy check
	// failing. Default 1.
	Fall int `yaml:"fall"`
	// Critical: when false, a failure makes endpoints "warn" (still 200)
	// instead of failing them. Default true.
	Critical *bool `yaml:"critical"`
	// MaxAge is how old the latest result may be before the check counts
	// as failed with reason "stale". Default 2 × interval + timeout.
	MaxAge time.Duration `yaml:"max_age"`
}

// EventSubscribers is the cap on the status page's event streams, with
// its default applied.
func (c *Config) EventSubscribers() int {
	if c.MaxEventSubscribers == nil {
		return statuspage.DefaultMaxSubscribers
	}
	return *c.MaxEventSubscribers
}

// IsCritical reports whether a failure of the check fails endpoints.
func (c CheckConfig) IsCritical() bool { return c.Critical == nil || *c.Critical }

// EndpointConfig is one HTTP path and the checks behind it.
type EndpointConfig struct {
	// Path is the URL path, e.g. /health.
	Path string `yaml:"path"`
	// Checks are the names of the checks. Empty: every critical check.
	Checks []string `yaml:"checks"`
	// PassCode, WarnCode and FailCode are the HTTP status codes for each
	// outcome. Defaults 200, 200 and 503.
	PassCode int `yaml:"pass_code"`
	WarnCode int `yaml:"warn_code"`
	FailCode int `yaml:"fail_code"`
}

// ConfigError is a problem in a configuration file. It names the file,
// the line when known, the field and what to do.
type ConfigError struct {
	File  string
	Line  int
	Field string // e.g. checks[0] (db).timeout
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadFile reads, decodes strictly, defaults and validates a YAML config.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read: %v", yamlconf.UnwrapPath(err))}
	}
	return Parse(path, data)
}

// Parse decodes a YAML config; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: name, Msg: "is empty; it needs at least a checks: list"}
		}
		return nil, yamlError(name, err)
	}
	if line, ok := yamlconf.SecondDocument(dec); ok {
		return nil, &ConfigError{File: name, Line: line, Msg: "holds a second YAML document; put everything in one"}
	}
	if err := c.finish(name, &root); err != nil {
		return nil, err
	}
	return &c, nil
}

// agentTypes names the config's Go types in words, for error messages.
var agentTypes = map[string]string{
	"agent.Config": "the top level", "agent.CheckConfig": "a check", "agent.EndpointConfig": "an endpoint",
	"agent.AgentCheckConfig": "agent_check", "agent.MetricsConfig": "metrics", "agent.TLSConfig": "tls",
}

// yamlError turns a yaml.v3 error into a ConfigError with a line number
// and plain words.
func yamlError(name string, err error) error {
	line, msg := yamlconf.Explain(err, agentTypes, "the README lists every field")
	return &ConfigError{File: name, Line: line, Msg: msg}
}

var (
	checkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	envRef    = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
)

// finish applies defaults and validates. root, when not nil, supplies
// line numbers for errors.
func (c *Config) finish(file string, root *yaml.Node) error {
	bad := func(line int, field, format string, a ...any) error {
		return &ConfigError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if err := yamlconf.CheckListen(c.Listen); err != nil {
		return bad(yamlconf.LineOf(root, "listen"), "listen", "%v (e.g. listen: 0.0.0.0:8081)", err)
	}
	if err := c.finishOps(bad, root); err != nil {
		return err
	}
	if len(c.Checks) == 0 {
		return bad(yamlconf.LineOf(root, "checks"), "checks", "no checks configured; add at least one (see the README's agent example)")
	}
	seen := map[string]bool{}
	for i := range c.Checks {
		ch := &c.Checks[i]
		at := func(field string) int { return yamlconf.LineOf(root, "checks", i, field) }
		where := fmt.Sprintf("checks[%d]", i)
		if ch.Name != "" {
			where += " (" + ch.Name + ")"
		}
		switch {
		case ch.Name == "":
			return bad(yamlconf.LineOf(root, "checks", i), where, "name is required (e.g. name: db)")
		case !checkName.MatchString(ch.Name):
			return bad(at("name"), where+".name", "%q may hold only letters, digits, '.', '_' and '-'", ch.Name)
		case seen[ch.Name]:
			return bad(at("name"), where+".name", "%q is used by another check; names must be unique", ch.Name)
		case ch.Type == "":
			return bad(yamlconf.LineOf(root, "checks", i), where+".type", "is required (one of %s)", strings.Join(probe.KindNames(), ", "))
		}
		seen[ch.Name] = true
		for _, f := range []struct {
			field string
			v     time.Duration
		}{{"interval", ch.Interval}, {"timeout", ch.Timeout}, {"max_age", ch.MaxAge}} {
			if f.v == 0 && yamlconf.Has(root, "checks", i, f.field) {
				return bad(at(f.field), where+"."+f.field, "0s has no meaning; leave %s out for the default, or give a duration such as 2s", f.field)
			}
		}
		if ch.Interval == 0 {
			ch.Interval = DefaultInterval
		}
		if ch.Interval < probe.MinInterval {
			return bad(at("interval"), where+".interval", "%s is shorter than %s, the shortest interval between checks (e.g. interval: 2s)", ch.Interval, probe.MinInterval)
		}
		if ch.Timeout == 0 {
			ch.Timeout = DefaultTimeout
		}
		if ch.Timeout < 0 {
			return bad(at("timeout"), where+".timeout", "must be positive, got %s (e.g. timeout: 1s)", ch.Timeout)
		}
		if ch.Timeout > ch.Interval {
			return bad(at("timeout"), where+".timeout", "%s is longer than interval %s; a check must end before the next one is due", ch.Timeout, ch.Interval)
		}
		if ch.Rise == 0 {
			ch.Rise = DefaultRise
		}
		if ch.Fall == 0 {
			ch.Fall = DefaultFall
		}
		if ch.Rise < 1 || ch.Rise > 10 {
			return bad(at("rise"), where+".rise", "must be from 1 to 10, got %d", ch.Rise)
		}
		if ch.Fall < 1 || ch.Fall > 10 {
			return bad(at("fall"), where+".fall", "must be from 1 to 10, got %d", ch.Fall)
		}
		if ch.MaxAge == 0 {
			ch.MaxAge = 2*ch.Interval + ch.Timeout
		}
		if ch.MaxAge < ch.Interval+ch.Timeout {
			return bad(at("max_age"), where+".max_age", "%s is shorter than interval + timeout (%s); every result would be stale", ch.MaxAge, ch.Interval+ch.Timeout)
		}
		if m := envRef.FindStringSubmatch(string(ch.Password)); m != nil {
			v, ok := os.LookupEnv(m[1])
			if !ok {
				return bad(at("password"), where+".password", "environment variable %s is not set (set it, or use password_file)", m[1])
			}
			ch.Password = probe.Secret(v)
		}
		if _, err := probe.New(ch.Type, ch.Spec); err != nil {
			var fe *probe.FieldError
			if errors.As(err, &fe) {
				field := fe.Field
				if field == "type" {
					return bad(at("type"), where+".type", "%s", fe.Msg)
				}
				return bad(at(field), where+"."+field, "%s", fe.Msg)
			}
			return bad(yamlconf.LineOf(root, "checks", i), where, "%v", err)
		}
	}
	if len(c.Endpoints) == 0 {
		c.Endpoints = []EndpointConfig{{Path: "/health"}}
	}
	paths := map[string]bool{}
	for i := range c.Endpoints {
		ep := &c.Endpoints[i]
		at := func(field string) int { return yamlconf.LineOf(root, "endpoints", i, field) }
		where := fmt.Sprintf("endpoints[%d]", i)
		switch {
		case ep.Path == "" || ep.Path[0] != '/' || strings.ContainsAny(ep.Path, " ?#\t"):
			return bad(at("path"), where+".path", "%q must start with / and hold no spaces, ? or # (e.g. path: /health)", ep.Path)
		case paths[ep.Path]:
			return bad(at("path"), where+".path", "%q is configured twice", ep.Path)
		case ep.Path == "/livez" || ep.Path == "/metrics" || strings.HasPrefix(ep.Path, "/health/"):
			return bad(at("path"), where+".path", "%q is reserved (/livez, /metrics and /health/<check> are built in)", ep.Path)
		}
		paths[ep.Path] = true
		for j, name := range ep.Checks {
			if !seen[name] {
				return bad(yamlconf.LineOf(root, "endpoints", i, "checks", j), fmt.Sprintf("%s.checks[%d]", where, j), "no check is named %q", name)
			}
		}
		for field, code := range map[string]*int{"pass_code": &ep.PassCode, "warn_code": &ep.WarnCode, "fail_code": &ep.FailCode} {
			def := map[string]int{"pass_code": 200, "warn_code": 200, "fail_code": 503}[field]
			if *code == 0 {
				*code = def
			}
			if *code < 200 || *code > 599 {
				return bad(at(field), where+"."+field, "%d is not an HTTP status code from 200 to 599", *code)
			}
		}
	}
	if ac := c.AgentCheck; ac != nil {
		p := ac.Endpoint
		known := paths[p] || p == "/health" || p == "/readyz" || p == "/" || seen[strings.TrimPrefix(p, "/health/")]
		if !known {
			return bad(yamlconf.LineOf(root, "agent_check", "endpoint"), "agent_check.endpoint", "%q is not an endpoint of this agent (e.g. /health)", p)
		}
	}
	return nil
}

// finishOps defaults and validates the operational fields.
func (c *Config) finishOps(bad func(int, string, string, ...any) error, root *yaml.Node) error {
	if c.AdminSocket == "" {
		c.AdminSocket = DefaultAdminSocket
	}
	if c.StateFile == "" {
		c.StateFile = DefaultStateFile
	}
	for field, p := range map[string]string{"admin_socket": c.AdminSocket, "state_file": c.StateFile} {
		if p != "off" && !filepath.IsAbs(p) {
			return bad(yamlconf.LineOf(root, field), field, "%q must be an absolute path, or off", p)
		}
	}
	if c.ShutdownDelay == nil {
		d := DefaultShutdownDelay
		c.ShutdownDelay = &d
	}
	if *c.ShutdownDelay < 0 || *c.ShutdownDelay > 10*time.Minute {
		return bad(yamlconf.LineOf(root, "shutdown_delay"), "shutdown_delay", "must be from 0s to 10m, got %s", *c.ShutdownDelay)
	}
	if n := c.MaxEventSubscribers; n != nil && (*n < 1 || *n > statuspage.MaxSubscribersLimit) {
		return bad(yamlconf.LineOf(root, "max_event_subscribers"), "max_event_subscribers", "must be from 1 to %d, got %d (default %d)", statuspage.MaxSubscribersLimit, *n, statuspage.DefaultMaxSubscribers)
	}
	if c.DrainCode == 0 {
		c.DrainCode = 503
	}
	if c.DrainCode < 200 || c.DrainCode > 599 {
		return bad(yamlconf.LineOf(root, "drain_code"), "drain_code", "%d is not an HTTP status code from 200 to 599 (503, or 404 for http-check disable-on-404)", c.DrainCode)
	}
	if ac := c.AgentCheck; ac != nil {
		at := func(f string) int { return yamlconf.LineOf(root, "agent_check", f) }
		if err := yamlconf.CheckListen(ac.Listen); err != nil {
			return bad(at("listen"), "agent_check.listen", "%v (e.g. listen: 0.0.0.0:8082)", err)
		}
		if ac.Endpoint == "" {
			ac.Endpoint = "/health"
		}
		switch ac.WeightFrom {
		case "", "load":
		default:
			return bad(at("weight_from"), "agent_check.weight_from", "%q is not supported (want load, or leave it out)", ac.WeightFrom)
		}
		if ac.MaxLoadPerCPU == 0 {
			ac.MaxLoadPerCPU = 2
		}
		if ac.MaxLoadPerCPU < 0 {
			return bad(at("max_load_per_cpu"), "agent_check.max_load_per_cpu", "must be positive, got %g", ac.MaxLoadPerCPU)
		}
		if ac.MinWeight == 0 {
			ac.MinWeight = 10
		}
		if ac.MinWeight < 1 || ac.MinWeight > 100 {
			return bad(at("min_weight"), "agent_check.min_weight", "must be from 1 to 100 (percent), got %d", ac.MinWeight)
		}
	}
	if m := c.Metrics.Listen; m != "" {
		if err := yamlconf.CheckListen(m); err != nil {
			return bad(yamlconf.LineOf(root, "metrics", "listen"), "metrics.listen", "%v (e.g. listen: 127.0.0.1:9102)", err)
		}
	}
	if t := c.TLS; t != nil {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return bad(yamlconf.LineOf(root, "tls"), "tls", "cannot load cert_file %q and key_file %q: %v", t.CertFile, t.KeyFile, yamlconf.UnwrapPath(err))
		}
	}
	return nil
}

// Override sets admin_socket and state_file from the command line (empty
// leaves a field as configured) and validates them.
func (c *Config) Override(adminSocket, stateFile string) error {
	for flag, v := range map[string]string{"--admin-socket": adminSocket, "--state-file": stateFile} {
		if v != "" && v != "off" && !filepath.IsAbs(v) {
			return fmt.Errorf("%s %q must be an absolute path, or off", flag, v)
		}
	}
	if adminSocket != "" {
		c.AdminSocket = adminSocket
	}
	if stateFile != "" {
		c.StateFile = stateFile
	}
	return nil
}
