package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vitals/internal/store"
	"vitals/internal/store/sqlite"
	"vitals/internal/testenv"
)

// importYAML is a load balancer with one listener, one pool with a
// monitor and two members: six objects.
const importYAML = `admin:
  socket: /tmp/vitals-import-unused.sock
loadbalancer:
  name: lb1
  listeners:
    - name: pg
      protocol: TCP
      protocol_port: 15432
      default_pool: pg
  pools:
    - name: pg
      lb_algorithm: ROUND_ROBIN
      healthmonitor:
        type: TCP
        delay: 5
        timeout: 3
        max_retries: 2
      members:
        - address: 127.0.0.1
          protocol_port: 5432
        - address: 127.0.0.2
          protocol_port: 5432
`

// runBin runs the vitals binary and returns its exit code and output.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	case err != nil:
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	return 0, out.String(), errOut.String()
}

// TestLBImport runs `vitals lb import FILE --db PATH` (the real binary):
// the first import creates the file's objects, the second writes nothing,
// an edit updates and deletes, and an invalid file exits 2 naming the
// line as --check-config does, leaving the store as it was.
func TestLBImport(t *testing.T) {
	bin := testenv.BuildVitals(t)
	dir := t.TempDir()
	file, db := filepath.Join(dir, "lb.yaml"), filepath.Join(dir, "lb.db")
	if err := os.WriteFile(file, []byte(importYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	expect := func(step string, wantCode int, wantOut, wantErr string, args ...string) {
		t.Helper()
		code, out, errOut := runBin(t, bin, args...)
		if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errOut, wantErr) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", step, code, out, errOut, wantCode, wantOut, wantErr)
		}
	}
	expect("first import", 0, "6 created, 0 updated, 0 deleted", "", "lb", "import", file, "--db", db)
	expect("second import", 0, "nothing changed", "", "lb", "import", "--db", db, file)

	edited := strings.Replace(importYAML, "        - address: 127.0.0.2\n          protocol_port: 5432\n", "", 1)
	edited = strings.Replace(edited, "delay: 5", "delay: 7", 1)
	os.WriteFile(file, []byte(edited), 0o600)
	expect("edited import", 0, "0 created, 1 updated, 1 deleted", "", "lb", "import", file, "--db", db)

	bad := strings.Replace(importYAML, "type: TCP", "type: TCP\n        url_path: /health", 1)
	os.WriteFile(file, []byte(bad), 0o600)
	expect("invalid file", exitUsage, "", file+":15: healthmonitor of pool \"pg\": url_path is not allowed for type TCP", "lb", "import", file, "--db", db)
	expect("no --db", exitUsage, "", "missing --db PATH", "lb", "import", file)
	expect("no file", exitUsage, "", "want FILE", "lb", "import", "--db", db)

	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := store.Read(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LoadBalancers) != 1 || snap.LoadBalancers[0].Name != "lb1" || len(snap.Members) != 1 || len(snap.HealthMonitors) != 1 {
		t.Fatalf("store after the imports: %d load balancers, %d members, %d monitors; want lb1 with 1 member and 1 monitor", len(snap.LoadBalancers), len(snap.Members), len(snap.HealthMonitors))
	}
	if got := snap.HealthMonitors[0].Delay; got.String() != "7s" {
		t.Errorf("monitor delay %v after the edited import, want 7s (the invalid file must not have been written)", got)
	}
}
