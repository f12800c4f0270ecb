// SPDX-License-Identifier: MIT
//
// rtasync-peer-tokio: librtasync's benchmark shapes written for Tokio, the
// runtime a Rust user would pick instead. Each shape is built the way
// bench/spawn.c, bench/yield.c, bench/fanout.c and bench/memory.c build it
// for librtasync, so rtasync-bench can put the two side by side.
//
//   rtasync-peer-tokio [-r REPS] [-s SCALE] [-w WORKERS] [-m] SHAPE...
//
// -w 1 is the current_thread runtime, -w N (N > 1, or -m) multi_thread
// with N workers. Shapes: spawn yield fanout fanout-overflow fanout-one
// memory (run memory alone: it measures this process's RSS growth).
//
// One JSON line per shape on stdout: ns per task (or MiB for memory),
// median of REPS samples after one warm-up, min, max, every sample, and
// the shape's counts, so the caller can check it ran what it compares.
// Time is taken inside the root task, from its first spawn to its last
// join, as librtasync's root does.

use std::future::Future;
use std::pin::Pin;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

// Leaves are spawned and joined in batches of this many, as in bench/spawn.c.
const BATCH: u64 = 256;

const YIELDS: u64 = 1_000_000;
const MEM_TASKS: u64 = 10_000;
const MEM_DEPTH: u32 = 100;

// mids == 0: the root spawns the leaves itself (the spawn shape).
struct Shape {
    name: &'static str,
    mids: u64,
    batches: u64, // per spawner
}

// The same counts as bench/fanout.c and bench/peers/go/main.go.
const SHAPES: &[Shape] = &[
    Shape { name: "spawn", mids: 0, batches: 1024 },
    Shape { name: "fanout", mids: 8, batches: 128 },
    Shape { name: "fanout-overflow", mids: 1000, batches: 1 },
    Shape { name: "fanout-one", mids: 1, batches: 1024 },
];

struct Opts {
    reps: usize,
    scale: f64,
    workers: usize,
    multi: bool,
    shapes: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: rtasync-peer-tokio [-r REPS] [-s SCALE] [-w WORKERS] [-m] SHAPE...\n\
         shapes: spawn yield fanout fanout-overflow fanout-one memory chan-rtt\n\
         chan-tput-N blocking-rtt mutex mutex-4"
    );
    exit(2);
}

fn parse_num(v: Option<String>) -> f64 {
    match v.and_then(|s| s.parse::<f64>().ok()) {
        Some(x) if x > 0.0 => x,
        _ => usage(),
    }
}

fn parse_args() -> Opts {
    let mut o = Opts { reps: 5, scale: 1.0, workers: 1, multi: false, shapes: Vec::new() };
    let mut args = std::env::args().skip(1);

    while let Some(a) = args.next() {
        match a.as_str() {
            "-r" => o.reps = parse_num(args.next()) as usize,
            "-s" => o.scale = parse_num(args.next()),
            "-w" => o.workers = parse_num(args.next()) as usize,
            "-m" => o.multi = true,
            "-h" | "--help" => usage(),
            _ if a.starts_with('-') => usage(),
            _ => o.shapes.push(a),
        }
    }
    if o.shapes.is_empty() || o.reps > 31 {
        usage();
    }
    o
}

fn flavor(o: &Opts) -> &'static str {
    if o.workers > 1 || o.multi {
        "multi_thread"
    } else {
        "current_thread"
    }
}

// A fresh runtime per shape, so one shape's idle workers never run into the next.
fn runtime(o: &Opts, timers: bool) -> Runtime {
    let mut b = if flavor(o) == "multi_thread" {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(o.workers);
        b
    } else {
        Builder::new_current_thread()
    };
    if timers {
        b.enable_time();
    }
    b.build().unwrap_or_else(|e| {
        eprintln!("rtasync-peer-tokio: runtime: {}", e);
        exit(1)
    })
}

fn scaled(n: u64, scale: f64, min: u64) -> u64 {
    let v = (n as f64 * scale) as u64;
    if v < min {
        min
    } else {
        v
    }
}

// ---- spawn, fan-out -------------------------------------------------------

// Spawn `batches` batches of trivial leaves, join each leaf in order.
async fn spawner(batches: u64) -> u64 {
    let mut hs = Vec::with_capacity(BATCH as usize);
    let mut sum = 0;

    for _ in 0..batches {
        for _ in 0..BATCH {
            hs.push(tokio::spawn(async { 1u64 }));
        }
        for h in hs.drain(..) {
            sum += h.await.expect("leaf task");
        }
    }
    sum
}

// The root: spawn every mid first, then join them, as bench/fanout.c does.
async fn fanout_root(mids: u64, batches: u64) -> (u64, Duration) {
    let t0 = Instant::now();
    let mut sum = 0;

    if mids == 0 {
        sum = spawner(batches).await;
    } else {
        let hs: Vec<_> = (0..mids).map(|_| tokio::spawn(spawner(batches))).collect();
        for h in hs {
            sum += h.await.expect("mid task");
        }
    }
    (sum, t0.elapsed())
}

// ns per task (leaves and mids) of one run on rt.
fn fanout_sample(rt: &Runtime, mids: u64, batches: u64) -> f64 {
    let (sum, d) = rt
        .block_on(async { tokio::spawn(fanout_root(mids, batches)).await })
        .expect("root task");
    let leaves = mids.max(1) * batches * BATCH;

    if sum != leaves {
        eprintln!("rtasync-peer-tokio: leaves returned {}, want {}", sum, leaves);
        exit(1);
    }
    d.as_nanos() as f64 / (leaves + mids) as f64
}

// ---- yield ----------------------------------------------------------------

async fn yield_root(n: u64) -> Duration {
    let t0 = Instant::now();

    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    t0.elapsed()
}

fn yield_sample(rt: &Runtime, n: u64) -> f64 {
    let d = rt
        .block_on(async { tokio::spawn(yield_root(n)).await })
        .expect("yield task");
    d.as_nanos() as f64 / n as f64
}

// ---- channels (bench/sync.c) ------------------------------------------------

const CHAN_RTTS: u64 = 200_000;
const CHAN_MSGS: u64 = 1_000_000;
const BLOCKING_CALLS: u64 = 20_000;
const LOCKS: u64 = 2_000_000;
const LOCK_TASKS: u64 = 4;

// A round trip through two bounded mpsc channels of capacity 1, as
// bench/sync.c's ping and echo tasks do.
async fn chan_rtt_root(n: u64) -> Duration {
    let (atx, mut arx) = tokio::sync::mpsc::channel::<u64>(1);
    let (btx, mut brx) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = arx.recv().await {
            if btx.send(v).await.is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    for i in 0..n {
        atx.send(i).await.expect("send");
        brx.recv().await.expect("recv");
    }
    let d = t0.elapsed();
    drop(atx);
    echo.await.expect("echo");
    d
}

// senders tasks share n messages into one channel of capacity 64.
async fn chan_tput_root(senders: u64, n: u64) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
    let per = n / senders;
    let t0 = Instant::now();
    for _ in 0..senders {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0..per {
                tx.send(i).await.expect("send");
            }
        });
    }
    drop(tx);
    for _ in 0..per * senders {
        rx.recv().await.expect("recv");
    }
    t0.elapsed()
}

// A blocking call off the workers and back, as bench/sync.c's
// rt_op_spawn_blocking loop.
async fn blocking_root(n: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        let v = tokio::task::spawn_blocking(move || i).await.expect("blocking");
        assert_eq!(v, i);
    }
    t0.elapsed()
}

fn blocking_sample(rt: &Runtime, n: u64) -> f64 {
    let d = rt
        .block_on(async move { tokio::spawn(blocking_root(n)).await })
        .expect("blocking task");
    d.as_nanos() as f64 / n as f64
}

// lock+unlock of tokio::sync::Mutex around a counter, by `tasks` tasks
// sharing n locks, as bench/sync.c's locker tasks do with rt_mutex.
async fn mutex_root(tasks: u64, n: u64) -> Duration {
    let m = std::sync::Arc::new(tokio::sync::Mutex::new(0u64));
    let per = n / tasks;
    let t0 = Instant::now();
    let hs: Vec<_> = (0..tasks)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    *m.lock().await += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.expect("locker");
    }
    let d = t0.elapsed();
    assert_eq!(*m.lock().await, per * tasks);
    d
}

fn mutex_sample(rt: &Runtime, tasks: u64, n: u64) -> f64 {
    let d = rt
        .block_on(async move { tokio::spawn(mutex_root(tasks, n)).await })
        .expect("mutex task");
    d.as_nanos() as f64 / (n / tasks * tasks) as f64
}

fn chan_sample(rt: &Runtime, senders: u64, n: u64) -> f64 {
    let d = rt
        .block_on(async move {
            if senders == 0 {
                tokio::spawn(chan_rtt_root(n)).await
            } else {
                tokio::spawn(chan_tput_root(senders, n)).await
            }
        })
        .expect("channel task");
    let done = if senders == 0 { n } else { n / senders * senders };
    d.as_nanos() as f64 / done as f64
}

// ---- memory ---------------------------------------------------------------

static TOKEN: u8 = 0;
static PARKED: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);

fn tag(depth: u32) -> u32 {
    depth * 7919 + 13
}

// One frame of the chain: a pointer and an int live across the await,
// checked when the frame resumes. Async recursion needs the box.
fn chain(depth: u32) -> Pin<Box<dyn Future<Output = i64> + Send>> {
    Box::pin(async move {
        let p: &'static u8 = &TOKEN;
        let i = tag(depth);
        let r = if depth > 1 {
            chain(depth - 1).await
        } else {
            PARKED.fetch_add(1, Ordering::Relaxed);
            // Boxed: a Sleep inline would size every frame of the chain
            // for it (one async block's state holds either branch).
            Box::pin(tokio::time::sleep(Duration::from_secs(3600))).await;
            0
        };
        if !std::ptr::eq(p, &TOKEN) || i != tag(depth) {
            BAD.fetch_add(1, Ordering::Relaxed);
        }
        RESUMED.fetch_add(1, Ordering::Relaxed);
        r
    })
}

// This process's resident and peak resident set, bytes (/proc/self/status).
fn rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// 10,000 tasks, each a chain of 100 boxed frames asleep for an hour: RSS
// growth from before the first spawn to when all are parked. Then abort
// them all (dropping a chain drops its frames: nothing resumes, unlike
// librtasync's cancel, which resumes each frame with -ECANCELED).
fn memory(o: &Opts) {
    let rt = runtime(o, true);
    let (before, _) = rss();
    let t0 = Instant::now();
    let hs: Vec<_> = rt.block_on(async {
        let hs: Vec<_> = (0..MEM_TASKS).map(|_| tokio::spawn(chain(MEM_DEPTH))).collect();
        while PARKED.load(Ordering::Relaxed) < MEM_TASKS {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        hs
    });
    let setup_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (after, peak) = rss();
    let mut cancelled = 0;

    rt.block_on(async {
        for h in &hs {
            h.abort();
        }
        for h in hs {
            if matches!(h.await, Err(e) if e.is_cancelled()) {
                cancelled += 1;
            }
        }
    });
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let grow = mib(after.saturating_sub(before));
    println!(
        "{{\"peer\": \"tokio\", \"runtime\": \"{}\", \"workers\": {}, \"shape\": \"memory\", \
         \"metric\": \"MiB\", \"tasks\": {}, \"depth\": {}, \"reps\": 1, \"median\": {:.4}, \
         \"min\": {:.4}, \"max\": {:.4}, \"samples\": [{:.4}], \"rss_before_mib\": {:.2}, \
         \"peak_rss_mib\": {:.2}, \"parked\": {}, \"cancelled\": {}, \"corrupt\": {}, \
         \"setup_ms\": {:.1}}}",
        flavor(o), o.workers, MEM_TASKS, MEM_DEPTH, grow, grow, grow, grow, mib(before),
        mib(peak), PARKED.load(Ordering::Relaxed), cancelled, BAD.load(Ordering::Relaxed),
        setup_ms
    );
}

// ---- reporting ------------------------------------------------------------

// A quarter-size warm-up (as librtasync's side does), then o.reps
// samples; sample(n) runs n batches (or yields).
fn measure(o: &Opts, n: u64, mut sample: impl FnMut(u64) -> f64) -> Vec<f64> {
    sample((n / 4).max(1));
    (0..o.reps).map(|_| sample(n)).collect()
}

fn print_line(o: &Opts, shape: &str, tasks: u64, mids: u64, mut v: Vec<f64>) {
    let samples: Vec<String> = v.iter().map(|x| format!("{:.3}", x)).collect();
    let metric = match shape {
        "yield" => "ns/yield",
        "chan-rtt" => "ns/rtrip",
        s if s.starts_with("chan-tput-") => "ns/msg",
        "blocking-rtt" => "ns/call",
        "mutex" | "mutex-4" => "ns/op",
        _ => "ns/task",
    };

    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    println!(
        "{{\"peer\": \"tokio\", \"runtime\": \"{}\", \"workers\": {}, \"shape\": \"{}\", \
         \"metric\": \"{}\", \"tasks\": {}, \"mids\": {}, \"reps\": {}, \"median\": {:.3}, \
         \"min\": {:.3}, \"max\": {:.3}, \"samples\": [{}]}}",
        flavor(o), o.workers, shape, metric, tasks, mids, n, median, v[0], v[n - 1],
        samples.join(", ")
    );
}

fn run_shape(o: &Opts, name: &str) {
    if name == "memory" {
        return memory(o);
    }
    let rt = runtime(o, false);
    if name == "yield" {
        let n = scaled(YIELDS, o.scale, 1000);
        let v = measure(o, n, |k| yield_sample(&rt, k));
        return print_line(o, name, n, 0, v);
    }
    if name == "blocking-rtt" {
        let n = scaled(BLOCKING_CALLS, o.scale, 100);
        let v = measure(o, n, |k| blocking_sample(&rt, k));
        return print_line(o, name, n, 0, v);
    }
    if name == "mutex" || name == "mutex-4" {
        let tasks = if name == "mutex" { 1 } else { LOCK_TASKS };
        let n = scaled(LOCKS, o.scale, 1000);
        let v = measure(o, n, |k| mutex_sample(&rt, tasks, k));
        return print_line(o, name, n, 0, v);
    }
    if name == "chan-rtt" {
        let n = scaled(CHAN_RTTS, o.scale, 1000);
        let v = measure(o, n, |k| chan_sample(&rt, 0, k));
        return print_line(o, name, n, 0, v);
    }
    if let Some(senders) = name.strip_prefix("chan-tput-").and_then(|s| s.parse::<u64>().ok()) {
        let n = scaled(CHAN_MSGS, o.scale, 1000);
        let v = measure(o, n, |k| chan_sample(&rt, senders.max(1), k));
        return print_line(o, name, n, 0, v);
    }
    let s = SHAPES.iter().find(|s| s.name == name).unwrap_or_else(|| usage());
    let batches = scaled(s.batches, o.scale, 1);
    let v = measure(o, batches, |k| fanout_sample(&rt, s.mids, k));
    print_line(o, name, s.mids.max(1) * batches * BATCH + s.mids, s.mids, v);
}

fn main() {
    let o = parse_args();

    for name in &o.shapes {
        run_shape(&o, name);
    }
}
