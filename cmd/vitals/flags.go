package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// newFlagSet returns an empty flag set that reports errors to its caller
// and prints nothing itself: help goes through printFlags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// isAlias reports whether f is a short alias of another flag: a
// one-letter flag with no usage of its own.
func isAlias(f *flag.Flag) bool { return len(f.Name) == 1 && f.Usage == "" }

// aliasOf returns the one-letter aliases of f in fs: flags with no usage
// that share f's value.
func aliasOf(fs *flag.FlagSet, f *flag.Flag) []string {
	var names []string
	t := reflect.TypeOf(f.Value)
	fs.VisitAll(func(g *flag.Flag) {
		if g != f && isAlias(g) && reflect.TypeOf(g.Value) == t && t.Comparable() && g.Value == f.Value {
			names = append(names, g.Name)
		}
	})
	return names
}

// isBool reports whether f takes no value (-flag alone means true).
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printFlags writes fs's flags as the docs write them, --flag (Go's flag
// package prints -flag, and accepts both): one line with the flag, its
// one-letter alias and its value's name, one with the usage and default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if isAlias(f) {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		if p, ok := f.Value.(interface{ Placeholder() string }); ok && name == "value" {
			name = p.Placeholder()
		}
		var b strings.Builder
		b.WriteString("  ")
		for _, a := range aliasOf(fs, f) {
			b.WriteString("-" + a + ", ")
		}
		b.WriteString("--" + f.Name)
		if !isBool(f) && name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n        " + strings.ReplaceAll(usage, "\n", "\n        "))
		switch f.DefValue {
		case "", "0", "false", "[]", "0s":
		default:
			if !strings.Contains(usage, "(default") {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w, b.String())
	})
}

// flagNames returns the names under which fs's flags are typed, with
// dashes: --name, and -x for one-letter aliases.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			names = append(names, "-"+f.Name)
			return
		}
		names = append(names, "--"+f.Name)
	})
	return names
}

// funcValue is flag.Func's value with the name of what it takes, for
// help: --timeout duration rather than --timeout value.
type funcValue struct {
	set         func(string) error
	placeholder string
}

func (f *funcValue) Set(s string) error  { return f.set(s) }
func (f *funcValue) String() string      { return "" }
func (f *funcValue) Placeholder() string { return f.placeholder }

// placeholderFunc is fs.Func with a placeholder for the help.
func placeholderFunc(fs *flag.FlagSet, name, placeholder, usage string, set func(string) error) {
	fs.Var(&funcValue{set: set, placeholder: placeholder}, name, usage)
}
