// SPDX-License-Identifier: MIT

// rtasync-peer-go: librtasync's benchmark shapes written for Go, the
// runtime a server programmer would pick instead. Each shape is built the
// way bench/spawn.c, bench/yield.c, bench/fanout.c and bench/memory.c
// build it for librtasync, so rtasync-bench can put the two side by side.
//
//	rtasync-peer-go [-r REPS] [-s SCALE] [-p PROCS] SHAPE...
//
// -p sets GOMAXPROCS. Shapes: spawn yield fanout fanout-overflow
// fanout-one memory (run memory alone: it measures this process's RSS
// growth).
//
// One JSON line per shape on stdout: ns per task (or MiB for memory),
// median of REPS samples after one warm-up, min, max, every sample, and
// the shape's counts. Time is taken inside the root goroutine, from its
// first spawn to its last join, as librtasync's root does.
//
// Go has no join handle: a spawner gives each goroutine of a batch a slot
// for its result and waits for the batch on one sync.WaitGroup, the way Go
// code fans out.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Leaves are spawned and joined in batches of this many, as in bench/spawn.c.
const batch = 256

const (
	yields   = 1000000
	memTasks = 10000
	memDepth = 100
)

// mids == 0: the root spawns the leaves itself (the spawn shape).
type shape struct {
	name    string
	mids    int
	batches int // per spawner
}

// The same counts as bench/fanout.c and bench/peers/tokio/src/main.rs.
var shapes = []shape{
	{"spawn", 0, 1024},
	{"fanout", 8, 128},
	{"fanout-overflow", 1000, 1},
	{"fanout-one", 1, 1024},
}

var (
	reps  = flag.Int("r", 5, "samples per shape after a warm-up, median kept")
	scale = flag.Float64("s", 1, "multiply iteration counts by `F`")
	procs = flag.Int("p", runtime.GOMAXPROCS(0), "GOMAXPROCS")
)

func scaled(n int, min int) int {
	v := int(float64(n) * *scale)
	if v < min {
		return min
	}
	return v
}

// ---- spawn, fan-out ----------------------------------------------------------

// Spawn batches of trivial goroutines; each batch is joined before the next.
func spawner(batches int) int64 {
	var res [batch]int64
	var wg sync.WaitGroup
	var sum int64

	for b := 0; b < batches; b++ {
		wg.Add(batch)
		for j := 0; j < batch; j++ {
			go func(k int) {
				res[k] = 1
				wg.Done()
			}(j)
		}
		wg.Wait()
		for j := 0; j < batch; j++ {
			sum += res[j]
		}
	}
	return sum
}

// The root: start every mid first, then wait for them, as bench/fanout.c does.
func fanoutRoot(mids, batches int) (int64, time.Duration) {
	t0 := time.Now()
	if mids == 0 {
		sum := spawner(batches)
		return sum, time.Since(t0)
	}
	res := make([]int64, mids)
	var wg sync.WaitGroup
	wg.Add(mids)
	for i := 0; i < mids; i++ {
		go func(k int) {
			res[k] = spawner(batches)
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum int64
	for _, v := range res {
		sum += v
	}
	return sum, time.Since(t0)
}

// Run f in a fresh goroutine (the root task) and wait for it.
func inRoot(f func()) {
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	<-done
}

// ns per task (leaves and mids) of one run.
func fanoutSample(mids, batches int) float64 {
	var sum int64
	var d time.Duration
	inRoot(func() { sum, d = fanoutRoot(mids, batches) })
	leaves := int64(batches) * batch
	if mids > 0 {
		leaves *= int64(mids)
	}
	if sum != leaves {
		fmt.Fprintf(os.Stderr, "rtasync-peer-go: leaves returned %d, want %d\n", sum, leaves)
		os.Exit(1)
	}
	return float64(d.Nanoseconds()) / float64(leaves+int64(mids))
}

// ---- yield -------------------------------------------------------------------

func yieldSample(n int) float64 {
	var d time.Duration
	inRoot(func() {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		d = time.Since(t0)
	})
	return float64(d.Nanoseconds()) / float64(n)
}

// ---- channels (bench/sync.c) -------------------------------------------------

const (
	chanRtts = 200000
	chanMsgs = 1000000
)

// A round trip through two channels of capacity 1, as bench/sync.c's
// ping and echo tasks do.
func chanRttSample(n int) float64 {
	var d time.Duration
	inRoot(func() {
		a, b := make(chan int64, 1), make(chan int64, 1)
		go func() {
			for v := range a {
				b <- v
			}
		}()
		t0 := time.Now()
		for i := 0; i < n; i++ {
			a <- int64(i)
			<-b
		}
		d = time.Since(t0)
		close(a)
	})
	return float64(d.Nanoseconds()) / float64(n)
}

// senders goroutines share n messages into one channel of capacity 64;
// the root receives them all.
func chanTputSample(senders, n int) float64 {
	var d time.Duration
	per := n / senders
	inRoot(func() {
		ch := make(chan int64, 64)
		t0 := time.Now()
		for s := 0; s < senders; s++ {
			go func() {
				for i := 0; i < per; i++ {
					ch <- int64(i)
				}
			}()
		}
		for i := 0; i < per*senders; i++ {
			<-ch
		}
		d = time.Since(t0)
	})
	return float64(d.Nanoseconds()) / float64(per*senders)
}

// ---- memory ------------------------------------------------------------------

var (
	token                byte
	parked, resumed, bad int64
	release              = make(chan struct{})
)

func tag(depth int32) int32 {
	return depth*7919 + 13
}

// One frame of the chain: a pointer and an int live across the wait,
// checked when the frame returns. noinline keeps the 100 frames real.
//
//go:noinline
func chain(depth int32) int64 {
	p := &token
	i := tag(depth)
	var r int64
	if depth > 1 {
		r = chain(depth - 1)
	} else {
		atomic.AddInt64(&parked, 1)
		<-release
	}
	if p != &token || i != tag(depth) {
		atomic.AddInt64(&bad, 1)
	}
	atomic.AddInt64(&resumed, 1)
	return r
}

// This process's resident and peak resident set in MiB (/proc/self/status).
func rss() (float64, float64) {
	b, _ := os.ReadFile("/proc/self/status")
	var cur, peak float64
	for _, l := range strings.Split(string(b), "\n") {
		var kb float64
		if n, _ := fmt.Sscanf(l, "VmRSS: %f kB", &kb); n == 1 {
			cur = kb / 1024
		}
		if n, _ := fmt.Sscanf(l, "VmHWM: %f kB", &kb); n == 1 {
			peak = kb / 1024
		}
	}
	return cur, peak
}

// 10,000 goroutines, each 100 frames deep, blocked on a channel: RSS growth
// from before the first one starts to when all are blocked. Then the
// channel is closed and every frame checks its locals on the way out.
func memory() {
	var wg sync.WaitGroup
	before, _ := rss()
	t0 := time.Now()
	wg.Add(memTasks)
	for i := 0; i < memTasks; i++ {
		go func() {
			chain(memDepth)
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < memTasks {
		time.Sleep(time.Millisecond)
	}
	setup := time.Since(t0)
	after, peak := rss()
	close(release)
	wg.Wait()
	grow := after - before
	fmt.Printf("{\"peer\": \"go\", \"runtime\": \"GOMAXPROCS=%d\", \"workers\": %d, "+
		"\"shape\": \"memory\", \"metric\": \"MiB\", \"tasks\": %d, \"depth\": %d, "+
		"\"reps\": 1, \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"samples\": [%.4f], "+
		"\"rss_before_mib\": %.2f, \"peak_rss_mib\": %.2f, \"parked\": %d, "+
		"\"resumed\": %d, \"corrupt\": %d, \"setup_ms\": %.1f}\n",
		*procs, *procs, memTasks, memDepth, grow, grow, grow, grow, before, peak,
		atomic.LoadInt64(&parked), atomic.LoadInt64(&resumed),
		atomic.LoadInt64(&bad), float64(setup.Microseconds())/1e3)
}

// ---- reporting ---------------------------------------------------------------

// A quarter-size warm-up (as librtasync's side does), then *reps samples;
// sample(n) runs n batches (or yields).
func measure(n int, sample func(int) float64) []float64 {
	if n/4 > 0 {
		sample(n / 4)
	} else {
		sample(1)
	}
	v := make([]float64, *reps)
	for i := range v {
		v[i] = sample(n)
	}
	return v
}

func printLine(name string, tasks, mids int, v []float64) {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	sort.Float64s(v)
	n := len(v)
	median := v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	metric := "ns/task"
	if name == "yield" {
		metric = "ns/yield"
	} else if name == "chan-rtt" {
		metric = "ns/rtrip"
	} else if strings.HasPrefix(name, "chan-tput-") {
		metric = "ns/msg"
	}
	fmt.Printf("{\"peer\": \"go\", \"runtime\": \"GOMAXPROCS=%d\", \"workers\": %d, "+
		"\"shape\": \"%s\", \"metric\": \"%s\", \"tasks\": %d, \"mids\": %d, "+
		"\"reps\": %d, \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, \"samples\": [%s]}\n",
		*procs, *procs, name, metric, tasks, mids, n, median, v[0], v[n-1], strings.Join(s, ", "))
}

func runShape(name string) bool {
	if name == "memory" {
		memory()
		return true
	}
	if name == "yield" {
		n := scaled(yields, 1000)
		printLine(name, n, 0, measure(n, yieldSample))
		return true
	}
	if name == "chan-rtt" {
		n := scaled(chanRtts, 1000)
		printLine(name, n, 0, measure(n, chanRttSample))
		return true
	}
	var senders int
	if k, _ := fmt.Sscanf(name, "chan-tput-%d", &senders); k == 1 && senders > 0 {
		n := scaled(chanMsgs, 1000)
		printLine(name, n, 0, measure(n, func(k int) float64 { return chanTputSample(senders, k) }))
		return true
	}
	for _, s := range shapes {
		if s.name != name {
			continue
		}
		b := scaled(s.batches, 1)
		tasks := b*batch + s.mids
		if s.mids > 0 {
			tasks = s.mids*b*batch + s.mids
		}
		printLine(name, tasks, s.mids, measure(b, func(k int) float64 { return fanoutSample(s.mids, k) }))
		return true
	}
	return false
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: rtasync-peer-go [-r REPS] [-s SCALE] [-p PROCS] SHAPE...\n"+
			"shapes: spawn yield fanout fanout-overflow fanout-one memory chan-rtt chan-tput-N\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *reps < 1 || *reps > 31 || *procs < 1 || *scale <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	for _, name := range flag.Args() {
		if !runShape(name) {
			flag.Usage()
			os.Exit(2)
		}
	}
}
