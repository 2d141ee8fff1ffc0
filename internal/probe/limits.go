package probe

import "time"

// Limits on configured values that the agent and the lb share.
const (
	// MinInterval is the shortest interval (agent) or delay (lb) between
	// two checks: shorter ones only burn CPU and load the database.
	MinInterval = 100 * time.Millisecond
	// MaxSecretFile is the largest secret file (password_file,
	// token_file) read. Secrets are short; the bound keeps a mistake such
	// as /dev/zero from reading without end.
	MaxSecretFile = 64 << 10
)
