package yamlconf

import "testing"

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"0.0.0.0:8081": true, "127.0.0.1:0": true, "[::]:8081": true, "[::1]:1": true, ":8081": true,
		"localhost:65535": true, "db-1.example.com:8081": true, "[fe80::1%eth0]:8081": true,
		"127.0.0.1:70000": false, "127.0.0.1:-5": false, "999.1.1.1:abc": false, "999.1.1.1:8081": false,
		"foo bar:8081": false, "8081": false, "::1:8081": false, "127.0.0.1:": false, "127.0.0.1:00": false,
	} {
		if err := CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}
