package store

import (
	"errors"
	"fmt"
	"slices"
)

// Sentinels for errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrReadOnly = errors.New("write in a read-only transaction")
	// ErrSchemaTooNew means the database was migrated by a newer vitals.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// The resource names, as Octavia's "not found" faults spell them.
const (
	ResourceLoadBalancer  = "Load Balancer"
	ResourceListener      = "Listener"
	ResourcePool          = "Pool"
	ResourceMember        = "Member"
	ResourceHealthMonitor = "Health Monitor"
)

// NotFoundError is a missing object, or a missing parent of an object
// being written.
type NotFoundError struct {
	Resource string // one of the Resource constants
	ID       string
}

// Error reads as Octavia's 404 fault string.
func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %s not found.", e.Resource, e.ID) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Constraint is a unique constraint of the schema. The schema names it;
// implementations map their driver's errors to it.
type Constraint struct {
	// Name is the constraint's name in the schema.
	Name string
	// Table and Columns are what it makes unique.
	Table   string
	Columns []string
	// Resource is the kind of object it guards.
	Resource string
}

// The constraint names.
const (
	ConstraintListenerPort  = "uq_listener_lb_protocol_port"
	ConstraintMemberAddress = "uq_member_pool_address_port"
	ConstraintPoolMonitor   = "uq_healthmonitor_pool"
	// ConstraintPrimaryKey is an ID already in use.
	ConstraintPrimaryKey = "primary_key"
)

// constraints is the one list of the schema's unique constraints.
var constraints = []Constraint{
	{Name: ConstraintListenerPort, Table: "listeners", Columns: []string{"load_balancer_id", "protocol", "protocol_port"}, Resource: ResourceListener},
	{Name: ConstraintMemberAddress, Table: "members", Columns: []string{"pool_id", "address", "protocol_port"}, Resource: ResourceMember},
	{Name: ConstraintPoolMonitor, Table: "health_monitors", Columns: []string{"pool_id"}, Resource: ResourceHealthMonitor},
}

// Constraints returns the schema's unique constraints.
func Constraints() []Constraint { return slices.Clone(constraints) }

// LookupConstraint finds the unique constraint on exactly these columns
// of the table.
func LookupConstraint(table string, columns []string) (Constraint, bool) {
	for _, c := range constraints {
		if c.Table == table && slices.Equal(c.Columns, columns) {
			return c, true
		}
	}
	return Constraint{}, false
}

// ConflictError is a write that broke a unique constraint.
type ConflictError struct {
	// Constraint is the broken constraint's name (a Constraint constant).
	Constraint string
	// Resource is the kind of object written.
	Resource string
	// Err is the driver's error.
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s conflicts with an existing one (constraint %s)", e.Resource, e.Constraint)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func (e *ConflictError) Unwrap() error { return e.Err }
