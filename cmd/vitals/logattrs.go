package main

import "log/slog"

// secondsAttr is the ReplaceAttr of every vitals command's log handler
// (newLogger), text and JSON alike: a time.Duration is written as seconds
// in a float ("latency":0.0123 in JSON, latency=0.0123 in text), the unit
// Prometheus and log pipelines expect, instead of slog's nanoseconds in
// JSON and Go's "12.3ms" in text.
func secondsAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}
