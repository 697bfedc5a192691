//! asyncio's delayed calls from the seeds ("register, run and cancel delayed calls"):
//! three callbacks, one cancelled before it fires.
//!
//! ```python
//! loop.call_later(0.1, cb, "first")
//! h = loop.call_later(0.2, cb, "second")
//! loop.call_later(0.3, cb, "third")
//! h.cancel()
//! ```
//!
//! Run with `cargo run --example call_later`; it prints `first` and `third`, never `second`.

use std::rc::Rc;
use std::time::{Duration, Instant};

/// Schedules three calls `step` apart, cancels the second, and waits for the others.
pub async fn delayed_calls(step: Duration, print: Rc<dyn Fn(&str)>) {
    let start = Instant::now();
    let report = |name: &'static str| {
        let print = print.clone();
        move || print(&format!("{name} at +{} ms", start.elapsed().as_millis()))
    };
    looplet::call_later(step, report("first"));
    let second = looplet::call_later(step * 2, report("second"));
    looplet::call_later(step * 3, report("third"));
    print(&format!(
        "cancelled second before it fired: {}",
        second.cancel()
    ));
    looplet::sleep(step * 3 + step / 2).await;
    print(&format!("cancel after the fact: {}", second.cancel()));
}

#[allow(dead_code)] // the demo includes this file for `delayed_calls`
fn main() {
    let print: Rc<dyn Fn(&str)> = Rc::new(|line| println!("{line}"));
    looplet::block_on(delayed_calls(Duration::from_millis(100), print));
}
