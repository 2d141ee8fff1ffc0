package probe

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// ReadSecretFile reads a small regular file holding a secret, at most
// MaxSecretFile bytes. A file that is not regular (a device, FIFO or
// directory) or is larger is an error that says so; the secret itself is
// never in an error.
func ReadSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path) // before opening: opening a FIFO blocks
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file but " + fileKind(fi.Mode()) + "; point it at a plain file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFile+1))
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if len(b) > MaxSecretFile {
		return nil, errors.New("larger than 64 KiB; it should hold only the password or token")
	}
	return b, nil
}

// fileKind names a file type that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "another kind of file"
}
