package yamlconf

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestLineOf(t *testing.T) {
	doc := "a: 1\nlist:\n  - x: 1\n    y: 2\n  - x: 3\n"
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path []any
		want int
	}{
		{nil, 1}, {[]any{"a"}, 1}, {[]any{"list"}, 2}, {[]any{"list", 0}, 3}, {[]any{"list", 0, "y"}, 4},
		{[]any{"list", 1, "x"}, 5}, {[]any{"list", 7}, 2}, {[]any{"nope"}, 1}, {[]any{"a", "deeper"}, 1},
	} {
		if got := LineOf(&root, tt.path...); got != tt.want {
			t.Errorf("LineOf(%v) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if LineOf(nil, "a") != 0 {
		t.Error("LineOf(nil) is not 0")
	}
}

func TestExplain(t *testing.T) {
	type inner struct {
		N int  `yaml:"n"`
		B bool `yaml:"b"`
	}
	type outer struct {
		Items []inner `yaml:"items"`
	}
	types := map[string]string{"yamlconf.inner": "an item"}
	for _, tt := range []struct {
		doc, want string
		line      int
	}{
		{"items:\n  - n: 1\n    m: 2\n", `unknown field "m" in an item (check the spelling; see the docs)`, 3},
		{"items:\n  - n: x\n", "cannot unmarshal !!str `x` into int (write a whole number)", 2},
		{"items:\n  - b: maybe\n", "cannot unmarshal !!str `maybe` into bool (write true or false)", 2},
		{"items: []\nitems: []\n", "items is given twice (first at line 1)", 2},
	} {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(tt.doc)))
		dec.KnownFields(true)
		var o outer
		err := dec.Decode(&o)
		if err == nil {
			t.Errorf("%q decoded without error", tt.doc)
			continue
		}
		line, msg := Explain(err, types, "see the docs")
		if line != tt.line || msg != tt.want {
			t.Errorf("%q: line %d %q, want line %d %q", tt.doc, line, msg, tt.line, tt.want)
		}
	}
}
