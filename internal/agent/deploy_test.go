//go:build linux

package agent_test

// The deployment files and the README's install section and recipes stay
// true and complete:
//
//	6 systemd-analyze verify passes on deploy/systemd/vitals-agent.service and
//	  vitals-lb.service, and the agent unit's paths and user appear in the
//	  README's install section                                            TestDeploySystemdUnit
//	  both units are Type=notify with a watchdog and the syscall filter,
//	  and systemd-analyze security rates them at most 3.2                TestDeploySystemdSecurity
//	7 the README embeds deploy/haproxy/postgres-agent.cfg (which the interop
//	  test runs) and the other deploy files verbatim                     TestDeployReadmeEmbedsFiles
//	  every deploy/examples/*.yaml loads                                  TestDeployExamples
//	  every ini/yaml config in the README and deploy/ passes the binary's
//	  --check-config (docs_test.go)                                      TestDocsCheckConfig
//	  the Kubernetes recipe: probes where they belong, its config loads   TestDeployReadmeKubernetes
//	  the nftables file passes nft -c                                    TestDeployNftables
//	5 the README lists exactly the series metrics.go documents           TestDeployReadmeMetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"vitals/internal/agent"
	"vitals/internal/testenv"
)

const (
	repoRoot    = "../.."
	readmePath  = repoRoot + "/README.md"
	unitPath    = repoRoot + "/deploy/systemd/vitals-agent.service"
	lbUnitPath  = repoRoot + "/deploy/systemd/vitals-lb.service"
	examplesDir = repoRoot + "/deploy/examples"
)

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeSection returns the README from the heading line (e.g. "## Install
// the agent") up to the next heading of the same or a higher level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	level := strings.Index(heading, " ")
	var b strings.Builder
	in, fenced := false, false
	for line := range strings.Lines(readRepoFile(t, readmePath)) {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "```") {
			fenced = !fenced
		}
		if in && !fenced && strings.HasPrefix(trimmed, "#") {
			if l := strings.Index(trimmed, " "); l > 0 && l <= level && strings.Trim(trimmed[:l], "#") == "" {
				break
			}
		}
		if trimmed == heading {
			in = true
		}
		if in {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	return b.String()
}

// TestDeploySystemdUnit runs systemd-analyze verify on the unit, with only
// its binary path pointed at a freshly built vitals (systemd-analyze wants
// the binary to exist), and checks that the README's install section names
// the unit's paths and user exactly.
func TestDeploySystemdUnit(t *testing.T) {
	unit := readRepoFile(t, unitPath)

	t.Run("readme", func(t *testing.T) {
		install := readmeSection(t, "## Install the agent")
		var want []string
		for line := range strings.Lines(unit) {
			key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok || strings.HasPrefix(key, "#") {
				continue
			}
			switch key {
			case "ExecStart":
				f := strings.Fields(value)
				want = append(want, f[0])
				if i := slices.Index(f, "--config"); i >= 0 && i+1 < len(f) {
					want = append(want, f[i+1])
				}
			case "ReadWritePaths":
				want = append(want, strings.Fields(value)...)
			case "User":
				want = append(want, "User="+value)
			}
		}
		for _, must := range []string{"/usr/local/bin/vitals", "/etc/vitals/agent.yaml", "/run/vitals", "/var/lib/vitals", "User=vitals"} {
			if !slices.Contains(want, must) {
				t.Errorf("the unit no longer has %q (found %q); update this test and the README together", must, want)
			}
		}
		for _, w := range want {
			if !strings.Contains(install, w) {
				t.Errorf("README's \"Install the agent\" does not mention %q, which the unit uses", w)
			}
		}
	})

	t.Run("systemd-analyze", func(t *testing.T) {
		bin := buildVitals(t)
		for _, p := range []string{unitPath, lbUnitPath} {
			path := unitWithBinary(t, p, bin)
			if out, err := systemdAnalyze(t, "verify", path); err != nil {
				t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
			}
		}
	})
}

// unitWithBinary writes the unit at p to a temporary file with its one
// ExecStart binary, /usr/local/bin/vitals, replaced by bin (systemd-analyze
// wants the binary to exist) and returns the file's path.
func unitWithBinary(t *testing.T, p, bin string) string {
	t.Helper()
	unit := readRepoFile(t, p)
	const exec0 = "ExecStart=/usr/local/bin/vitals "
	if n := strings.Count(unit, exec0); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", p, exec0, n)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(p))
	writeFile(t, path, strings.Replace(unit, exec0, "ExecStart="+bin+" ", 1))
	return path
}

// systemdAnalyze runs systemd-analyze with args; anything on stderr is an
// error too (verify reports problems there and still exits 0).
func systemdAnalyze(t *testing.T, args ...string) (string, error) {
	t.Helper()
	testenv.Need(t, "systemd-analyze")
	sa, err := testenv.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sa, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err == nil && stderr.Len() > 0 {
		err = errors.New("messages on stderr")
	}
	return "stdout: " + stdout.String() + "\nstderr: " + stderr.String(), err
}

// exposureRE reads systemd-analyze security's verdict.
var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestDeploySystemdSecurity: both units run as Type=notify with a
// watchdog, keep the syscall filter and the hidden /proc, and
// systemd-analyze security (offline, on the files) rates their exposure
// at most 3.2, the agent unit's rating before these settings.
func TestDeploySystemdSecurity(t *testing.T) {
	const maxExposure = 3.2
	bin := buildVitals(t)
	for _, p := range []string{unitPath, lbUnitPath} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			unit := readRepoFile(t, p)
			for _, must := range []string{"Type=notify", "NotifyAccess=main", "WatchdogSec=", "SystemCallFilter=@system-service",
				"ProtectProc=invisible", "ExecReload=/bin/kill -HUP $MAINPID", "User=vitals", "RuntimeDirectoryPreserve=yes"} {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(must)).MatchString(unit) {
					t.Errorf("%s has no line %q", p, must)
				}
			}
			out, err := systemdAnalyze(t, "security", "--offline=true", unitWithBinary(t, p, bin))
			m := exposureRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("systemd-analyze security: %v; no verdict in\n%s", err, out)
			}
			var score float64
			fmt.Sscan(m[1], &score)
			if score > maxExposure {
				t.Errorf("%s: exposure %.1f, want at most %.1f\n%s", p, score, maxExposure, out)
			}
			t.Logf("%s: exposure %.1f", filepath.Base(p), score)
		})
	}
}

// embedRE finds the README's verbatim copies of repository files:
//
//	<!-- file: deploy/haproxy/postgres-agent.cfg -->
//	```haproxy
//	...the file...
//	```
//	<!-- end -->
var embedRE = regexp.MustCompile("(?s)<!-- file: (\\S+) -->\n```[a-z]*\n(.*?)```\n<!-- end -->")

// TestDeployReadmeEmbedsFiles: each file the README copies is copied
// verbatim, and the recipes that must be there are.
func TestDeployReadmeEmbedsFiles(t *testing.T) {
	readme := readRepoFile(t, readmePath)
	found := map[string]bool{}
	for _, m := range embedRE.FindAllStringSubmatch(readme, -1) {
		path, copied := m[1], m[2]
		found[path] = true
		if want := readRepoFile(t, filepath.Join(repoRoot, path)); copied != want {
			t.Errorf("README.md's copy of %s differs from the file; paste the file between the markers again\n--- first difference near: %q",
				path, firstDifference(copied, want))
		}
	}
	for _, must := range []string{"deploy/haproxy/postgres-agent.cfg", "deploy/nftables/vitals-agent.nft", "deploy/examples/postgres-primary.yaml"} {
		if !found[must] {
			t.Errorf("README.md does not embed %s between <!-- file: %s --> and <!-- end --> markers", must, must)
		}
	}
	if haproxy := readmeSection(t, "### HAProxy"); !strings.Contains(haproxy, "<!-- file: deploy/haproxy/postgres-agent.cfg -->") {
		t.Error("the README's HAProxy recipe does not embed deploy/haproxy/postgres-agent.cfg")
	}
}

func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	start := max(0, i-20)
	return a[start:min(len(a), i+40)]
}

// passwordRef matches the password files the examples and the README refer
// to, which a test machine does not have.
var passwordRef = regexp.MustCompile(`/etc/vitals/(?:secret/)?[A-Za-z0-9_.-]+(?:\.pass|-password)\b`)

// loadable rewrites what a configuration refers to on a real node (password
// files, a custom check program) to files in dir, so that it loads here.
func loadable(t *testing.T, dir, yml string) string {
	t.Helper()
	yml = passwordRef.ReplaceAllStringFunc(yml, func(ref string) string {
		p := filepath.Join(dir, filepath.Base(ref))
		writeFile(t, p, "not-the-real-password\n")
		return p
	})
	return strings.ReplaceAll(yml, "/usr/local/bin/check-app", "/bin/true")
}

// TestDeployExamples loads every deploy/examples/*.yaml with agent.LoadFile,
// as `vitals agent --config` would, and checks that each example still
// shows what the README says it does.
func TestDeployExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]func(*testing.T, *agent.Config){
		"postgres-primary.yaml": func(t *testing.T, c *agent.Config) {
			db := checkNamed(t, c, "db")
			if db.Type != "postgres" || db.Role != "primary" || c.DrainCode != 404 || c.AgentCheck == nil {
				t.Errorf("type %q role %q drain_code %d agent_check %v; want postgres, primary, 404 (the HAProxy recipe) and an agent-check port",
					db.Type, db.Role, c.DrainCode, c.AgentCheck)
			}
		},
		"postgres-replica.yaml": func(t *testing.T, c *agent.Config) {
			db := checkNamed(t, c, "db")
			if db.Type != "postgres" || db.Role != "replica" || db.MaxReplicationLag != 10*time.Second {
				t.Errorf("type %q role %q max_replication_lag %s; want postgres, replica, 10s", db.Type, db.Role, db.MaxReplicationLag)
			}
		},
		"postgres-roles.yaml": func(t *testing.T, c *agent.Config) {
			// The role endpoints judge role and lag; the check must pass on both.
			db := checkNamed(t, c, "db")
			if db.Type != "postgres" || db.Role != "" || db.MaxReplicationLag != 0 || len(c.Checks) != 1 {
				t.Errorf("type %q role %q max_replication_lag %s, %d checks; want one postgres check without role or lag", db.Type, db.Role, db.MaxReplicationLag, len(c.Checks))
			}
		},
		"mysql.yaml": func(t *testing.T, c *agent.Config) {
			if db := checkNamed(t, c, "db"); db.Type != "mysql" || db.MaxReplicationLag == 0 {
				t.Errorf("type %q max_replication_lag %s; want mysql with a lag bound", db.Type, db.MaxReplicationLag)
			}
		},
		"galera.yaml": func(t *testing.T, c *agent.Config) {
			db, disabled := checkNamed(t, c, "db"), checkNamed(t, c, "disabled")
			if db.Type != "mysql" || db.Galera != "synced" {
				t.Errorf("db: type %q galera %q; want mysql, synced", db.Type, db.Galera)
			}
			if disabled.Type != "file" || disabled.Path != "/var/tmp/clustercheck.disabled" {
				t.Errorf("disabled: type %q path %q; want clustercheck's disable file", disabled.Type, disabled.Path)
			}
		},
		"redis.yaml": func(t *testing.T, c *agent.Config) {
			if db := checkNamed(t, c, "redis"); db.Type != "redis" {
				t.Errorf("type %q, want redis", db.Type)
			}
		},
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("deploy/examples/%s is missing", name)
		}
	}
	galera := readRepoFile(t, filepath.Join(examplesDir, "galera.yaml"))
	if !regexp.MustCompile(`(?m)^\s+donor_ok: `).MatchString(galera) {
		t.Error("galera.yaml does not show the donor_ok option")
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tmp := filepath.Join(dir, name)
			writeFile(t, tmp, loadable(t, dir, readRepoFile(t, p)))
			cfg, err := agent.LoadFile(tmp)
			if err != nil {
				t.Fatalf("deploy/examples/%s does not load: %v", name, err)
			}
			if check, ok := want[name]; ok {
				check(t, cfg)
			} else {
				t.Errorf("deploy/examples/%s is not described in this test (nor, probably, in the README's table)", name)
			}
		})
	}
}

func checkNamed(t *testing.T, c *agent.Config, name string) agent.CheckConfig {
	t.Helper()
	for _, ch := range c.Checks {
		if ch.Name == name {
			return ch
		}
	}
	t.Fatalf("no check named %q", name)
	return agent.CheckConfig{}
}

// fencedBlocks returns the contents of the README's ``` blocks of a
// language ("yaml").
func fencedBlocks(text, lang string) []string {
	var blocks []string
	var cur *strings.Builder
	for line := range strings.Lines(text) {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case cur == nil && trimmed == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}

// TestDeployReadmeKubernetes decodes the README's Kubernetes manifests:
// the agent's configuration in the ConfigMap loads; the readiness probe is
// on the database container and asks the agent's /health; the sidecar's
// liveness probe asks /livez; every mount the agent needs exists.
func TestDeployReadmeKubernetes(t *testing.T) {
	blocks := fencedBlocks(readmeSection(t, "### Kubernetes"), "yaml")
	if len(blocks) != 1 {
		t.Fatalf("the Kubernetes recipe has %d YAML blocks, want 1", len(blocks))
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port int    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	type container struct {
		Name           string   `yaml:"name"`
		Args           []string `yaml:"args"`
		ReadinessProbe *probe   `yaml:"readinessProbe"`
		LivenessProbe  *probe   `yaml:"livenessProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	type doc struct {
		Kind     string            `yaml:"kind"`
		Data     map[string]string `yaml:"data"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var docs []doc
	dec := yaml.NewDecoder(strings.NewReader(blocks[0]))
	for {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the Kubernetes recipe is not valid YAML: %v", err)
		}
		docs = append(docs, d)
	}
	var agentYAML string
	var containers []container
	for _, d := range docs {
		switch d.Kind {
		case "ConfigMap":
			agentYAML = d.Data["agent.yaml"]
		case "Deployment", "StatefulSet", "Pod":
			containers = d.Spec.Template.Spec.Containers
		}
	}
	if agentYAML == "" || len(containers) != 2 {
		t.Fatalf("want a ConfigMap with agent.yaml and a workload with 2 containers; got %d containers and agent.yaml %q", len(containers), agentYAML)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	writeFile(t, path, loadable(t, dir, agentYAML))
	cfg, err := agent.LoadFile(path)
	if err != nil {
		t.Fatalf("the ConfigMap's agent.yaml does not load: %v", err)
	}
	db, sidecar := containers[0], containers[1]
	if db.Name != "postgres" || sidecar.Name != "vitals" {
		t.Fatalf("containers %q and %q, want postgres and vitals", db.Name, sidecar.Name)
	}
	port := func() int {
		_, p, _ := strings.Cut(cfg.Listen, ":")
		var n int
		fmt.Sscan(p, &n)
		return n
	}()
	if p := db.ReadinessProbe; p == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Port != port {
		t.Errorf("the postgres container's readinessProbe is %+v, want httpGet /health on the agent's port %d", p, port)
	}
	if sidecar.ReadinessProbe != nil {
		t.Error("the sidecar has a readinessProbe; it belongs on the database container")
	}
	if p := sidecar.LivenessProbe; p == nil || p.HTTPGet.Path != "/livez" || p.HTTPGet.Port != port {
		t.Errorf("the sidecar's livenessProbe is %+v, want httpGet /livez on port %d", p, port)
	}
	mounted := func(c container, path string) bool {
		for _, m := range c.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
				return true
			}
		}
		return false
	}
	i := slices.Index(sidecar.Args, "--config")
	if i < 0 || i+1 >= len(sidecar.Args) || !mounted(sidecar, sidecar.Args[i+1]) {
		t.Errorf("the sidecar's args %q do not name a mounted --config file", sidecar.Args)
	}
	// The paths in the ConfigMap's agent.yaml, before loadable rewrote them.
	orig, err := agent.Parse("configmap", []byte(loadable(t, t.TempDir(), agentYAML)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{orig.AdminSocket, orig.StateFile}, passwordRef.FindAllString(agentYAML, -1)...) {
		if !mounted(sidecar, p) {
			t.Errorf("%s is not on a volume mounted in the sidecar (its root file system is read-only)", p)
		}
	}
}

// TestDeployNftables checks the nftables example with nft -c, which parses
// and validates without changing the ruleset.
func TestDeployNftables(t *testing.T) {
	path := repoRoot + "/deploy/nftables/vitals-agent.nft"
	text := readRepoFile(t, path)
	for _, w := range []string{"8081", "8082", "192.0.2.0/24"} {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not mention %s", path, w)
		}
	}
	testenv.Need(t, "nft")
	nft, err := testenv.LookPath("nft")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "nft -c needs root; the file was not validated")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, nft, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Errorf("nft -c -f %s: %v\n%s", path, err, out)
	}
}

// TestDeployReadmeMetrics: the README's Metrics section lists exactly the
// series that metrics.go documents (and TestMetricsParse scrapes).
func TestDeployReadmeMetrics(t *testing.T) {
	series := regexp.MustCompile(`vitals_agent_[a-z_]+`)
	doc := readRepoFile(t, "metrics.go")
	start, end := strings.Index(doc, "// metrics holds"), strings.Index(doc, "type metrics struct")
	if start < 0 || end < start {
		t.Fatal("metrics.go: no doc comment on type metrics")
	}
	documented := slices.Compact(slices.Sorted(slices.Values(series.FindAllString(doc[start:end], -1))))
	listed := slices.Compact(slices.Sorted(slices.Values(series.FindAllString(readmeSection(t, "## Metrics"), -1))))
	if !slices.Equal(documented, listed) {
		t.Errorf("README's Metrics section lists %q; metrics.go documents %q", listed, documented)
	}
}
