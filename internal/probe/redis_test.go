package probe

import (
	"bufio"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestRedis(t *testing.T) {
	testenv.Need(t, "redis-server")
	rd := testenv.StartRedis(t)
	spec := Spec{Address: rd.Addr, Timeout: passTimeout}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "redis", s), s.Timeout)
	}

	t.Run("pass", func(t *testing.T) {
		wantResult(t, run(t, spec), Pass, "PONG")
	})

	t.Run("expect", func(t *testing.T) {
		s := spec
		s.Expect = "PANG"
		wantResult(t, run(t, s), Fail, `reply "PONG", want "PANG"`)
		s.Expect = "PONG"
		wantResult(t, run(t, s), Pass, "PONG")
	})

	t.Run("paused", func(t *testing.T) {
		rd.Pause(t)
		resumed := false
		defer func() {
			if !resumed {
				rd.Resume(t)
			}
		}()
		s := spec
		s.Timeout = dbTimeout
		wantTimeout(t, run(t, s), dbTimeout, "handshake")
		wantTCPPasses(t, rd.Addr)
		rd.Resume(t)
		resumed = true
		wantResult(t, run(t, spec), Pass, "PONG")
	})

	t.Run("killed", func(t *testing.T) {
		rd.Kill(t)
		wantResult(t, run(t, spec), Fail, "connect "+rd.Addr+": connection refused")
		rd.Restart(t)
		wantResult(t, run(t, spec), Pass, "PONG")
	})
}

func TestRedisPassword(t *testing.T) {
	testenv.Need(t, "redis-server")
	const pw = "Redis-Pw-4711"
	rd := testenv.StartRedis(t, testenv.WithRedisPassword(pw))
	spec := func(mod func(*Spec)) Spec {
		s := Spec{Address: rd.Addr, Timeout: passTimeout, Password: pw}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	run := func(t *testing.T, s Spec) Result {
		t.Helper()
		return runBounded(t, mustProbe(t, "redis", s), s.Timeout)
	}
	var reasons []string
	fail := func(t *testing.T, s Spec, reason string) {
		t.Helper()
		r := run(t, s)
		wantResult(t, r, Fail, reason)
		reasons = append(reasons, r.Reason)
	}

	t.Run("right password", func(t *testing.T) {
		wantResult(t, run(t, spec(nil)), Pass, "PONG")
	})
	t.Run("password_file", func(t *testing.T) {
		wantResult(t, run(t, spec(func(s *Spec) { s.Password, s.PasswordFile = "", passwordFile(t, pw) })), Pass, "PONG")
	})
	t.Run("password_env", func(t *testing.T) {
		t.Setenv("VITALS_TEST_REDIS_PASSWORD", pw)
		wantResult(t, run(t, spec(func(s *Spec) { s.Password, s.PasswordEnv = "", "VITALS_TEST_REDIS_PASSWORD" })), Pass, "PONG")
	})
	t.Run("no password", func(t *testing.T) {
		fail(t, spec(func(s *Spec) { s.Password = "" }), "login: NOAUTH Authentication required.")
	})
	t.Run("wrong password", func(t *testing.T) {
		fail(t, spec(func(s *Spec) { s.Password = "wrong-" + pw }),
			"login: WRONGPASS invalid username-password pair or user is disabled.")
	})
	t.Run("unknown user", func(t *testing.T) {
		fail(t, spec(func(s *Spec) { s.User = "nobody" }),
			"login: WRONGPASS invalid username-password pair or user is disabled.")
	})
	t.Run("paused", func(t *testing.T) {
		rd.Pause(t)
		resumed := false
		defer func() {
			if !resumed {
				rd.Resume(t)
			}
		}()
		r := run(t, spec(func(s *Spec) { s.Timeout = dbTimeout }))
		wantTimeout(t, r, dbTimeout, "login")
		reasons = append(reasons, r.Reason)
		wantTCPPasses(t, rd.Addr)
		rd.Resume(t)
		resumed = true
		wantResult(t, run(t, spec(nil)), Pass, "PONG")
	})
	t.Run("password never in reasons", func(t *testing.T) {
		addr := refusedAddr(t)
		fail(t, spec(func(s *Spec) { s.Address = addr }), "connect "+addr+": connection refused")
		t.Logf("reasons: %q", reasons)
		wantNoSecret(t, reasons, pw, "wrong-"+pw)
	})
}

// fakeRedis reads RESP commands and answers each with answer(name), where
// name is the command in upper case; an empty answer closes the connection.
func fakeRedis(answer func(name string) string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			// A command is an array: *N, then N bulk strings ($len, data).
			line, err := br.ReadString('\n')
			if err != nil || len(line) < 4 || line[0] != '*' {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
			if err != nil {
				return
			}
			var args []string
			for range n {
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
				arg, err := br.ReadString('\n')
				if err != nil {
					return
				}
				args = append(args, strings.TrimSpace(arg))
			}
			reply := ""
			if len(args) > 0 {
				reply = answer(strings.ToUpper(args[0]))
			}
			if reply == "" {
				return
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
	}
}

// pingReply is a fake Redis that knows no HELLO (as before Redis 6) and
// answers PING with reply.
func pingReply(reply string) func(net.Conn) {
	return fakeRedis(func(name string) string {
		if name == "HELLO" {
			return "-ERR unknown command 'HELLO'\r\n"
		}
		return reply
	})
}

func TestRedisPeers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name   string
		addr   string
		spec   Spec
		status Status
		reason string
	}{
		{"pass without HELLO", serveTCP(t, pingReply("+PONG\r\n")), Spec{}, Pass, "PONG"},
		{"loading", serveTCP(t, pingReply("-LOADING Redis is loading the dataset in memory\r\n")), Spec{},
			Fail, `reply "LOADING Redis is loading the dataset in memory"`},
		{"other reply", serveTCP(t, pingReply("+PANG\r\n")), Spec{}, Fail, `reply "PANG", want "PONG"`},
		{"closes at PING", serveTCP(t, pingReply("")), Spec{}, Fail, "PING: connection closed by peer"},
		{"closes at HELLO", serveTCP(t, fakeRedis(func(string) string { return "" })), Spec{}, Fail, "handshake: connection closed by peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.Address, s.Timeout = tt.addr, timeout
			r := runBounded(t, mustProbe(t, "redis", s), timeout)
			wantResult(t, r, tt.status, tt.reason)
		})
	}
}

func TestRedisHungPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	base := runtime.NumGoroutine()
	t.Run("hung", func(t *testing.T) {
		s := Spec{Address: hungPeer(t), Timeout: timeout}
		wantTimeout(t, runBounded(t, mustProbe(t, "redis", s), timeout), timeout, "handshake")
		s.Password = "pw"
		wantTimeout(t, runBounded(t, mustProbe(t, "redis", s), timeout), timeout, "login")
	})
	wantGoroutinesBack(t, base)
}
