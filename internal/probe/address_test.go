package probe

import (
	"testing"
	"unsafe"
)

// TestNormalizeAddress: host:port addresses come out in one spelling,
// and one already in it is kept, not copied (an lb holds one per check).
func TestNormalizeAddress(t *testing.T) {
	tcp, ok := Lookup("tcp")
	if !ok {
		t.Fatal("no tcp kind")
	}
	for in, want := range map[string]string{
		"127.0.0.1:80":     "127.0.0.1:80",
		"db.example:5432":  "db.example:5432",
		"[::1]:80":         "[::1]:80",
		"[127.0.0.1]:80":   "127.0.0.1:80",
		"[fe80::1%lo]:443": "[fe80::1%lo]:443",
		"host:080":         "host:080",
	} {
		got, err := tcp.normalizeAddress(in)
		if err != nil || got != want {
			t.Errorf("normalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	in := "127.0.0.1:8080"
	if got, _ := tcp.normalizeAddress(in); unsafe.StringData(got) != unsafe.StringData(in) {
		t.Errorf("normalizeAddress(%q) made a copy", in)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:0", "127.0.0.1:x", ":80", "a b:80"} {
		if got, err := tcp.normalizeAddress(bad); err == nil {
			t.Errorf("normalizeAddress(%q) = %q, want an error", bad, got)
		}
	}
}
