package store

import "errors"

// ErrUnavailable is a store that cannot be reached (a database server
// that is down or cut off). The running configuration stays; writes fail
// until it returns.
var ErrUnavailable = errors.New("the configuration store is unreachable")

// UnavailableError wraps the driver's error when the store cannot be
// reached. Its message names the database without secrets.
type UnavailableError struct {
	// Name is the database, as safe to log (no password).
	Name string
	Err  error
}

func (e *UnavailableError) Error() string {
	return "the configuration store " + e.Name + " is unreachable: " + e.Err.Error()
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }
