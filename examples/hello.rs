//! asyncio's first example from the seeds: one coroutine awaiting another.
//!
//! ```python
//! async def cor1():
//!     print('cor1 start')
//!     await cor2()
//!     print('cor1 end')
//!
//! async def cor2():
//!     print('cor2')
//!
//! loop = asyncio.get_event_loop()
//! loop.run_until_complete(cor1())
//! ```
//!
//! Run with `cargo run --example hello`; it prints `cor1 start`, `cor2`, `cor1 end`.

async fn cor1() {
    println!("cor1 start");
    cor2().await;
    println!("cor1 end");
}

async fn cor2() {
    println!("cor2");
}

fn main() {
    // `looplet::block_on` is `loop.run_until_complete` on a fresh loop (`asyncio.run`).
    looplet::block_on(cor1());
}
