//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// Built only with -tags pprof, for bench/checkin.sh: PATCHBAY_PPROF=ADDR
// serves net/http/pprof on ADDR (keep it on loopback) so the benchmark can
// take a CPU profile of the server under load. Release builds carry none
// of this.
func init() {
	if addr := os.Getenv("PATCHBAY_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
