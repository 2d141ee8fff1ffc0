package lb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

// connLine is one "connection closed" line of the JSON log.
type connLine struct {
	Msg      string  `json:"msg"`
	Level    string  `json:"level"`
	Listener string  `json:"listener"`
	Client   string  `json:"client"`
	Member   string  `json:"member"`
	BytesIn  int64   `json:"bytes_in"`
	BytesOut int64   `json:"bytes_out"`
	Duration float64 `json:"duration"`
	Reason   string  `json:"reason"`
}

// startLoggingLB runs a Server and its engine for yml, logging JSON at
// INFO into the returned buffer.
func startLoggingLB(t *testing.T, yml string) (*Server, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	srv, _, _ := runLB(t, yml, slog.New(slog.NewJSONHandler(logs, nil)))
	return srv, logs
}

// connLines returns the connection log lines written so far.
func connLines(t *testing.T, logs *testenv.SyncBuffer) []connLine {
	t.Helper()
	var out []connLine
	for line := range strings.Lines(logs.String()) {
		var l connLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if l.Msg == "connection closed" {
			out = append(out, l)
		}
	}
	return out
}

// TestConnectionLog: with connection_log: true a listener logs exactly one
// line per client connection as it ends, with the client's address, the
// listener, the member, the bytes each way, the duration in seconds and
// why it ended; a listener without it logs none. Real sessions on
// loopback: a client that closes, a member that closes, an idle timeout,
// a member that refuses every connect.
func TestConnectionLog(t *testing.T) {
	echo := startBackend(t, "echo") // greets "echo\n", then echoes
	bye := startBackend(t, "bye")
	bye.setHandle(func(c net.Conn) { io.WriteString(c, "bye now\n") }) // answers and closes
	gone := startBackend(t, "gone")
	gone.kill() // refuses: nothing listens on its port any more
	ports := [4]int{}
	for i := range ports {
		ports[i] = testenv.FreePort(t)
	}
	_, logs := startLoggingLB(t, fmt.Sprintf(`loadbalancer:
  listeners:
    - {name: echo, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: echo, connection_log: true, timeout_client_data: 400ms}
    - {name: bye, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: bye, connection_log: true}
    - {name: gone, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: gone, connection_log: true, timeout_member_connect: 1s}
    - {name: quiet, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: echo}
  pools:
    - name: echo
      lb_algorithm: ROUND_ROBIN
      members: [{name: e1, address: 127.0.0.1, protocol_port: %d}]
    - name: bye
      lb_algorithm: ROUND_ROBIN
      members: [{name: b1, address: 127.0.0.1, protocol_port: %d}]
    - name: gone
      lb_algorithm: ROUND_ROBIN
      members: [{name: g1, address: 127.0.0.1, protocol_port: %d}]
`, ports[0], ports[1], ports[2], ports[3], echo.port(), bye.port(), gone.port()))
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }

	// 1. The client sends 6 bytes, reads the greeting and its echo, and
	// closes first.
	c, err := net.DialTimeout("tcp", addr(0), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"echo\n", "hello\n"} {
		if got, err := r.ReadString('\n'); got != want || err != nil {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	clientAddr := c.LocalAddr().String()
	c.Close()

	// 2. The member answers and closes first.
	c2, err := net.DialTimeout("tcp", addr(1), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c2); string(b) != "bye now\n" || err != nil {
		t.Fatalf("bye: %q, %v", b, err)
	}
	c2.Close()

	// 3. The client says nothing: timeout_client_data (400ms) ends it.
	c3, err := net.DialTimeout("tcp", addr(0), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c3.SetDeadline(time.Now().Add(5 * time.Second))
	started := time.Now()
	if b, _ := io.ReadAll(c3); string(b) != "echo\n" {
		t.Errorf("idle session got %q before it ended, want the greeting", b)
	}
	idleFor := time.Since(started)
	c3.Close()

	// 4. Every connect to the member is refused.
	c4, err := net.DialTimeout("tcp", addr(2), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c4.SetDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c4)
	c4.Close()

	// 5. A listener without connection_log.
	_, c5, err := hello(addr(3))
	if err != nil {
		t.Fatal(err)
	}
	c5.Close()

	var lines []connLine
	waitFor(t, 5*time.Second, "4 connection log lines", func() bool {
		lines = connLines(t, logs)
		return len(lines) >= 4
	})
	time.Sleep(200 * time.Millisecond) // a fifth line (the quiet listener's) would come now
	lines = connLines(t, logs)
	if len(lines) != 4 {
		t.Fatalf("%d connection log lines, want 4 (one per session on the logging listeners):\n%s", len(lines), logs.String())
	}
	byListener := map[string]connLine{}
	for _, l := range lines {
		if _, dup := byListener[l.Listener+l.Reason]; dup {
			t.Errorf("two lines for listener %s reason %s", l.Listener, l.Reason)
		}
		byListener[l.Listener+l.Reason] = l
		if l.Level != "INFO" {
			t.Errorf("connection log at %s, want INFO: %+v", l.Level, l)
		}
		if host, _, err := net.SplitHostPort(l.Client); err != nil || host != "127.0.0.1" {
			t.Errorf("client %q is not the client's address:port", l.Client)
		}
		if l.Duration < 0 || l.Duration > 10 {
			t.Errorf("duration %v is not seconds of this test", l.Duration)
		}
	}
	want := []connLine{
		{Listener: "echo", Client: clientAddr, Member: "e1", BytesIn: 6, BytesOut: 11, Reason: "client_closed"},
		{Listener: "bye", Member: "b1", BytesIn: 0, BytesOut: 8, Reason: "member_closed"},
		{Listener: "echo", Member: "e1", BytesIn: 0, BytesOut: 5, Reason: "timeout_client_data"},
		{Listener: "gone", Member: "g1", BytesIn: 0, BytesOut: 0, Reason: "connect_failed"},
	}
	for _, w := range want {
		got, ok := byListener[w.Listener+w.Reason]
		if !ok {
			t.Errorf("no line for listener %s with reason %s:\n%s", w.Listener, w.Reason, logs.String())
			continue
		}
		if (w.Client != "" && got.Client != w.Client) || got.Member != w.Member || got.BytesIn != w.BytesIn || got.BytesOut != w.BytesOut {
			t.Errorf("listener %s reason %s: got %+v, want %+v", w.Listener, w.Reason, got, w)
		}
	}
	if l := byListener["echotimeout_client_data"]; l.Duration < 0.4 || l.Duration > idleFor.Seconds()+2 {
		t.Errorf("the idle session lasted %vs by the log, want at least the 0.4s timeout and at most the %s the client saw plus 2s", l.Duration, idleFor)
	}
}

// TestConnectionLogConfig: connection_log is a boolean, off by default.
func TestConnectionLogConfig(t *testing.T) {
	yml := func(v string) string {
		return "loadbalancer:\n  listeners:\n    - {name: l, protocol: TCP, protocol_port: 5432, default_pool: p" + v + "}\n  pools:\n    - {name: p, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: 1}]}\n"
	}
	c, err := Parse("x.yaml", []byte(yml("")))
	if err != nil || c.LoadBalancers[0].Listeners[0].ConnectionLog {
		t.Errorf("default: connection_log %v, %v; want false", c != nil && c.LoadBalancers[0].Listeners[0].ConnectionLog, err)
	}
	if c, err := Parse("x.yaml", []byte(yml(", connection_log: true"))); err != nil || !c.LoadBalancers[0].Listeners[0].ConnectionLog {
		t.Errorf("connection_log: true did not turn it on: %v", err)
	}
	for _, bad := range []string{"maybe", "1", "[true]"} {
		_, err := Parse("x.yaml", []byte(yml(", connection_log: "+bad)))
		if err == nil || !strings.HasPrefix(err.Error(), "x.yaml:3:") {
			t.Errorf("connection_log: %s: %v; want an error on x.yaml line 3", bad, err)
		}
	}
	if _, err := Parse("x.yaml", []byte(yml(", connection_logs: true"))); err == nil || !strings.Contains(err.Error(), "connection_logs") {
		t.Errorf("a misspelt connection_logs: %v; want an error naming it", err)
	}
}

// TestConnectionLogShutdown: a session the lb closes when shutdown_grace
// is over is logged with reason shutdown, its bytes so far and the member.
func TestConnectionLogShutdown(t *testing.T) {
	echo := startBackend(t, "echo")
	port := testenv.FreePort(t)
	srv, logs := startLoggingLB(t, fmt.Sprintf(`loadbalancer:
  listeners:
    - {name: l, protocol: TCP, address: 127.0.0.1, protocol_port: %d, default_pool: p, connection_log: true}
  pools:
    - name: p
      lb_algorithm: ROUND_ROBIN
      members: [{name: e1, address: 127.0.0.1, protocol_port: %d}]
`, port, echo.port()))
	name, c, err := hello(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil || name != "echo" {
		t.Fatalf("hello: %q, %v", name, err)
	}
	defer c.Close()
	srv.Shutdown(100 * time.Millisecond) // returns once every session ended
	lines := connLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d connection log lines, want 1:\n%s", len(lines), logs.String())
	}
	if l := lines[0]; l.Reason != "shutdown" || l.Member != "e1" || l.BytesOut != 5 || l.BytesIn != 0 || l.Client != c.LocalAddr().String() {
		t.Errorf("got %+v, want reason shutdown, member e1, 5 bytes out (the greeting), 0 in, client %s", l, c.LocalAddr())
	}
}
