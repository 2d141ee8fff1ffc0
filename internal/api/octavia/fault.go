package octavia

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	model "vitals/internal/octavia"
	"vitals/internal/store"
)

// Fault is Octavia's error body. Code is the HTTP status, not sent.
type Fault struct {
	Code        int     `json:"-"`
	FaultCode   string  `json:"faultcode"`
	FaultString string  `json:"faultstring"`
	DebugInfo   *string `json:"debuginfo"`
}

func (f *Fault) Error() string { return f.FaultString }

// fault returns a client fault (4xx) or a server fault (5xx).
func fault(code int, format string, a ...any) *Fault {
	return &Fault{Code: code, FaultCode: model.FaultCode(code), FaultString: fmt.Sprintf(format, a...)}
}

// The fault strings Octavia's exceptions carry, in one place.
const (
	msgMonitorExists  = "This pool already has a health monitor"
	msgIDExists       = "Already an entity with that specified id."
	msgInvalidFilter  = "One or more arguments are either duplicate or invalid."
	msgAuthRequired   = "The request you have made requires authentication."
	msgLBHasChildren  = "Validation failure: Cannot delete Load Balancer %s - it has children"
	msgImmutable      = "Invalid state %s of loadbalancer resource %s"
	msgHasDefaultPool = "This listener already has a default pool"
	msgStoreDown      = "The configuration store (database) is unreachable: nothing was changed. The load balancers keep running with their last applied configuration; retry when the store is back."
)

// toFault maps an error from the model or the store to a fault.
func toFault(err error) *Fault {
	var f *Fault
	var nf *store.NotFoundError
	var ce *store.ConflictError
	var fes model.Errors
	var fe *model.FieldError
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &nf):
		return fault(http.StatusNotFound, "%s", nf.Error())
	case errors.Is(err, store.ErrUnavailable):
		return fault(http.StatusServiceUnavailable, "%s", msgStoreDown)
	case errors.As(err, &ce):
		return conflictFault(ce)
	case errors.As(err, &fes) && len(fes) > 0:
		// An invalid value is reported before an unsupported one, as
		// Octavia validates the request before the provider sees it.
		for _, e := range fes {
			if !e.Unsupported {
				return fault(http.StatusBadRequest, "%s", e.Msg)
			}
		}
		return fault(http.StatusNotImplemented, "%s", fes[0].Msg)
	case errors.As(err, &fe):
		if fe.Unsupported {
			return fault(http.StatusNotImplemented, "%s", fe.Msg)
		}
		return fault(http.StatusBadRequest, "%s", fe.Msg)
	}
	return fault(http.StatusInternalServerError, "Internal server error")
}

func conflictFault(ce *store.ConflictError) *Fault {
	switch ce.Constraint {
	case store.ConstraintPoolMonitor:
		return fault(http.StatusConflict, msgMonitorExists)
	case store.ConstraintPrimaryKey:
		return fault(http.StatusConflict, msgIDExists)
	case store.ConstraintMemberAddress:
		return fault(http.StatusConflict, "Another member on this pool is already using this ip address and protocol_port")
	case store.ConstraintListenerPort:
		return fault(http.StatusConflict, "Another Listener on this Load Balancer is already using this protocol and protocol_port")
	}
	return fault(http.StatusConflict, "%s", ce.Error())
}

// duplicate rewords a conflict with the clashing values, as Octavia's
// DuplicateMemberEntry and DuplicateListenerEntry do.
func duplicate(err error, constraint, msg string) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Constraint == constraint {
		return fault(http.StatusConflict, "%s", msg)
	}
	return err
}

func writeFault(w http.ResponseWriter, f *Fault) {
	writeJSON(w, f.Code, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"faultcode": "Server", "faultstring": "Internal server error", "debuginfo": null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}
