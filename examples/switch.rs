//! greenlet's explicit switching from the seeds, done with `yield_now`.
//!
//! ```python
//! def fun1():
//!     print("12")
//!     gr2.switch()
//!     print("56")
//!     gr2.switch()
//!
//! def fun2():
//!     print("34")
//!     gr1.switch()
//!     print("78")
//! ```
//!
//! A greenlet names the one to switch to; a looplet task says "let the others run"
//! (`yield_now`, gevent's `sleep(0)`) and goes to the back of the run queue. With two tasks
//! that is the same ping-pong. Run with `cargo run --example switch`; it prints 12, 34, 56, 78.

use std::rc::Rc;

async fn fun1(print: Rc<dyn Fn(&str)>) {
    print("12");
    looplet::yield_now().await; // gr2.switch()
    print("56");
    looplet::yield_now().await; // gr2.switch()
}

async fn fun2(print: Rc<dyn Fn(&str)>) {
    print("34");
    looplet::yield_now().await; // gr1.switch()
    print("78");
}

pub async fn switch(print: Rc<dyn Fn(&str)>) {
    let gr1 = looplet::spawn(fun1(print.clone()));
    let gr2 = looplet::spawn(fun2(print));
    // gevent.joinall([gr1, gr2])
    gr1.await;
    gr2.await;
}

#[allow(dead_code)] // the demo includes this file for `switch`
fn main() {
    looplet::block_on(switch(Rc::new(|line| println!("{line}"))));
}
