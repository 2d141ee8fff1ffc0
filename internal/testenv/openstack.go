package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OpenstackCLI runs the openstack command line client (Debian's
// python3-openstackclient with the python3-octaviaclient plugin) against
// an Octavia API without Keystone: the admin_token auth plugin sends the
// token as X-Auth-Token and OS_ENDPOINT is used as the endpoint of every
// service, so the loadbalancer commands go to Endpoint/v2.0/lbaas/...
type OpenstackCLI struct {
	Path     string // the openstack binary
	Endpoint string // the API's base URL, e.g. http://127.0.0.1:9876
	Token    string // sent as X-Auth-Token
	Home     string // HOME of the client: empty, so no clouds.yaml is read
}

// OpenstackEnv is the environment that points the CLI at endpoint with
// token and nothing else (no clouds.yaml, no OS_CLOUD).
func OpenstackEnv(endpoint, token string) []string {
	return []string{
		"OS_AUTH_TYPE=admin_token",
		"OS_ENDPOINT=" + endpoint,
		"OS_TOKEN=" + token,
	}
}

// NewOpenstackCLI returns the CLI pointed at endpoint. Without the
// openstack binary or its loadbalancer plugin the test skips (fails under
// CI=true, see Need).
func NewOpenstackCLI(t testing.TB, endpoint, token string) *OpenstackCLI {
	t.Helper()
	Need(t, "openstack")
	path, err := LookPath("openstack")
	if err != nil {
		t.Fatal(err)
	}
	// The loadbalancer commands come from a separate package; without it
	// every command fails with "Unknown command". Ask the interpreter of
	// the openstack script (its #! line), not whichever python3 is first
	// in PATH.
	python, err := interpreter(path)
	if err == nil {
		err = exec.Command(python, "-c", "import octaviaclient.osc.v2").Run()
	}
	if err != nil {
		skipOrFail(t, fmt.Sprintf("the openstack CLI has no loadbalancer commands (%v): install python3-octaviaclient (apt-get install python3-octaviaclient)", err))
	}
	return &OpenstackCLI{Path: path, Endpoint: endpoint, Token: token, Home: t.TempDir()}
}

// interpreter returns the program on a script's #! line.
func interpreter(script string) (string, error) {
	f, err := os.Open(script)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		return "", fmt.Errorf("%s: no #! line", script)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return LookPath(fields[1])
	}
	return fields[0], nil
}

// Run runs `openstack args...` with a 60 s limit and returns its stdout,
// or an error that holds its exit status and stderr.
func (o *OpenstackCLI) Run(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Path, args...)
	cmd.Env = append(childEnv(o.Home), OpenstackEnv(o.Endpoint, o.Token)...)
	cmd.Dir = o.Home
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("openstack %s: %w\n%s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// Must runs `openstack args...` and fails the test unless it exits 0.
func (o *OpenstackCLI) Must(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := o.Run(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// JSON runs `openstack args...`, which must exit 0 and print JSON (pass
// -f json where the command takes it), and decodes its output into v.
func (o *OpenstackCLI) JSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := o.Must(t, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("openstack %s: output is not JSON (%v):\n%s", strings.Join(args, " "), err, out)
	}
}
