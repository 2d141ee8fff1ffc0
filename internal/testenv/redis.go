package testenv

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a private redis-server started by StartRedis, on 127.0.0.1:Port
// with persistence off. It runs as the current user.
//
// Its methods serialize with each other and with cleanup; call them from the
// test goroutine, since they call t.Fatal on failure.
type Redis struct {
	Addr     string // "127.0.0.1:Port"
	Port     int    // TCP port on 127.0.0.1
	Password string // requirepass; "" unless WithRedisPassword
	Dir      string // working directory (--dir)
	LogFile  string // the server's stdout
	PID      int    // redis-server's PID; updated by Restart

	cfg redisConfig

	lifecycle // Stop, Kill, Restart, Pause, Resume
}

// RedisOption configures StartRedis.
type RedisOption func(*redisConfig)

type redisConfig struct {
	password string
	settings []setting // more --name value options, after the defaults
}

// WithRedisPassword makes the server require password (requirepass).
func WithRedisPassword(password string) RedisOption {
	return func(c *redisConfig) { c.password = password }
}

// WithRedisSetting adds the server option --name value, for example
// WithRedisSetting("maxclients", "10").
func WithRedisSetting(name, value string) RedisOption {
	return func(c *redisConfig) { c.settings = append(c.settings, setting{name, value}) }
}

// StartRedis starts a private redis-server on a free port with
// --bind 127.0.0.1 --save "" --appendonly no and DEBUG enabled for local
// connections (DEBUG SLEEP makes a slow server), waits until it answers
// PING, and registers a cleanup that stops it and removes its files. It
// skips the test if redis-server is not installed (see Need).
func StartRedis(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	Need(t, "redis-server")
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	base := makeBase(t, "redis", nil)
	port := FreePort(t)
	r := &Redis{
		Addr:     "127.0.0.1:" + strconv.Itoa(port),
		Port:     port,
		Password: cfg.password,
		Dir:      base,
		LogFile:  filepath.Join(base, "redis.log"),
		cfg:      cfg,
	}
	r.label, r.stopSig, r.start = describe("redis", r.Addr), syscall.SIGTERM, r.launch
	t.Cleanup(func() { r.stopForCleanup(t) })
	start := time.Now()
	r.startLocked(t)
	t.Logf("redis %s ready in %s (pid %d)", r.Addr, time.Since(start).Round(time.Millisecond), r.PID)
	return r
}

func (r *Redis) args() []string {
	args := []string{
		"--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.Dir,
		"--daemonize", "no",
		"--logfile", "",
		"--enable-debug-command", "local",
	}
	if r.Password != "" {
		args = append(args, "--requirepass", r.Password)
	}
	for _, s := range r.cfg.settings {
		args = append(args, "--"+s.name, s.value)
	}
	return args
}

// launch starts redis-server and waits until it answers PING. r.mu must be
// held.
func (r *Redis) launch(t testing.TB) {
	t.Helper()
	bin, err := LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	proc, err := startProcess("redis-server", bin, r.args(), nil, r.Dir, r.LogFile)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	r.proc = proc
	if err := proc.poll(r.ping); err != nil {
		t.Fatalf("redis: %v", err)
	}
	r.PID = proc.pid()
}

// ping sends AUTH (if a password is set) and PING and expects +PONG.
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	if r.Password != "" {
		if _, err := fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(r.Password), r.Password); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil {
			return err
		} else if line != "+OK" {
			return fmt.Errorf("AUTH: %q", line)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := readLine(br)
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// readLine reads one CRLF-terminated reply line of at most 4 KiB.
func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for sb.Len() < 4096 {
		line, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		sb.Write(line)
		if !isPrefix {
			return sb.String(), nil
		}
	}
	return "", fmt.Errorf("reply line longer than 4096 bytes")
}
