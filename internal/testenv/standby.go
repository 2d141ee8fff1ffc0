package testenv

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// StartPostgresStandby starts a hot standby that streams from primary, and
// registers its cleanup like StartPostgres does. Its data dir is a copy of
// the primary's taken with pg_basebackup -R as the superuser over TCP, with
// a permanent replication slot (so the primary keeps every WAL segment the
// standby has not received yet, whatever the test does to the standby). It
// runs on its own free port and has the primary's Super, User, passwords and
// Database, since it replicates them; it is read-only, so Exec of a write
// fails. It starts with the primary's max_connections and
// superuser_reserved_connections (a hot standby cannot run with fewer
// connections than its primary), then opts. It returns once the standby has
// replayed everything the primary had written when it was called (see
// WaitReplicated). It skips the test if pg_basebackup is not installed.
func StartPostgresStandby(t testing.TB, primary *Postgres, opts ...PostgresOption) *Postgres {
	t.Helper()
	Need(t, "postgres", "pg_basebackup")
	cfg := postgresConfig{
		maxConnections:      primary.cfg.maxConnections,
		reservedConnections: primary.cfg.reservedConnections,
		setup:               func(p *Postgres, t testing.TB) { p.basebackup(t, primary) },
		bootstrap:           func(p *Postgres, t testing.TB) { p.WaitReplicated(t, primary) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxConnections < primary.cfg.maxConnections {
		t.Fatalf("postgres standby: max_connections %d is below the primary's %d; a hot standby needs at least as many",
			cfg.maxConnections, primary.cfg.maxConnections)
	}
	return startPostgres(t, cfg, primary)
}

// basebackup is a standby's setup: a copy of primary's data dir whose
// postgresql.auto.conf holds primary_conninfo and primary_slot_name, and a
// standby.signal file. pg_hba.conf comes along from the primary.
func (p *Postgres) basebackup(t testing.TB, primary *Postgres) {
	t.Helper()
	bin, err := LookPath("pg_basebackup")
	if err != nil {
		t.Fatal(err)
	}
	slot := "standby_" + strconv.Itoa(p.Port)
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s application_name=%s connect_timeout=10",
		primary.Port, primary.Super, primary.SuperPassword, slot)
	out, err := runTool(bin, []string{
		"-D", p.DataDir, "-d", conninfo,
		"-R",           // write primary_conninfo and standby.signal
		"-X", "stream", // stream WAL during the copy, so the copy is consistent
		"-C", "-S", slot, // a permanent slot, written as primary_slot_name
		"-c", "fast", // checkpoint now, not spread over minutes
		"--no-sync",
	}, p.cred, p.base)
	if err != nil {
		t.Fatalf("postgres standby of %s: %v\n%s", primary.Addr, err, out)
	}
}

// WaitReplicated waits until p, a standby, has replayed all the WAL that
// primary had written when WaitReplicated was called (its
// pg_current_wal_lsn), so that every transaction committed on primary
// before the call is visible on p. It fails the test at once when replay is
// paused (see PauseReplay), and after 30 s otherwise.
func (p *Postgres) WaitReplicated(t testing.TB, primary *Postgres) {
	t.Helper()
	target := primary.flushedLSN(t)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.proc.exited() {
		t.Fatalf("postgres %s: wait for replication: not running", p.Addr)
	}
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			defer cancel()
			_ = conn.Close(ctx)
		}
	}()
	paused := false
	err := p.proc.poll(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		if conn == nil {
			c, err := pgx.Connect(ctx, p.SuperConnString())
			if err != nil {
				return err
			}
			conn = c
		}
		var (
			recovery, done bool
			replayed       string
		)
		err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_is_wal_replay_paused(),
			coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false), coalesce(pg_last_wal_replay_lsn()::text, 'nothing')`,
			target).Scan(&recovery, &paused, &done, &replayed)
		switch {
		case err != nil:
			conn.Close(ctx)
			conn = nil
			return err
		case !recovery || paused || done:
			return nil // decided; judged below
		}
		return fmt.Errorf("replayed up to %s, waiting for %s", replayed, target)
	})
	switch {
	case err != nil:
		t.Fatalf("postgres %s: wait for replication from %s: %v", p.Addr, primary.Addr, err)
	case paused:
		t.Fatalf("postgres %s: wait for replication from %s: replay is paused (call ResumeReplay first)", p.Addr, primary.Addr)
	}
	var recovery bool
	if err := conn.QueryRow(context.Background(), "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil || !recovery {
		t.Fatalf("postgres %s: wait for replication from %s: not a standby (in recovery: %v, %v)", p.Addr, primary.Addr, recovery, err)
	}
}

// PauseReplay pauses WAL replay on p, a standby (pg_wal_replay_pause(), as
// the superuser). WAL still streams in, but no record that arrives after
// the call is applied until ResumeReplay: new transactions of the primary
// stay invisible and now() - pg_last_xact_replay_timestamp() keeps growing.
func (p *Postgres) PauseReplay(t testing.TB) {
	t.Helper()
	p.Exec(t, "SELECT pg_wal_replay_pause()")
}

// ResumeReplay resumes WAL replay on p after PauseReplay
// (pg_wal_replay_resume()).
func (p *Postgres) ResumeReplay(t testing.TB) {
	t.Helper()
	p.Exec(t, "SELECT pg_wal_replay_resume()")
}

// flushedLSN returns a WAL position on p, a primary, up to which every
// transaction committed before the call is written and flushed, so the
// primary's WAL senders stream it. With synchronous_commit off, a commit
// returns before its WAL is written, and pg_current_wal_lsn() (the write
// position) can lag behind it for up to wal_writer_delay; so this commits
// one transaction with synchronous_commit on, which flushes all WAL up to
// its commit record, and then reads the write position. The transaction
// must write WAL of its own (here a logical decoding message, which changes
// no table), or its commit is asynchronous whatever synchronous_commit says.
func (p *Postgres) flushedLSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.connString(p.Super, p.SuperPassword, "postgres"))
	if err != nil {
		t.Fatalf("postgres %s: connect as %s: %v", p.Addr, p.Super, err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"SET synchronous_commit TO on", "SELECT pg_logical_emit_message(true, 'vitals-testenv', 'flush')"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("postgres %s: %s: %v", p.Addr, q, err)
		}
	}
	var lsn string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		t.Fatalf("postgres %s: pg_current_wal_lsn: %v", p.Addr, err)
	}
	return lsn
}
