//go:build pgbench

// Package pgbench is bench/pgbench.sh's benchmark: pgbench's select-only
// workload against a private PostgreSQL directly, through HAProxy (mode
// tcp, one server, TCP check) and through vitals lb (one member, TCP
// monitor), in rounds that rotate the order.
package pgbench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// The workload, as issue 12 sets it; VITALS_PGBENCH_* change it for a
// short check of the script.
var (
	clients = envInt("VITALS_PGBENCH_CLIENTS", 16)
	threads = envInt("VITALS_PGBENCH_THREADS", 2)
	seconds = envInt("VITALS_PGBENCH_SECONDS", 10)
	rounds  = envInt("VITALS_PGBENCH_ROUNDS", 3)
	scale   = envInt("VITALS_PGBENCH_SCALE", 5)
	paths   = []string{"direct", "haproxy", "vitals", "floor_loop", "floor_uring", "floor_goroutine"}
	// floorLoops is bench/floor's event loops in the loop and uring modes.
	floorLoops = envInt("VITALS_FLOOR_LOOPS", 1)
	tpsRE      = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	latRE      = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	failedRE   = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestPgbench prints one line starting with "PGBENCH " with every run's
// TPS and average latency, which bench/pgbench.sh turns into its section
// of bench/RESULTS.md. It is built only with -tags pgbench (the script
// sets it), so that go test ./... never reaches it: it takes a minute and
// a half and measures; it asserts nothing but that every run completed
// without failed transactions.
func TestPgbench(t *testing.T) {
	testenv.Need(t, "postgres", "initdb", "pgbench", "psql", "haproxy")
	pg := testenv.StartPostgres(t, testenv.WithMaxConnections(clients+10))
	pgbench(t, pg, pg.Port, "-i", "-s", strconv.Itoa(scale), "-q")

	hp := testenv.FreePort(t)
	testenv.StartHAProxy(t, fmt.Sprintf(`defaults
    mode tcp
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend f
    bind 127.0.0.1:%d
    default_backend b
backend b
    server s1 %s check inter 2s
`, hp, pg.Addr))

	bin := testenv.BuildVitals(t)
	dir := t.TempDir()
	vp, admin := testenv.FreePort(t), testenv.FreePort(t)
	cfg := filepath.Join(dir, "lb.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `admin:
  socket: %s/lb.sock
  listen: 127.0.0.1:%d
loadbalancer:
  name: pgbench
  listeners:
    - {name: pg, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: pg, timeout_client_data: 50s, timeout_member_data: 50s}
  pools:
    - name: pg
      lb_algorithm: ROUND_ROBIN
      healthmonitor: {type: TCP, delay: 2, timeout: 1, max_retries: 1}
      members:
        - {name: pg1, address: 127.0.0.1, protocol_port: %d}
`, dir, admin, vp, pg.Port), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := testenv.StartVitals(t, "lb", bin, dir, "lb", "--config", cfg, "--log-level", "warn")
	if err := lb.WaitReady(func() error { return pgbenchPing(pg, vp) }); err != nil {
		t.Fatalf("vitals lb: %v\n%s", err, lb.LogTail())
	}

	// bench/floor: the least a Go proxy costs here, as an epoll event
	// loop, an io_uring loop and with a goroutine per direction
	// (bench/floor/main.go).
	floor := testenv.BuildCommand(t, "vitals/bench/floor")
	fl, fu, fg := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	for _, f := range []struct {
		name string
		port int
		args []string
	}{
		{"floor-loop", fl, []string{"-mode", "loop", "-loops", strconv.Itoa(floorLoops)}},
		{"floor-uring", fu, []string{"-mode", "uring", "-loops", strconv.Itoa(floorLoops)}},
		{"floor-goroutine", fg, []string{"-mode", "goroutine"}},
	} {
		args := append([]string{"-listen", fmt.Sprintf("127.0.0.1:%d", f.port), "-backend", pg.Addr}, f.args...)
		p := testenv.StartVitals(t, f.name, floor, dir, args...)
		if err := p.WaitReady(func() error { return pgbenchPing(pg, f.port) }); err != nil {
			t.Fatalf("%s: %v\n%s", f.name, err, p.LogTail())
		}
	}

	port := map[string]int{"direct": pg.Port, "haproxy": hp, "vitals": vp, "floor_loop": fl, "floor_uring": fu, "floor_goroutine": fg}
	var line strings.Builder
	line.WriteString("PGBENCH")
	fmt.Fprintf(&line, " clients=%d threads=%d seconds=%d rounds=%d scale=%d floor_loops=%d", clients, threads, seconds, rounds, scale, floorLoops)
	for r := range rounds {
		for i := range paths {
			p := paths[(i+r)%len(paths)]
			out := pgbench(t, pg, port[p], "-S", "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(seconds))
			tps, lat := match(t, tpsRE, out), match(t, latRE, out)
			if f := failedRE.FindStringSubmatch(out); f != nil && f[1] != "0" {
				t.Errorf("%s: %s failed transactions", p, f[1])
			}
			t.Logf("round %d %s: %s TPS, %s ms average latency", r+1, p, tps, lat)
			fmt.Fprintf(&line, " %s_tps=%s %s_lat_ms=%s", p, tps, p, lat)
		}
	}
	fmt.Println(line.String())
}

// pgbench runs pgbench as the superuser against 127.0.0.1:port, database
// app, and returns its output.
func pgbench(t *testing.T, pg *testenv.Postgres, port int, args ...string) string {
	t.Helper()
	args = append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", pg.Super}, args...)
	args = append(args, pg.Database)
	bin, err := testenv.LookPath("pgbench")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.SuperPassword, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(time.Duration(seconds)*time.Second+5*time.Minute, func() { cmd.Process.Kill() }) // a bound: pgbench -i -s 5 takes seconds
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pgbenchPing connects through port once.
func pgbenchPing(pg *testenv.Postgres, port int) error {
	bin, err := testenv.LookPath("psql")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", pg.Super, "-d", pg.Database, "-Atc", "select 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.SuperPassword, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=2")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		return fmt.Errorf("select 1 through port %d: %v %s", port, err, out)
	}
	return nil
}

func match(t *testing.T, re *regexp.Regexp, out string) string {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in pgbench's output:\n%s", re, out)
	}
	return m[1]
}
