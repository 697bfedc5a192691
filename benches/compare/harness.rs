//! Runners (each workload monomorphised per runtime), sizes, repeats, statistics, table rows.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::runtimes::{Looplet, Runtime, Smol, Tokio};
use crate::workloads::{
    ECHO_MSG, LATENESS_SLEEPS, echo, lateness, memory_child, mutex_contended, notify_pingpong,
    oneshot_round_trips, pingpong, semaphore_contended, spawn_many, taskgroup, timeouts, timers,
    yield_many,
};

// ------------------------------------------------------------------------------------------
// Runners: each workload monomorphised per runtime, as plain fn pointers
// ------------------------------------------------------------------------------------------

pub(crate) enum Sample {
    Value(f64),
    /// µs late per sample, for each of `LATENESS_SLEEPS`.
    Lateness([Vec<f64>; 3]),
}

pub(crate) type Runner = fn(&Config) -> Sample;

fn run_spawn<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(spawn_many::<R>(cfg.spawn_tasks)))
}

fn run_taskgroup<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(taskgroup::<R>(cfg.spawn_tasks)))
}

fn run_yield<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(yield_many::<R>(
        cfg.yield_tasks,
        cfg.yield_times,
    )))
}

fn run_echo<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(echo::<R>(cfg.echo_conns, cfg.echo_rounds))
}

fn run_pingpong<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(pingpong::<R>(cfg.pingpong_trips)))
}

fn run_timers<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(timers::<R>(cfg.timers)))
}

fn run_timeouts<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(timeouts::<R>(cfg.timeouts)))
}

fn run_lateness<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Lateness(R::block_on(lateness::<R>(cfg.lateness_samples)))
}

fn run_mutex<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(mutex_contended::<R>(
        cfg.sync_tasks,
        cfg.sync_rounds,
    )))
}

fn run_semaphore<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(semaphore_contended::<R>(
        cfg.sync_tasks,
        SEMAPHORE_PERMITS,
        cfg.sync_rounds,
    )))
}

/// Permits in the semaphore workload, shared by `Config::sync_tasks` tasks.
const SEMAPHORE_PERMITS: usize = 10;

fn run_oneshot<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(oneshot_round_trips::<R>(cfg.oneshots)))
}

fn run_notify<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(R::block_on(notify_pingpong::<R>(cfg.notify_trips)))
}

/// memory: re-runs this binary with `CHILD_ENV` set, so each runtime starts from a fresh heap.
fn run_memory<R: Runtime>(cfg: &Config) -> Sample {
    Sample::Value(memory_in_child(R::NAME, cfg.memory_tasks))
}

pub(crate) const CHILD_ENV: &str = "LOOPLET_BENCH_CHILD";
const CHILD_LIMIT: Duration = Duration::from_secs(180);

fn memory_in_child(runtime: &str, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, format!("memory:{runtime}:{n}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the memory child");
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the memory child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("memory ({runtime}): child took over {CHILD_LIMIT:?}, killed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("child stdout")
        .read_to_string(&mut out)
        .expect("read child stdout");
    assert!(
        status.success(),
        "memory ({runtime}): child failed: {status}"
    );
    out.lines()
        .find_map(|l| l.strip_prefix("bytes_per_task="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("memory ({runtime}): no result in child output {out:?}"))
}

/// The child side of `memory_in_child`.
pub(crate) fn child_main(spec: &str) -> ! {
    let mut parts = spec.split(':');
    let (Some("memory"), Some(runtime), Some(n), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("bad {CHILD_ENV}={spec:?}");
    };
    let n: usize = n.parse().expect("task count");
    let entry = runtimes()
        .into_iter()
        .find(|e| e.name == runtime)
        .unwrap_or_else(|| panic!("unknown runtime {runtime:?}"));
    let per_task = (entry.memory_child)(n);
    println!("bytes_per_task={per_task}");
    std::process::exit(0);
}

/// One runtime's runners, each workload monomorphised for it.
pub(crate) struct RuntimeEntry {
    pub(crate) name: &'static str,
    spawn: Runner,
    taskgroup: Runner,
    yield_: Runner,
    pingpong: Runner,
    timers: Runner,
    timeouts: Runner,
    lateness: Runner,
    echo: Runner,
    memory: Runner,
    mutex: Runner,
    semaphore: Runner,
    oneshot: Runner,
    notify: Runner,
    memory_child: fn(usize) -> f64,
}

impl RuntimeEntry {
    fn of<R: Runtime>() -> RuntimeEntry {
        RuntimeEntry {
            name: R::NAME,
            spawn: run_spawn::<R>,
            taskgroup: run_taskgroup::<R>,
            yield_: run_yield::<R>,
            pingpong: run_pingpong::<R>,
            timers: run_timers::<R>,
            timeouts: run_timeouts::<R>,
            lateness: run_lateness::<R>,
            echo: run_echo::<R>,
            memory: run_memory::<R>,
            mutex: run_mutex::<R>,
            semaphore: run_semaphore::<R>,
            oneshot: run_oneshot::<R>,
            notify: run_notify::<R>,
            memory_child: memory_child::<R>,
        }
    }
}

/// In table order; repeats run them in this order, interleaved. `LOOPLET_BENCH_RUNTIMES`
/// (a comma-separated list of names) keeps only some, for example to `strace` one runtime.
pub(crate) fn runtimes() -> Vec<RuntimeEntry> {
    let all = vec![
        RuntimeEntry::of::<Looplet>(),
        RuntimeEntry::of::<Tokio>(),
        RuntimeEntry::of::<Smol>(),
    ];
    match std::env::var("LOOPLET_BENCH_RUNTIMES") {
        Ok(only) if !only.is_empty() => all
            .into_iter()
            .filter(|e| only.split(',').any(|name| name.trim() == e.name))
            .collect(),
        _ => all,
    }
}

// ------------------------------------------------------------------------------------------
// Sizes, workload table
// ------------------------------------------------------------------------------------------

pub(crate) struct Config {
    pub(crate) quick: bool,
    pub(crate) spawn_tasks: usize,
    pub(crate) yield_tasks: usize,
    pub(crate) yield_times: usize,
    pub(crate) pingpong_trips: usize,
    pub(crate) timers: usize,
    pub(crate) timeouts: usize,
    pub(crate) lateness_samples: usize,
    pub(crate) echo_conns: usize,
    pub(crate) echo_rounds: usize,
    pub(crate) memory_tasks: usize,
    pub(crate) sync_tasks: usize,
    pub(crate) sync_rounds: usize,
    pub(crate) oneshots: usize,
    pub(crate) notify_trips: usize,
}

impl Config {
    pub(crate) fn full() -> Config {
        Config {
            quick: false,
            spawn_tasks: 100_000,
            yield_tasks: 100,
            yield_times: 10_000,
            pingpong_trips: 1_000_000,
            timers: 100_000,
            timeouts: 1_000_000,
            lateness_samples: 200,
            echo_conns: 100,
            echo_rounds: 10_000,
            memory_tasks: 1_000_000,
            sync_tasks: 100,
            sync_rounds: 2_000,
            oneshots: 1_000_000,
            notify_trips: 500_000,
        }
    }

    pub(crate) fn quick() -> Config {
        Config {
            quick: true,
            spawn_tasks: 50_000,
            yield_tasks: 100,
            yield_times: 2_000,
            pingpong_trips: 200_000,
            timers: 20_000,
            timeouts: 200_000,
            lateness_samples: 50,
            echo_conns: 100,
            echo_rounds: 1_000,
            memory_tasks: 200_000,
            sync_tasks: 100,
            sync_rounds: 500,
            oneshots: 200_000,
            notify_trips: 100_000,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Better {
    Lower,
    Higher,
}

pub(crate) struct Workload {
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    /// Measured repeats per runtime (interleaved), and whether one unrecorded warm-up round
    /// goes first.
    pub(crate) reps: usize,
    pub(crate) warmup: bool,
    pub(crate) size: String,
    pub(crate) pick: fn(&RuntimeEntry) -> Runner,
}

pub(crate) fn workloads(cfg: &Config) -> Vec<Workload> {
    let q = cfg.quick;
    let reps = |full: usize, quick: usize| if q { quick } else { full };
    vec![
        Workload {
            name: "spawn",
            unit: "ns/task",
            better: Better::Lower,
            reps: reps(15, 5),
            warmup: true,
            size: format!("{} tasks", cfg.spawn_tasks),
            pick: |e| e.spawn,
        },
        Workload {
            name: "taskgroup",
            unit: "ns/task",
            better: Better::Lower,
            reps: reps(15, 5),
            warmup: true,
            size: format!(
                "{} tasks in one TaskGroup / JoinSet / FuturesUnordered, joined in completion order",
                cfg.spawn_tasks
            ),
            pick: |e| e.taskgroup,
        },
        Workload {
            name: "yield",
            unit: "ns/switch",
            better: Better::Lower,
            reps: reps(11, 5),
            warmup: true,
            size: format!("{} tasks x {} yields", cfg.yield_tasks, cfg.yield_times),
            pick: |e| e.yield_,
        },
        Workload {
            name: "pingpong",
            unit: "ns/round trip",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!("{} round trips, capacity 1", cfg.pingpong_trips),
            pick: |e| e.pingpong,
        },
        Workload {
            name: "timers",
            unit: "ns/timer over 100 ms",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: false,
            size: format!("{} tasks sleeping 0-100 ms", cfg.timers),
            pick: |e| e.timers,
        },
        Workload {
            name: "timeouts",
            unit: "ns/timeout",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!("{} timeout(1 s, pending-once)", cfg.timeouts),
            pick: |e| e.timeouts,
        },
        Workload {
            name: "lateness",
            unit: "µs late: median / p99",
            better: Better::Lower,
            reps: 1,
            warmup: false,
            size: format!(
                "{} sequential sleeps each of 100 µs, 1 ms, 10 ms",
                cfg.lateness_samples
            ),
            pick: |e| e.lateness,
        },
        Workload {
            name: "echo",
            unit: "msg/s",
            better: Better::Higher,
            reps: reps(3, 1),
            warmup: false,
            size: format!(
                "{} conns x {} msgs of {ECHO_MSG} B, 1 blocking client thread",
                cfg.echo_conns, cfg.echo_rounds
            ),
            pick: |e| e.echo,
        },
        Workload {
            name: "memory",
            unit: "B RSS/task",
            better: Better::Lower,
            reps: reps(3, 1),
            warmup: false,
            size: format!(
                "{} tasks on a 1 h sleep, fresh child process each",
                cfg.memory_tasks
            ),
            pick: |e| e.memory,
        },
        Workload {
            name: "mutex",
            unit: "ns/lock+unlock",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!(
                "{} tasks x {} locks, each held across a yield",
                cfg.sync_tasks, cfg.sync_rounds
            ),
            pick: |e| e.mutex,
        },
        Workload {
            name: "semaphore",
            unit: "ns/acquire+release",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!(
                "{} tasks x {} acquires of {SEMAPHORE_PERMITS} permits, each held across a yield",
                cfg.sync_tasks, cfg.sync_rounds
            ),
            pick: |e| e.semaphore,
        },
        Workload {
            name: "oneshot",
            unit: "ns/create+send+recv",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!("{} one-value channels, one task", cfg.oneshots),
            pick: |e| e.oneshot,
        },
        Workload {
            name: "notify",
            unit: "ns/round trip",
            better: Better::Lower,
            reps: reps(7, 3),
            warmup: true,
            size: format!(
                "{} round trips between two tasks, 2 wakes each",
                cfg.notify_trips
            ),
            pick: |e| e.notify,
        },
    ]
}

// ------------------------------------------------------------------------------------------
// Statistics and the table
// ------------------------------------------------------------------------------------------

/// Nearest-rank percentile of sorted values, `p` in 0..=100.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 10_000.0 {
        // Thousands separators for big numbers (msg/s).
        let s = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}x")
    } else {
        "-".into()
    }
}

/// What one runtime produced for one workload.
pub(crate) enum Cell {
    Values(Vec<f64>),
    Lateness([Vec<f64>; 3]),
}

pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) unit: &'static str,
    /// Per runtime: (cell text, the number ratios are taken of).
    pub(crate) cells: Vec<(String, f64)>,
    pub(crate) better: Better,
}

pub(crate) fn rows_for(w: &Workload, cells: &[Cell]) -> Vec<Row> {
    if w.name == "lateness" {
        return LATENESS_SLEEPS
            .iter()
            .enumerate()
            .map(|(i, d)| Row {
                label: format!("lateness {}", fmt_dur(*d)),
                unit: w.unit,
                better: w.better,
                cells: cells
                    .iter()
                    .map(|c| {
                        let Cell::Lateness(l) = c else {
                            unreachable!("lateness rows need lateness cells")
                        };
                        let s = sorted(l[i].clone());
                        let (med, p99) = (median(&s), percentile(&s, 99.0));
                        (format!("{} / {}", fmt_num(med), fmt_num(p99)), med)
                    })
                    .collect(),
            })
            .collect();
    }
    vec![Row {
        label: w.name.to_string(),
        unit: w.unit,
        better: w.better,
        cells: cells
            .iter()
            .map(|c| {
                let Cell::Values(v) = c else {
                    unreachable!("value rows need value cells")
                };
                let s = sorted(v.clone());
                let med = median(&s);
                let text = if s.len() > 1 {
                    format!(
                        "{} ({}–{})",
                        fmt_num(med),
                        fmt_num(s[0]),
                        fmt_num(s[s.len() - 1])
                    )
                } else {
                    fmt_num(med)
                };
                (text, med)
            })
            .collect(),
    }]
}

fn fmt_dur(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// "speed vs X": > 1 means looplet is faster (or leaner).
pub(crate) fn speed(row: &Row, other: usize) -> String {
    let (l, x) = (row.cells[0].1, row.cells[other].1);
    fmt_ratio(match row.better {
        Better::Lower => x / l,
        Better::Higher => l / x,
    })
}
