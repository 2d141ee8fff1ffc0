package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"vitals/internal/adminhttp"
	"vitals/internal/probe"
)

// The HAProxy agent-check protocol: HAProxy connects, may send its
// agent-send string, and reads one line ended by \n; then the connection
// closes. See REFERENCE.md.
const (
	agentCheckDrain = 100 * time.Millisecond // how long to take in an agent-send line
	agentCheckWrite = time.Second            // bound on writing the reply
)

// serveAgentCheck answers agent-check connections on l until ctx ends or
// l is closed, holding at most maxConns at once: more are closed at once.
// Failed accepts (out of descriptors) are retried with a backoff.
func (a *Agent) serveAgentCheck(ctx context.Context, l net.Listener, maxConns int) {
	sem := make(chan struct{}, maxConns)
	var backoff adminhttp.Backoff
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || adminhttp.IsClosed(err) {
				return
			}
			a.log.Debug("agent-check accept failed", "err", err)
			if !backoff.Wait(ctx) {
				return
			}
			continue
		}
		backoff.Reset()
		select {
		case sem <- struct{}{}:
			go func() {
				defer func() { <-sem }()
				a.answerAgentCheck(c)
			}()
		default:
			c.Close()
		}
	}
}

// answerAgentCheck writes the reply line at once, then takes in whatever
// HAProxy sent (its agent-send string) for a moment before closing, so the
// close does not turn into a reset that could discard the reply.
func (a *Agent) answerAgentCheck(c net.Conn) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(agentCheckWrite))
	if _, err := io.WriteString(c, a.AgentCheckReply()+"\n"); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(agentCheckDrain))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 4096))
}

// AgentCheckReply is the line the agent-check port answers now, without
// its line end: "up ready 100%" when healthy (with a lower weight under
// load when weight_from is set), "down # <reason>" when failing, "drain"
// while draining and "maint" in maintenance.
func (a *Agent) AgentCheckReply() string {
	rt := a.rt.Load()
	ac := rt.cfg.AgentCheck
	st := a.admin.Load()
	switch {
	case a.shuttingDown.Load():
		return "down # shutting down"
	case st.Maintenance:
		return "maint # maintenance"
	case st.Drain:
		return "drain # draining"
	}
	path := "/health"
	if ac != nil {
		path = ac.Endpoint
	}
	r, ok := rt.routes[path]
	if !ok {
		return "down # no endpoint " + path
	}
	_, rep := a.answer(rt, r, nil)
	if rep.Status == probe.Fail {
		reason := "failing"
		if !rt.cfg.HideDetails {
			for _, v := range rep.Checks {
				if v.Status == probe.Fail && v.Critical {
					reason = v.Name + ": " + v.Reason
					break
				}
			}
		}
		return "down # " + agentText(reason)
	}
	weight := 100
	if ac != nil && ac.WeightFrom == "load" {
		if load, err := loadPerCPU(); err == nil {
			weight = loadWeight(load, ac.MaxLoadPerCPU, ac.MinWeight)
		}
	}
	return "up ready " + strconv.Itoa(weight) + "%"
}

// loadWeight is the advertised weight under load: 100% when idle, falling
// in a straight line to minWeight when the load per CPU reaches max:
//
//	weight = 100 − (100 − minWeight) × min(load/max, 1)
func loadWeight(load, max float64, minWeight int) int {
	frac := min(max0(load/max), 1)
	return 100 - int(float64(100-minWeight)*frac+0.5)
}

func max0(f float64) float64 {
	if f > 0 {
		return f
	}
	return 0
}

// loadPerCPU reads the 1-minute load average divided by the CPU count.
func loadPerCPU() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty /proc/loadavg")
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, err
	}
	return l / float64(runtime.NumCPU()), nil
}

// agentText keeps a description on one line: no line ends, which would end
// the reply early.
func agentText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
