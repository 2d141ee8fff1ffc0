// Package yamlconf holds what vitals' strict YAML configurations share:
// line numbers for error messages, yaml.v3's errors in plainer words, the
// one-document rule and the check of listen addresses.
package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LineOf finds the line of the node at a path of mapping keys (string) and
// sequence indexes (int) in a decoded document: the key's line for a
// mapping key, the item's for an index, and the deepest existing node's
// when the path goes further than the document. It returns 0 for a nil
// root.
func LineOf(root *yaml.Node, path ...any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == p {
					line, n, found = n.Content[k].Line, n.Content[k+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || p < 0 || p >= len(n.Content) {
				return line
			}
			n = n.Content[p]
			line = n.Line
		}
	}
	return line
}

var (
	lineRe   = regexp.MustCompile(`^line (\d+): (.*)`)
	dupKeyRe = regexp.MustCompile(`^mapping key "([^"]*)" already defined at line (\d+)$`)
)

// Explain turns a yaml.v3 decoding error into the line it names (0 when
// none) and one plain sentence. types maps Go type names such as
// "agent.CheckConfig" to words such as "a check"; hint ends the message
// for an unknown field, e.g. "the README lists every field". A key given
// twice reads `<key> is given twice (first at line N)`.
func Explain(err error, types map[string]string, hint string) (line int, msg string) {
	msg = err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	switch {
	case strings.HasSuffix(msg, " into bool"):
		msg += " (write true or false)"
	case strings.HasSuffix(msg, " into int"), strings.HasSuffix(msg, " into *int"):
		msg += " (write a whole number)"
	case strings.HasSuffix(msg, "into time.Duration"):
		msg += " (write a duration such as 2s or 500ms)"
	}
	if f, ok := strings.CutPrefix(msg, "field "); ok {
		if field, typ, ok := strings.Cut(f, " not found in type "); ok {
			where := types[typ]
			if where == "" {
				where = typ
			}
			msg = fmt.Sprintf("unknown field %q in %s (check the spelling; %s)", field, where, hint)
		}
	}
	if m := dupKeyRe.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("%s is given twice (first at line %s)", m[1], m[2])
	}
	return line, msg
}

// UnwrapPath drops the *os.PathError wrapper, whose path the caller names.
func UnwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}
