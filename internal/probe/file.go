package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileCheck fails while a file exists: a maintenance flag that an operator
// creates (touch /var/tmp/clustercheck.disabled) to take a backend out of
// service without stopping it, and removes to bring it back.
type fileCheck struct {
	path string // absolute
}

func newFile(s Spec) (checker, error) {
	switch {
	case s.Path == "":
		return nil, &FieldError{Field: "path", Msg: "is required"}
	case !filepath.IsAbs(s.Path):
		return nil, &FieldError{Field: "path", Msg: fmt.Sprintf("%q is not an absolute path", s.Path)}
	}
	return &fileCheck{path: filepath.Clean(s.Path)}, nil
}

// check stats the path, following symbolic links as test -e does, so a
// link to a missing file counts as absent. Reasons:
//
//	no file /var/tmp/x                  (pass)
//	maintenance file /var/tmp/x exists  (fail)
//	stat /var/tmp/x: permission denied  (fail: any other stat error)
func (c *fileCheck) check(ctx context.Context) (string, error) {
	_, err := os.Stat(c.path)
	switch {
	case err == nil:
		return "", mismatch("maintenance file %s exists", c.path)
	case errors.Is(err, fs.ErrNotExist):
		return "no file " + c.path, nil
	default:
		return "", step("stat "+c.path, unwrapPathErr(err))
	}
}
