package adminhttp

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ListenUnix listens on a unix socket that only the owner may use (mode
// 0600), creating its directory if need be. The socket is bound under
// umask 0177, so it is never reachable by others, not even between bind
// and a chmod. A socket file left by a process that died is replaced; one
// that still answers is an error naming prog (e.g. "vitals lb").
//
// The umask is process-wide: call ListenUnix before goroutines that create
// files start, or accept that a file they create in that instant gets mode
// 0600 at most.
func ListenUnix(path, prog string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use: is another %s running?", path, prog)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	// Belt and braces: the mode is 0600 already unless the file system
	// ignores the umask.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
