//! An `unblock(|| ())` round trip on looplet, next to tokio's `spawn_blocking` and smol's
//! `unblock`, each awaited from its own single-threaded runtime.
//!
//! ```text
//! cargo bench -p looplet-bench --bench unblock
//! ```

use std::time::{Duration, Instant};

const N: u32 = 10_000;

fn per_call(start: Instant) -> Duration {
    start.elapsed() / N
}

fn main() {
    for round in 1..=3 {
        let looplet = looplet::block_on(async {
            looplet::unblock(|| ()).await; // the first call starts a thread
            let start = Instant::now();
            for _ in 0..N {
                looplet::unblock(|| ()).await;
            }
            per_call(start)
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        let tokio = rt.block_on(async {
            tokio::task::spawn_blocking(|| ()).await.expect("no panic");
            let start = Instant::now();
            for _ in 0..N {
                tokio::task::spawn_blocking(|| ()).await.expect("no panic");
            }
            per_call(start)
        });
        let smol = smol::block_on(async {
            smol::unblock(|| ()).await;
            let start = Instant::now();
            for _ in 0..N {
                smol::unblock(|| ()).await;
            }
            per_call(start)
        });
        println!(
            "round {round}: unblock(|| ()) round trip: looplet {looplet:?}, tokio spawn_blocking \
             {tokio:?}, smol unblock {smol:?}"
        );
    }
}
