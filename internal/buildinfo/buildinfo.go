// Package buildinfo holds the version of this build, for `vitals
// version`, the vitals_build_info metric and the status pages' footer.
//
// The version is stamped by the Makefile from git (`git describe --tags
// --always --dirty`, passed with -ldflags "-X main.version=..." and handed
// over by main through Set). A build without it (go build, go run) falls
// back to what the go command recorded: the module version of `go
// install vitals/cmd/vitals@v1.2.3`, else the VCS revision, marked -dirty
// when the tree had changes, else "devel".
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var stamped atomic.Pointer[string]

// Set records the version stamped at build time; "" keeps the fallback.
func Set(v string) {
	if v != "" {
		stamped.Store(&v)
	}
}

// Version is the version of this build.
func Version() string {
	if v := stamped.Load(); v != nil {
		return *v
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, modified := vcs(bi)
	if rev == "" {
		return "devel"
	}
	v := "devel-" + rev[:min(12, len(rev))]
	if modified {
		v += "-dirty"
	}
	return v
}

// Revision is the VCS revision the go command recorded, or "unknown".
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if rev, _ := vcs(bi); rev != "" {
			return rev
		}
	}
	return "unknown"
}

// GoVersion is the Go release that built the binary.
func GoVersion() string { return runtime.Version() }

func vcs(bi *debug.BuildInfo) (revision string, modified bool) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, modified
}

// Collector is the vitals_build_info gauge: always 1, its labels say what
// runs. Each server registers it in its own registry.
func Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vitals_build_info",
		Help:        "Always 1; the labels are the version, the Go release and the VCS revision of the running binary.",
		ConstLabels: prometheus.Labels{"version": Version(), "goversion": GoVersion(), "revision": Revision()},
	})
	g.Set(1)
	return g
}
