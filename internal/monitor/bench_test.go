package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
	"vitals/internal/octavia"

	"vitals/internal/probe"
)

// BenchmarkEngineOverhead measures what the engine itself costs per check
// (scheduling, dispatch, counting, status), with a prober that returns at
// once: 1,000 members checked every millisecond.
func BenchmarkEngineOverhead(b *testing.B) {
	instant := proberFunc(func(context.Context) probe.Result { return probe.Result{Status: probe.Pass, Start: time.Now()} })
	rise, fall := 2, 3
	h := octavia.HealthMonitor{Type: TypeTCP, Delay: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, MaxRetries: rise, MaxRetriesDown: fall}
	h.AdminStateUp = true
	m, err := NewMonitor(h, ProtocolTCP, DefaultSettings())
	if err != nil {
		b.Fatal(err)
	}
	// Below the shortest delay a configuration may set, which the engine
	// itself does not enforce.
	m.Delay, m.Timeout = time.Millisecond, time.Millisecond
	var members []Member
	for i := range 1000 {
		members = append(members, tmember(fmt.Sprintf("m%d", i), 1000+i))
	}
	var n atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	e := New(Options{
		Logger:    slog.New(slog.DiscardHandler),
		NewProber: func(string, probe.Spec) (probe.Prober, error) { return instant, nil },
		OnCheck: func(CheckDone) {
			if n.Add(1) == target {
				close(done)
			}
		},
	})
	if err := e.Update([]Pool{{ID: "p", Name: "p", AdminStateUp: true, Monitor: m, Members: members}}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	b.ReportAllocs()
	b.ResetTimer()
	go e.Run(ctx)
	<-done
	b.StopTimer()
	cancel()
}
