package lb

import (
	"bytes"
	"errors"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/yamlconf"
)

// LoadSettingsFile reads a settings file for `vitals lb --db`: the
// process settings of the configuration file (admin, api_settings,
// monitor, shutdown_grace), decoded as strictly, and no loadbalancer,
// which the store holds. An empty path gives the defaults.
func LoadSettingsFile(path string) (*Config, error) {
	if path == "" {
		return ParseSettings("", nil)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read: " + yamlconf.UnwrapPath(err).Error()}
	}
	return ParseSettings(path, data)
}

// ParseSettings is LoadSettingsFile on data; name is used in error
// messages. The result has no load balancer, ready for Run before a
// controller applies the store's.
func ParseSettings(name string, data []byte) (*Config, error) {
	c := &Config{}
	var root yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, yamlError(name, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, err)
		}
		if line, ok := yamlconf.SecondDocument(dec); ok {
			return nil, &ConfigError{File: name, Line: line, Msg: "holds a second YAML document; put everything in one"}
		}
	}
	v := &validator{file: name, root: &root}
	if c.LoadBalancers != nil {
		return nil, v.bad([]any{"loadbalancers"}, "", "loadbalancers", "is not read with --db: the store holds the load balancers; load this file into it with vitals lb import FILE --db PATH, and keep only admin, api_settings, monitor and shutdown_grace here")
	}
	if c.LoadBalancer != nil {
		return nil, v.bad([]any{"loadbalancer"}, "", "loadbalancer", "is not read with --db: the store holds the load balancers; load this file into it with vitals lb import FILE --db PATH, and keep only admin, api_settings, monitor and shutdown_grace here")
	}
	c.File, c.Loaded = name, time.Now()
	if err := v.settings(c); err != nil {
		return nil, err
	}
	return c, nil
}
