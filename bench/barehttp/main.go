// Command barehttp is the baseline for bench/agent.sh: the smallest
// net/http server that answers every request with 200 "ok".
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18080", "address to listen on")
	flag.Parse()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
