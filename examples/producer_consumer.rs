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

use looplet::channel;

/// Receives numbers, prints each, and answers "ok" to each: the generator `consumer()`.
async fn consumer(mut numbers: channel::Receiver<u32>, replies: channel::Sender<&'static str>) {
    while let Some(n) = numbers.recv().await {
        println!("[consumer]<--{n}");
        if replies.send("ok").await.is_err() {
            break; // the producer is gone
        }
    }
}

/// Produces 1..=10, handing each to the consumer and waiting for its answer: `producer(c)`.
async fn producer() {
    let (numbers, numbers_rx) = channel::bounded(1);
    let (replies_tx, mut replies) = channel::bounded(1);
    let consumer = looplet::spawn(consumer(numbers_rx, replies_tx));
    for n in 1..=10 {
        println!("[producer]-->{n}");
        numbers
            .send(n)
            .await
            .expect("the consumer runs until we stop");
        let reply = replies
            .recv()
            .await
            .expect("the consumer answers every number");
        println!("[producer] consumer return:{reply}");
    }
    // `c.close()`: dropping the sender ends the consumer's loop.
    drop(numbers);
    consumer.await;
}

fn main() {
    looplet::block_on(producer());
}
