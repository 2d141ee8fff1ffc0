//go:build !race

package lb

// raceEnabled: see race_on_test.go.
const raceEnabled = false
