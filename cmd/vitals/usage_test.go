package main

import (
	"strings"
	"testing"
)

// TestUsageErrorsAreOneLine: agent and demo usage errors exit 2 with one
// line on stderr that says what is wrong (issue 10, point 8). The demo
// checks --admin before it starts anything.
func TestUsageErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"agent without config", []string{"agent"}, "vitals agent: missing --config FILE or --ini FILE (run 'vitals agent -h' for usage)"},
		{"agent unknown flag", []string{"agent", "--colour"}, "vitals agent: flag provided but not defined: -colour (run 'vitals agent -h' for usage)"},
		{"agent extra argument", []string{"agent", "--config", "x.yaml", "more"}, `vitals agent: unexpected argument "more" (run 'vitals agent -h' for usage)`},
		{"demo admin nonsense", []string{"demo", "--admin", "nonsense"}, `vitals demo: --admin "nonsense" is not host:port (e.g. --admin 127.0.0.1:9180)`},
		{"demo admin bad port", []string{"demo", "--admin", "127.0.0.1:99999"}, `vitals demo: --admin "127.0.0.1:99999" has no port from 0 to 65535 (e.g. --admin 127.0.0.1:9180)`},
		{"demo admin not loopback", []string{"demo", "--admin", "0.0.0.0:9180"}, `vitals demo: --admin "0.0.0.0:9180" is not a loopback address: the status page has admin buttons (use 127.0.0.1 or ::1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != exitUsage || out != "" || errOut != tt.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and the one line %q", code, out, errOut, exitUsage, tt.want)
			}
			if strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr has %d lines, want 1", strings.Count(errOut, "\n"))
			}
		})
	}
}
