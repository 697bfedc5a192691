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

use std::time::{Duration, Instant};

async fn func(name: &str, start: Instant, seconds: f64, blocking: bool) {
    println!("running in {name}-- +{:.3}s", start.elapsed().as_secs_f64());
    let d = Duration::from_secs_f64(seconds);
    if blocking {
        std::thread::sleep(d); // time.sleep: the loop cannot switch
    } else {
        looplet::sleep(d).await; // gevent.sleep: the loop runs other tasks meanwhile
    }
    println!(
        "running in {name} again-- +{:.3}s",
        start.elapsed().as_secs_f64()
    );
}

fn run(seconds: f64, blocking: bool) -> Duration {
    let start = Instant::now();
    looplet::block_on(async {
        let g1 = looplet::spawn(func("func1", start, seconds, blocking));
        let g2 = looplet::spawn(func("func2", start, seconds, blocking));
        g1.await; // gevent.joinall([g1, g2])
        g2.await;
    });
    let cost = start.elapsed();
    println!("cost time: {}", cost.as_secs_f64());
    cost
}

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
    println!("-- looplet::sleep: the two sleeps overlap");
    run(seconds, false);
    println!("-- std::thread::sleep: a blocking call stalls the loop, the sleeps add up");
    run(seconds, true);
}
