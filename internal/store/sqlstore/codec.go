package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"vitals/internal/octavia"
)

// Column codecs: each wraps a pointer into a model field and is both the
// argument that writes it (driver.Valuer) and the destination that reads
// it (sql.Scanner), so a table's column list serves inserts, updates and
// selects alike.

// timeLayout is fixed-width, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// utcTime stores a time.Time as UTC text with microseconds.
type utcTime struct{ t *time.Time }

func (c utcTime) Value() (driver.Value, error) { return c.t.UTC().Format(timeLayout), nil }

func (c utcTime) Scan(src any) error {
	s, err := text(src)
	if err != nil {
		return err
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

// millis stores a time.Duration as integer milliseconds.
type millis struct{ d *time.Duration }

func (c millis) Value() (driver.Value, error) { return octavia.Millis(*c.d), nil }

func (c millis) Scan(src any) error {
	n, ok := src.(int64)
	if !ok {
		return fmt.Errorf("want an integer number of milliseconds, got %T", src)
	}
	*c.d = octavia.FromMillis(n)
	return nil
}

// jsonList stores a []string as a JSON array; nil reads back as nil.
type jsonList struct{ l *[]string }

func (c jsonList) Value() (driver.Value, error) {
	if len(*c.l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(*c.l)
	return string(b), err
}

func (c jsonList) Scan(src any) error {
	s, err := text(src)
	if err != nil {
		return err
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return err
	}
	if len(l) == 0 {
		l = nil
	}
	*c.l = l
	return nil
}

// jsonPtr stores a *T as JSON, nil as NULL.
type jsonPtr[T any] struct{ p **T }

func (c jsonPtr[T]) Value() (driver.Value, error) {
	if *c.p == nil {
		return nil, nil
	}
	b, err := json.Marshal(*c.p)
	return string(b), err
}

func (c jsonPtr[T]) Scan(src any) error {
	if src == nil {
		*c.p = nil
		return nil
	}
	s, err := text(src)
	if err != nil {
		return err
	}
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return err
	}
	*c.p = v
	return nil
}

// nullID stores "" as NULL, for optional foreign keys.
type nullID struct{ s *string }

func (c nullID) Value() (driver.Value, error) {
	if *c.s == "" {
		return nil, nil
	}
	return *c.s, nil
}

func (c nullID) Scan(src any) error {
	if src == nil {
		*c.s = ""
		return nil
	}
	s, err := text(src)
	*c.s = s
	return err
}

func text(src any) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("want text, got %T", src)
}
