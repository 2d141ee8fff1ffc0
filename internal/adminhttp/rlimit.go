package adminhttp

import "golang.org/x/sys/unix"

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and returns
// the soft limit now in force. Go's os package already does this at init
// on Linux (since Go 1.19), so this mostly reads it; it stays explicit so
// the budget never rests on a runtime detail.
func RaiseNoFile() (int, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = want.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err == nil {
			r = want
		}
	}
	const maxInt = int(^uint(0) >> 1)
	if r.Cur > uint64(maxInt) {
		return maxInt, nil
	}
	return int(r.Cur), nil
}
