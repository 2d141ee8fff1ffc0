package lb

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExample loads the README's complete lb.yaml example and checks
// that it shows what the README says (TestDocsCheckConfig in
// internal/agent runs it, and every other config block, through the
// binary's --check-config).
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- lb.yaml (internal/lb/readme_test.go loads this block) -->\n```yaml\n")
	if !ok {
		t.Fatal("README has no lb.yaml block")
	}
	block, _, _ := strings.Cut(rest, "```\n")
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/pg.pass", []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block = strings.ReplaceAll(block, "/etc/vitals/pg.pass", dir+"/pg.pass")
	c, err := Parse("README.md lb.yaml", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	lb := c.LoadBalancers[0]
	if len(lb.Listeners) != 3 || len(lb.Pools) != 3 || c.Grace.String() != "30s" || lb.Pools[0].OnMemberDown != ShutdownSessions || !lb.Pools[2].FailOpen {
		t.Errorf("README example loaded as %+v", lb)
	}
}
