package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"vitals/internal/lb"
	"vitals/internal/lbyaml"
	"vitals/internal/store/sqlite"
)

const (
	lbImportUsage = "usage: vitals lb import FILE --db PATH"
	lbImportHelp  = `Loads the load balancer a vitals lb YAML file describes into the store that
'vitals lb --db PATH' runs from (a SQLite file, created when missing). The
file is the truth for the load balancer it names: objects are matched by
their IDs (derived from the names, as file mode shows them), created,
updated or deleted to match it, and other load balancers in the store stay.
Importing the same file twice writes nothing the second time. A running
vitals lb --db applies the import at once. Exit 2 when the file is invalid
(the same check as --check-config), 1 when the store refuses it.`
)

func lbImportFlags() *flag.FlagSet { fs, _ := lbImportFlagSet(); return fs }

func lbImportFlagSet() (*flag.FlagSet, *string) {
	fs := newFlagSet("vitals lb import")
	return fs, fs.String("db", "", "the store's SQLite `file` (required)")
}

// runLBImport runs `vitals lb import FILE --db PATH`.
func runLBImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := lbCmd{name: "vitals lb import", usage: lbImportUsage, want: "FILE", stdout: stdout, stderr: stderr}
	fs, db := lbImportFlagSet()
	pos, code, done := c.parse(fs, args, lbImportHelp, 1, 1)
	if done {
		return code
	}
	if *db == "" {
		return c.bad("missing --db PATH (%s)", lbImportUsage)
	}
	_, tree, err := lbyaml.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		if _, ok := errors.AsType[*lb.ConfigError](err); ok {
			return exitUsage
		}
		return exitFail
	}
	s, err := sqlite.Open(ctx, *db)
	if err != nil {
		fmt.Fprintf(stderr, "vitals lb import: open the store: %v\n", err)
		return exitFail
	}
	defer s.Close()
	ch, err := lbyaml.Import(ctx, s, tree)
	if err != nil {
		fmt.Fprintf(stderr, "vitals lb import: %s into %s: %v\n", pos[0], *db, err)
		return exitFail
	}
	if !ch.Any() {
		fmt.Fprintf(stdout, "nothing changed: %s already holds %s\n", *db, pos[0])
		return exitOK
	}
	fmt.Fprintf(stdout, "imported %s into %s: %d created, %d updated, %d deleted\n", pos[0], *db, ch.Created, ch.Updated, ch.Deleted)
	return exitOK
}
