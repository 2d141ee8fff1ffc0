package octavia

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// MaxBodyBytes bounds a request body; a larger one is refused with 413.
const MaxBodyBytes = 1 << 20

// body is a decoded request: the object inside the envelope and the
// names of the fields it set.
type body struct {
	raw    json.RawMessage
	fields map[string]json.RawMessage
}

// readEnvelope reads {"<key>": {...}} strictly: the body must be JSON of
// at most MaxBodyBytes, with exactly that key.
func readEnvelope(r *http.Request, key string) (body, error) {
	raw, err := readBody(r)
	if err != nil {
		return body{}, err
	}
	var env map[string]json.RawMessage
	if err := strictUnmarshal(raw, &env); err != nil {
		return body{}, malformed(err)
	}
	for k := range env {
		if k != key {
			return body{}, fault(http.StatusBadRequest, "Unknown argument: %s", k)
		}
	}
	inner, ok := env[key]
	if !ok || string(inner) == "null" {
		return body{}, fault(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: 'None'. Mandatory field missing.", key)
	}
	return objectBody(key, inner)
}

func objectBody(key string, inner json.RawMessage) (body, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(inner, &fields); err != nil {
		return body{}, fault(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. Value should be an object", key, clip(inner))
	}
	return body{raw: inner, fields: fields}, nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fault(http.StatusBadRequest, "The request body could not be read: %v", err)
	}
	if len(raw) > MaxBodyBytes {
		return nil, tooLarge()
	}
	return raw, nil
}

func tooLarge() *Fault {
	return fault(http.StatusRequestEntityTooLarge, "Request body is larger than the limit of %d bytes", MaxBodyBytes)
}

func malformed(err error) *Fault {
	return fault(http.StatusBadRequest, "The request body is not valid JSON: %v", err)
}

func strictUnmarshal(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// decodeInto decodes b into req (a request struct) and refuses a field
// that this operation does not take (allowed nil: every field of req).
// The faults are wsme's: an unknown attribute, or a value of the wrong
// type, naming the field.
func (b body) decodeInto(key string, req any, allowed []string) error {
	if err := b.dropUnsupported(key); err != nil {
		return err
	}
	if allowed == nil {
		if n, ok := req.(interface{ fieldNames() []string }); ok {
			allowed = n.fieldNames()
		} else {
			allowed = jsonNames(reflect.TypeOf(req).Elem())
		}
	}
	for f := range b.fields {
		// encoding/json matches names without regard to case; Octavia
		// does not, so the names are checked here exactly.
		if !slices.Contains(allowed, f) {
			return fault(http.StatusBadRequest, "Unknown attribute for argument %s: %s", key, f)
		}
	}
	d := json.NewDecoder(bytes.NewReader(b.raw))
	d.DisallowUnknownFields()
	err := d.Decode(req)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		// The path names embedded structs too (metaReq.name): drop them.
		path := strings.TrimPrefix(te.Field, "metaReq.")
		top, _, _ := strings.Cut(path, ".")
		return fault(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. Wrong type. Expected '%s', got '%s'", path, clip(b.fields[top]), jsonKind(te.Type.String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault(http.StatusBadRequest, "Unknown attribute for argument %s: %s", key, f)
	}
	var ve *valueError
	if errors.As(err, &ve) {
		return fault(http.StatusBadRequest, "Invalid input for field/attribute %s. Value: '%s'. %s", ve.field, ve.value, ve.reason)
	}
	return malformed(err)
}

// jsonNames lists the JSON names of a struct's fields, with those of
// its embedded structs.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if f.Anonymous {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// valueError is a decoding error of one of this package's JSON types.
type valueError struct{ field, value, reason string }

func (e *valueError) Error() string { return e.field + ": " + e.reason }

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "integer"
	case strings.Contains(goType, "bool"):
		return "bool"
	case strings.Contains(goType, "string"):
		return "string"
	case strings.HasPrefix(goType, "[]"):
		return "list"
	}
	return "object"
}

func clip(b []byte) string {
	s := string(b)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}

// keepNull are the fields whose null the request types handle
// themselves (session_persistence: none).
var keepNull = []string{"session_persistence"}

// resetNulls makes a null in an update mean "back to the default", as
// Octavia's PUT does (the CLI's unset commands send nulls): each null is
// replaced by the attribute's value in defaults, the view of a new
// object; an attribute shown as null there is empty ("" or 0).
func (b *body) resetNulls(defaults any) error {
	dv := toObject(defaults)
	changed := false
	for k, raw := range b.fields {
		if string(bytes.TrimSpace(raw)) != "null" || slices.Contains(keepNull, k) {
			continue
		}
		var v any = ""
		if k == "monitor_port" {
			v = 0
		}
		if d, ok := dv[k]; ok && d != nil {
			v = d
		}
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.fields[k] = j
		changed = true
	}
	if changed {
		raw, err := json.Marshal(b.fields)
		if err != nil {
			return err
		}
		b.raw = raw
	}
	return nil
}
