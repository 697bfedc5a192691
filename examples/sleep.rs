//! gevent's lesson from the seeds: two tasks that sleep 2 s each finish in 2 s, not 4, as
//! long as they sleep on the loop. A blocking `std::thread::sleep` stalls the whole loop.
//!
//! ```python
//! def func1():
//!     print("running in func1--", time.ctime())
//!     gevent.sleep(2)
//!     print("running in func1 again--", time.ctime())
//! ```
//!
//! Run with `cargo run --example sleep`; `--seconds 0.5` shortens the sleeps.

use std::rc::Rc;
use std::time::{Duration, Instant};

async fn func(name: &str, start: Instant, d: Duration, blocking: bool, print: Rc<dyn Fn(&str)>) {
    print(&format!(
        "running in {name}-- +{:.3}s",
        start.elapsed().as_secs_f64()
    ));
    if blocking {
        std::thread::sleep(d); // time.sleep: the loop cannot switch
    } else {
        looplet::sleep(d).await; // gevent.sleep: the loop runs other tasks meanwhile
    }
    print(&format!(
        "running in {name} again-- +{:.3}s",
        start.elapsed().as_secs_f64()
    ));
}

/// Runs func1 and func2 as two tasks, each sleeping `d`; returns the total time.
pub fn run(d: Duration, blocking: bool, print: Rc<dyn Fn(&str)>) -> Duration {
    let start = Instant::now();
    looplet::block_on(async {
        let g1 = looplet::spawn(func("func1", start, d, blocking, print.clone()));
        let g2 = looplet::spawn(func("func2", start, d, blocking, print.clone()));
        g1.await; // gevent.joinall([g1, g2])
        g2.await;
    });
    let cost = start.elapsed();
    print(&format!("cost time: {}", cost.as_secs_f64()));
    cost
}

#[allow(dead_code)] // the demo includes this file for `run`
fn main() {
    let mut seconds = 2.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--seconds", Some(v)) => seconds = v.parse().expect("--seconds takes a number"),
            _ => {
                eprintln!("usage: sleep [--seconds N]");
                std::process::exit(2);
            }
        }
    }
    let print: Rc<dyn Fn(&str)> = Rc::new(|line| println!("{line}"));
    let d = Duration::from_secs_f64(seconds);
    println!("-- looplet::sleep: the two sleeps overlap");
    run(d, false, print.clone());
    println!("-- std::thread::sleep: a blocking call stalls the loop, the sleeps add up");
    run(d, true, print);
}
