package testenv

import "testing"

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestPing":                        "^TestPing$",
		"TestPing/ipv4_unprivileged_only": "^TestPing$/^ipv4_unprivileged_only$",
		"TestX/a.b[1]":                    `^TestX$/^a\.b\[1\]$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}
