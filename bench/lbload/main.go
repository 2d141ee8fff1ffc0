// Command lbload is bench/lb.sh's backend and load generator.
//
//	lbload backend -listen 127.0.0.1:9000
//	lbload bulk -addr 127.0.0.1:8000 -conns 8 -bytes 1073741824   # prints MiB/s
//	lbload short -addr 127.0.0.1:8000 -conns 32 -duration 10s     # prints connections/s
//	lbload idle -addr 127.0.0.1:8000 -conns 10000 -hold 5s        # prints "ready N", holds, exits
//
// The backend reads one byte: 'b' (bulk) discards until EOF then answers
// "k"; 's' (short) answers "k" at once; either way it then closes. 'i'
// (idle) answers "k" and keeps the connection until the client closes it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lbload backend|bulk|short [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "backend address")
	addr := fs.String("addr", "", "address to load")
	conns := fs.Int("conns", 8, "concurrent connections")
	total := fs.Int64("bytes", 1<<30, "bulk: bytes to send in all")
	dur := fs.Duration("duration", 10*time.Second, "short: how long")
	hold := fs.Duration("hold", 5*time.Second, "idle: how long to hold the connections once all are open")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "backend":
		backend(*listen)
	case "bulk":
		bulk(*addr, *conns, *total)
	case "short":
		short(*addr, *conns, *dur)
	case "idle":
		idle(*addr, *conns, *hold)
	}
}

func backend(listen string) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			switch b[0] {
			case 'b':
				io.Copy(io.Discard, c)
			case 'i':
				c.Write([]byte("k"))
				io.Copy(io.Discard, c)
				return
			}
			c.Write([]byte("k"))
		}()
	}
}

func bulk(addr string, conns int, total int64) {
	per := total / int64(conns)
	buf := make([]byte, 256<<10)
	buf[0] = 'b'
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			for left := per; left > 0; {
				n := min(left, int64(len(buf)))
				if _, err := c.Write(buf[:n]); err != nil {
					failed.Add(1)
					return
				}
				left -= n
			}
			c.(*net.TCPConn).CloseWrite()
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("%.1f\n", float64(per*int64(conns))/el/(1<<20))
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "%d failed\n", failed.Load())
	}
}

func short(addr string, conns int, dur time.Duration) {
	var done, failed atomic.Int64
	end := time.Now().Add(dur)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			b := make([]byte, 1)
			for time.Now().Before(end) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.(*net.TCPConn).SetLinger(0)
				_, err = c.Write([]byte("s"))
				if err == nil {
					_, err = io.ReadFull(c, b)
				}
				c.Close()
				if err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%.0f\n", float64(done.Load())/dur.Seconds())
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "%d failed\n", failed.Load())
	}
}

// idle opens conns connections (64 at a time), each sending 'i' and
// reading the answer, so that every one is an established session
// through a proxy; prints "ready N" once all are open, holds them for
// hold, and closes them. Any connection that fails makes it exit 1.
func idle(addr string, conns int, hold time.Duration) {
	cs := make([]net.Conn, conns)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			b := make([]byte, 1)
			for {
				i := int(next.Add(1) - 1)
				if i >= conns {
					return
				}
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = c.Write([]byte("i"))
				if err == nil {
					_, err = io.ReadFull(c, b)
				}
				if err != nil {
					failed.Add(1)
					c.Close()
					continue
				}
				c.SetDeadline(time.Time{})
				cs[i] = c
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d connections failed\n", n, conns)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", conns)
	time.Sleep(hold)
	for _, c := range cs {
		c.Close()
	}
}
