package probe

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"vitals/internal/testenv"
)

func TestDeepMySQL(t *testing.T) {
	testenv.Need(t, "mariadbd", "mariadb-install-db")
	m := testenv.StartMariaDB(t, testenv.WithMariaDBMaxConnections(10))
	spec := func(mod func(*Spec)) Spec {
		s := Spec{Address: m.Addr, Timeout: passTimeout, User: m.User, Password: Secret(m.Password), Database: m.Database}
		mod(&s)
		return s
	}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "mysql", s), s.Timeout)
	}

	t.Run("role", func(t *testing.T) {
		// MariaDB has no super_read_only: read_only alone decides.
		tests := []struct {
			readOnly string
			role     string
			status   Status
			reason   string
		}{
			{"0", "primary", Pass, `query returned "1"; primary`},
			{"0", "replica", Fail, "role is primary, want replica"},
			{"0", "any", Pass, `query returned "1"`},
			{"1", "replica", Pass, `query returned "1"; replica`},
			{"1", "primary", Fail, "role is replica, want primary"},
			{"1", "", Pass, `query returned "1"`},
		}
		t.Cleanup(func() { m.Exec(t, "SET GLOBAL read_only = 0") })
		for _, tt := range tests {
			want := tt.role
			if want == "" {
				want = "unset"
			}
			t.Run("read_only="+tt.readOnly+" wants "+want, func(t *testing.T) {
				m.Exec(t, "SET GLOBAL read_only = "+tt.readOnly)
				r := run(t, spec(func(s *Spec) { s.Role = tt.role }))
				wantResult(t, r, tt.status, tt.reason)
				// Every run reads the state, a failing one included.
				wantRole := map[string]string{"0": RolePrimary, "1": RoleReplica}[tt.readOnly]
				if st := r.DB; st == nil || st.Role != wantRole || st.ReadOnly == nil || *st.ReadOnly != (tt.readOnly == "1") ||
					st.LagBytes != nil || st.LagSeconds == nil || *st.LagSeconds != 0 {
					t.Errorf("state %+v, want role %s, read_only %s, no lag in bytes, 0s", st, wantRole, tt.readOnly)
				}
			})
		}
	})

	t.Run("user query first", func(t *testing.T) {
		s := spec(func(s *Spec) { s.Query, s.Role = "SELECT * FROM nope", "replica" })
		wantResult(t, run(t, s), Fail, "query: Table 'app.nope' doesn't exist (error 1146)")
	})

	t.Run("replication lag", func(t *testing.T) {
		lag := spec(func(s *Spec) { s.MaxReplicationLag = 10 * time.Second })
		// Without SLAVE MONITOR (REPLICATION CLIENT alone is BINLOG MONITOR
		// on MariaDB 10.5+), SHOW REPLICA STATUS is denied: the reason says
		// what to grant.
		m.Exec(t, "REVOKE SLAVE MONITOR ON *.* FROM 'health'@'%', 'health'@'127.0.0.1', 'health'@'localhost'")
		wantResult(t, run(t, lag), Fail,
			`replication status: access denied; grant "health" REPLICATION CLIENT (MySQL) or SLAVE MONITOR (MariaDB)`)
		// Without max_replication_lag the check still passes; the lag is
		// unknown, and says why.
		r := run(t, spec(func(s *Spec) {}))
		wantResult(t, r, Pass, `query returned "1"`)
		if r.DB == nil || r.DB.LagSeconds != nil || !strings.Contains(r.DB.SecondsUnknown, "access denied") {
			t.Errorf("without SLAVE MONITOR: state %+v, want the lag unknown for lack of the grant", r.DB)
		}
		m.Exec(t, "GRANT SLAVE MONITOR ON *.* TO 'health'@'%', 'health'@'127.0.0.1', 'health'@'localhost'")

		// Not a replica: no rows, no lag.
		wantResult(t, run(t, lag), Pass, `query returned "1"; not a replica`)

		// A replica of a port nobody listens on: the IO thread cannot
		// connect, so Seconds_Behind_Master is NULL.
		port := refusedAddr(t)[len("127.0.0.1:"):]
		m.Exec(t, "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT="+port+", MASTER_USER='x', MASTER_CONNECT_RETRY=1; START SLAVE")
		t.Cleanup(func() { m.Exec(t, "STOP SLAVE; RESET SLAVE ALL") })
		wantResult(t, run(t, lag), Fail, "replication is not running (Seconds_Behind_Master is NULL)")
		// Without max_replication_lag the check passes, and the lag is
		// unknown.
		r = run(t, spec(func(s *Spec) {}))
		wantResult(t, r, Pass, `query returned "1"`)
		if r.DB == nil || r.DB.LagSeconds != nil || r.DB.SecondsUnknown != "replication is not running (Seconds_Behind_Master is NULL)" {
			t.Errorf("stopped replication: state %+v, want the lag unknown", r.DB)
		}
	})

	t.Run("connections", func(t *testing.T) {
		// m.Exec and earlier checks have gone once only this one is left.
		p := mustProbe(t, "mysql", spec(func(s *Spec) { s.MaxConnectionsUsed = "90%" }))
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; 1/10 connections`)

		held := holdMySQL(t, m, 8)
		waitResult(t, p, 5*time.Second, Fail, "connections 9/10 used (90%), limit 90%")
		// The server lets a closed connection go a moment after the client
		// does: poll, as a run may still see the previous run's.
		waitResult(t, mustProbe(t, "mysql", spec(func(s *Spec) { s.MaxConnectionsUsed = "10" })), 5*time.Second, Pass, `query returned "1"; 9/10 connections`)
		waitResult(t, mustProbe(t, "mysql", spec(func(s *Spec) { s.MaxConnectionsUsed = "9" })), 5*time.Second, Fail, "connections 9/10 used, limit 9")
		for _, c := range held {
			c.Close()
		}
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; 1/10 connections`)
	})

	t.Run("galera", func(t *testing.T) {
		// MariaDB shows a few wsrep_ variables even without a provider.
		wantResult(t, run(t, spec(func(s *Spec) { s.Galera = "synced" })), Fail, "not a Galera node (no wsrep provider loaded)")
		wantResult(t, run(t, spec(func(s *Spec) { s.Galera, s.DonorOK = "synced", true })), Fail, "not a Galera node (no wsrep provider loaded)")
	})

	t.Run("all", func(t *testing.T) {
		p := mustProbe(t, "mysql", spec(func(s *Spec) {
			s.Role, s.MaxReplicationLag, s.MaxConnectionsUsed = "primary", 10*time.Second, "90%"
		}))
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; primary; not a replica; 1/10 connections`)
	})
}

func TestGaleraJudge(t *testing.T) {
	synced := map[string]string{"wsrep_local_state": "4", "wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary", "wsrep_ready": "ON"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range synced {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	mariadbNoProvider := map[string]string{"wsrep_cluster_status": "Disconnected", "wsrep_ready": "OFF", "wsrep_provider_name": ""}
	tests := []struct {
		name    string
		status  map[string]string
		donorOK bool
		detail  string
		err     string
	}{
		{"synced", synced, false, "galera Synced", ""},
		{"synced, donor_ok", synced, true, "galera Synced", ""},
		{"donor", with("wsrep_local_state", "2"), false, "", "galera state 2 (Donor/Desynced), want 4 (Synced)"},
		{"donor, donor_ok", with("wsrep_local_state", "2"), true, "galera Donor/Desynced", ""},
		{"joining", with("wsrep_local_state", "1"), false, "", "galera state 1 (Joining), want 4 (Synced)"},
		{"joined, donor_ok", with("wsrep_local_state", "3"), true, "", "galera state 3 (Joined), want 4 (Synced) or 2 (Donor/Desynced)"},
		{"unknown state", with("wsrep_local_state", "7"), false, "", "galera state 7 (unknown), want 4 (Synced)"},
		{"non-Primary", with("wsrep_cluster_status", "non-Primary"), false, "", "galera cluster status is non-Primary, want Primary"},
		{"non-Primary donor, donor_ok", with("wsrep_cluster_status", "non-Primary"), true, "", "galera cluster status is non-Primary, want Primary"},
		{"no cluster status", with("wsrep_cluster_status", ""), false, "", "galera cluster status is missing, want Primary"},
		{"not ready", with("wsrep_ready", "OFF"), false, "", "galera node is not ready (wsrep_ready OFF)"},
		{"no wsrep status", map[string]string{}, false, "", "not a Galera node (no wsrep status)"},
		{"no provider", mariadbNoProvider, true, "", "not a Galera node (no wsrep provider loaded)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := judgeGalera(tt.status, tt.donorOK)
			if got := errText(err); detail != tt.detail || got != tt.err {
				t.Errorf("got %q, %q; want %q, %q", detail, got, tt.detail, tt.err)
			}
		})
	}
}

func TestDeepMySQLReplicaStatus(t *testing.T) {
	v := func(s string) dbValue { return dbValue{text: s} }
	null := dbValue{null: true}
	source := []string{"Replica_IO_State", "Source_Host", "Seconds_Behind_Source"}
	master := []string{"Slave_IO_State", "Master_Host", "Seconds_Behind_Master"}
	tests := []struct {
		name   string
		cols   []string
		rows   [][]dbValue
		detail string
		err    string
	}{
		{"not a replica", source, nil, "not a replica", ""},
		{"caught up", source, [][]dbValue{{v(""), v("db1"), v("0")}}, "replication lag 0s", ""},
		{"lagging", master, [][]dbValue{{v(""), v("db1"), v("3")}}, "replication lag 3s", ""},
		{"too far behind", source, [][]dbValue{{v(""), v("db1"), v("42")}}, "", "replication lag 42s above 10s"},
		{"stopped", source, [][]dbValue{{v(""), v("db1"), null}}, "", "replication is not running (Seconds_Behind_Source is NULL)"},
		{"stopped, old names", master, [][]dbValue{{v(""), v("db1"), null}}, "", "replication is not running (Seconds_Behind_Master is NULL)"},
		{"channels: worst counts", source, [][]dbValue{{v(""), v("a"), v("1")}, {v(""), v("b"), v("12")}}, "", "replication lag 12s above 10s"},
		{"channels: one stopped", source, [][]dbValue{{v(""), v("a"), v("1")}, {v(""), v("b"), null}}, "", "replication is not running (Seconds_Behind_Source is NULL)"},
		{"no lag column", []string{"Slave_IO_State"}, [][]dbValue{{v("")}}, "", "replication status has no Seconds_Behind_Source or Seconds_Behind_Master column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := judgeReplicaStatus(tt.cols, tt.rows, 10*time.Second)
			if got := errText(err); detail != tt.detail || got != tt.err {
				t.Errorf("got %q, %q; want %q, %q", detail, got, tt.detail, tt.err)
			}
		})
	}
}

func TestDeepMySQLSwitch(t *testing.T) {
	for text, want := range map[string]bool{"0": false, "OFF": false, "off": false, "1": true, "ON": true, "NO_LOCK": true, "NO_LOCK_NO_ADMIN": true} {
		if got, err := mysqlSwitch(dbValue{text: text}); got != want || err != nil {
			t.Errorf("mysqlSwitch(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	if _, err := mysqlSwitch(dbValue{null: true}); err == nil {
		t.Error("mysqlSwitch(NULL): no error")
	}
}

// holdMySQL opens n connections to app as the health user and returns
// them; they are closed at cleanup if not before.
func holdMySQL(t *testing.T, m *testenv.MariaDB, n int) []*sql.Conn {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = &mysql.NopLogger{}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(0) // a released connection closes
	t.Cleanup(func() { db.Close() })
	held := make([]*sql.Conn, 0, n)
	for i := range n {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatalf("connection %s of %d: %v", strconv.Itoa(i+1), n, err)
		}
		held = append(held, conn)
	}
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	return held
}
