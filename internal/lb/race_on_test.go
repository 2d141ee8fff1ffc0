//go:build race

package lb

// raceEnabled: the race detector's shadow memory inflates RSS several
// times over, so memory bounds on RSS hold only without it.
const raceEnabled = true
