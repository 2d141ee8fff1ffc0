package lb

import (
	"os"
	"runtime/debug"
)

// gcPercent is the lb's GOGC unless the environment sets one. The lb
// holds a large live heap that hardly changes (members, their monitor
// state and probes: about 24 MB at 10,000 members) and allocates little
// per check and nothing per message, so with Go's default of 100 its
// heap grows to twice the live heap between collections, and that idle
// headroom was most of its RSS. At 50 the headroom halves: at 10,000
// members bench/monitor.sh measured 94.4 MiB RSS at 100 and 76.2 MiB at
// 50 (HAProxy 73.7 MiB), for more CPU per check that stayed under
// HAProxy's (0.436 s per 10,000 checks, HAProxy 0.525 s, in one short
// run on a busy machine).
const gcPercent = 50

// tuneGC sets gcPercent unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
