package octavia

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// integer is an integer request field. Like wsme's IntegerType it takes
// a JSON number or a string holding one: python-octaviaclient sends
// --delay and --timeout as strings ("15").
type integer int64

func (n *integer) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: reflect.TypeFor[int64]()}
	}
	*n = integer(v)
	return nil
}

// jsonValueKind names the kind of a JSON value as encoding/json does.
func jsonValueKind(b []byte) string {
	switch b[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

func setInt(dst *int, src *integer) {
	if src != nil {
		*dst = int(*src)
	}
}
