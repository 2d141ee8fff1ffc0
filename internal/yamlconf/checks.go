package yamlconf

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecondDocument reports whether dec, which has decoded the configuration,
// holds another YAML document, and the line where it starts. A config is
// one document: a second is refused rather than silently ignored.
func SecondDocument(dec *yaml.Decoder) (line int, found bool) {
	var extra yaml.Node
	err := dec.Decode(&extra)
	switch {
	case err == nil:
		return extra.Line, true
	case errors.Is(err, io.EOF):
		return 0, false
	}
	l, _ := Explain(err, nil, "")
	return l, true
}

// Has reports whether the node at a path of mapping keys and sequence
// indexes (as in LineOf) is present in the document, so that "omitted"
// (the default) and an explicit zero can be told apart.
func Has(root *yaml.Node, path ...any) bool {
	if root == nil {
		return false
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return false
			}
			var next *yaml.Node
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == p {
					next = n.Content[k+1]
					break
				}
			}
			if next == nil {
				return false
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || p < 0 || p >= len(n.Content) {
				return false
			}
			n = n.Content[p]
		}
	}
	return true
}

// hostName is a DNS name whose last label is not all digits, so that
// 999.1.1.1 is not taken for a name.
var hostName = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9-]*[A-Za-z-][A-Za-z0-9-]*\.?$`)

// CheckListen checks an address to listen on: host:port with a port from 1
// to 65535 (or 0, which picks a free port: tests and the demo use it) and a host that is empty (every interface), an IP address or a
// host name. The error says what is wrong in words that follow the
// quoted address, e.g. `"127.0.0.1:70000" has port 70000; ...`.
func CheckListen(addr string) error {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return fmt.Errorf("%q is not host:port", addr)
	}
	host, port := addr[:i], addr[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return fmt.Errorf("%q is not host:port (write an IPv6 address in brackets, e.g. [::1]:8081)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || (n == 0 && port != "0") {
		return fmt.Errorf("%q has port %q; a port is a number from 1 to 65535", addr, port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if len(host) <= 253 && hostName.MatchString(host) {
		return nil
	}
	return fmt.Errorf("%q has host %q, which is not an IP address or host name", addr, host)
}
