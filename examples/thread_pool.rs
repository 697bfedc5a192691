//! asyncio's `loop.run_in_executor` from the seeds ("send a function into the thread pool"):
//! an expensive computation runs on a pool thread while the loop goes on ticking.
//!
//! ```python
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     ticker = asyncio.create_task(tick_every(0.005))
//!     primes = await loop.run_in_executor(None, count_primes, 5_000_000)
//!     ticker.cancel()
//! ```
//!
//! `looplet::unblock(f)` is `run_in_executor(None, f)`: `f` runs on the blocking pool, and the
//! task that awaits it waits like for any other task, so the loop keeps running the ticker.
//! Run with `cargo run --release --example thread_pool`; it prints ticks while the primes are
//! counted, then the count and how many ticks the loop ran meanwhile, and exits.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What [`run_in_executor`] saw.
#[derive(Debug)]
pub struct Report {
    /// Primes below the limit, counted on the pool.
    pub primes: usize,
    /// Ticks the loop ran while the count was going on.
    pub ticks: u32,
    /// The pool thread the count ran on.
    pub thread: String,
    /// How long the count took, as the loop saw it.
    pub elapsed: Duration,
}

/// Counts the primes below `limit` on the pool while a task on the loop ticks every `tick`.
pub async fn run_in_executor(limit: u64, tick: Duration, print: Rc<dyn Fn(&str)>) -> Report {
    let start = Instant::now();
    let ticks = Rc::new(Cell::new(0_u32));
    let done = Rc::new(Cell::new(false));
    let ticker = looplet::spawn({
        let (ticks, done, print) = (ticks.clone(), done.clone(), print.clone());
        async move {
            loop {
                looplet::sleep(tick).await;
                if done.get() {
                    break;
                }
                ticks.set(ticks.get() + 1);
                if ticks.get() % 20 == 0 {
                    let ms = start.elapsed().as_millis();
                    print(&format!(
                        "tick {} at +{ms} ms: the loop keeps running",
                        ticks.get()
                    ));
                }
            }
        }
    });

    print(&format!("counting the primes below {limit} on the pool..."));
    let (primes, thread) = looplet::unblock(move || {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        (count_primes(limit), thread)
    })
    .await;
    let elapsed = start.elapsed();
    let ticks_during = ticks.get();
    done.set(true);
    ticker.await;
    print(&format!(
        "{primes} primes below {limit}, counted on thread {thread} in {} ms; \
         the loop ticked {ticks_during} times meanwhile",
        elapsed.as_millis()
    ));
    Report {
        primes,
        ticks: ticks_during,
        thread,
        elapsed,
    }
}

/// The number of primes below `limit`, by trial division: slow on purpose.
fn count_primes(limit: u64) -> usize {
    (2..limit).filter(|&n| is_prime(n)).count()
}

fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

#[allow(dead_code)] // the demo may include this file for `run_in_executor`
fn main() {
    let limit = 5_000_000; // a second or so of work, in either build
    let report = looplet::block_on(run_in_executor(
        limit,
        Duration::from_millis(5),
        Rc::new(|line| println!("{line}")),
    ));
    assert!(
        report.ticks > 0,
        "the loop kept running during the computation"
    );
}
