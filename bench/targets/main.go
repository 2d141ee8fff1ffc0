// Command targets is the backend side of bench/monitor.sh: many loopback
// ports that health checks can hit as cheaply as possible. HTTP ports read
// a request head and answer "200 OK" with no body, then close; TCP ports
// accept and close. Counters of answered HTTP requests and accepted TCP
// connections are served as text at http://CONTROL/count, so the benchmark
// can count the checks of any checker, HAProxy's included.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

var httpReply = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

func main() {
	var (
		httpBase  = flag.Int("http-base", 20000, "first HTTP port")
		httpPorts = flag.Int("http-ports", 100, "number of HTTP ports")
		tcpBase   = flag.Int("tcp-base", 21000, "first TCP port")
		tcpPorts  = flag.Int("tcp-ports", 100, "number of TCP ports")
		control   = flag.String("control", "127.0.0.1:19999", "address of the /count endpoint")
	)
	flag.Parse()
	var httpCount, tcpCount atomic.Int64
	for i := range *httpPorts {
		ln := listen(*httpBase + i)
		go serve(ln, func(c net.Conn) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1024)
			n := 0
			for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				if n == len(buf) {
					return
				}
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
			}
			if _, err := c.Write(httpReply); err == nil {
				httpCount.Add(1)
			}
		})
	}
	for i := range *tcpPorts {
		ln := listen(*tcpBase + i)
		go serve(ln, func(c net.Conn) {
			tcpCount.Add(1)
			c.Close()
		})
	}
	http.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		h, t := httpCount.Load(), tcpCount.Load()
		fmt.Fprintf(w, "http %d\ntcp %d\ntotal %d\n", h, t, h+t)
	})
	log.Printf("targets: HTTP on 127.0.0.1:%d-%d, TCP on 127.0.0.1:%d-%d, counts at http://%s/count",
		*httpBase, *httpBase+*httpPorts-1, *tcpBase, *tcpBase+*tcpPorts-1, *control)
	log.Fatal(http.ListenAndServe(*control, nil))
}

func listen(port int) net.Listener {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func serve(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(c)
	}
}
