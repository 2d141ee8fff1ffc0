package buildinfo_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"vitals/internal/buildinfo"
)

func TestVersionFallbackThenStamped(t *testing.T) {
	// A test binary has no module version; the fallback is devel or
	// devel-<revision>.
	if v := buildinfo.Version(); !strings.HasPrefix(v, "devel") {
		t.Errorf("unstamped Version() = %q, want devel...", v)
	}
	buildinfo.Set("")
	if v := buildinfo.Version(); !strings.HasPrefix(v, "devel") {
		t.Errorf("Set(\"\") changed Version() to %q", v)
	}
	buildinfo.Set("v1.2.3-4-gabcdef0-dirty")
	if v := buildinfo.Version(); v != "v1.2.3-4-gabcdef0-dirty" {
		t.Errorf("Version() = %q after Set", v)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildinfo.Collector())
	want := `# HELP vitals_build_info Always 1; the labels are the version, the Go release and the VCS revision of the running binary.
# TYPE vitals_build_info gauge
vitals_build_info{goversion="` + runtime.Version() + `",revision="` + buildinfo.Revision() + `",version="v1.2.3-4-gabcdef0-dirty"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vitals_build_info"); err != nil {
		t.Error(err)
	}
}
