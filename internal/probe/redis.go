package probe

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisCheck connects to Redis on a fresh connection, logs in when a user
// or password is set, and sends PING.
type redisCheck struct {
	addr     string
	user     string // ACL user; "" for the default user
	password Secret
	want     string // the PING reply that passes: PONG, or the spec's expect
	timeout  time.Duration
}

// quietRedis silences go-redis, whose logger is global and writes to stderr:
// a probe does not log. It runs once, from the first New of a redis check.
var quietRedis sync.Once

// newRedis builds a redis check.
func newRedis(s Spec) (checker, error) {
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	want := "PONG"
	if s.Expect != "" {
		want = s.Expect
	}
	quietRedis.Do(func() { redis.SetLogger(&logging.VoidLogger{}) })
	return &redisCheck{addr: s.Address, user: s.User, password: pw, want: want, timeout: s.Timeout}, nil
}

// check implements checker.
func (c *redisCheck) check(ctx context.Context) (string, error) {
	// Dial here rather than in go-redis: the connect step gets its own
	// reason, and go-redis never sees a failed dial, which it would retry
	// and then keep redialing from a background goroutine.
	run := newDBRun(ctx)
	nc, err := run.dial(ctx, "tcp", c.addr)
	if err != nil {
		return "", step("connect "+c.addr, err)
	}
	defer nc.Close()
	var handedOver, ready atomic.Bool
	client := redis.NewClient(&redis.Options{
		Addr: c.addr,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			if handedOver.Swap(true) {
				return nil, errors.New("one connection per run")
			}
			return nc, nil
		},
		// OnConnect runs once the handshake (HELLO, and AUTH when it is
		// needed) has succeeded: what fails after it fails in PING.
		OnConnect: func(context.Context, *redis.Conn) error {
			ready.Store(true)
			return nil
		},
		Username:     c.user,
		Password:     string(c.password),
		Protocol:     2,
		DialTimeout:  c.timeout,
		ReadTimeout:  c.timeout,
		WriteTimeout: c.timeout,
		// The check's deadline bounds every read and write.
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		PoolSize:              1,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	defer client.Close()

	reply, err := client.Ping(ctx).Result()
	if err != nil {
		return "", c.pingError(err, ready.Load())
	}
	if reply != c.want {
		return "", mismatch("reply %s, want %s", quoteValue(reply), quoteValue(c.want))
	}
	return reply, nil
}

// pingError explains a failed handshake or PING. Refused credentials read
// "login: WRONGPASS …", other error replies `reply "LOADING …"`.
func (c *redisCheck) pingError(err error, ready bool) error {
	if re, ok := errors.AsType[redis.Error](err); ok {
		msg := re.Error()
		if !ready || strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS") {
			return mismatch("login: %s", msg)
		}
		return mismatch("reply %s", quoteValue(msg))
	}
	switch {
	case ready:
		return step("PING", err)
	case c.user != "" || c.password != "":
		return step("login", err)
	default:
		return step("handshake", err)
	}
}
