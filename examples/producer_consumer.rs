//! The generator producer/consumer of the seeds, as two tasks and two channels.
//!
//! In Python the producer `send`s each number into the consumer generator and gets back what
//! the consumer `yield`s ("ok"). Here the consumer is a task: numbers go to it over one
//! channel, its answers come back over another, and the loop switches between the two tasks
//! each time one waits for the other, exactly where the generator switched.
//!
//! Run with `cargo run --example producer_consumer`; it prints, for n in 1..=10:
//!
//! ```text
//! [producer]-->n
//! [consumer]<--n
//! [producer] consumer return:ok
//! ```

use std::rc::Rc;

use looplet::channel;

/// Receives numbers, prints each, and answers "ok" to each: the generator `consumer()`.
async fn consumer(
    mut numbers: channel::Receiver<u32>,
    replies: channel::Sender<&'static str>,
    print: Rc<dyn Fn(&str)>,
) {
    while let Some(n) = numbers.recv().await {
        print(&format!("[consumer]<--{n}"));
        if replies.send("ok").await.is_err() {
            break; // the producer is gone
        }
    }
}

/// Produces 1..=10, handing each to the consumer and waiting for its answer: `producer(c)`.
pub async fn producer(print: Rc<dyn Fn(&str)>) {
    let (numbers, numbers_rx) = channel::bounded(1);
    let (replies_tx, mut replies) = channel::bounded(1);
    let consumer = looplet::spawn(consumer(numbers_rx, replies_tx, print.clone()));
    for n in 1..=10 {
        print(&format!("[producer]-->{n}"));
        numbers
            .send(n)
            .await
            .expect("the consumer runs until we stop");
        let reply = replies
            .recv()
            .await
            .expect("the consumer answers every number");
        print(&format!("[producer] consumer return:{reply}"));
    }
    // `c.close()`: dropping the sender ends the consumer's loop.
    drop(numbers);
    consumer.await;
}

#[allow(dead_code)] // the demo includes this file for `producer`
fn main() {
    looplet::block_on(producer(Rc::new(|line| println!("{line}"))));
}
