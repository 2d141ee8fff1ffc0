package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitals/internal/probe"
)

const probeUsage = "usage: vitals probe TYPE TARGET [flags], or vitals probe exec [flags] -- COMMAND [ARG...]"

type probeOpts struct {
	spec   *probe.Spec
	count  *int
	delay  *time.Duration
	asJSON *bool
	set    map[string]string // YAML name -> flag name of the Spec flags set
}

func probeFlagSet() (*flag.FlagSet, *probeOpts) {
	fs := newFlagSet("vitals probe")
	o := &probeOpts{spec: &probe.Spec{Timeout: 2 * time.Second}}
	o.count = fs.Int("count", 1, "number of runs; 0 runs until interrupted")
	o.delay = fs.Duration("delay", time.Second, "time from the start of one run to the start of the next")
	o.asJSON = fs.Bool("json", false, "print each result as a JSON line")
	o.set = specFlags(fs, o.spec)
	fs.Lookup("timeout").Usage += fmt.Sprintf(" (default %s)", o.spec.Timeout)
	return fs, o
}

func probeFlags() *flag.FlagSet { fs, _ := probeFlagSet(); return fs }

// probeKinds are the words TYPE may be.
func probeKinds() []string { return probe.KindNames() }

// runProbe runs `vitals probe TYPE TARGET [flags]`: one check, or --count
// checks every --delay, one line per run. It exits as a monitoring plugin
// does: 0 when the last run passed, 1 when it warned, 2 when it failed and
// 3 on bad input.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, o := probeFlagSet()
	var (
		spec, count, delay, asJSON, set = o.spec, o.count, o.delay, o.asJSON, o.set
		badLine                         = func(format string, a ...any) int {
			fmt.Fprintf(stderr, "vitals probe: "+format+"\n", a...)
			return probeExitBadArgs
		}
	)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		probeHelp(stdout, fs)
		return exitOK
	}
	if err != nil {
		return badLine("%v", err)
	}
	if len(pos) == 0 {
		return badLine("missing TYPE and TARGET (%s; types: %s)", probeUsage, strings.Join(probe.KindNames(), ", "))
	}
	switch {
	case *count < 0:
		return badLine("--count must be 0 (forever) or more, got %d", *count)
	case *delay <= 0:
		return badLine("--delay must be positive, got %s", *delay)
	}
	kind, ok := probe.Lookup(strings.ToLower(pos[0]))
	if !ok {
		return badLine("unknown type %q (want one of %s)", pos[0], strings.Join(probe.KindNames(), ", "))
	}
	if msg := placeTarget(kind, spec, pos[1:]); msg != "" {
		return badLine("%s (%s)", msg, probeUsage)
	}
	p, err := probe.New(kind.Name, *spec)
	if err != nil {
		return badLine("%s", flagError(err, set))
	}
	defer probe.Close(p) // a reused database connection ends cleanly

	out := newResultPrinter(stdout, *asJSON)
	next := time.Now()
	var last probe.Result
	for i := 0; *count == 0 || i < *count; i++ {
		if i > 0 {
			next = next.Add(*delay)
			select {
			case <-ctx.Done():
				return exitCode(last)
			case <-time.After(time.Until(next)):
			}
		}
		last = p.Probe(ctx)
		out(last)
		if ctx.Err() != nil {
			break
		}
	}
	return exitCode(last)
}

// placeTarget puts the positional arguments after TYPE where the kind wants
// them: the address of a network check, the path of a file check, the
// command of an exec check (all remaining arguments), nothing for load.
// It returns a message when the arguments do not fit.
func placeTarget(k probe.Kind, spec *probe.Spec, args []string) string {
	switch {
	case k.Target != probe.TargetNone:
		if len(args) == 0 {
			return "missing TARGET after type " + k.Name
		}
		spec.Address = args[0]
		args = args[1:]
	case slices.Contains(k.Fields, "command"):
		if len(args) == 0 {
			return "missing the command to run after type " + k.Name
		}
		spec.Command, args = args, nil
	case slices.Contains(k.Fields, "path") && len(args) > 0 && spec.Path == "":
		spec.Path, args = args[0], args[1:]
	}
	if len(args) > 0 {
		return fmt.Sprintf("unexpected argument %q", args[0])
	}
	return ""
}

// vitals probe's exit status follows the monitoring-plugin convention
// (Nagios, Icinga, Sensu) that the exec check reads, so that vitals probe
// can be an exec check or a Nagios plugin and its verdict carries over:
// a nested FAIL is a FAIL, a nested WARN a WARN.
const (
	probeExitPass    = 0 // OK
	probeExitWarn    = 1 // WARNING
	probeExitFail    = 2 // CRITICAL
	probeExitBadArgs = 3 // UNKNOWN: bad flags or arguments, nothing was checked
)

func exitCode(r probe.Result) int {
	switch r.Status {
	case probe.Fail:
		return probeExitFail
	case probe.Warn:
		return probeExitWarn
	}
	return probeExitPass
}

// newResultPrinter returns a function that prints one result per line,
// as text or as JSON.
func newResultPrinter(w io.Writer, asJSON bool) func(probe.Result) {
	if asJSON {
		enc := json.NewEncoder(w)
		return func(r probe.Result) { _ = enc.Encode(r) }
	}
	return func(r probe.Result) {
		fmt.Fprintf(w, "%s %-4s %10s %s\n", r.Start.Format("2006-01-02T15:04:05.000Z07:00"),
			strings.ToUpper(r.Status.String()), probe.FormatMS(r.Latency), r.Reason)
	}
}

// specFlags defines one flag per Spec field that has a help tag, named as
// its YAML name with dashes. It returns the map from YAML name to flag name
// for the flags the user set, filled as parsing proceeds.
func specFlags(fs *flag.FlagSet, spec *probe.Spec) map[string]string {
	set := map[string]string{}
	v := reflect.ValueOf(spec).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		help := f.Tag.Get("help")
		yamlName, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if help == "" || yamlName == "address" || f.Type.Kind() == reflect.Slice {
			continue
		}
		name := strings.ReplaceAll(yamlName, "_", "-")
		if types := acceptingKinds(yamlName); types != "" {
			help += " [" + types + "]"
		}
		field := v.Field(i)
		mark := func() { set[yamlName] = name }
		switch field.Kind() {
		case reflect.Bool:
			fs.BoolFunc(name, help, func(s string) error {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return errors.New("not true or false")
				}
				mark()
				field.SetBool(b)
				return nil
			})
		case reflect.Float64:
			placeholderFunc(fs, name, "number", help, func(s string) error {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return errors.New("not a number")
				}
				mark()
				field.SetFloat(f)
				return nil
			})
		case reflect.Int64: // time.Duration
			placeholderFunc(fs, name, "duration", help, func(s string) error {
				d, err := time.ParseDuration(s)
				if err != nil {
					return errors.New("not a duration such as 500ms or 2s")
				}
				mark()
				field.SetInt(int64(d))
				return nil
			})
		case reflect.String:
			placeholderFunc(fs, name, "string", help, func(s string) error {
				mark()
				field.SetString(s)
				return nil
			})
		default:
			panic("specFlags: no flag type for Spec field " + f.Name)
		}
	}
	return set
}

// acceptingKinds lists the kinds that accept an optional field, or ""
// when every kind does.
func acceptingKinds(field string) string {
	var names []string
	for _, k := range probe.Kinds() {
		if slices.Contains(k.Fields, field) {
			names = append(names, k.Name)
		}
	}
	return strings.Join(names, ", ")
}

// flagError rewrites a probe configuration error in terms of flags.
func flagError(err error, set map[string]string) string {
	fe, ok := errors.AsType[*probe.FieldError](err)
	if !ok {
		return err.Error()
	}
	switch fe.Field {
	case "type":
		return fe.Msg
	case "address":
		return "TARGET " + fe.Msg
	}
	name, ok := set[fe.Field]
	if !ok {
		name = strings.ReplaceAll(fe.Field, "_", "-")
	}
	return "--" + name + " " + fe.Msg
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positional arguments.
// Everything after "--" is positional, flags included.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func probeHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, probeUsage)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Runs one check and prints: time, PASS/WARN/FAIL, latency in milliseconds, reason.")
	fmt.Fprintln(w, "Exit status of the last run, as monitoring plugins (Nagios) and the exec check")
	fmt.Fprintln(w, "read it: 0 PASS, 1 WARN, 2 FAIL; 3 on bad input (nothing was checked).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "types:")
	for _, k := range probe.Kinds() {
		fmt.Fprintf(w, "  %-12s %s\n", k.Name, k.Summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "flags ([...] lists the types that accept a flag):")
	printFlags(w, fs)
}
