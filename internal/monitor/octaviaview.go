package monitor

// This file is the old /v2/lbaas view of file mode's admin endpoint; it
// goes when that endpoint serves the Octavia API's own views.

import (
	"encoding/json"
	"strconv"
	"time"
)

// IDRef is Octavia's {"id": …} reference.
type IDRef struct {
	ID string `json:"id"`
}

// OctaviaHealthMonitor is the body of Octavia's
// GET /v2/lbaas/healthmonitors/{id}, field for field, with the MYSQL and
// PGSQL fields added when they apply. Delay and timeout are integer
// seconds, or a decimal number when the monitor uses sub-second values.
type OctaviaHealthMonitor struct {
	ProjectID          string       `json:"project_id"`
	Name               string       `json:"name"`
	AdminStateUp       bool         `json:"admin_state_up"`
	Pools              []IDRef      `json:"pools"`
	CreatedAt          string       `json:"created_at"`
	ProvisioningStatus string       `json:"provisioning_status"`
	UpdatedAt          *string      `json:"updated_at"`
	Delay              json.Number  `json:"delay"`
	ExpectedCodes      *string      `json:"expected_codes"`
	MaxRetries         int          `json:"max_retries"`
	HTTPMethod         *string      `json:"http_method"`
	Timeout            json.Number  `json:"timeout"`
	MaxRetriesDown     int          `json:"max_retries_down"`
	URLPath            *string      `json:"url_path"`
	Type               string       `json:"type"`
	ID                 string       `json:"id"`
	OperatingStatus    string       `json:"operating_status"`
	HTTPVersion        *json.Number `json:"http_version"`
	DomainName         *string      `json:"domain_name"`
	Tags               []string     `json:"tags"`
	User               string       `json:"user,omitempty"`
	PasswordFile       string       `json:"password_file,omitempty"`
	PasswordEnv        string       `json:"password_env,omitempty"`
	Database           string       `json:"database,omitempty"`
	Query              string       `json:"query,omitempty"`
	SSLMode            string       `json:"sslmode,omitempty"`
}

// OctaviaFields lists OctaviaHealthMonitor's fields in the order
// `openstack loadbalancer healthmonitor show` prints them.
var OctaviaFields = []string{
	"project_id", "name", "admin_state_up", "pools", "created_at", "provisioning_status", "updated_at",
	"delay", "expected_codes", "max_retries", "http_method", "timeout", "max_retries_down", "url_path",
	"type", "id", "operating_status", "http_version", "domain_name", "tags",
	"user", "password_file", "password_env", "database", "query", "sslmode",
}

// Octavia returns the monitor as Octavia's API shows it. poolID is the
// pool it belongs to; created and updated are when the configuration was
// loaded and last changed (zero: never).
func (m *Monitor) Octavia(poolID string, created, updated time.Time, operating string) OctaviaHealthMonitor {
	o := OctaviaHealthMonitor{
		Name: m.Name, AdminStateUp: m.AdminStateUp, Pools: []IDRef{{ID: poolID}},
		CreatedAt: created.UTC().Format("2006-01-02T15:04:05"), ProvisioningStatus: "ACTIVE",
		Delay: seconds(m.Delay), MaxRetries: m.MaxRetries, Timeout: seconds(m.Timeout),
		MaxRetriesDown: m.MaxRetriesDown, Type: m.Type, ID: m.ID, OperatingStatus: operating,
		Tags: m.Tags, User: m.User, PasswordFile: m.PasswordFile, PasswordEnv: m.PasswordEnv,
		Database: m.Database, Query: m.Query, SSLMode: m.SSLMode,
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if !updated.IsZero() {
		u := updated.UTC().Format("2006-01-02T15:04:05")
		o.UpdatedAt = &u
	}
	if m.Type == TypeHTTP || m.Type == TypeHTTPS {
		o.HTTPMethod, o.URLPath, o.ExpectedCodes = &m.HTTPMethod, &m.URLPath, &m.ExpectedCodes
	}
	if m.HTTPVersion != "" {
		v := json.Number(m.HTTPVersion)
		o.HTTPVersion = &v
	}
	if m.DomainName != "" {
		o.DomainName = &m.DomainName
	}
	return o
}

// seconds writes d as Octavia's integer seconds, or as a decimal number of
// seconds when it is not whole.
func seconds(d time.Duration) json.Number {
	if d%time.Second == 0 {
		return json.Number(strconv.FormatInt(int64(d/time.Second), 10))
	}
	return json.Number(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
}
