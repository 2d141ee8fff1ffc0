package octavia

import (
	"fmt"
	"strings"
)

// FieldError is one invalid field, worded as Octavia's API words it, so
// that the API can send Msg as a fault string unchanged.
type FieldError struct {
	// Field is the API name of the field, e.g. "delay" or
	// "session_persistence.type".
	Field string
	// Msg is the whole message, e.g. "Invalid input for
	// field/attribute delay. Value: '-1'. Value should be greater or
	// equal to 0".
	Msg string
	// Unsupported marks a value Octavia accepts that vitals does not
	// serve (Octavia's provider refusal, HTTP 501), as opposed to an
	// invalid one (400).
	Unsupported bool
}

func (e *FieldError) Error() string { return e.Msg }

// Errors are the field errors of one object, in field order. Validate
// returns them as an error; errors.As finds each *FieldError.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Msg
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As and errors.Is see each field error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Octavia's wording: wsme's InvalidInput wraps the type's complaint;
// InvalidOption, ValidationException, DisabledOption and
// ProviderUnsupportedOptionError are Octavia's own exceptions.

func invalidInput(field, value, reason string) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf("Invalid input for field/attribute %s. Value: '%s'. %s", field, value, reason)}
}

func missing(field string) *FieldError {
	return invalidInput(field, "None", "Mandatory field missing.")
}

func invalidOption(field, value, option string) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf("%s is not a valid option for %s", value, option)}
}

func validationFailure(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Msg: "Validation failure: " + fmt.Sprintf(format, a...)}
}

func disabledOption(field, value string) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf("The selected %s is not allowed in this deployment: %s", field, value)}
}

func unsupported(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Unsupported: true,
		Msg: fmt.Sprintf("Provider '%s' does not support a requested option: %s", Provider, fmt.Sprintf(format, a...))}
}

// The reasons wsme's types give.
func oneOf(values []string) string { return "Value should be one of: " + strings.Join(values, ", ") }
func atLeast(min any) string       { return fmt.Sprintf("Value should be greater or equal to %v", min) }
func atMost(max any) string        { return fmt.Sprintf("Value should be lower or equal to %v", max) }
func maxChars(n int) string {
	return fmt.Sprintf("Value should have a maximum character requirement of %d", n)
}

const (
	reasonUUID = "Value should be UUID format"
	reasonIP   = "Value should be IPv4 or IPv6 format"
	reasonCIDR = "Value should be IPv4 or IPv6 CIDR format"
	reasonPath = "Value must be a valid URL Path string"
	reasonMS   = "Value should be a whole number of milliseconds"
)
