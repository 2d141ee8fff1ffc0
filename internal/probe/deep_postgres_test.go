package probe

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vitals/internal/testenv"
)

func TestDeepValidation(t *testing.T) {
	tests := []struct {
		kind  string
		mod   func(*Spec)
		field string
		msg   string
	}{
		{"postgres", func(s *Spec) { s.Role = "master" }, "role", `"master" is not one of primary, replica, any`},
		{"mysql", func(s *Spec) { s.Role = "Primary" }, "role", `"Primary" is not one of primary, replica, any`},
		{"mysql", func(s *Spec) { s.Galera = "yes" }, "galera", `"yes" is not valid (want synced)`},
		{"mysql", func(s *Spec) { s.DonorOK = true }, "donor_ok", "needs galera: synced"},
		{"postgres", func(s *Spec) { s.Galera = "synced" }, "galera", "is not allowed for type postgres"},
		{"postgres", func(s *Spec) { s.DonorOK = true }, "donor_ok", "is not allowed for type postgres"},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "150%" }, "max_connections_used", `"150%" is not a share from 0% to 100%`},
		{"postgres", func(s *Spec) { s.MaxConnectionsUsed = "abc" }, "max_connections_used", `"abc" is not a share such as "90%" or a number of connections such as "80"`},
		{"postgres", func(s *Spec) { s.MaxConnectionsUsed = "abc%" }, "max_connections_used", `"abc%" is not a share such as "90%" or a number of connections such as "80"`},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "80MiB" }, "max_connections_used", `"80MiB" is not a share such as "90%" or a number of connections such as "80"`},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "12.5" }, "max_connections_used", `"12.5" is not a share such as "90%" or a number of connections such as "80"`},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "-5%" }, "max_connections_used", `"-5%" is not a share such as "90%" or a number of connections such as "80"`},
		{"postgres", func(s *Spec) { s.MaxConnectionsUsed = "0%" }, "max_connections_used", `must be above zero, got "0%"`},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "0" }, "max_connections_used", `must be above zero, got "0"`},
		{"postgres", func(s *Spec) { s.MaxReplicationLag = -time.Second }, "max_replication_lag", "must be positive, got -1s"},
		{"redis", func(s *Spec) { s.Role = "primary" }, "role", "is not allowed for type redis"},
		{"tcp", func(s *Spec) { s.User, s.ReuseConnection = "", true }, "reuse_connection", "is not allowed for type tcp"},
	}
	for _, tt := range tests {
		s := Spec{Address: "127.0.0.1:1", Timeout: time.Second, User: "health"}
		tt.mod(&s)
		_, err := New(tt.kind, s)
		fe, ok := errors.AsType[*FieldError](err)
		if want := tt.field + ": " + tt.msg; !ok || fe.Field != tt.field || err.Error() != want {
			t.Errorf("%s %+v: got %v, want a FieldError %q", tt.kind, s, err, want)
		}
	}

	valid := []struct {
		kind string
		mod  func(*Spec)
	}{
		{"postgres", func(s *Spec) { s.Role = "any" }},
		{"postgres", func(s *Spec) { s.Role, s.MaxReplicationLag, s.MaxConnectionsUsed = "primary", 10*time.Second, "90%" }},
		{"mysql", func(s *Spec) { s.Role, s.MaxConnectionsUsed = "replica", " 12.5% " }},
		{"mysql", func(s *Spec) { s.MaxConnectionsUsed = "80" }},
		{"mysql", func(s *Spec) { s.Galera, s.DonorOK, s.ReuseConnection = "synced", true, true }},
		{"postgres", func(s *Spec) { s.ReuseConnection = true }},
	}
	for _, tt := range valid {
		s := Spec{Address: "127.0.0.1:1", Timeout: time.Second, User: "health"}
		tt.mod(&s)
		p, err := New(tt.kind, s)
		if err != nil {
			t.Errorf("%s %+v: %v", tt.kind, s, err)
			continue
		}
		if err := Close(p); err != nil {
			t.Errorf("%s: Close of a prober that never ran: %v", tt.kind, err)
		}
	}
}

func TestDeepJudge(t *testing.T) {
	t.Run("lag", func(t *testing.T) {
		tests := []struct {
			lag    float64
			max    time.Duration
			detail string
			err    string
		}{
			{0, 10 * time.Second, "replication lag 0s", ""},
			{0.3, 10 * time.Second, "replication lag 0.3s", ""},
			{10, 10 * time.Second, "replication lag 10s", ""},
			{42.123, 10 * time.Second, "", "replication lag 42.1s above 10s"},
			{10.04, 10 * time.Second, "", "replication lag 10.04s above 10s"},
			{1.3, 1250 * time.Millisecond, "", "replication lag 1.3s above 1.25s"},
			{0.5, 1250 * time.Millisecond, "replication lag 0.5s", ""},
			{90, time.Minute, "", "replication lag 90s above 1m0s"},
		}
		for _, tt := range tests {
			detail, err := judgeLag(tt.lag, tt.max)
			if got := errText(err); detail != tt.detail || got != tt.err {
				t.Errorf("judgeLag(%v, %s) = %q, %q; want %q, %q", tt.lag, tt.max, detail, got, tt.detail, tt.err)
			}
		}
	})
	t.Run("connections", func(t *testing.T) {
		tests := []struct {
			limit       string
			used, slots int64
			detail      string
			err         string
		}{
			{"90%", 3, 17, "3/17 connections", ""},
			{"90%", 17, 20, "17/20 connections", ""},
			{"90%", 18, 20, "", "connections 18/20 used (90%), limit 90%"},
			{"90%", 19, 20, "", "connections 19/20 used (95%), limit 90%"},
			{"50%", 4, 7, "", "connections 4/7 used (57%), limit 50%"},
			{"12.5%", 1, 8, "", "connections 1/8 used (12.5%), limit 12.5%"},
			{"12.5%", 1, 9, "1/9 connections", ""},
			{"90%", 1, 0, "", "connections 1/0 used (100%), limit 90%"},
			{"80", 79, 100, "79/100 connections", ""},
			{"80", 80, 100, "", "connections 80/100 used, limit 80"},
		}
		for _, tt := range tests {
			l, err := parseConnLimit(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			detail, err := l.judge(tt.used, tt.slots)
			if got := errText(err); detail != tt.detail || got != tt.err {
				t.Errorf("%s: judge(%d, %d) = %q, %q; want %q, %q", tt.limit, tt.used, tt.slots, detail, got, tt.detail, tt.err)
			}
		}
	})
	t.Run("role", func(t *testing.T) {
		tests := []struct {
			want    string
			replica bool
			detail  string
			err     string
		}{
			{"", false, "primary", ""},
			{"", true, "replica", ""},
			{"primary", false, "primary", ""},
			{"primary", true, "", "role is replica, want primary"},
			{"replica", true, "replica", ""},
			{"replica", false, "", "role is primary, want replica"},
		}
		for _, tt := range tests {
			detail, err := judgeRole(tt.want, tt.replica)
			if got := errText(err); detail != tt.detail || got != tt.err {
				t.Errorf("judgeRole(%q, %v) = %q, %q; want %q, %q", tt.want, tt.replica, detail, got, tt.detail, tt.err)
			}
		}
	})
}

func TestDeepPostgres(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "pg_basebackup")
	// 10 slots, 3 reserved: 7 open to non-superusers.
	primary := testenv.StartPostgres(t, testenv.WithMaxConnections(10))
	standby := testenv.StartPostgresStandby(t, primary)
	spec := func(pg *testenv.Postgres, mod func(*Spec)) Spec {
		s := Spec{Address: pg.Addr, Timeout: passTimeout, User: pg.User, Password: Secret(pg.Password), Database: pg.Database}
		mod(&s)
		return s
	}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "postgres", s), s.Timeout)
	}

	t.Run("role", func(t *testing.T) {
		tests := []struct {
			name   string
			pg     *testenv.Postgres
			role   string
			status Status
			reason string
		}{
			{"primary wants primary", primary, "primary", Pass, `query returned "1"; primary`},
			{"primary wants replica", primary, "replica", Fail, "role is primary, want replica"},
			{"primary wants any", primary, "any", Pass, `query returned "1"`},
			{"standby wants replica", standby, "replica", Pass, `query returned "1"; replica`},
			{"standby wants primary", standby, "primary", Fail, "role is replica, want primary"},
			{"standby wants any", standby, "", Pass, `query returned "1"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantResult(t, run(t, spec(tt.pg, func(s *Spec) { s.Role = tt.role })), tt.status, tt.reason)
			})
		}
	})

	t.Run("state without options", func(t *testing.T) {
		// Every run reads role and lag, whatever the spec judges.
		for _, tt := range []struct {
			pg   *testenv.Postgres
			role string
		}{{primary, RolePrimary}, {standby, RoleReplica}} {
			r := run(t, spec(tt.pg, func(*Spec) {}))
			wantResult(t, r, Pass, `query returned "1"`)
			st := r.DB
			if st == nil || st.Role != tt.role || st.ReadOnly != nil || st.LagBytes == nil || st.LagSeconds == nil {
				t.Fatalf("%s: state %+v, want role %s with lag in bytes and seconds", tt.pg.Addr, st, tt.role)
			}
			if tt.pg == primary && (*st.LagBytes != 0 || *st.LagSeconds != 0) {
				t.Errorf("primary: lag %d bytes, %gs; want 0 and 0", *st.LagBytes, *st.LagSeconds)
			}
		}
		// A run that fails before the state has none.
		if r := run(t, spec(primary, func(s *Spec) { s.Query = "SELECT * FROM nope" })); r.DB != nil {
			t.Errorf("failed query: state %+v, want nil", r.DB)
		}
	})

	t.Run("user query first", func(t *testing.T) {
		// A failing query is the reason, before any deep statement.
		s := spec(standby, func(s *Spec) { s.Query, s.Expect, s.Role = "SELECT 0", "1", "primary" })
		wantResult(t, run(t, s), Fail, `query returned "0", want "1"`)
	})

	t.Run("replication lag", func(t *testing.T) {
		wantResult(t, run(t, spec(primary, func(s *Spec) { s.MaxReplicationLag = 10 * time.Second })),
			Pass, `query returned "1"; replication lag 0s`)
		// A fresh standby has replayed all it received.
		p := mustProbe(t, "postgres", spec(standby, func(s *Spec) { s.MaxReplicationLag = time.Second }))
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; replication lag 0s`)

		// With replay paused, WAL from a write keeps arriving but is not
		// applied: lag is the age of the last replayed commit.
		standby.PauseReplay(t)
		resumed := false
		defer func() {
			if !resumed {
				standby.ResumeReplay(t)
			}
		}()
		primary.Exec(t, "UPDATE public.t SET note = 'lagging' WHERE id = 1")
		over := regexp.MustCompile(`^replication lag [0-9]+(\.[0-9]+)?s above 1s$`)
		var r Result
		waitFor(t, 15*time.Second, "the lag to pass 1s", func() bool {
			r = runBounded(t, p, passTimeout)
			return r.Status == Fail && over.MatchString(r.Reason)
		})
		t.Logf("paused replay: %s %q", r.Status, r.Reason)

		standby.ResumeReplay(t)
		resumed = true
		standby.WaitReplicated(t, primary)
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; replication lag 0s`)
	})

	t.Run("connections", func(t *testing.T) {
		primary.Exec(t, "CREATE ROLE filler LOGIN PASSWORD 'filler-pw'; GRANT CONNECT ON DATABASE app TO filler")
		p := mustProbe(t, "postgres", spec(primary, func(s *Spec) { s.MaxConnectionsUsed = "90%" }))
		// Only the check's own session, once earlier ones have gone.
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; 1/7 connections`)

		// Six other sessions and the check's own: all 7 slots.
		held := holdPostgres(t, primary, "filler", "filler-pw", 6)
		waitResult(t, p, 5*time.Second, Fail, "connections 7/7 used (100%), limit 90%")
		// A count works too: 7 in use reaches 7.
		wantResult(t, run(t, spec(primary, func(s *Spec) { s.MaxConnectionsUsed = "7" })), Fail, "connections 7/7 used, limit 7")
		closePostgres(held[:1])
		waitResult(t, mustProbe(t, "postgres", spec(primary, func(s *Spec) { s.MaxConnectionsUsed = "7" })),
			5*time.Second, Pass, `query returned "1"; 6/7 connections`)
		closePostgres(held)
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; 1/7 connections`)
	})

	t.Run("connections need pg_monitor", func(t *testing.T) {
		primary.Exec(t, "CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; GRANT CONNECT ON DATABASE app TO plain")
		s := spec(primary, func(s *Spec) { s.User, s.Password, s.MaxConnectionsUsed = "plain", "plain-pw", "90%" })
		wantResult(t, run(t, s), Fail, `connections: "plain" cannot see other users' sessions; grant it pg_monitor (or pg_read_all_stats)`)
	})

	t.Run("all on a standby", func(t *testing.T) {
		p := mustProbe(t, "postgres", spec(standby, func(s *Spec) {
			s.Role, s.MaxReplicationLag, s.MaxConnectionsUsed = "replica", 10*time.Second, "90%"
		}))
		waitResult(t, p, 5*time.Second, Pass, `query returned "1"; replica; replication lag 0s; 1/7 connections`)
	})
}

// waitResult runs p until it gives status and reason, failing the test
// after d with the last result.
func waitResult(t *testing.T, p Prober, d time.Duration, status Status, reason string) {
	t.Helper()
	var r Result
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		r = p.Probe(ctx)
		if r.Status == status && r.Reason == reason {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("after %s: got %s %q, want %s %q", d, r.Status, r.Reason, status, reason)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// holdPostgres opens n connections to app as user and returns them; they
// are closed at cleanup if not before.
func holdPostgres(t *testing.T, pg *testenv.Postgres, user, password string, n int) []*pgx.Conn {
	t.Helper()
	var held []*pgx.Conn
	t.Cleanup(func() { closePostgres(held) })
	for range n {
		c, err := pgx.Connect(t.Context(), fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
			pg.Port, user, password, pg.Database))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	return held
}

// closePostgres closes the connections that are still open.
func closePostgres(conns []*pgx.Conn) {
	for _, c := range conns {
		if !c.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.Close(ctx)
			cancel()
		}
	}
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
