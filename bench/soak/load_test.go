package soak

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Client pacing and bounds.
const (
	sessionTimeout = 5 * time.Second       // one whole session: connect, query, close
	sessionPause   = 50 * time.Millisecond // between a client's sessions
)

// session is one client session through the lb: connect, ask the server
// for its port, close.
type session struct {
	pool       string
	start, end time.Time
	port       int // the port the serving database reported; 0 on failure
	err        error
}

// recorder keeps every session.
type recorder struct {
	mu       sync.Mutex
	sessions []session
}

func (r *recorder) add(s session) {
	r.mu.Lock()
	r.sessions = append(r.sessions, s)
	r.mu.Unlock()
}

func (r *recorder) all() []session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]session(nil), r.sessions...)
}

// counter is a shared count.
type counter struct{ n atomic.Int64 }

// runClient runs sessions in pool one after the other until end.
func runClient(rec *recorder, pool string, lb *lbProc, pw string, end time.Time) {
	addr := fmt.Sprintf("127.0.0.1:%d", lb.ports[pool])
	for time.Now().Before(end.Add(-sessionTimeout)) {
		s := session{pool: pool, start: time.Now()}
		switch pool {
		case "pg":
			s.port, s.err = pgSession(addr, pw)
		case "my":
			s.port, s.err = mySession(addr, pw)
		}
		s.end = time.Now()
		rec.add(s)
		time.Sleep(sessionPause)
	}
}

// pgSession logs in to app as health through the lb and returns
// inet_server_port().
func pgSession(addr, pw string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=health password=%s dbname=app sslmode=disable connect_timeout=5", host, port, pw))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var p int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&p); err != nil {
		return 0, err
	}
	return p, conn.Close(ctx)
}

// mySession logs in to app as health through the lb and returns @@port.
func mySession(addr, pw string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = "health", pw, "tcp", addr, "app"
	c.Timeout, c.ReadTimeout, c.WriteTimeout = sessionTimeout, sessionTimeout, sessionTimeout
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return 0, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var p int
	if err := conn.QueryRowContext(ctx, "SELECT @@port").Scan(&p); err != nil {
		return 0, err
	}
	return p, conn.Close()
}

// memberStatus asks the lb's Octavia API for a member's operating status,
// looking the pool and the member up by name (?name=), as the API's paths
// take IDs.
func memberStatus(lb *lbProc, pool, member string) (string, error) {
	list := func(path, key string) ([]map[string]any, error) {
		resp, err := quickClient.Get(lb.admin + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		var v map[string][]map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return nil, err
		}
		return v[key], nil
	}
	pools, err := list("/v2/lbaas/pools?name="+url.QueryEscape(pool), "pools")
	if err != nil {
		return "", err
	}
	if len(pools) != 1 {
		return "", fmt.Errorf("%d pools named %s", len(pools), pool)
	}
	members, err := list(fmt.Sprintf("/v2/lbaas/pools/%s/members?name=%s", pools[0]["id"], url.QueryEscape(member)), "members")
	if err != nil {
		return "", err
	}
	if len(members) != 1 {
		return "", fmt.Errorf("%d members of pool %s named %s", len(members), pool, member)
	}
	status, _ := members[0]["operating_status"].(string)
	return status, nil
}
