package testenv_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"vitals/internal/testenv"
)

func TestCountingProxy(t *testing.T) {
	// An echo server behind the proxy.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					c.Write([]byte(line))
				}
			}()
		}
	}()
	p := testenv.StartCountingProxy(t, ln.Addr().String())
	for i := range 3 {
		c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || got != "ping\n" {
			t.Fatalf("connection %d: echo %q, %v; want ping", i+1, got, err)
		}
	}
	if n := p.Accepted(); n != 3 {
		t.Errorf("Accepted() = %d after 3 connections, want 3", n)
	}
}
