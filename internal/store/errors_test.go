package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	nf := fmt.Errorf("get: %w", &NotFoundError{Resource: ResourceLoadBalancer, ID: "x"})
	if !errors.Is(nf, ErrNotFound) || errors.Is(nf, ErrConflict) {
		t.Errorf("NotFoundError: Is gives the wrong sentinel")
	}
	if got := errors.Unwrap(nf).Error(); got != "Load Balancer x not found." {
		t.Errorf("NotFoundError reads %q", got)
	}
	driver := errors.New("UNIQUE constraint failed")
	ce := fmt.Errorf("create: %w", &ConflictError{Constraint: ConstraintPoolMonitor, Resource: ResourceHealthMonitor, Err: driver})
	var c *ConflictError
	if !errors.Is(ce, ErrConflict) || !errors.Is(ce, driver) || !errors.As(ce, &c) || c.Constraint != ConstraintPoolMonitor {
		t.Errorf("ConflictError: %v", ce)
	}
}

func TestConstraints(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Constraints() {
		if names[c.Name] {
			t.Errorf("constraint %s declared twice", c.Name)
		}
		names[c.Name] = true
		got, ok := LookupConstraint(c.Table, c.Columns)
		if !ok || got.Name != c.Name {
			t.Errorf("LookupConstraint(%s, %v) = %v, %v", c.Table, c.Columns, got, ok)
		}
	}
	if _, ok := LookupConstraint("members", []string{"address"}); ok {
		t.Error("LookupConstraint matched a subset of columns")
	}
}
