//! looplet vs tokio vs smol: the same workloads, written once, on three single-threaded runtimes
//! in one process.
//!
//! ```text
//! cargo bench -p looplet-bench --bench compare                       # everything (~1.5 minutes here)
//! LOOPLET_BENCH_QUICK=1 cargo bench -p looplet-bench --bench compare # smaller sizes, fewer repeats (~10 s)
//! cargo bench -p looplet-bench --bench compare -- spawn yield        # only the named workloads
//! LOOPLET_BENCH_ECHO=1,20000 cargo bench -p looplet-bench --bench compare -- echo  # ping-pong
//! cargo bench -p looplet-bench --features looplet/polling ...      # looplet's polling backend
//! ```
//!
//! Layout:
//! - `runtimes.rs`: the `Runtime` trait (loop, spawn, yield, bounded channel, sleep,
//!   timeout, TCP) and one impl each for looplet, tokio and smol.
//! - `workloads.rs`: every workload, written once as a generic `async fn` (the echo
//!   client is a plain std thread, the same for every runtime).
//! - `harness.rs`: runners (each workload monomorphised per runtime as a fn pointer),
//!   sizes, repeats, the memory child process, statistics and table rows.
//! - this file: the machine header, argument handling, the interleaved run loop, the table.
//!
//! Dispatch is static (associated types and `impl Future` returns, no boxing):
//! - looplet: `looplet::block_on`, `spawn`, `yield_now`, `channel::bounded`, `sleep`,
//!   `timeout`, `net`.
//! - tokio: a current-thread runtime (`enable_all`) driving a `LocalSet` (`spawn_local`),
//!   `tokio::task::yield_now`, `tokio::sync::mpsc`, `tokio::time`, `tokio::net`.
//! - smol: a `LocalExecutor` driven by `smol::block_on(ex.run(..))` (found through a
//!   thread-local while it runs), `smol::future::yield_now`, `smol::channel`, `smol::Timer`,
//!   `smol::Async<std::net::Tcp*>`.
//!
//! Every measurement is taken inside the runtime's `block_on`, so building and dropping the
//! runtime is not timed. Repeats interleave the runtimes (looplet, tokio, smol, looplet, ...).

#[path = "harness.rs"]
mod harness;
#[path = "runtimes.rs"]
mod runtimes;
#[path = "workloads.rs"]
mod workloads;

use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use harness::{
    CHILD_ENV, Cell, Config, Runner, Sample, Workload, child_main, rows_for, runtimes, speed,
    workloads,
};

// ------------------------------------------------------------------------------------------
// The machine
// ------------------------------------------------------------------------------------------

const CARGO_LOCK: &str = include_str!("../../Cargo.lock");

/// The version of `name` that Cargo.lock pins (first match).
fn locked_version(name: &str) -> &'static str {
    let needle = format!("name = \"{name}\"");
    let mut lines = CARGO_LOCK.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return v.trim_end_matches('"');
        }
    }
    "?"
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Now, as `YYYY-MM-DD HH:MM UTC` (Howard Hinnant's civil-from-days).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

// ------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child_main(&spec);
    }

    let quick = std::env::var("LOOPLET_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut cfg = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    // LOOPLET_BENCH_ECHO=conns,rounds resizes the echo workload: `1,20000` is a one-connection
    // ping-pong, where the cost of each wait in the poller shows.
    if let Ok(spec) = std::env::var("LOOPLET_BENCH_ECHO")
        && let Some((conns, rounds)) = spec.split_once(',')
    {
        cfg.echo_conns = conns
            .trim()
            .parse()
            .expect("LOOPLET_BENCH_ECHO=conns,rounds");
        cfg.echo_rounds = rounds
            .trim()
            .parse()
            .expect("LOOPLET_BENCH_ECHO=conns,rounds");
    }
    let all = workloads(&cfg);

    // `cargo bench` passes `--bench`; everything not starting with `-` names a workload.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for w in &wanted {
        if !all.iter().any(|x| x.name == w) {
            let names: Vec<&str> = all.iter().map(|x| x.name).collect();
            eprintln!("unknown workload {w:?}; known: {}", names.join(" "));
            std::process::exit(2);
        }
    }
    let selected: Vec<&Workload> = all
        .iter()
        .filter(|w| wanted.is_empty() || wanted.iter().any(|n| n == w.name))
        .collect();

    let rts = runtimes();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!("# looplet vs tokio vs smol (single-threaded)\n");
    println!(
        "- machine: {} cores (available_parallelism), {}",
        cores,
        cpu_model()
    );
    println!("- date: {}", utc_now());
    println!(
        "- versions: looplet {}, tokio {}, smol {} (async-executor {}, async-io {}, \
         async-channel {})",
        env!("CARGO_PKG_VERSION"),
        locked_version("tokio"),
        locked_version("smol"),
        locked_version("async-executor"),
        locked_version("async-io"),
        locked_version("async-channel"),
    );
    println!(
        "- mode: {}",
        if quick {
            "QUICK (LOOPLET_BENCH_QUICK=1: smaller sizes, fewer repeats)"
        } else {
            "full"
        }
    );
    println!("- sizes and repeats (per runtime; runtimes interleaved each repeat):");
    for w in &selected {
        println!(
            "  - {}: {}; {} repeat(s){}",
            w.name,
            w.size,
            w.reps,
            if w.warmup { " after 1 warm-up" } else { "" }
        );
    }
    println!(
        "- cells: median (min–max) over the repeats; lateness: median / p99 over all samples. \
         speed vs X = X / looplet for time, bytes and lateness (ratio of medians), \
         looplet / X for msg/s: > 1 means looplet is faster or leaner.\n"
    );

    let total = Instant::now();
    let mut rows = Vec::new();
    for w in &selected {
        let runners: Vec<Runner> = rts.iter().map(|e| (w.pick)(e)).collect();
        let mut cells: Vec<Cell> = runners
            .iter()
            .map(|_| {
                if w.name == "lateness" {
                    Cell::Lateness(Default::default())
                } else {
                    Cell::Values(Vec::new())
                }
            })
            .collect();
        let t = Instant::now();
        eprint!("{:>9}:", w.name);
        if w.warmup {
            for r in &runners {
                let _ = r(&cfg);
            }
        }
        for _ in 0..w.reps {
            for (i, r) in runners.iter().enumerate() {
                match (r(&cfg), &mut cells[i]) {
                    (Sample::Value(v), Cell::Values(vs)) => vs.push(v),
                    (Sample::Lateness(l), Cell::Lateness(acc)) => {
                        for (a, s) in acc.iter_mut().zip(l) {
                            a.extend(s);
                        }
                    }
                    _ => unreachable!("sample kind does not match the workload"),
                }
                eprint!(" {}", rts[i].name);
            }
        }
        eprintln!(" ({:.1} s)", t.elapsed().as_secs_f64());
        rows.extend(rows_for(w, &cells));
    }

    // One column per runtime that ran (LOOPLET_BENCH_RUNTIMES may select a subset), and a
    // ratio column for each runtime after the first.
    let names: Vec<&str> = rts.iter().map(|r| r.name).collect();
    let ratios: Vec<String> = names[1..].iter().map(|n| format!("speed vs {n}")).collect();
    println!(
        "| workload | unit | {} |",
        names
            .iter()
            .map(|s| s.to_string())
            .chain(ratios)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(2 * names.len() - 1));
    for row in &rows {
        let cells = row.cells.iter().map(|c| c.0.clone());
        let speeds = (1..names.len()).map(|i| speed(row, i));
        println!(
            "| {} | {} | {} |",
            row.label,
            row.unit,
            cells.chain(speeds).collect::<Vec<_>>().join(" | ")
        );
    }
    println!(
        "\ntotal: {:.1} s{}",
        total.elapsed().as_secs_f64(),
        if quick { " (quick mode)" } else { "" }
    );
}
