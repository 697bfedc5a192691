//! Local channels: back-pressure, closing, errors that hand values back, Stream use, fairness.

mod common;

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::{FutureExt, StreamExt, select};
use looplet::channel::{self, SendError, TryRecvError, TrySendError};

use common::Log;

/// With capacity 2 the producer runs at most two values ahead of the consumer.
#[test]
fn bounded_channel_applies_back_pressure() {
    let log = Log::default();
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(2);
        let l = log.clone();
        let producer = looplet::spawn(async move {
            for n in 0..5 {
                tx.send(n).await.unwrap();
                l.push(format!("sent {n}"));
            }
        });
        // Let the producer run until it blocks.
        for _ in 0..3 {
            looplet::yield_now().await;
        }
        log.push("consumer starts");
        while let Some(n) = rx.recv().await {
            log.push(format!("got {n}"));
        }
        producer.await;
    });
    let log = log.take();
    let start = log.iter().position(|e| e == "consumer starts").unwrap();
    assert_eq!(
        log[..start],
        ["sent 0", "sent 1"],
        "full after two: {log:?}"
    );
    // Never more than two sent-but-not-received values at any point.
    let mut in_flight = 0i32;
    for event in &log {
        if event.starts_with("sent") {
            in_flight += 1;
        } else if event.starts_with("got") {
            in_flight -= 1;
        }
        assert!(in_flight <= 2, "more than capacity in flight: {log:?}");
    }
    assert_eq!(log.iter().filter(|e| e.starts_with("got")).count(), 5);
}

#[test]
fn recv_returns_none_once_every_sender_is_dropped_and_the_queue_is_drained() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(8);
        let tx2 = tx.clone();
        tx.send(1).await.unwrap();
        tx2.send(2).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        let waiting = looplet::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        });
        looplet::yield_now().await;
        tx2.send(3).await.unwrap();
        drop(tx2); // wakes the parked receiver
        assert_eq!(waiting.await, [2, 3]);
    });
}

#[test]
fn send_error_hands_the_value_back() {
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(1);
        drop(rx);
        assert!(tx.is_closed());
        let SendError(value) = tx.send(String::from("payload")).await.unwrap_err();
        assert_eq!(value, "payload");
        assert_eq!(
            tx.try_send(String::from("again")),
            Err(TrySendError::Closed(String::from("again")))
        );
    });
}

/// Senders parked on a full channel get their values back when the receiver goes away.
#[test]
fn waiting_senders_get_their_values_back_when_the_receiver_drops() {
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(1);
        tx.send(0).await.unwrap();
        let blocked: Vec<_> = (1..=3)
            .map(|n| {
                let tx = tx.clone();
                looplet::spawn(async move { tx.send(n).await })
            })
            .collect();
        looplet::yield_now().await; // all three park
        drop(rx);
        for (n, task) in (1..=3).zip(blocked) {
            assert_eq!(task.await, Err(SendError(n)));
        }
    });
}

#[test]
fn receiver_is_a_stream() {
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(3);
        let producer = looplet::spawn(async move {
            for n in 1..=10u32 {
                tx.send(n).await.unwrap();
            }
        });
        let evens: Vec<u32> = rx
            .filter(|n| std::future::ready(n % 2 == 0))
            .collect()
            .await;
        producer.await;
        assert_eq!(evens, [2, 4, 6, 8, 10]);
    });
}

/// Waiting senders are served in the order they started waiting.
#[test]
fn waiting_senders_are_served_first_in_first_out() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(1);
        tx.send(0).await.unwrap();
        let senders: Vec<_> = (1..=4)
            .map(|n| {
                let tx = tx.clone();
                looplet::spawn(async move { tx.send(n).await.unwrap() })
            })
            .collect();
        looplet::yield_now().await;
        // A newcomer that arrives while others wait must queue behind them.
        assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
        drop(tx);
        let mut got = Vec::new();
        while let Some(n) = rx.recv().await {
            got.push(n);
        }
        for s in senders {
            s.await;
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

/// A send that is dropped while waiting (a timeout, a select) passes its turn on; the others
/// are not left waiting for a slot that nobody takes.
#[test]
fn a_cancelled_waiting_send_passes_its_slot_on() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(1);
        tx.send(0).await.unwrap();

        // `first` starts waiting, then gives up after being granted the slot.
        let mut first = Box::pin(tx.send(1));
        assert!(poll_fn(|cx| Poll::Ready(first.as_mut().poll(cx).is_pending())).await);
        let tx2 = tx.clone();
        let second = looplet::spawn(async move { tx2.send(2).await.unwrap() });
        looplet::yield_now().await; // `second` waits behind `first`

        assert_eq!(rx.recv().await, Some(0)); // frees a slot, reserved for `first`
        drop(first); // ... which gives it up
        second.await; // so `second` gets it
        assert_eq!(rx.recv().await, Some(2));

        // And one dropped before it was granted just leaves the line.
        tx.send(3).await.unwrap();
        let mut waiting = Box::pin(tx.send(4));
        assert!(poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx).is_pending())).await);
        drop(waiting);
        assert_eq!(rx.recv().await, Some(3));
        tx.send(5).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(5));
        assert_eq!(
            rx.recv().await,
            None,
            "the cancelled value 4 was never delivered"
        );
    });
}

#[test]
fn close_keeps_queued_values_and_refuses_new_ones() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::unbounded();
        tx.send("a").await.unwrap();
        tx.send("b").await.unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send("c").await, Err(SendError("c")));
        assert_eq!(rx.recv().await, Some("a"));
        assert_eq!(rx.try_recv(), Ok("b"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn try_send_and_try_recv() {
    let (tx, mut rx) = channel::bounded(2);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    tx.try_send(3).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn dropping_the_receiver_drops_queued_values_at_once() {
    let marker = Rc::new(());
    let (tx, rx) = channel::unbounded();
    tx.try_send(marker.clone()).unwrap();
    tx.try_send(marker.clone()).unwrap();
    assert_eq!(Rc::strong_count(&marker), 3);
    drop(rx);
    assert_eq!(Rc::strong_count(&marker), 1);
    drop(tx);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_is_refused() {
    let _ = channel::bounded::<()>(0);
}

/// A receiver future dropped while parked leaves nothing behind: the next recv works.
#[test]
fn a_dropped_recv_future_loses_nothing() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(1);
        {
            let mut recv = pin!(rx.recv());
            assert!(poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx).is_pending())).await);
        }
        tx.send(7).await.unwrap();
        assert_eq!(rx.recv().await, Some(7));
    });
}

/// Ping-pong over two capacity-1 channels: the pattern of the seeds' producer/consumer.
#[test]
fn ping_pong_over_two_channels() {
    let rounds = looplet::block_on(async {
        let (ping_tx, mut ping_rx) = channel::bounded::<u64>(1);
        let (pong_tx, mut pong_rx) = channel::bounded::<u64>(1);
        let ponger = looplet::spawn(async move {
            while let Some(n) = ping_rx.recv().await {
                pong_tx.send(n + 1).await.unwrap();
            }
        });
        let mut n = 0;
        for _ in 0..10_000 {
            ping_tx.send(n).await.unwrap();
            n = pong_rx.recv().await.unwrap();
        }
        drop(ping_tx);
        ponger.await;
        n
    });
    assert_eq!(rounds, 10_000);
}

// ------------------------------------------------------------------------------------------
// Several receivers (MPMC)
// ------------------------------------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Waiting receivers are served in the order they started waiting.
#[test]
fn cloned_receivers_are_served_first_in_first_out() {
    let log = Log::default();
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(1);
        let workers: Vec<_> = (0..3)
            .map(|i| {
                let (mut rx, log) = (rx.clone(), log.clone());
                looplet::spawn(async move {
                    while let Some(v) = rx.recv().await {
                        log.push(format!("worker {i} got {v}"));
                    }
                })
            })
            .collect();
        drop(rx);
        looplet::yield_now().await; // all three wait, in order
        for v in 0..6 {
            tx.send(v).await.unwrap();
            looplet::yield_now().await;
        }
        drop(tx);
        for w in workers {
            w.await;
        }
    });
    assert_eq!(
        log.take(),
        [
            "worker 0 got 0",
            "worker 1 got 1",
            "worker 2 got 2",
            "worker 0 got 3",
            "worker 1 got 4",
            "worker 2 got 5"
        ]
    );
}

/// A value handed to a receiver whose recv future is dropped before it ran goes to the next
/// waiting receiver; a newcomer cannot take it meanwhile.
#[test]
fn a_value_handed_to_a_dropped_recv_goes_to_the_next_receiver() {
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    let (tx, mut first) = channel::unbounded();
    let mut second = first.clone();
    let mut newcomer = first.clone();
    let mut recv1 = first.recv();
    let mut recv2 = second.recv();
    assert!(poll_with(&mut recv1, &waker).is_pending());
    assert!(poll_with(&mut recv2, &waker).is_pending());
    tx.try_send("job").unwrap();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the first is woken");
    assert_eq!(
        newcomer.try_recv(),
        Err(TryRecvError::Empty),
        "handed to the first: a newcomer cannot take it"
    );
    drop(recv1); // woken, never polled again
    assert_eq!(counter.0.load(Ordering::SeqCst), 2, "the second is woken");
    assert_eq!(poll_with(&mut recv2, &waker), Poll::Ready(Some("job")));
    drop(recv2);

    // With nobody else waiting, the value stays queued for whoever comes.
    let mut recv = second.recv();
    assert!(poll_with(&mut recv, &waker).is_pending());
    tx.try_send("again").unwrap();
    drop(recv);
    assert_eq!(newcomer.try_recv(), Ok("again"));
}

/// The channel stays open while any receiver lives; closing wakes every waiting receiver.
#[test]
fn the_channel_closes_with_the_last_receiver_and_close_wakes_every_receiver() {
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(2);
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed());
        tx.send(1).await.unwrap();
        drop(rx2);
        assert!(tx.is_closed());
        assert_eq!(tx.send(2).await, Err(SendError(2)));

        let (tx, rx) = channel::unbounded::<u8>();
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = rx.clone();
                looplet::spawn(async move { rx.recv().await })
            })
            .collect();
        looplet::yield_now().await;
        let mut closer = rx;
        closer.close();
        for w in waiting {
            assert_eq!(w.await, None);
        }
        assert!(tx.is_closed());
    });
}

/// Workers that keep abandoning their recv (a select against a yield) still receive every
/// value exactly once: hand-offs to abandoned recvs pass on.
#[test]
fn workers_that_cancel_their_recv_lose_no_value() {
    const VALUES: u32 = 500;
    let got = Rc::new(RefCell::new(Vec::new()));
    looplet::block_on(async {
        let (tx, rx) = channel::bounded(3);
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (mut rx, got) = (rx.clone(), got.clone());
                looplet::spawn(async move {
                    let mut turn = 0u32;
                    loop {
                        turn += 1;
                        // Every other turn, give up on recv after one yield.
                        let give_up = async {
                            if (turn + i).is_multiple_of(2) {
                                looplet::yield_now().await;
                            } else {
                                std::future::pending::<()>().await;
                            }
                        };
                        select! {
                            v = rx.recv() => match v {
                                Some(v) => got.borrow_mut().push(v),
                                None => break,
                            },
                            _ = give_up.fuse() => {}
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for v in 0..VALUES {
            tx.send(v).await.unwrap();
            if v.is_multiple_of(7) {
                looplet::yield_now().await;
            }
        }
        drop(tx);
        for w in workers {
            w.await;
        }
    });
    let mut got = got.take();
    got.sort();
    assert_eq!(
        got,
        (0..VALUES).collect::<Vec<_>>(),
        "each value exactly once"
    );
}

/// The first clone of a receiver that is waiting (through `poll_recv`) keeps it first in line:
/// the next value is its own, not the clone's, and only its waker is woken.
#[test]
fn a_receiver_waiting_when_first_cloned_stays_first_in_line() {
    let (first_woken, second_woken) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
    let (first_waker, second_waker) = (
        Waker::from(first_woken.clone()),
        Waker::from(second_woken.clone()),
    );
    let (tx, mut rx) = channel::unbounded();
    let mut first = poll_fn(|cx| rx.poll_recv(cx));
    assert!(poll_with(&mut first, &first_waker).is_pending());
    drop(first);
    let mut rx2 = rx.clone();
    let mut second = poll_fn(|cx| rx2.poll_recv(cx));
    assert!(poll_with(&mut second, &second_waker).is_pending());
    drop(second);
    tx.try_send(1).unwrap();
    assert_eq!(first_woken.0.load(Ordering::SeqCst), 1);
    assert_eq!(second_woken.0.load(Ordering::SeqCst), 0);
    assert_eq!(
        rx2.try_recv(),
        Err(TryRecvError::Empty),
        "handed to the first"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    tx.try_send(2).unwrap();
    assert_eq!(
        second_woken.0.load(Ordering::SeqCst),
        1,
        "then the clone is served"
    );
    assert_eq!(rx2.try_recv(), Ok(2));
}

/// A value handed to the only receiver (woken, not run yet) stays its own when the receiver
/// is then cloned: the clone cannot take it.
#[test]
fn a_value_handed_before_the_first_clone_stays_with_its_receiver() {
    let woken = Arc::new(Counter::default());
    let waker = Waker::from(woken.clone());
    let (tx, mut rx) = channel::unbounded();
    let mut recv = poll_fn(|cx| rx.poll_recv(cx));
    assert!(poll_with(&mut recv, &waker).is_pending());
    drop(recv);
    tx.try_send("mine").unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    let mut rx2 = rx.clone();
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.try_recv(), Ok("mine"));
    // Dropping the original with nothing handed to it leaves the clone a working receiver.
    drop(rx);
    tx.try_send("next").unwrap();
    assert_eq!(rx2.try_recv(), Ok("next"));
}

/// With one receiver (never cloned), a recv future dropped after a value was handed to it
/// leaves the value queued for the receiver's next recv: nothing is lost on the fast path.
#[test]
fn the_only_receiver_keeps_a_value_handed_to_a_dropped_recv() {
    looplet::block_on(async {
        let (tx, mut rx) = channel::bounded(1);
        {
            let mut recv = pin!(rx.recv());
            assert!(
                poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx)))
                    .await
                    .is_pending()
            );
            tx.try_send(5).unwrap(); // handed to the waiting recv, which is dropped unrun
        }
        assert_eq!(rx.recv().await, Some(5));
        drop(tx);
        assert_eq!(rx.recv().await, None);
    });
}

/// A bounded send that waits and is cancelled, again and again (a `timeout` around `send`),
/// leaves nothing behind in the senders' line. Before, each left a tombstone for good while
/// the channel stayed full.
#[test]
fn sends_cancelled_over_and_over_leave_the_line_empty() {
    let (tx, _rx) = channel::bounded::<u32>(1);
    tx.try_send(0).unwrap();
    let waker = Waker::noop();
    for n in 0..10_000 {
        let mut send = pin!(tx.send(n));
        let poll = send.as_mut().poll(&mut Context::from_waker(waker));
        assert!(poll.is_pending());
    }
    let shown = format!("{tx:?}");
    assert!(shown.contains("waiting_sends: 0"), "{shown}");
    assert!(shown.contains("send_line: 0"), "{shown}");
}

/// A `Send` polled again after it completed panics with looplet's message, before it changes
/// anything: the channel goes on working. Before, it joined the line with no value to send.
#[test]
fn a_send_polled_after_completion_panics_clearly_and_changes_nothing() {
    let (tx, mut rx) = channel::bounded::<u32>(1);
    let waker = Waker::noop();
    let mut send = Box::pin(tx.send(1));
    assert!(
        send.as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_ready()
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = send.as_mut().poll(&mut Context::from_waker(waker));
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("polled after completion"), "{message}");
    drop(send);
    assert_eq!(rx.try_recv(), Ok(1));
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    let shown = format!("{tx:?}");
    assert!(shown.contains("send_line: 0"), "{shown}");
}
