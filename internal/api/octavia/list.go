package octavia

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Lists: every resource's list goes through writeList, which works on
// the JSON form of the views, so that any attribute a client sees is one
// it can filter and sort by, under the same name.

// maxLimit is Octavia's default pagination_max_limit.
const maxLimit = 1000

// listParams are the query parameters that are not attribute filters.
var listParams = []string{"limit", "marker", "page_reverse", "fields", "sort", "sort_key", "sort_dir",
	"tags", "tags-any", "not-tags", "not-tags-any"}

type object = map[string]any

func toObject(v any) object {
	b, _ := json.Marshal(v)
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var o object
	_ = d.Decode(&o)
	return o
}

// attr is one attribute of an encoded view, as the view encodes it.
type attr struct {
	key string
	val json.RawMessage
}

// ordered is a view's JSON object with its attributes in the order the
// view writes them (its declaration's, as a GET of the one object
// answers), so that lists and fields= keep that order: a map would sort
// the keys.
type ordered []attr

// toOrdered encodes view as a GET of the one object does, and splits the
// object into its attributes, in order.
func toOrdered(view any) (ordered, error) {
	b, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("view %T is not a JSON object: %s", view, b)
	}
	var o ordered
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		var val json.RawMessage
		if err := d.Decode(&val); err != nil {
			return nil, err
		}
		o = append(o, attr{tok.(string), val})
	}
	return o, nil
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, a := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(a.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(a.val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// project keeps the attributes of o named in fields, in o's order.
func (o ordered) project(fields []string) ordered {
	p := ordered{}
	for _, a := range o {
		if slices.Contains(fields, a.key) {
			p = append(p, a)
		}
	}
	return p
}

// filterKey maps a filter name to the attribute it tests: an attribute
// of the view, or X_id for the view's list of X references (Octavia's
// loadbalancer_id, pool_id, listener_id filters).
func filterKey(keys object, name string) (string, bool) {
	if _, ok := keys[name]; ok {
		return name, true
	}
	if base, ok := strings.CutSuffix(name, "_id"); ok {
		if _, ok := keys[base+"s"]; ok {
			return base + "s", true
		}
	}
	return "", false
}

// matches reports whether attribute value v equals the query value q.
func matches(v any, q string) bool {
	switch v := v.(type) {
	case nil:
		return q == "" || q == "None" || q == "null"
	case string:
		return v == q
	case json.Number:
		if a, err := v.Float64(); err == nil {
			if b, err := strconv.ParseFloat(q, 64); err == nil {
				return a == b
			}
		}
		return v.String() == q
	case bool:
		b, err := strconv.ParseBool(strings.ToLower(q))
		return err == nil && b == v
	case []any:
		for _, e := range v {
			if o, ok := e.(object); ok {
				e = o["id"]
			}
			if matches(e, q) {
				return true
			}
		}
	}
	return false
}

func splitValues(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// tagsMatch applies Octavia's four tag filters.
func tagsMatch(o object, q url.Values) bool {
	have := map[string]bool{}
	if list, ok := o["tags"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				have[s] = true
			}
		}
	}
	all := func(ts []string) bool {
		for _, t := range ts {
			if !have[t] {
				return false
			}
		}
		return true
	}
	anyOf := func(ts []string) bool { return slices.ContainsFunc(ts, func(t string) bool { return have[t] }) }
	if ts := splitValues(q["tags"]); len(ts) > 0 && !all(ts) {
		return false
	}
	if ts := splitValues(q["tags-any"]); len(ts) > 0 && !anyOf(ts) {
		return false
	}
	if ts := splitValues(q["not-tags"]); len(ts) > 0 && all(ts) {
		return false
	}
	if ts := splitValues(q["not-tags-any"]); len(ts) > 0 && anyOf(ts) {
		return false
	}
	return true
}

type sortKey struct {
	key  string
	desc bool
}

// sortKeys reads sort=k1:dir,k2 or sort_key/sort_dir; id breaks ties.
// None means the store's order.
func sortKeys(keys object, q url.Values) ([]sortKey, *Fault) {
	var out []sortKey
	add := func(k, dir string) *Fault {
		if _, ok := keys[k]; !ok {
			return fault(http.StatusBadRequest, "Supplied sort key '%s' is not valid.", k)
		}
		switch strings.ToLower(dir) {
		case "", "asc":
			out = append(out, sortKey{k, false})
		case "desc":
			out = append(out, sortKey{k, true})
		default:
			return fault(http.StatusBadRequest, "Supplied sort direction '%s' is not valid.", dir)
		}
		return nil
	}
	for _, s := range splitValues(q["sort"]) {
		k, dir, _ := strings.Cut(s, ":")
		if f := add(k, dir); f != nil {
			return nil, f
		}
	}
	dirs := splitValues(q["sort_dir"])
	for i, k := range splitValues(q["sort_key"]) {
		dir := ""
		if i < len(dirs) {
			dir = dirs[i]
		}
		if f := add(k, dir); f != nil {
			return nil, f
		}
	}
	if len(out) == 0 {
		// The store lists in Octavia's default order (created_at, id) at
		// full precision, which the views' whole seconds cannot restore.
		return nil, nil
	}
	return append(out, sortKey{"id", false}), nil
}

func compareValues(a, b any) int {
	switch a := a.(type) {
	case nil:
		if b == nil {
			return 0
		}
		return -1
	case string:
		if b, ok := b.(string); ok {
			return cmp.Compare(a, b)
		}
	case json.Number:
		if b, ok := b.(json.Number); ok {
			x, _ := a.Float64()
			y, _ := b.Float64()
			return cmp.Compare(x, y)
		}
	case bool:
		if b, ok := b.(bool); ok {
			switch {
			case a == b:
				return 0
			case !a:
				return -1
			}
			return 1
		}
	}
	if b == nil {
		return 1
	}
	return 0
}

// writeList filters, sorts, pages and projects views and writes
// {"<plural>": [...], "<plural>_links": [...]}. zero is a view of the
// resource's type, whose attributes are the valid filters.
func writeList(w http.ResponseWriter, r *http.Request, plural string, zero any, views []any) error {
	q := r.URL.Query()
	keys := toObject(zero)
	type filter struct{ key, value string }
	var filters []filter
	for name, vals := range q {
		if slices.Contains(listParams, name) {
			continue
		}
		k, ok := filterKey(keys, name)
		if !ok || len(vals) != 1 {
			return fault(http.StatusBadRequest, msgInvalidFilter)
		}
		filters = append(filters, filter{k, vals[0]})
	}
	order, f := sortKeys(keys, q)
	if f != nil {
		return f
	}
	limit := maxLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fault(http.StatusBadRequest, "Invalid input for field/attribute limit. Value: '%s'. Value should be a non-negative integer", s)
		}
		if n > 0 && n < maxLimit {
			limit = n
		}
	}
	// Each view is filtered and sorted by its attributes (obj) and written
	// as encoded, in its attributes' order (out).
	type item struct {
		obj object
		out ordered
	}
	var objs []item
	for _, v := range views {
		out, err := toOrdered(v)
		if err != nil {
			return err
		}
		o := object{}
		for _, a := range out {
			o[a.key] = decodeValue(a.val)
		}
		ok := tagsMatch(o, q)
		for _, f := range filters {
			ok = ok && matches(o[f.key], f.value)
		}
		if ok {
			objs = append(objs, item{o, out})
		}
	}
	if reverse, _ := strconv.ParseBool(q.Get("page_reverse")); reverse {
		if order == nil {
			slices.Reverse(objs)
		}
		for i := range order {
			order[i].desc = !order[i].desc
		}
	}
	slices.SortStableFunc(objs, func(a, b item) int {
		for _, k := range order {
			c := compareValues(a.obj[k.key], b.obj[k.key])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	if marker := q.Get("marker"); marker != "" {
		i := slices.IndexFunc(objs, func(o item) bool { return o.obj["id"] == marker })
		if i < 0 {
			return fault(http.StatusNotFound, "Marker %s could not be found.", marker)
		}
		objs = objs[i+1:]
	}
	links := []link{}
	if len(objs) > limit {
		objs = objs[:limit]
	}
	if q.Has("limit") && len(objs) == limit && limit > 0 {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("limit", strconv.Itoa(limit))
		next.Set("marker", objs[len(objs)-1].obj["id"].(string))
		links = append(links, link{Href: baseURL(r) + r.URL.Path + "?" + next.Encode(), Rel: "next"})
	}
	fields := splitValues(q["fields"])
	out := make([]ordered, len(objs))
	for i, o := range objs {
		out[i] = o.out
		if len(fields) > 0 {
			out[i] = o.out.project(fields)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{plural: out, plural + "_links": links})
	return nil
}

// decodeValue decodes one attribute's JSON as toObject does.
func decodeValue(raw json.RawMessage) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	_ = d.Decode(&v)
	return v
}

// writeOne writes {"<key>": view}, with only the attributes named by
// fields= when given, as Octavia's GET of one object allows.
func writeOne(w http.ResponseWriter, r *http.Request, key string, view any) error {
	fields := splitValues(r.URL.Query()["fields"])
	if len(fields) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{key: view})
		return nil
	}
	o, err := toOrdered(view)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{key: o.project(fields)})
	return nil
}
