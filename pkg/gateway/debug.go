package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// The debug listener serves the Go runtime's profiles and a memory summary,
// for test/bench/gateway-bench.sh and for finding where a gateway's time
// and memory go. It is off unless --debug-listen is given, and only on a
// loopback address: profiles say a lot about the process (command lines,
// symbols, timings) and have no authentication.

// checkDebugListen accepts "" (off) or a loopback host:port.
func checkDebugListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %q: want a loopback HOST:PORT such as 127.0.0.1:6060: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--debug-listen %q: only a loopback address is allowed (127.0.0.1:PORT or [::1]:PORT); the profiles have no authentication", addr)
	}
	return nil
}

// debugHandler serves /debug/pprof/ and /debug/memstats.
func (g *Gateway) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/memstats", g.serveMemStats)
	return mux
}

// memStats is the summary /debug/memstats answers with.
type memStats struct {
	Sessions     int64  `json:"sessions"`
	Goroutines   int    `json:"goroutines"`
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapSys      uint64 `json:"heap_sys"`
	StackInuse   uint64 `json:"stack_inuse"`
	Sys          uint64 `json:"sys"`
	TotalAlloc   uint64 `json:"total_alloc"`
	NumGC        uint32 `json:"num_gc"`
	PauseTotalNs uint64 `json:"pause_total_ns"`
}

// serveMemStats answers with the runtime's memory figures; ?gc=1 collects
// first, so that HeapAlloc is what is live.
func (g *Gateway) serveMemStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := memStats{
		Sessions: g.Active(), Goroutines: runtime.NumGoroutine(),
		HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, HeapSys: m.HeapSys, StackInuse: m.StackInuse,
		Sys: m.Sys, TotalAlloc: m.TotalAlloc, NumGC: m.NumGC, PauseTotalNs: m.PauseTotalNs,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// serveDebug serves the debug handler on addr until ctx ends.
func (g *Gateway) serveDebug(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: g.debugHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	g.logf("debug listener (pprof, memstats) on http://%s/debug/", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.logf("debug listener: %v", err)
		}
	}()
	return nil
}
