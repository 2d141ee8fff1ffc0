package octavia

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"vitals/internal/testenv"
)

func names(t *testing.T, body map[string]any, key string) []string {
	t.Helper()
	list, ok := body[key].([]any)
	if !ok {
		t.Fatalf("no list %q: %v", key, body)
	}
	var out []string
	for _, o := range list {
		n, _ := o.(map[string]any)["name"].(string)
		out = append(out, n)
	}
	return out
}

func TestListFilters(t *testing.T) {
	s := newServer(t, Options{})
	const b = "/v2.0/lbaas/loadbalancers"
	for _, lb := range []M{
		{"name": "c", "tags": []string{"red", "big"}, "description": "x"},
		{"name": "a", "tags": []string{"red"}, "admin_state_up": false},
		{"name": "b", "tags": []string{"blue"}},
		{"name": "d"},
	} {
		s.must(t, 201, "POST", b, M{"loadbalancer": lb})
	}
	cases := []struct{ query, want string }{
		{"", "c a b d"}, // created_at, id
		{"?name=a", "a"},
		{"?name=zzz", ""},
		{"?admin_state_up=false", "a"},
		{"?admin_state_up=True", "c b d"},
		{"?description=x", "c"},
		{"?sort=name:asc", "a b c d"},
		{"?sort=name:desc", "d c b a"},
		{"?sort_key=name&sort_dir=desc", "d c b a"},
		{"?tags=red", "c a"},
		{"?tags=red,big", "c"},
		{"?tags-any=big,blue&sort=name", "b c"},
		{"?not-tags=red", "b d"},
		{"?not-tags-any=red,blue", "d"},
		{"?sort=name&fields=name", "a b c d"},
	}
	for _, c := range cases {
		got := strings.Join(names(t, s.must(t, 200, "GET", b+c.query, nil), "loadbalancers"), " ")
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.query, got, c.want)
		}
	}

	// fields= keeps only those attributes.
	body := s.must(t, 200, "GET", b+"?fields=name&fields=id", nil)
	for _, o := range body["loadbalancers"].([]any) {
		if len(o.(map[string]any)) != 2 {
			t.Errorf("fields=name,id gave %v", o)
		}
	}

	// fields= on a single object.
	one := body["loadbalancers"].([]any)[0].(map[string]any)
	shown := obj(t, s.must(t, 200, "GET", b+"/"+one["id"].(string)+"?fields=name,provisioning_status", nil), "loadbalancer")
	if len(shown) != 2 || shown["provisioning_status"] != "ACTIVE" {
		t.Errorf("show with fields: %v", shown)
	}

	// Paging: follow next links until a page comes back empty.
	var seen []string
	next := b + "?limit=3&sort=name"
	for range 5 {
		body := s.must(t, 200, "GET", next, nil)
		page := names(t, body, "loadbalancers")
		seen = append(seen, page...)
		links := body["loadbalancers_links"].([]any)
		if len(page) < 3 {
			if len(links) != 0 {
				t.Errorf("a short page has links: %v", links)
			}
			break
		}
		if len(links) != 1 || links[0].(map[string]any)["rel"] != "next" {
			t.Fatalf("a full page has no next link: %v", links)
		}
		u, err := url.Parse(links[0].(map[string]any)["href"].(string))
		if err != nil || u.Host != strings.TrimPrefix(s.URL, "http://") {
			t.Fatalf("next href %v: %v", u, err)
		}
		next = u.RequestURI()
	}
	if strings.Join(seen, " ") != "a b c d" {
		t.Errorf("paged: %v", seen)
	}

	// Filters on reference lists by their X_id name, and on members.
	tr := createTree(t, s, "/v2")
	if got := s.must(t, 200, "GET", "/v2/lbaas/listeners?loadbalancer_id="+tr.lb, nil)["listeners"].([]any); len(got) != 1 {
		t.Errorf("listeners?loadbalancer_id: %v", got)
	}
	if got := s.must(t, 200, "GET", "/v2/lbaas/healthmonitors?pool_id="+tr.pool, nil)["healthmonitors"].([]any); len(got) != 1 {
		t.Errorf("healthmonitors?pool_id: %v", got)
	}
	if got := s.must(t, 200, "GET", "/v2/lbaas/pools/"+tr.pool+"/members?protocol_port=80", nil)["members"].([]any); len(got) != 1 {
		t.Errorf("members?protocol_port=80: %v", got)
	}
	if got := s.must(t, 200, "GET", "/v2/lbaas/pools/"+tr.pool+"/members?protocol_port=81", nil)["members"].([]any); len(got) != 0 {
		t.Errorf("members?protocol_port=81: %v", got)
	}

	// Bad parameters.
	for q, want := range map[string]string{
		"?bogus=1":       "One or more arguments are either duplicate or invalid.",
		"?name=a&name=b": "One or more arguments are either duplicate or invalid.",
		"?sort=bogus":    "Supplied sort key 'bogus' is not valid.",
		"?sort=name:up":  "Supplied sort direction 'up' is not valid.",
		"?limit=x":       "Invalid input for field/attribute limit. Value: 'x'. Value should be a non-negative integer",
	} {
		r := s.do(t, "GET", b+q, "")
		if _, msg := r.fault(t); r.code != 400 || msg != want {
			t.Errorf("%s: %d %q, want 400 %q", q, r.code, msg, want)
		}
	}
}

// rawMember returns the raw object body[key], or, for a list, its element
// whose id is id.
func rawMember(t *testing.T, body []byte, key, id string) json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if id == "" {
		return top[key]
	}
	var list []json.RawMessage
	if err := json.Unmarshal(top[key], &list); err != nil {
		t.Fatalf("%s: %v: %s", key, err, body)
	}
	for _, o := range list {
		var ref struct{ ID string }
		if err := json.Unmarshal(o, &ref); err != nil {
			t.Fatal(err)
		}
		if ref.ID == id {
			return o
		}
	}
	t.Fatalf("%s has no %s: %s", key, id, body)
	return nil
}

// TestListKeyOrder: each object of a list answer has its attributes in
// the order the GET of that one object writes them (the view's
// declaration; for a health monitor, its type-dependent fields last), not
// sorted; and fields= keeps that order, in lists and single answers.
func TestListKeyOrder(t *testing.T) {
	s := newServer(t, Options{})
	tr := createTree(t, s, "/v2")
	const b = "/v2/lbaas/"
	for _, c := range []struct{ list, one, id string }{
		{"loadbalancers", "loadbalancer", tr.lb},
		{"listeners", "listener", tr.listener},
		{"pools", "pool", tr.pool},
		{"pools/" + tr.pool + "/members", "member", tr.member},
		{"healthmonitors", "healthmonitor", tr.monitor},
	} {
		plural := c.list[strings.LastIndex(c.list, "/")+1:]
		shown := s.do(t, "GET", b+c.list+"/"+c.id, "")
		listed := s.do(t, "GET", b+c.list, "")
		if shown.code != 200 || listed.code != 200 {
			t.Fatalf("%s: GET one %d, list %d", c.list, shown.code, listed.code)
		}
		want := testenv.JSONKeys(t, rawMember(t, shown.raw, c.one, ""))
		got := testenv.JSONKeys(t, rawMember(t, listed.raw, plural, c.id))
		if !slices.Equal(got, want) {
			t.Errorf("%s: list answer's keys\n%v\nGET of the one object's\n%v", c.list, got, want)
		}
		if slices.IsSorted(want) {
			t.Errorf("%s: the GET of one object has its keys sorted, which cannot tell the orders apart: %v", c.list, want)
		}
		// fields= in another order than the view's: the view's order.
		fields := []string{"name", "provisioning_status", "id"}
		wantFields := slices.DeleteFunc(slices.Clone(want), func(k string) bool { return !slices.Contains(fields, k) })
		q := "?fields=" + strings.Join(fields, ",")
		if got := testenv.JSONKeys(t, rawMember(t, s.do(t, "GET", b+c.list+q, "").raw, plural, c.id)); !slices.Equal(got, wantFields) {
			t.Errorf("%s%s: list keys %v, want %v", c.list, q, got, wantFields)
		}
		if got := testenv.JSONKeys(t, rawMember(t, s.do(t, "GET", b+c.list+"/"+c.id+q, "").raw, c.one, "")); !slices.Equal(got, wantFields) {
			t.Errorf("%s/{id}%s: keys %v, want %v", c.list, q, got, wantFields)
		}
	}
}
