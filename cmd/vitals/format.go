package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// outputFormats are the values of -f/--format, as the openstack client's:
// table for people, json and yaml for programs, value for shell loops
// (bare values, one row per line).
var outputFormats = []string{"table", "json", "yaml", "value"}

// outputFormat is the value of -f/--format.
type outputFormat string

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(s string) error {
	if !slices.Contains(outputFormats, s) {
		return fmt.Errorf("not one of %s", strings.Join(outputFormats, ", "))
	}
	*f = outputFormat(s)
	return nil
}

// formatFlag defines --format and its short form -f on fs.
func formatFlag(fs *flag.FlagSet) *outputFormat {
	f := outputFormat("table")
	fs.Var(&f, "format", "output `format`: "+strings.Join(outputFormats, ", ")+" (default table)")
	fs.Var(&f, "f", "")
	return &f
}

// writeJSON writes v as JSON indented by four spaces, as the admin
// endpoint answers.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

// writeYAML writes v as YAML with the fields in the order its JSON has
// them (not sorted), and empty strings as "".
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	n, err := yamlNode(d)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

// yamlNode reads one JSON value from d as a YAML node, keeping the order
// of object keys.
func yamlNode(d *json.Decoder) (*yaml.Node, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if t == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		}
		for d.More() {
			if n.Kind == yaml.MappingNode {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.(string)})
			}
			c, err := yamlNode(d)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if _, err := d.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(t.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, errors.New("unexpected JSON token")
}

// writeListTable writes rows under their column names as the openstack
// client's list table.
func writeListTable(w io.Writer, cols []string, rows [][]string) error {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, r := range rows {
		for i, v := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
		}
	}
	var b bytes.Buffer
	rule := func() {
		for _, wd := range widths {
			b.WriteString("+" + strings.Repeat("-", wd+2))
		}
		b.WriteString("+\n")
	}
	line := func(vals []string) {
		for i, v := range vals {
			b.WriteString("| " + v + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)) + " ")
		}
		b.WriteString("|\n")
	}
	rule()
	line(cols)
	rule()
	for _, r := range rows {
		line(r)
	}
	rule()
	_, err := w.Write(b.Bytes())
	return err
}

// writeValues writes each row's values on one line, separated by spaces,
// as `openstack ... -f value` does.
func writeValues(w io.Writer, rows [][]string) error {
	var b bytes.Buffer
	for _, r := range rows {
		b.WriteString(strings.Join(r, " ") + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// fieldValues returns the values of field/value rows as one-value rows,
// for -f value on a show command.
func fieldValues(rows [][2]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = []string{r[1]}
	}
	return out
}
