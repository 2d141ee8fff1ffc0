// Package testenv starts private, throwaway database servers and HAProxy
// for integration tests: PostgreSQL, MariaDB and Redis, each in its own temp
// dir on a free 127.0.0.1 port, so that a test can pause, resume, kill,
// restart, saturate and lock them without touching the machine's shared
// services on 5432, 3306 and 6379. It is for tests only and runs on Linux.
//
// Every Start function begins with Need, so a test skips with the package
// to install when a binary is missing, or fails when CI=true. Every server
// is stopped and its files removed by t.Cleanup, also after a failed test.
//
// # Lessons built in
//
// Root. PostgreSQL refuses to run as root, so when the test runs as root,
// initdb and postgres run as the OS user postgres, and mariadb-install-db
// and mariadbd as mysql, through exec.Cmd's SysProcAttr.Credential (so the
// started process is the server itself, not a su or sudo wrapper). Without
// root they run as the current user. Redis and HAProxy always run as the
// current user.
//
// Directories. t.TempDir is root-owned, mode 0700, and its parents cannot be
// traversed by another user; its paths also grow with the test name, while
// a unix socket path must stay under 108 bytes. So each server gets its own
// short directory, /tmp/vitals-<kind>-<random>, owned by the server's user,
// holding the data dir, the socket and the log (LogFile). The directory also
// records the PID of the test process that made it: a later run removes
// directories whose test process died without running its cleanups.
//
// Configuration. PostgreSQL listens on 127.0.0.1 and a socket in its
// directory, with fsync off, small shared_buffers, and max_connections and
// superuser_reserved_connections from the options, all on the command line;
// pg_hba.conf allows scram-sha-256 over 127.0.0.1 and trust on the socket.
// The role health (NOSUPERUSER, pg_monitor), the database app and the table
// app.public.t exist, and health may CONNECT and SELECT. MariaDB runs with
// --no-defaults and --skip-name-resolve: without the latter, the anonymous
// account (user "", host localhost) shadows 'health'@'%' for logins from
// 127.0.0.1.
// The anonymous accounts and the passwordless root accounts reachable over
// TCP are dropped; root logs in over the socket.
//
// Readiness. A server is ready when a real login succeeds, not when its port
// opens. Polling is bounded in time (30 s) and count, and stops as soon as
// the process exits; a failure quotes the tail of the server log.
//
// Processes. Servers start in their own process group (Setpgid) and get
// SIGKILL if the test binary dies (Pdeathsig), so a crashed or timed-out
// test leaves no server running. Cleanup sends SIGCONT first (a stopped
// process cannot act on SIGTERM), then asks for a graceful stop with a
// bounded wait, then SIGKILLs the whole tree. PostgreSQL backends call
// setsid, so they are not in the postmaster's process group: Kill freezes
// the postmaster with SIGSTOP, collects its descendants from /proc, and
// SIGKILLs the group and every descendant, and then any process still
// working in the data dir. Only then is the port free and the shared memory
// unattached, so Restart works at once. A killed postmaster's System V
// segment is removed at cleanup. The only goroutine per server waits for
// its process and ends when it exits.
//
// Standby. StartPostgresStandby copies a running primary with pg_basebackup
// -R over TCP (as the superuser, with a permanent replication slot) and
// starts a hot standby on its own port with the primary's roles and
// passwords. PauseReplay and ResumeReplay stop and restart WAL replay, so a
// test can make a replica lag on demand; WaitReplicated waits, bounded, until
// the standby has replayed the primary's current WAL position.
//
// Pause. Pause SIGSTOPs the server (the postmaster, for PostgreSQL). The
// kernel still completes TCP handshakes into the listen backlog, so a plain
// TCP check passes while every login hangs: the failure mode vitals exists
// to detect.
//
// Re-runs. Some behaviour shows only to a process without root, or needs
// sysctls changed: AsUnprivileged re-runs the calling test as the OS user
// nobody (from a copy of the test binary that user can read), and
// InPrivateNetwork re-runs it in a new network namespace with lo up, whose
// net.* sysctls the test may change without touching the machine. The
// parent passes only if the child ran the test and it passed. SkipOrFail is
// t.Skip that fails under CI=true.
package testenv
