package lb

import (
	"fmt"
	"net/http"
	"strconv"
)

// maxProfileSeconds bounds the seconds parameter of /debug/pprof/profile
// and of the delta profiles (/debug/pprof/heap?seconds=N and the like):
// each request holds a connection and a goroutine that long.
const maxProfileSeconds = 60

// boundedSeconds answers 400 when a pprof request asks for seconds outside
// 1 to maxProfileSeconds, and passes the others to h.
func boundedSeconds(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("seconds"); s != "" {
			if n, err := strconv.Atoi(s); err != nil || n < 1 || n > maxProfileSeconds {
				fault(w, http.StatusBadRequest, fmt.Sprintf("seconds=%q: want a whole number from 1 to %d", s, maxProfileSeconds))
				return
			}
		}
		h(w, r)
	}
}
