// SPDX-License-Identifier: MIT

// rtasync-peer-go-http: HTTP/1.1 plaintext on Go's net/http, the peer of
// rtasync-httpd in rtasync-iobench, written as a Go user would.
//
//	rtasync-peer-go-http [-port PORT] [-p PROCS]
//
// GET / answers "Hello, World!" (text/plain; net/http adds Date and
// Content-Length). -p sets GOMAXPROCS (1 in the benchmark). Prints
// "rtasync-peer-go-http: listening on ADDR:PORT" once it accepts.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	procs := flag.Int("p", 1, "GOMAXPROCS")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtasync-peer-go-http:", err)
		os.Exit(1)
	}
	fmt.Printf("rtasync-peer-go-http: listening on %s\n", ln.Addr())
	hello := []byte("Hello, World!")
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Server"] = []string{"go"}
		h["Content-Type"] = []string{"text/plain"}
		w.Write(hello)
	}
	err = http.Serve(ln, http.HandlerFunc(handler))
	fmt.Fprintln(os.Stderr, "rtasync-peer-go-http:", err)
	os.Exit(1)
}
