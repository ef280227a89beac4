package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The tools of gateway-bench.sh's results: (c) kubectl exec, (b) kubectl
// rexec --via direct, (a) kubectl rexec --via gateway; and the gateway
// with either upstream protocol, for the up_* metrics.
const (
	toolKubectl = "kubectl"
	toolDirect  = "direct"
	toolGateway = "gateway"
	toolUpWS    = "up-websocket"
	toolUpSPDY  = "up-spdy"
)

// target is a metric's unit and, where issue 13 sets one, its bound.
type target struct {
	unit  string
	rule  string
	check func(gateway, kubectl float64) bool // nil: informational
}

var targets = []struct {
	prefix string
	target
}{
	{"throughput", target{"MiB/s", "gateway/kubectl >= 0.9", func(g, k float64) bool { return g/k >= 0.9 }}},
	{"keys_p99", target{"ms", "gateway <= kubectl + 0.5 ms", func(g, k float64) bool { return g <= k+0.5 }}},
	{"keys_p50", target{"ms", "", nil}},
	{"idle_rss", target{"KiB", "<= 1024 KiB per session", func(g, _ float64) bool { return g <= 1024 }}},
	{"idle_heap", target{"KiB", "<= 1024 KiB per session", func(g, _ float64) bool { return g <= 1024 }}},
	{"idle_goroutines", target{"goroutines", "", nil}},
	{"idle", target{"KiB", "", nil}},
	{"cpu", target{"s/GiB", "", nil}},
	{"up_throughput", target{"MiB/s", "", nil}},
	{"up_keys", target{"ms", "", nil}},
	{"up_cpu", target{"s/GiB", "", nil}},
}

func targetFor(metric string) target {
	best, n := target{}, -1
	for _, t := range targets {
		if strings.HasPrefix(metric, t.prefix) && len(t.prefix) > n {
			best, n = t.target, len(t.prefix)
		}
	}
	return best
}

// reportCmd prints, per metric and variant, the median of each tool, the
// ratios and, where a target exists, PASS or MISS. A MISS never fails it.
func reportCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: gwtool report RESULTS.tsv")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	type key struct{ metric, variant string }
	var order []key
	vals := map[key]map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 4 {
			continue
		}
		v, err := strconv.ParseFloat(p[3], 64)
		if err != nil {
			continue
		}
		k := key{p[0], p[1]}
		if vals[k] == nil {
			vals[k] = map[string][]float64{}
			order = append(order, k)
		}
		vals[k][p[2]] = append(vals[k][p[2]], v)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Printf("%-24s %-10s %4s %13s %13s %13s %8s %8s  %s\n", "metric", "variant", "runs", "(c) kubectl", "(b) direct", "(a) gateway", "a/c", "a/b", "target")
	var up []key
	for _, k := range order {
		if strings.HasPrefix(k.metric, "up_") {
			up = append(up, k)
			continue
		}
		t := targetFor(k.metric)
		v := vals[k]
		c, b, a := v[toolKubectl], v[toolDirect], v[toolGateway]
		cm, bm, am := median(c), median(b), median(a)
		verdict := ""
		if t.check != nil && len(a) > 0 && (len(c) > 0 || !strings.Contains(t.rule, "kubectl")) {
			verdict = "MISS"
			if t.check(am, cm) {
				verdict = "PASS"
			}
			verdict += " (" + t.rule + ")"
		}
		fmt.Printf("%-24s %-10s %4d %13s %13s %13s %8s %8s  %s\n", k.metric, k.variant, max(len(a), len(b), len(c)),
			fmtVal(c, cm, t.unit), fmtVal(b, bm, t.unit), fmtVal(a, am, t.unit), ratio(a, c), ratio(a, b), verdict)
	}
	if len(up) == 0 {
		return nil
	}
	fmt.Println()
	fmt.Println("the gateway's upstream protocol (a, kubectl rexec --via gateway), websocket (default) against spdy")
	fmt.Printf("%-24s %-10s %4s %13s %13s %8s\n", "metric", "variant", "runs", "websocket", "spdy", "spdy/ws")
	for _, k := range up {
		t := targetFor(k.metric)
		w, s := vals[k][toolUpWS], vals[k][toolUpSPDY]
		fmt.Printf("%-24s %-10s %4d %13s %13s %8s\n", k.metric, k.variant, max(len(w), len(s)),
			fmtVal(w, median(w), t.unit), fmtVal(s, median(s), t.unit), ratio(s, w))
	}
	return nil
}

func ratio(a, b []float64) string {
	if len(a) == 0 || len(b) == 0 || median(b) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", median(a)/median(b))
}

func fmtVal(v []float64, m float64, unit string) string {
	if len(v) == 0 {
		return "-"
	}
	switch unit {
	case "ms":
		return fmt.Sprintf("%.3f ms", m)
	case "s/GiB":
		return fmt.Sprintf("%.2f s/GiB", m)
	case "KiB":
		return fmt.Sprintf("%.0f KiB", m)
	}
	return fmt.Sprintf("%.1f %s", m, unit)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
