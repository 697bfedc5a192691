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
//! (`print` is `println!` here; the demo passes a recorder to check the order.)

pub async fn cor1(print: impl Fn(&str)) {
    print("cor1 start");
    cor2(&print).await;
    print("cor1 end");
}

async fn cor2(print: impl Fn(&str)) {
    print("cor2");
}

#[allow(dead_code)] // the demo includes this file for `cor1`
fn main() {
    // `looplet::block_on` is `loop.run_until_complete` on a fresh loop (`asyncio.run`).
    looplet::block_on(cor1(|line| println!("{line}")));
}
