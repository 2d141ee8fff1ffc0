package agent

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
)

// roleEndpoint is one of the built-in endpoints that every mysql and
// postgres check answers from the replication state its runs read, as
// Patroni's REST API does: /health/<check>/<name>, and /<name> when the
// agent has exactly one such check.
type roleEndpoint struct {
	name string // the last path element, e.g. "primary"
	// want is the role that passes: probe.RolePrimary, probe.RoleReplica,
	// or "" for either.
	want string
	// lag: the endpoint takes ?lag=, the most replication lag that passes.
	lag bool
}

// roleEndpoints is the list of built-in role endpoints. The routes derive
// from it, and TestRoleEndpointsDocumented holds the README's table to it.
var roleEndpoints = []roleEndpoint{
	{name: "primary", want: probe.RolePrimary},
	{name: "leader", want: probe.RolePrimary},
	{name: "replica", want: probe.RoleReplica, lag: true},
	{name: "read-write", want: probe.RolePrimary},
	{name: "read-only", lag: true},
}

// hasRoles reports whether checks of this kind answer the role endpoints.
func hasRoles(kind string) bool { return kind == "postgres" || kind == "mysql" }

// addRoleRoutes adds the role endpoints of every mysql and postgres check
// to routes: /health/<check>/<name> always, and /<name> when there is
// exactly one such check, no configured endpoint has that path, and
// anyPath is off: with --ini every other path answers as "/", as the
// seed's script did, and a load balancer set up for it may probe any path.
func addRoleRoutes(routes map[string]*route, checks []*check, anyPath bool) {
	var db []*check
	for _, c := range checks {
		if hasRoles(c.cfg.Type) {
			db = append(db, c)
		}
	}
	for _, c := range db {
		for i := range roleEndpoints {
			p := "/health/" + c.cfg.Name + "/" + roleEndpoints[i].name
			routes[p] = &route{path: p, checks: []*check{c}, single: true, role: &roleEndpoints[i], pass: 200, warn: 200, fail: 503}
		}
	}
	if len(db) != 1 || anyPath {
		return
	}
	for i := range roleEndpoints {
		p := "/" + roleEndpoints[i].name
		if _, taken := routes[p]; !taken {
			routes[p] = &route{path: p, checks: db, single: true, role: &roleEndpoints[i], pass: 200, warn: 200, fail: 503}
		}
	}
}

// lagLimit is the ?lag= of one request: bytes or a duration.
type lagLimit struct {
	text    string // as given, for reasons; "" when the request has none
	isBytes bool
	bytes   uint64
	dur     time.Duration
}

// parseLag reads ?lag= for a role endpoint of a check of kind. A missing
// lag is the zero lagLimit; a malformed one, or one the endpoint or the
// kind cannot judge, is an error for a 400.
func parseLag(q url.Values, e *roleEndpoint, kind string) (lagLimit, error) {
	vals, ok := q["lag"]
	switch {
	case !ok:
		return lagLimit{}, nil
	case !e.lag:
		var takes []string
		for _, o := range roleEndpoints {
			if o.lag {
				takes = append(takes, "/"+o.name)
			}
		}
		return lagLimit{}, fmt.Errorf("?lag= applies to %s, not /%s", strings.Join(takes, " and "), e.name)
	case len(vals) > 1:
		return lagLimit{}, errors.New("?lag= is given more than once; give it once")
	}
	text := strings.TrimSpace(vals[0])
	var lim lagLimit
	switch {
	case text == "":
		return lagLimit{}, errors.New("?lag= is empty; give a size such as 16MB or a duration such as 10s")
	case strings.Trim(text, "0123456789") == "":
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return lagLimit{}, fmt.Errorf("?lag=%s is too large", text)
		}
		lim = lagLimit{text: text + " bytes", isBytes: true, bytes: n}
	default:
		if d, err := time.ParseDuration(text); err == nil {
			if d < 0 {
				return lagLimit{}, fmt.Errorf("?lag=%s is negative", text)
			}
			lim = lagLimit{text: text, dur: d}
			break
		}
		n, err := probe.ParseSize(text)
		if err != nil {
			return lagLimit{}, fmt.Errorf("?lag=%s is neither a size (16MB, 1GiB, 4096 bytes) nor a duration (10s, 500ms, 1m)", text)
		}
		lim = lagLimit{text: text, isBytes: true, bytes: n}
	}
	if lim.isBytes && kind == "mysql" {
		return lagLimit{}, fmt.Errorf("?lag=%s: a mysql check knows replication lag in seconds only (Seconds_Behind_Source); give a duration such as ?lag=10s", text)
	}
	return lim, nil
}

// judgeRole judges a check's view for the role endpoint e: the check must
// pass (or warn), have read its state, have the role e wants and, when lim
// is set, a replication lag of at most lim. It returns the view failed with
// the reason when one of them does not hold.
func (e *roleEndpoint) judgeRole(v View, lim lagLimit) View {
	if v.Status == probe.Fail {
		return v
	}
	fail := func(format string, a ...any) View {
		v.Status, v.Reason = probe.Fail, fmt.Sprintf(format, a...)
		return v
	}
	db := v.DB
	switch {
	case db == nil:
		return fail("role unknown: the latest run could not read the replication state")
	case e.want != "" && db.Role != e.want:
		return fail("role is %s, want %s", db.Role, e.want)
	case lim.text == "":
		return v
	case lim.isBytes && db.LagBytes == nil:
		return fail("replication lag unknown: %s", db.BytesUnknown)
	case lim.isBytes && *db.LagBytes > lim.bytes:
		return fail("replication lag %d bytes above %s", *db.LagBytes, lim.text)
	case !lim.isBytes && db.LagSeconds == nil:
		return fail("%s", db.SecondsUnknown)
	case !lim.isBytes && *db.LagSeconds > lim.dur.Seconds():
		return fail("replication lag %s above %s", strconv.FormatFloat(*db.LagSeconds, 'f', -1, 64)+"s", lim.text)
	}
	return v
}
