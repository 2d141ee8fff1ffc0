//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The documentation matches the binary: every INI and YAML configuration
// in README.md and under deploy/ goes through the real binary's
// --check-config (TestDocsCheckConfig).
//
// A README block is a fenced block whose language is ini, yaml or yml. It
// is checked as
//
//	vitals agent --ini FILE --check-config     an ini block
//	vitals lb --config FILE --check-config     YAML with a top-level loadbalancer: or loadbalancers:
//	vitals agent --config FILE --check-config  YAML with a top-level checks:
//
// and Kubernetes manifests (YAML documents with apiVersion:) have each
// ConfigMap entry named *.yaml, *.yml or *.ini checked the same way. A
// block that is deliberately a fragment (a few fields to add to a file)
// must say so on the line before its fence:
//
//	<!-- fragment: what it is part of -->
//
// Any other block fails the test, so a new example cannot silently go
// unchecked. Files under deploy/ named *.yaml, *.yml or *.ini are checked
// the same way and cannot be fragments.
//
// What the examples name that a test machine does not have is replaced,
// and only that (loadable and docsEnv): password and token files under
// /etc/vitals become files of the same base name in a temp dir holding a
// dummy secret, /usr/local/bin/check-app becomes /bin/true, and the
// environment variables a password is read from (password_env: NAME,
// ${NAME}) are set to a dummy value in the binary's environment. Every
// other field is checked as written.

// docBlock is one configuration to check, or a marked fragment.
type docBlock struct {
	where    string // README.md:LINE or deploy/...
	lang     string // ini or yaml
	text     string
	fragment bool
}

// readmeConfigBlocks returns README's ini and yaml fenced blocks, each
// with whether the line before its fence marks it a fragment.
func readmeConfigBlocks(t *testing.T) []docBlock {
	t.Helper()
	var (
		out      []docBlock
		cur      *docBlock
		body     strings.Builder
		prev     string // the last non-blank line outside a fence
		inFence  bool   // inside any fence (also of other languages)
		fenceLen int
	)
	n := 0
	for line := range strings.Lines(readRepoFile(t, readmePath)) {
		n++
		trimmed := strings.TrimRight(line, "\n")
		if !inFence && strings.HasPrefix(trimmed, "```") {
			inFence, fenceLen = true, len(trimmed)-len(strings.TrimLeft(trimmed, "`"))
			switch lang := strings.TrimSpace(strings.TrimLeft(trimmed, "`")); lang {
			case "ini", "yaml", "yml":
				if lang == "yml" {
					lang = "yaml"
				}
				cur = &docBlock{where: fmt.Sprintf("README.md:%d", n), lang: lang,
					fragment: strings.HasPrefix(prev, "<!-- fragment")}
				body.Reset()
			}
			continue
		}
		if inFence {
			if strings.TrimSpace(trimmed) == strings.Repeat("`", fenceLen) {
				inFence = false
				if cur != nil {
					cur.text = body.String()
					out = append(out, *cur)
					cur = nil
				}
				prev = trimmed
				continue
			}
			if cur != nil {
				body.WriteString(line)
			}
			continue
		}
		if strings.TrimSpace(trimmed) != "" {
			prev = strings.TrimSpace(trimmed)
		}
	}
	if inFence {
		t.Fatal("README.md ends inside a fenced block")
	}
	return out
}

// deployConfigFiles returns every *.yaml, *.yml and *.ini under deploy/.
func deployConfigFiles(t *testing.T) []docBlock {
	t.Helper()
	var out []docBlock
	root := filepath.Join(repoRoot, "deploy")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		lang := ""
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			lang = "yaml"
		case ".ini":
			lang = "ini"
		default:
			return nil
		}
		rel, _ := filepath.Rel(repoRoot, path)
		out = append(out, docBlock{where: rel, lang: lang, text: readRepoFile(t, path)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	topLoadBalancer = regexp.MustCompile(`(?m)^loadbalancers?:`)
	topChecks       = regexp.MustCompile(`(?m)^checks:`)
	topAPIVersion   = regexp.MustCompile(`(?m)^apiVersion:`)
	passwordEnvRef  = regexp.MustCompile(`(?m)(?:password_env:\s*([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)\})`)
	lbTokenRef      = regexp.MustCompile(`/etc/vitals/[A-Za-z0-9_.-]+\.token\b`)
)

// docCheck is one run of the binary's --check-config.
type docCheck struct {
	where, mode, text string // mode: "agent", "ini" or "lb"
}

// classify turns a block into the checks it needs; an error says why it
// is neither checkable nor marked.
func classify(b docBlock) ([]docCheck, error) {
	if b.lang == "ini" {
		return []docCheck{{b.where, "ini", b.text}}, nil
	}
	switch {
	case topLoadBalancer.MatchString(b.text):
		return []docCheck{{b.where, "lb", b.text}}, nil
	case topChecks.MatchString(b.text):
		return []docCheck{{b.where, "agent", b.text}}, nil
	case topAPIVersion.MatchString(b.text):
		var out []docCheck
		dec := yaml.NewDecoder(strings.NewReader(b.text))
		for {
			var doc struct {
				Kind string            `yaml:"kind"`
				Data map[string]string `yaml:"data"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("manifests do not decode: %v", err)
			}
			if doc.Kind != "ConfigMap" {
				continue
			}
			for key, v := range doc.Data {
				lang := ""
				switch filepath.Ext(key) {
				case ".yaml", ".yml":
					lang = "yaml"
				case ".ini":
					lang = "ini"
				default:
					continue
				}
				sub, err := classify(docBlock{where: b.where + " ConfigMap " + key, lang: lang, text: v})
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("Kubernetes manifests without a ConfigMap entry holding a vitals configuration")
		}
		return out, nil
	}
	return nil, errors.New("YAML that is neither an agent configuration (top-level checks:) nor an lb configuration (top-level loadbalancer: or loadbalancers:)")
}

// docsEnv gives the environment variables a configuration reads a password
// from a dummy value.
func docsEnv(text string) []string {
	env := os.Environ()
	for _, m := range passwordEnvRef.FindAllStringSubmatch(text, -1) {
		name := m[1] + m[2]
		env = append(env, name+"=not-the-real-password")
	}
	return env
}

// TestDocsCheckConfig runs every configuration block of README.md and
// every configuration file under deploy/ through the real binary's
// --check-config (see the comment at the top of this file).
func TestDocsCheckConfig(t *testing.T) {
	bin := buildVitals(t)
	var checks []docCheck
	fragments := 0
	blocks := append(readmeConfigBlocks(t), deployConfigFiles(t)...)
	for _, b := range blocks {
		if b.fragment {
			if strings.HasPrefix(b.where, "deploy/") {
				t.Errorf("%s: a file under deploy/ cannot be a fragment", b.where)
			}
			fragments++
			continue
		}
		cs, err := classify(b)
		if err != nil {
			t.Errorf("%s: %v.\nCheck it by making it complete, or mark it with <!-- fragment: what it is part of --> on the line before its fence:\n%s",
				b.where, err, b.text)
			continue
		}
		checks = append(checks, cs...)
	}
	byMode := map[string]int{}
	for i, c := range checks {
		byMode[c.mode]++
		t.Run(fmt.Sprintf("%d %s", i+1, c.where), func(t *testing.T) {
			dir := t.TempDir()
			text := loadable(t, dir, c.text)
			text = lbTokenRef.ReplaceAllStringFunc(text, func(ref string) string {
				p := filepath.Join(dir, filepath.Base(ref))
				writeFile(t, p, "0123456789abcdef0123456789abcdef\n")
				return p
			})
			args := []string{"agent", "--config"}
			path := filepath.Join(dir, "config.yaml")
			switch c.mode {
			case "ini":
				args, path = []string{"agent", "--ini"}, filepath.Join(dir, "config.ini")
			case "lb":
				args = []string{"lb", "--config"}
			}
			writeFile(t, path, text)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(args, path, "--check-config")...)
			cmd.Env = docsEnv(text)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Errorf("vitals %s %s --check-config on %s: %v\n%s\n--- the configuration as checked:\n%s",
					args[0], args[1], c.where, err, out.String(), text)
			}
		})
	}
	t.Logf("checked %d configurations (%d agent YAML, %d agent INI, %d lb YAML); %d blocks marked as fragments",
		len(checks), byMode["agent"], byMode["ini"], byMode["lb"], fragments)
	if len(checks) == 0 {
		t.Fatal("no configuration was checked: the README or deploy/ lost its examples, or this test lost its way")
	}
	// What the README and deploy/ hold today; fewer means an example was
	// lost or no longer recognized.
	for mode, least := range map[string]int{"agent": 8, "ini": 1, "lb": 2} {
		if byMode[mode] < least {
			t.Errorf("%d %s configurations checked, want at least %d", byMode[mode], mode, least)
		}
	}
}
