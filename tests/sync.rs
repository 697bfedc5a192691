//! looplet::sync against its tokio/asyncio models: FIFO orders, cancellation at every await
//! point (a future dropped after it was woken but before it ran again), lagging broadcast
//! receivers, watch coalescing, Notify's permit, oneshot hand-backs, and wakers that are not
//! this loop's (a counting waker, a task on another executor, a waker that re-enters).

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::future::FusedFuture;
use futures_util::{FutureExt, StreamExt, select};
use looplet::Executor;
use looplet::sync::{
    AcquireError, Event, Mutex, Notify, Semaphore, TryAcquireError, broadcast, oneshot, watch,
};
use proptest::prelude::*;

use common::Log;

// ------------------------------------------------------------------------------------------
// Helpers: wakers that are not a looplet loop's
// ------------------------------------------------------------------------------------------

/// A waker that counts its wakes: a plain `std::task::Wake`, as a foreign executor has.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<Counter>) {
    let counter = Arc::new(Counter::default());
    (Waker::from(counter.clone()), counter)
}

fn wakes(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

/// Polls `fut` once with `waker`, outside any loop.
fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

thread_local! {
    /// What a `Reenter` waker runs when woken.
    static ON_WAKE: RefCell<Option<Box<dyn FnMut()>>> = RefCell::new(None);
}

/// A waker that, when woken, runs `ON_WAKE` on this thread: it re-enters whatever woke it, as
/// another executor's waker that polls synchronously might.
struct Reenter;

impl Wake for Reenter {
    fn wake(self: Arc<Self>) {
        let f = ON_WAKE.with(|slot| slot.borrow_mut().take());
        if let Some(mut f) = f {
            f();
        }
    }
}

fn reentering_waker(f: impl FnMut() + 'static) -> Waker {
    ON_WAKE.with(|slot| *slot.borrow_mut() = Some(Box::new(f)));
    Waker::from(Arc::new(Reenter))
}

// ------------------------------------------------------------------------------------------
// Mutex
// ------------------------------------------------------------------------------------------

/// Waiters get the lock in the order they asked; the lock is handed to the head waiter on
/// release, so a newcomer's `try_lock` in between fails.
#[test]
fn mutex_is_fifo_and_hands_the_lock_to_the_head_waiter() {
    let log = Log::default();
    looplet::block_on(async {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let guard = mutex.lock().await;
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let (mutex, log) = (mutex.clone(), log.clone());
                looplet::spawn(async move {
                    log.push(format!("{name} waits"));
                    let mut guard = mutex.lock().await;
                    log.push(format!("{name} locked"));
                    guard.push(name);
                    looplet::yield_now().await; // held across an await
                    log.push(format!("{name} unlocks"));
                })
            })
            .collect();
        looplet::yield_now().await; // all three wait
        drop(guard);
        assert!(
            mutex.try_lock().is_err(),
            "the lock went to `a`, a newcomer cannot barge in"
        );
        log.push("main released");
        for task in tasks {
            task.await;
        }
        assert_eq!(*mutex.lock().await, ["a", "b", "c"]);
    });
    assert_eq!(
        log.take(),
        [
            "a waits",
            "b waits",
            "c waits",
            "main released",
            "a locked",
            "a unlocks",
            "b locked",
            "b unlocks",
            "c locked",
            "c unlocks"
        ]
    );
}

/// A `lock()` future that was handed the lock and dropped before it ran passes it on.
#[test]
fn mutex_lock_dropped_after_hand_off_passes_the_lock_on() {
    let mutex = Mutex::new(0);
    let (waker, counter) = counting_waker();
    let guard = mutex.try_lock().unwrap();
    let mut first = mutex.lock();
    let mut second = mutex.lock();
    assert!(poll_with(&mut first, &waker).is_pending());
    assert!(poll_with(&mut second, &waker).is_pending());
    drop(guard);
    assert_eq!(wakes(&counter), 1, "the head waiter is woken");
    drop(first); // woken, never polled again
    assert_eq!(wakes(&counter), 2, "... and passes the lock on");
    let Poll::Ready(mut guard) = poll_with(&mut second, &waker) else {
        panic!("the second waiter must hold the lock now");
    };
    *guard += 1;
    drop(guard);
    drop(second);
    assert_eq!(mutex.into_inner(), 1, "no lock left held by nobody");
}

#[test]
fn mutex_lock_dropped_while_waiting_leaves_the_line() {
    let mutex = Mutex::new(());
    let (waker, counter) = counting_waker();
    let guard = mutex.try_lock().unwrap();
    let mut first = mutex.lock();
    let mut second = mutex.lock();
    assert!(poll_with(&mut first, &waker).is_pending());
    assert!(poll_with(&mut second, &waker).is_pending());
    drop(first);
    assert_eq!(wakes(&counter), 0);
    drop(guard);
    assert_eq!(wakes(&counter), 1);
    assert!(poll_with(&mut second, &waker).is_ready());
}

// ------------------------------------------------------------------------------------------
// Semaphore
// ------------------------------------------------------------------------------------------

/// tokio's rule: a large request at the head of the line blocks smaller ones behind it.
#[test]
fn semaphore_large_head_waiter_blocks_smaller_later_ones() {
    let log = Log::default();
    looplet::block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let spawn = |name: &'static str, n: u32| {
            let (sem, log) = (sem.clone(), log.clone());
            looplet::spawn(async move {
                let permit = sem.acquire_many(n).await.unwrap();
                log.push(format!("{name} got {n}"));
                looplet::yield_now().await;
                drop(permit);
            })
        };
        let big = spawn("big", 3);
        let small = spawn("small", 1);
        looplet::yield_now().await;
        drop(held); // 1 permit: collected by `big`, not given to `small`
        assert_eq!(sem.available_permits(), 0);
        looplet::yield_now().await;
        log.push("one released");
        sem.add_permits(2); // `big` has its 3
        big.await;
        small.await;
        assert_eq!(sem.available_permits(), 3);
    });
    assert_eq!(log.take(), ["one released", "big got 3", "small got 1"]);
}

#[test]
fn semaphore_serves_waiters_in_order() {
    let log = Log::default();
    looplet::block_on(async {
        let sem = Rc::new(Semaphore::new(0));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (sem, log) = (sem.clone(), log.clone());
                looplet::spawn(async move {
                    sem.acquire().await.unwrap().forget();
                    log.push(format!("{i}"));
                })
            })
            .collect();
        looplet::yield_now().await;
        for _ in 0..5 {
            sem.add_permits(1);
            looplet::yield_now().await;
        }
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(log.take(), ["0", "1", "2", "3", "4"]);
}

/// A cancelled acquire gives back the permits it had collected: they go on to the next waiter.
#[test]
fn semaphore_cancelled_acquire_passes_collected_permits_on() {
    let sem = Semaphore::new(0);
    let (waker, counter) = counting_waker();
    let mut big = sem.acquire_many(3);
    let mut small = sem.acquire();
    assert!(poll_with(&mut big, &waker).is_pending());
    assert!(poll_with(&mut small, &waker).is_pending());
    sem.add_permits(2); // both to `big`, which still lacks one
    assert_eq!((sem.available_permits(), wakes(&counter)), (0, 0));
    drop(big);
    assert_eq!(wakes(&counter), 1, "`small` is served from what `big` had");
    assert_eq!(sem.available_permits(), 1, "and the rest is free");
    let Poll::Ready(Ok(permit)) = poll_with(&mut small, &waker) else {
        panic!("`small` must have its permit");
    };
    drop(permit);
    assert_eq!(sem.available_permits(), 2);
}

/// An acquire that was served, woken, and dropped before it ran loses no permit.
#[test]
fn semaphore_acquire_dropped_after_being_served_loses_nothing() {
    let sem = Semaphore::new(2);
    let (waker, counter) = counting_waker();
    let held = sem.try_acquire_many(2).unwrap();
    let mut waiter = sem.acquire_many(2);
    assert!(poll_with(&mut waiter, &waker).is_pending());
    drop(held);
    assert_eq!(wakes(&counter), 1);
    assert_eq!(sem.available_permits(), 0, "handed to the waiter");
    drop(waiter);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn semaphore_close_fails_every_waiter_and_keeps_held_permits_valid() {
    looplet::block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                looplet::spawn(async move { sem.acquire().await.map(|p| p.num_permits()) })
            })
            .collect();
        looplet::yield_now().await;
        sem.close();
        for w in waiters {
            let err: AcquireError = w.await.unwrap_err();
            assert_eq!(err.to_string(), "semaphore closed");
        }
        assert!(sem.acquire().await.is_err(), "and so does a later acquire");
        assert_eq!(sem.try_acquire().map(|_| ()), Err(TryAcquireError::Closed));
        drop(held);
        assert_eq!(sem.available_permits(), 1, "a held permit still returns");
    });
}

/// One step of the semaphore property test.
#[derive(Clone, Debug)]
enum Op {
    /// Start an acquire of n permits, polled once at once (that takes its place in line).
    Acquire(u32),
    /// Poll every pending acquire: the served ones complete.
    Poll,
    /// Drop the i-th (mod len) pending acquire: waiting, or served and not yet polled.
    Cancel(usize),
    /// Drop the i-th (mod len) held permit.
    Release(usize),
    AddPermits(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..=4).prop_map(Op::Acquire),
        2 => Just(Op::Poll),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => any::<usize>().prop_map(Op::Release),
        1 => (0usize..=3).prop_map(Op::AddPermits),
    ]
}

/// tokio's semaphore, as simply as it can be said.
#[derive(Default)]
struct Model {
    free: usize,
    /// (id, wanted, collected), in line order.
    queue: VecDeque<(usize, u32, u32)>,
    /// Ids of the acquires that waited, in the order they were served.
    served: Vec<usize>,
}

impl Model {
    fn release(&mut self, mut n: usize) {
        while n > 0 {
            let Some(head) = self.queue.front_mut() else {
                break;
            };
            let give = n.min((head.1 - head.2) as usize);
            head.2 += give as u32;
            n -= give;
            if head.1 == head.2 {
                let (id, ..) = self.queue.pop_front().unwrap();
                self.served.push(id);
            }
        }
        self.free += n;
    }

    /// Whether the acquire is served at once, without waiting.
    fn acquire(&mut self, id: usize, n: u32) -> bool {
        if n == 0 || (self.queue.is_empty() && self.free >= n as usize) {
            self.free -= n as usize;
            true
        } else {
            let take = self.free.min(n as usize);
            self.free -= take;
            self.queue.push_back((id, n, take as u32));
            false
        }
    }

    /// An acquire dropped: it leaves the line and gives back what it collected, or, if it was
    /// served but never polled, gives back everything.
    fn cancel(&mut self, id: usize, n: u32) {
        if let Some(at) = self.queue.iter().position(|w| w.0 == id) {
            let (_, _, collected) = self.queue.remove(at).unwrap();
            self.release(collected as usize);
        } else {
            let at = self.served.iter().position(|&s| s == id).unwrap();
            self.served.remove(at);
            self.release(n as usize);
        }
    }
}

type Pending<'a> = Vec<(usize, u32, looplet::sync::Acquire<'a>)>;
type Held<'a> = Vec<(usize, u32, looplet::sync::SemaphorePermit<'a>)>;

/// Polls every pending acquire (in line order); moves the completed ones to `held` and
/// `served`.
fn poll_all<'a>(
    pending: &mut Pending<'a>,
    held: &mut Held<'a>,
    served: &mut Vec<usize>,
    waker: &Waker,
) {
    let mut still = Vec::new();
    for (id, n, mut fut) in pending.drain(..) {
        match poll_with(&mut fut, waker) {
            Poll::Ready(Ok(permit)) => {
                assert_eq!(permit.num_permits(), n as usize);
                served.push(id);
                held.push((id, n, permit));
            }
            Poll::Ready(Err(e)) => panic!("the semaphore is not closed: {e}"),
            Poll::Pending => still.push((id, n, fut)),
        }
    }
    *pending = still;
}

proptest! {
    /// Random acquire / poll / cancel / release / add_permits sequences against the model: the
    /// same permits are free after every step, the same acquires are served in the same order,
    /// and in the end every permit is back: none created, none lost.
    #[test]
    fn semaphore_matches_a_fifo_model(
        initial in 0usize..=4,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let sem = Semaphore::new(initial);
        let mut model = Model { free: initial, ..Model::default() };
        let mut total = initial;
        let (waker, _counter) = counting_waker();
        let mut pending: Pending<'_> = Vec::new();
        let mut held: Held<'_> = Vec::new();
        let mut served = Vec::new();
        for (id, op) in ops.into_iter().enumerate() {
            match op {
                Op::Acquire(n) => {
                    let at_once = model.acquire(id, n);
                    let mut fut = sem.acquire_many(n);
                    let ready = poll_with(&mut fut, &waker);
                    prop_assert_eq!(ready.is_ready(), at_once, "served at once iff the model is");
                    match ready {
                        Poll::Ready(Ok(permit)) => held.push((id, n, permit)),
                        Poll::Ready(Err(e)) => panic!("the semaphore is not closed: {e}"),
                        Poll::Pending => pending.push((id, n, fut)),
                    }
                }
                Op::Poll => {
                    poll_all(&mut pending, &mut held, &mut served, &waker);
                    prop_assert_eq!(&served, &model.served, "served in the model's order");
                }
                Op::Cancel(i) if !pending.is_empty() => {
                    let (id, n, fut) = pending.remove(i % pending.len());
                    drop(fut);
                    model.cancel(id, n);
                }
                Op::Release(i) if !held.is_empty() => {
                    let (_, n, permit) = held.remove(i % held.len());
                    drop(permit);
                    model.release(n as usize);
                }
                Op::AddPermits(n) => {
                    total += n;
                    sem.add_permits(n);
                    model.release(n);
                }
                Op::Cancel(_) | Op::Release(_) => {}
            }
            prop_assert_eq!(sem.available_permits(), model.free);
        }
        poll_all(&mut pending, &mut held, &mut served, &waker);
        prop_assert_eq!(&served, &model.served);
        drop(pending);
        drop(held);
        prop_assert_eq!(sem.available_permits(), total, "every permit is back");
    }
}

// ------------------------------------------------------------------------------------------
// Notify
// ------------------------------------------------------------------------------------------

/// tokio: notify_one with nobody waiting stores one permit, however often it is called.
#[test]
fn notify_one_stores_a_single_permit() {
    let notify = Notify::new();
    let (waker, _) = counting_waker();
    notify.notify_one();
    notify.notify_one();
    assert!(
        poll_with(&mut notify.notified(), &waker).is_ready(),
        "takes the permit"
    );
    let mut second = notify.notified();
    assert!(
        poll_with(&mut second, &waker).is_pending(),
        "only one was stored"
    );
}

#[test]
fn notify_one_wakes_waiters_first_in_first_out() {
    let log = Log::default();
    looplet::block_on(async {
        let notify = Rc::new(Notify::new());
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (notify, log) = (notify.clone(), log.clone());
                looplet::spawn(async move {
                    notify.notified().await;
                    log.push(format!("{i} woken"));
                })
            })
            .collect();
        looplet::yield_now().await;
        for i in [0, 1, 2] {
            log.push(format!("notify {i}"));
            notify.notify_one();
            looplet::yield_now().await;
        }
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(
        log.take(),
        [
            "notify 0", "0 woken", "notify 1", "1 woken", "notify 2", "2 woken"
        ]
    );
}

/// tokio: notify_waiters wakes every Notified that exists, polled or not, and stores nothing.
#[test]
fn notify_waiters_wakes_futures_that_exist_and_stores_no_permit() {
    let notify = Notify::new();
    let (waker, counter) = counting_waker();
    let mut polled = notify.notified();
    assert!(poll_with(&mut polled, &waker).is_pending());
    let mut created = notify.notified(); // never polled before the call
    notify.notify_waiters();
    assert_eq!(wakes(&counter), 1, "the polled one is woken");
    let mut later = notify.notified();
    assert!(poll_with(&mut polled, &waker).is_ready());
    assert!(
        poll_with(&mut created, &waker).is_ready(),
        "counted from its creation"
    );
    assert!(
        poll_with(&mut later, &waker).is_pending(),
        "no permit was stored"
    );
    notify.notify_one();
    assert!(poll_with(&mut later, &waker).is_ready());
}

/// tokio: a Notified chosen by notify_one and dropped before completing passes it on: to the
/// next waiter, else into the permit.
#[test]
fn notified_dropped_after_notify_one_passes_the_notification_on() {
    let notify = Notify::new();
    let (waker, counter) = counting_waker();
    let mut first = notify.notified();
    let mut second = notify.notified();
    assert!(poll_with(&mut first, &waker).is_pending());
    assert!(poll_with(&mut second, &waker).is_pending());
    notify.notify_one();
    assert_eq!(wakes(&counter), 1);
    drop(first); // woken, never polled again
    assert_eq!(wakes(&counter), 2, "the second waiter is woken");
    assert!(poll_with(&mut second, &waker).is_ready());

    // With nobody else waiting, the notification becomes the permit.
    let mut lone = notify.notified();
    assert!(poll_with(&mut lone, &waker).is_pending());
    notify.notify_one();
    drop(lone);
    assert!(poll_with(&mut notify.notified(), &waker).is_ready());

    // A Notified dropped while waiting (not chosen) passes nothing on.
    let mut waiting = notify.notified();
    assert!(poll_with(&mut waiting, &waker).is_pending());
    drop(waiting);
    assert!(poll_with(&mut notify.notified(), &waker).is_pending());
}

#[test]
fn notified_enable_joins_the_line_for_notify_one() {
    let notify = Notify::new();
    let mut enabled = pin!(notify.notified());
    let mut not_enabled = notify.notified();
    assert!(!enabled.as_mut().enable());
    notify.notify_one(); // goes to the enabled one, not into the permit
    assert!(enabled.as_mut().enable());
    let (waker, _) = counting_waker();
    assert!(
        poll_with(&mut not_enabled, &waker).is_pending(),
        "no permit was stored"
    );
    assert!(enabled.is_terminated());
    assert!(poll_with(&mut enabled, &waker).is_ready());
}

// ------------------------------------------------------------------------------------------
// Event
// ------------------------------------------------------------------------------------------

#[test]
fn event_wakes_every_waiter_and_returns_at_once_while_set() {
    let log = Log::default();
    looplet::block_on(async {
        let event = Rc::new(Event::new());
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (event, log) = (event.clone(), log.clone());
                looplet::spawn(async move {
                    event.wait().await;
                    log.push(format!("{i} saw it"));
                })
            })
            .collect();
        looplet::yield_now().await;
        log.push("set");
        event.set();
        for task in tasks {
            task.await;
        }
        event.wait().await; // set: at once
        event.clear();
        let (waker, _) = counting_waker();
        assert!(poll_with(&mut event.wait(), &waker).is_pending());
    });
    assert_eq!(log.take(), ["set", "0 saw it", "1 saw it", "2 saw it"]);
}

/// asyncio: a waiter woken by set() returns even if clear() ran before it got to run.
#[test]
fn event_waiter_woken_by_set_returns_even_if_cleared_before_it_runs() {
    let event = Event::new();
    let (waker, counter) = counting_waker();
    let mut wait = event.wait();
    assert!(poll_with(&mut wait, &waker).is_pending());
    event.set();
    event.clear();
    assert_eq!(wakes(&counter), 1);
    assert!(poll_with(&mut wait, &waker).is_ready());
    assert!(wait.is_terminated());
}

// ------------------------------------------------------------------------------------------
// oneshot
// ------------------------------------------------------------------------------------------

#[test]
fn oneshot_send_hands_the_value_back_once_the_receiver_is_gone() {
    let (tx, rx) = oneshot::channel();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(vec![1, 2]), Err(vec![1, 2]));

    let (tx, mut rx) = oneshot::channel();
    rx.close();
    assert_eq!(tx.send("refused"), Err("refused"));
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
}

#[test]
fn oneshot_dropped_sender_wakes_the_receiver_with_recv_error() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (waker, counter) = counting_waker();
    assert!(poll_with(&mut rx, &waker).is_pending());
    drop(tx);
    assert_eq!(wakes(&counter), 1);
    assert_eq!(
        poll_with(&mut rx, &waker),
        Poll::Ready(Err(oneshot::RecvError))
    );
    assert!(rx.is_terminated());
}

#[test]
fn oneshot_value_sent_before_close_can_still_be_received() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(7).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(7));
}

#[test]
fn oneshot_round_trip_between_tasks_and_sender_closed() {
    looplet::block_on(async {
        let (tx, rx) = oneshot::channel();
        let task = looplet::spawn(rx);
        looplet::yield_now().await;
        tx.send(String::from("hello")).unwrap();
        assert_eq!(task.await.as_deref(), Ok("hello"));

        let (mut tx, rx) = oneshot::channel::<()>();
        let dropper = looplet::spawn(async move {
            looplet::yield_now().await;
            drop(rx);
        });
        tx.closed().await;
        assert!(tx.is_closed());
        dropper.await;
    });
}

/// Dropping an un-received value's receiver drops the value at once.
#[test]
fn oneshot_dropping_the_receiver_drops_an_unreceived_value() {
    let marker = Rc::new(());
    let (tx, rx) = oneshot::channel();
    tx.send(marker.clone()).unwrap();
    assert_eq!(Rc::strong_count(&marker), 2);
    drop(rx);
    assert_eq!(Rc::strong_count(&marker), 1);
}

// ------------------------------------------------------------------------------------------
// broadcast
// ------------------------------------------------------------------------------------------

/// tokio: a receiver more than `capacity` behind gets Lagged(n) once, then the oldest kept.
#[test]
fn broadcast_lagging_receiver_gets_the_exact_count_then_the_oldest_kept_values() {
    looplet::block_on(async {
        let (tx, mut slow) = broadcast::channel(3);
        let mut fast = tx.subscribe();
        for n in 1..=8 {
            tx.send(n).unwrap();
            assert_eq!(fast.recv().await, Ok(n));
        }
        assert_eq!(slow.len(), 8);
        assert_eq!(slow.recv().await, Err(broadcast::RecvError::Lagged(5)));
        assert_eq!(slow.recv().await, Ok(6));
        assert_eq!(slow.try_recv(), Ok(7));
        tx.send(9).unwrap();
        assert_eq!(slow.recv().await, Ok(8));
        assert_eq!(slow.recv().await, Ok(9));
        assert_eq!(fast.recv().await, Ok(9));
        assert_eq!(slow.try_recv(), Err(broadcast::TryRecvError::Empty));
        drop(tx);
        assert_eq!(slow.recv().await, Err(broadcast::RecvError::Closed));
    });
}

#[test]
fn broadcast_every_receiver_gets_every_value_once_and_values_are_freed_when_all_have_it() {
    let log = Log::default();
    let marker = Rc::new(());
    looplet::block_on(async {
        let (tx, rx) = broadcast::channel::<(u32, Rc<()>)>(4);
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let mut rx = if i == 0 {
                    rx.resubscribe()
                } else {
                    tx.subscribe()
                };
                let log = log.clone();
                looplet::spawn(async move {
                    while let Ok((n, _)) = rx.recv().await {
                        log.push(format!("{i} got {n}"));
                    }
                })
            })
            .collect();
        drop(rx);
        looplet::yield_now().await;
        for n in 0..2 {
            assert_eq!(tx.send((n, marker.clone())), Ok(3));
            looplet::yield_now().await;
        }
        assert_eq!(Rc::strong_count(&marker), 1, "freed once all three have it");
        assert!(tx.is_empty());
        drop(tx);
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(
        log.take(),
        [
            "0 got 0", "1 got 0", "2 got 0", "0 got 1", "1 got 1", "2 got 1"
        ]
    );
}

/// A recv dropped after it was woken by a send, before it ran, loses nothing.
#[test]
fn broadcast_cancelled_recv_loses_no_value() {
    let (tx, mut rx) = broadcast::channel(2);
    let (waker, counter) = counting_waker();
    {
        let mut recv = rx.recv();
        assert!(poll_with(&mut recv, &waker).is_pending());
        tx.send('a').unwrap();
        assert_eq!(wakes(&counter), 1);
    } // dropped: woken, never polled again
    assert_eq!(rx.try_recv(), Ok('a'));
}

#[test]
fn broadcast_send_without_receivers_hands_the_value_back_and_clones_share_a_place() {
    let (tx, rx) = broadcast::channel(4);
    tx.send(1).unwrap();
    let mut clone = rx.clone(); // at the same place: also gets 1
    let mut fresh = rx.resubscribe(); // at the newest end
    tx.send(2).unwrap();
    assert_eq!(clone.try_recv(), Ok(1));
    assert_eq!(fresh.try_recv(), Ok(2));
    assert_eq!(tx.receiver_count(), 3);
    drop((rx, clone, fresh));
    assert_eq!(tx.send(3), Err(broadcast::SendError(3)));
    assert!(tx.is_empty(), "nothing kept for nobody");
}

#[test]
fn broadcast_receiver_is_a_fused_stream_of_results() {
    looplet::block_on(async {
        let (tx, mut rx) = broadcast::channel(2);
        for n in 0..3 {
            tx.send(n).unwrap();
        }
        drop(tx);
        let got: Vec<_> = (&mut rx).collect().await;
        assert_eq!(got, [Err(broadcast::Lagged(1)), Ok(1), Ok(2)]);
        assert!(futures_core::stream::FusedStream::is_terminated(&rx));
    });
}

// ------------------------------------------------------------------------------------------
// watch
// ------------------------------------------------------------------------------------------

/// tokio: several sends before the receiver looks make one change; it sees the newest value.
#[test]
fn watch_coalesces_several_sends_into_one_change() {
    let log = Log::default();
    looplet::block_on(async {
        let (tx, mut rx) = watch::channel(0);
        let l = log.clone();
        let observer = looplet::spawn(async move {
            while rx.changed().await.is_ok() {
                l.push(format!("saw {}", *rx.borrow_and_update()));
            }
            l.push("closed");
        });
        looplet::yield_now().await;
        for n in 1..=3 {
            tx.send(n).unwrap();
        }
        log.push("sent 1..=3");
        looplet::yield_now().await;
        tx.send_modify(|n| *n *= 10);
        log.push("modified");
        looplet::yield_now().await;
        assert!(
            !tx.send_if_modified(|_| false),
            "an unmodified value notifies nobody"
        );
        looplet::yield_now().await;
        drop(tx);
        observer.await;
    });
    assert_eq!(
        log.take(),
        ["sent 1..=3", "saw 3", "modified", "saw 30", "closed"]
    );
}

#[test]
fn watch_reports_an_unseen_change_before_the_closed_sender() {
    looplet::block_on(async {
        let (tx, mut rx) = watch::channel("a");
        tx.send("b").unwrap();
        drop(tx);
        assert!(
            rx.has_changed().is_err(),
            "has_changed: closed wins (tokio)"
        );
        assert_eq!(
            rx.changed().await,
            Ok(()),
            "changed: the unseen value wins (tokio)"
        );
        assert_eq!(*rx.borrow(), "b");
        assert!(rx.changed().await.is_err());
    });
}

#[test]
fn watch_cancelled_changed_loses_no_change() {
    let (tx, mut rx) = watch::channel(0);
    let (waker, counter) = counting_waker();
    {
        let mut changed = rx.changed();
        assert!(poll_with(&mut changed, &waker).is_pending());
        tx.send(1).unwrap();
        assert_eq!(wakes(&counter), 1);
    }
    assert_eq!(rx.has_changed(), Ok(true));
    assert!(poll_with(&mut rx.changed(), &waker).is_ready());
    assert_eq!(rx.has_changed(), Ok(false));
}

#[test]
fn watch_clones_share_what_was_seen_and_send_needs_a_receiver() {
    let (tx, mut rx) = watch::channel(1);
    tx.send(2).unwrap();
    let clone = rx.clone();
    assert_eq!(
        clone.has_changed(),
        Ok(true),
        "the clone has not seen 2 either"
    );
    rx.borrow_and_update();
    assert_eq!(rx.clone().has_changed(), Ok(false));
    assert_eq!(tx.receiver_count(), 2);
    drop((rx, clone));
    assert_eq!(tx.send(3), Err(watch::SendError(3)));
    assert_eq!(*tx.borrow(), 2, "a refused send leaves the value");
    assert_eq!(tx.send_replace(4), 2, "send_replace works with no receiver");
}

#[test]
#[should_panic(expected = "cannot send while a Ref of the value is alive")]
fn watch_send_while_a_ref_is_alive_panics_clearly() {
    let (tx, rx) = watch::channel(0);
    let _value = rx.borrow();
    let _ = tx.send(1);
}

// ------------------------------------------------------------------------------------------
// Wakers from elsewhere
// ------------------------------------------------------------------------------------------

/// Every primitive's future, polled with a plain counting waker outside any loop, is woken
/// exactly once by the event it waits for, and then completes.
#[test]
fn every_primitive_wakes_a_foreign_waker() {
    let (waker, counter) = counting_waker();
    let mut expected = 0;
    let mut check = |what: &str| {
        expected += 1;
        assert_eq!(wakes(&counter), expected, "{what} woke the foreign waker");
    };

    let mutex = Mutex::new(());
    let guard = mutex.try_lock().unwrap();
    let mut lock = mutex.lock();
    assert!(poll_with(&mut lock, &waker).is_pending());
    drop(guard);
    check("Mutex");
    assert!(poll_with(&mut lock, &waker).is_ready());

    let sem = Semaphore::new(0);
    let mut acquire = sem.acquire();
    assert!(poll_with(&mut acquire, &waker).is_pending());
    sem.add_permits(1);
    check("Semaphore");
    assert!(matches!(
        poll_with(&mut acquire, &waker),
        Poll::Ready(Ok(_))
    ));

    let notify = Notify::new();
    let mut notified = notify.notified();
    assert!(poll_with(&mut notified, &waker).is_pending());
    notify.notify_one();
    check("Notify");
    assert!(poll_with(&mut notified, &waker).is_ready());

    let event = Event::new();
    let mut wait = event.wait();
    assert!(poll_with(&mut wait, &waker).is_pending());
    event.set();
    check("Event");
    assert!(poll_with(&mut wait, &waker).is_ready());

    let (tx, mut rx) = oneshot::channel();
    assert!(poll_with(&mut rx, &waker).is_pending());
    tx.send(1).unwrap();
    check("oneshot");
    assert_eq!(poll_with(&mut rx, &waker), Poll::Ready(Ok(1)));

    let (tx, mut rx) = broadcast::channel(1);
    let mut recv = rx.recv();
    assert!(poll_with(&mut recv, &waker).is_pending());
    tx.send(1).unwrap();
    check("broadcast");
    assert_eq!(poll_with(&mut recv, &waker), Poll::Ready(Ok(1)));
    drop(recv);

    let (tx, mut rx) = watch::channel(0);
    let mut changed = rx.changed();
    assert!(poll_with(&mut changed, &waker).is_pending());
    tx.send(1).unwrap();
    check("watch");
    assert_eq!(poll_with(&mut changed, &waker), Poll::Ready(Ok(())));
    drop(changed);

    let (tx, mut rx) = looplet::channel::bounded(1);
    let mut recv = rx.recv();
    assert!(poll_with(&mut recv, &waker).is_pending());
    tx.try_send(1).unwrap();
    check("channel");
    assert_eq!(poll_with(&mut recv, &waker), Poll::Ready(Some(1)));
}

/// A task on another looplet executor, waiting on a primitive, is woken by a task of this
/// loop and finishes when its own executor next runs.
#[test]
fn a_task_on_another_executor_is_woken() {
    let other = Executor::new();
    let notify = Rc::new(Notify::new());
    let (tx, rx) = oneshot::channel::<u32>();
    let waiting = {
        let notify = notify.clone();
        other.spawn(async move {
            notify.notified().await;
            rx.await.unwrap()
        })
    };
    assert!(other.try_tick(), "the other loop's task starts and waits");
    assert!(!waiting.is_finished());
    looplet::block_on(async {
        notify.notify_one();
        tx.send(41).unwrap();
    });
    while other.try_tick() {}
    assert!(waiting.is_finished());
    assert_eq!(other.block_on(waiting), 41);
}

/// A waker that re-enters the primitive while being woken finds it consistent: no primitive
/// holds its borrow while waking.
#[test]
fn a_waker_that_reenters_finds_the_primitive_consistent() {
    // Mutex: the woken waiter holds the lock, so a re-entrant try_lock fails cleanly.
    let mutex = Rc::new(Mutex::new(0));
    let m = mutex.clone();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let waker = reentering_waker(move || *s.borrow_mut() = Some(m.try_lock().is_err()));
    let guard = mutex.try_lock().unwrap();
    let mut lock = mutex.lock();
    assert!(poll_with(&mut lock, &waker).is_pending());
    drop(guard);
    assert_eq!(*seen.borrow(), Some(true));
    assert!(poll_with(&mut lock, &waker).is_ready());

    // Notify: the waker polls a new Notified and notifies again, inside the wake.
    let notify = Rc::new(Notify::new());
    let n = notify.clone();
    let waker = reentering_waker(move || {
        n.notify_waiters();
        n.notify_one();
    });
    let mut notified = notify.notified();
    assert!(poll_with(&mut notified, &waker).is_pending());
    notify.notify_one();
    assert!(poll_with(&mut notified, &waker).is_ready());
    assert!(
        poll_with(&mut notify.notified(), &waker).is_ready(),
        "the re-entrant notify_one stored a permit"
    );

    // broadcast and watch: the waker receives / borrows inside the wake.
    let (tx, rx) = broadcast::channel(2);
    let rx = Rc::new(RefCell::new(rx));
    let r = rx.clone();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let waker =
        reentering_waker(move || *g.borrow_mut() = Some(r.borrow_mut().resubscribe().len()));
    {
        let mut rx = rx.borrow_mut();
        let mut recv = rx.recv();
        assert!(poll_with(&mut recv, &waker).is_pending());
        drop(recv);
    }
    // The recv was dropped, so nothing is woken; wait with poll_recv, which stays registered.
    assert!(
        rx.borrow_mut()
            .poll_recv(&mut Context::from_waker(&waker))
            .is_pending()
    );
    tx.send(5).unwrap();
    assert_eq!(*got.borrow(), Some(0));
    assert_eq!(rx.borrow_mut().try_recv(), Ok(5));

    let (tx, mut wrx) = watch::channel(0);
    let t = Rc::new(tx);
    let t2 = t.clone();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let waker = reentering_waker(move || *s.borrow_mut() = Some(*t2.borrow()));
    let mut changed = wrx.changed();
    assert!(poll_with(&mut changed, &waker).is_pending());
    t.send(9).unwrap();
    assert_eq!(*seen.borrow(), Some(9));
    assert!(poll_with(&mut changed, &waker).is_ready());
}

/// Every future is a FusedFuture, so select! takes them directly, and a losing branch's
/// future is dropped without losing what it waited for.
#[test]
fn select_takes_the_futures_and_the_loser_loses_nothing() {
    looplet::block_on(async {
        let notify = Notify::new();
        let sem = Semaphore::new(0);
        let (tx, mut rx) = broadcast::channel(1);
        let (mut_tx, mut mrx) = looplet::channel::unbounded();
        notify.notify_one();
        let winner = select! {
            _ = notify.notified() => "notify",
            p = sem.acquire() => { p.unwrap().forget(); "semaphore" },
            v = rx.recv() => { v.unwrap(); "broadcast" },
            v = mrx.recv() => { v.unwrap(); "channel" },
        };
        assert_eq!(winner, "notify");
        tx.send(1).unwrap();
        mut_tx.send(2).await.unwrap();
        sem.add_permits(1);
        // The losers above left nothing behind: each value is still there.
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(mrx.recv().await, Some(2));
        assert!(sem.acquire().now_or_never().is_some());
    });
}

// ------------------------------------------------------------------------------------------
// Review findings: closing a oneshot, user code under a borrow, add_permits' overflow,
// Notify's permit order
// ------------------------------------------------------------------------------------------

thread_local! {
    /// What a `DropHook` waker runs when its last reference goes.
    static ON_DROP: RefCell<Option<Box<dyn FnMut()>>> = RefCell::new(None);
}

/// A waker whose last drop runs `ON_DROP` on this thread: as a foreign executor's waker that
/// holds the last reference to a task does, whose future then uses the primitive.
struct DropHook;

impl Wake for DropHook {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropHook {
    fn drop(&mut self) {
        let f = ON_DROP.with(|slot| slot.borrow_mut().take());
        if let Some(mut f) = f {
            f();
        }
    }
}

/// A waker that, dropped for the last time, runs `f`; and a flag `f` is run.
fn drop_hook_waker(mut f: impl FnMut() + 'static) -> (Waker, Rc<std::cell::Cell<bool>>) {
    let ran = Rc::new(std::cell::Cell::new(false));
    let r = ran.clone();
    ON_DROP.with(|slot| {
        *slot.borrow_mut() = Some(Box::new(move || {
            f();
            r.set(true);
        }))
    });
    (Waker::from(Arc::new(DropHook)), ran)
}

/// tokio: a receiver closed with no value sent gives `RecvError` at once; before, awaiting it
/// hung (no send could ever succeed) and `try_recv` said `Empty` forever.
#[test]
fn oneshot_closed_with_no_value_completes_with_recv_error() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));

    let (tx2, mut rx2) = oneshot::channel::<u8>();
    rx2.close();
    let (waker, _) = counting_waker();
    assert_eq!(
        poll_with(&mut rx2, &waker),
        Poll::Ready(Err(oneshot::RecvError))
    );
    assert!(rx2.is_terminated());
    assert_eq!(tx2.send(1), Err(1));
    drop(tx);

    // Closed while waiting: the next poll ends the wait.
    let (_tx, mut rx) = oneshot::channel::<u8>();
    assert!(poll_with(&mut rx, &waker).is_pending());
    rx.close();
    assert_eq!(
        poll_with(&mut rx, &waker),
        Poll::Ready(Err(oneshot::RecvError))
    );
}

/// A value whose `Clone` uses the broadcast channel it is received from: the clone runs with
/// the channel's borrow released. Before, `rx.recv()` panicked with "already borrowed".
#[test]
fn broadcast_clones_a_value_with_the_channel_free_to_use() {
    thread_local! {
        static SENDER: RefCell<Option<broadcast::Sender<Reentrant>>> = const { RefCell::new(None) };
    }
    #[derive(Debug, PartialEq)]
    struct Reentrant(u32);
    impl Clone for Reentrant {
        fn clone(&self) -> Reentrant {
            let queued = SENDER.with(|tx| tx.borrow().as_ref().unwrap().len());
            Reentrant(self.0 * 100 + queued as u32)
        }
    }
    let (tx, mut rx1) = broadcast::channel(4);
    let mut rx2 = tx.subscribe();
    tx.send(Reentrant(7)).unwrap();
    SENDER.with(|slot| *slot.borrow_mut() = Some(tx));
    // rx1 is not the last reader: it gets a clone, made while one value is kept.
    assert_eq!(rx1.try_recv(), Ok(Reentrant(701)));
    // rx2 is the last: it gets the value itself, no clone.
    assert_eq!(rx2.try_recv(), Ok(Reentrant(7)));
    SENDER.with(|slot| slot.borrow_mut().take());
}

/// `add_permits` that would overflow panics before it serves anyone: the waiter keeps its
/// place and is woken by the next permits. Before, the waiter was served but never woken.
#[test]
fn semaphore_add_permits_overflow_changes_nothing() {
    let sem = Semaphore::new(0);
    let (waker, counter) = counting_waker();
    let mut acquire = sem.acquire_many(5);
    assert!(poll_with(&mut acquire, &waker).is_pending());
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.add_permits(usize::MAX)))
            .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("MAX_PERMITS"), "{message}");
    assert_eq!(wakes(&counter), 0);
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(5);
    assert_eq!(
        wakes(&counter),
        1,
        "the waiter was not woken by its permits"
    );
    assert!(poll_with(&mut acquire, &waker).is_ready());
}

/// tokio's order: a `Notified` made before a `notify_waiters` also takes the stored permit, so
/// the next `notified()` waits. Before, the permit survived and released it at once.
#[test]
fn notified_takes_the_stored_permit_even_when_notify_waiters_released_it() {
    let notify = Notify::new();
    let (waker, _) = counting_waker();
    notify.notify_one(); // nobody waits: a permit
    let mut first = notify.notified();
    notify.notify_waiters();
    assert!(poll_with(&mut first, &waker).is_ready());
    assert!(
        poll_with(&mut notify.notified(), &waker).is_pending(),
        "the permit was left behind"
    );
}

/// A waker replaced (or dropped with its node) is dropped with the primitive's borrow
/// released: its destructor may use the primitive. Before, each of these panicked with
/// "already borrowed".
#[test]
fn a_wakers_destructor_may_use_the_primitive_that_dropped_it() {
    let (other, _) = counting_waker();

    // oneshot: the receiver polled with a new waker drops the old one.
    let (tx, mut rx) = oneshot::channel::<u8>();
    let tx = Rc::new(tx);
    let t = tx.clone();
    let (waker, ran) = drop_hook_waker(move || assert!(!t.is_closed()));
    assert!(poll_with(&mut rx, &waker).is_pending());
    drop(waker);
    assert!(poll_with(&mut rx, &other).is_pending());
    assert!(ran.get());

    // Event: a wait polled again with another waker, and one dropped while waiting.
    let event = Rc::new(Event::new());
    let e = event.clone();
    let (waker, ran) = drop_hook_waker(move || assert!(!e.is_set()));
    let mut wait = event.wait();
    assert!(poll_with(&mut wait, &waker).is_pending());
    drop(waker);
    assert!(poll_with(&mut wait, &other).is_pending());
    assert!(ran.get());
    let e = event.clone();
    let (waker, ran) = drop_hook_waker(move || assert!(!e.is_set()));
    let mut wait = event.wait();
    assert!(poll_with(&mut wait, &waker).is_pending());
    drop(waker);
    drop(wait);
    assert!(ran.get());

    // Semaphore and Notify: a waiter polled with a new waker, one dropped while in line.
    let sem = Rc::new(Semaphore::new(0));
    let s = sem.clone();
    let (waker, ran) = drop_hook_waker(move || assert_eq!(s.available_permits(), 0));
    let mut acquire = sem.acquire();
    assert!(poll_with(&mut acquire, &waker).is_pending());
    drop(waker);
    assert!(poll_with(&mut acquire, &other).is_pending());
    assert!(ran.get());
    let notify = Rc::new(Notify::new());
    let n = notify.clone();
    let (waker, ran) = drop_hook_waker(move || n.notify_one());
    let mut notified = notify.notified();
    assert!(poll_with(&mut notified, &waker).is_pending());
    drop(waker);
    drop(notified);
    assert!(ran.get());
    assert!(
        poll_with(&mut notify.notified(), &other).is_ready(),
        "the destructor's notify_one stored a permit"
    );

    // broadcast: a receiver dropped while waiting.
    let (btx, mut brx) = broadcast::channel::<u8>(1);
    let btx = Rc::new(btx);
    let b = btx.clone();
    let (waker, ran) = drop_hook_waker(move || assert_eq!(b.len(), 0));
    assert!(brx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
    drop(waker);
    drop(brx);
    assert!(ran.get());

    // channel: a cloned receiver polled with a new waker, and one dropped while waiting.
    let (ctx, mut crx) = looplet::channel::unbounded::<u8>();
    let _clone = crx.clone();
    let ctx = Rc::new(ctx);
    let c = ctx.clone();
    let (waker, ran) = drop_hook_waker(move || assert!(c.try_send(1).is_ok()));
    assert!(crx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
    drop(waker);
    assert!(crx.poll_recv(&mut Context::from_waker(&other)).is_pending());
    assert!(ran.get());
    assert_eq!(crx.try_recv(), Ok(1));
}
