package statuspage

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultMaxSubscribers = 32
	// MaxSubscribersLimit is the most MaxSubscribers a configuration may
	// ask for: each stream holds a connection and a goroutine and gets
	// every change, and the admin endpoints take at most 256 connections
	// per listener.
	MaxSubscribersLimit = 1024
	DefaultWriteTimeout = 5 * time.Second
	DefaultInterval     = 250 * time.Millisecond
	DefaultKeepalive    = 15 * time.Second
)

// Options tune a Broadcaster. Zero values take the defaults.
type Options struct {
	// MaxSubscribers caps the event streams open at once; one more is
	// answered 503 with Retry-After. Default 32.
	MaxSubscribers int
	// WriteTimeout bounds each message's write and flush: a subscriber
	// that does not take a message in this time is dropped. Default 5 s.
	WriteTimeout time.Duration
	// Interval is how often the snapshot is built while anyone listens.
	// Default 250 ms.
	Interval time.Duration
	// Keepalive is how often an idle stream gets a comment line so that
	// proxies keep it open. Default 15 s.
	Keepalive time.Duration
	// Subscribers, when set, follows the number of open streams, and
	// Dropped counts streams dropped because a message's write timed out.
	// The caller registers them.
	Subscribers prometheus.Gauge
	Dropped     prometheus.Counter
}

// Broadcaster serves one process's event streams. While anyone listens,
// one goroutine builds the snapshot of each key (the lb's admin modes)
// once per interval and encodes it once; when the data changed (the
// page's Time does not count) all subscribers of that key get the same
// encoded message. Each write has a deadline, so a reader that stalls is
// dropped instead of holding memory and a goroutine.
type Broadcaster struct {
	snap func(key string) Page
	opt  Options

	mu      sync.Mutex
	subs    map[string]map[*subscriber]struct{} // by key
	n       int                                 // len of all of subs
	last    map[string]*message                 // newest message by key, while the key has subscribers
	running bool                                // the build loop runs
	wake    chan struct{}                       // asks the loop to build at once

	encodes atomic.Int64 // snapshots encoded, for tests
}

// message is one encoded event, shared by all subscribers of its key.
type message struct {
	data  []byte // "data: {...}\n\n"
	plain []byte // the encoding without the time, to detect changes
}

type subscriber struct {
	key string
	ch  chan *message // newest undelivered message; capacity 1
}

// NewBroadcaster returns a Broadcaster of snap's pages.
func NewBroadcaster(snap func(key string) Page, opt Options) *Broadcaster {
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = DefaultMaxSubscribers
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = DefaultWriteTimeout
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Keepalive <= 0 {
		opt.Keepalive = DefaultKeepalive
	}
	return &Broadcaster{snap: snap, opt: opt, subs: map[string]map[*subscriber]struct{}{}, last: map[string]*message{}, wake: make(chan struct{}, 1)}
}

// SetMaxSubscribers changes the cap on open streams (n <= 0: the
// default); streams already open over a lower cap stay.
func (b *Broadcaster) SetMaxSubscribers(n int) {
	if n <= 0 {
		n = DefaultMaxSubscribers
	}
	b.mu.Lock()
	b.opt.MaxSubscribers = n
	b.mu.Unlock()
}

// Subscribers is the number of open streams.
func (b *Broadcaster) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// ServeHTTP streams the pages of key as server-sent events until the
// client goes away or stops reading: the newest page at once, then each
// change, and a ": ping" comment line every Keepalive.
func (b *Broadcaster) ServeHTTP(w http.ResponseWriter, r *http.Request, key string) {
	s := b.subscribe(key)
	if s == nil {
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Connection", "close")
		http.Error(w, "too many event subscribers; try again later", http.StatusServiceUnavailable)
		return
	}
	defer b.unsubscribe(s)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(p []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(b.opt.WriteTimeout))
		_, err := w.Write(p)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && b.opt.Dropped != nil {
				b.opt.Dropped.Inc()
			}
			return false
		}
		return true
	}
	ping := time.NewTicker(b.opt.Keepalive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-s.ch:
			if !send(m.data) {
				return
			}
			ping.Reset(b.opt.Keepalive)
		case <-ping.C:
			if !send([]byte(": ping\n\n")) {
				return
			}
		}
	}
}

// subscribe adds a subscriber of key, primed with the newest message; nil
// when the cap is reached.
func (b *Broadcaster) subscribe(key string) *subscriber {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n >= b.opt.MaxSubscribers {
		return nil
	}
	s := &subscriber{key: key, ch: make(chan *message, 1)}
	if b.subs[key] == nil {
		b.subs[key] = map[*subscriber]struct{}{}
	}
	b.subs[key][s] = struct{}{}
	b.n++
	if b.opt.Subscribers != nil {
		b.opt.Subscribers.Inc()
	}
	if m := b.last[key]; m != nil {
		s.ch <- m
	} else {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	if !b.running {
		b.running = true
		go b.loop()
	}
	return s
}

func (b *Broadcaster) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs[s.key], s)
	if len(b.subs[s.key]) == 0 {
		delete(b.subs, s.key)
		delete(b.last, s.key)
	}
	b.n--
	if b.opt.Subscribers != nil {
		b.opt.Subscribers.Dec()
	}
	if b.n == 0 { // let the loop end now
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// loop builds and delivers the pages while anyone listens, and ends when
// no one does.
func (b *Broadcaster) loop() {
	tick := time.NewTicker(b.opt.Interval)
	defer tick.Stop()
	for {
		b.mu.Lock()
		if b.n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		keys := make([]string, 0, len(b.subs))
		for k := range b.subs {
			keys = append(keys, k)
		}
		b.mu.Unlock()
		for _, k := range keys {
			b.build(k)
		}
		select {
		case <-tick.C:
		case <-b.wake:
		}
	}
}

// build encodes key's page and hands it to key's subscribers when it
// differs from the last one sent, ignoring the page's Time.
func (b *Broadcaster) build(key string) {
	p := b.snap(key)
	at := p.Time
	p.Time = time.Time{}
	plain, err := json.Marshal(p)
	if err != nil {
		return
	}
	b.encodes.Add(1)
	b.mu.Lock()
	prev := b.last[key]
	b.mu.Unlock()
	if prev != nil && bytes.Equal(prev.plain, plain) {
		return
	}
	p.Time = at
	full, err := json.Marshal(p)
	if err != nil {
		return
	}
	m := &message{plain: plain, data: append(append(append(make([]byte, 0, len(full)+8), "data: "...), full...), "\n\n"...)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[key] == nil {
		return // the last subscriber left meanwhile
	}
	b.last[key] = m
	for s := range b.subs[key] {
		select { // replace an undelivered older message
		case <-s.ch:
		default:
		}
		s.ch <- m
	}
}
