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

use std::time::{Duration, Instant};

fn main() {
    looplet::block_on(async {
        let start = Instant::now();
        let report = move |name: &'static str| {
            move || println!("{name} at +{} ms", start.elapsed().as_millis())
        };
        looplet::call_later(Duration::from_millis(100), report("first"));
        let second = looplet::call_later(Duration::from_millis(200), report("second"));
        looplet::call_later(Duration::from_millis(300), report("third"));
        println!("cancelled second before it fired: {}", second.cancel());
        looplet::sleep(Duration::from_millis(350)).await;
        println!("cancel after the fact: {}", second.cancel());
    });
}
