//! `TaskGroup`: completion order, cancellation, panics, the stream, spawners.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use common::{Log, panic_message};
use futures_util::{FutureExt, StreamExt};
use looplet::sync::oneshot;
use looplet::{Executor, SpawnErrorKind, TaskGroup};

/// Counts its drops.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Yields `n` times.
async fn yields(n: usize) {
    for _ in 0..n {
        looplet::yield_now().await;
    }
}

#[test]
fn outputs_come_in_completion_order_not_spawn_order() {
    let log = Log::default();
    let order = looplet::block_on({
        let log = log.clone();
        async move {
            let mut group = TaskGroup::new();
            // Member `i` finishes after `delays[i]` yields.
            for (name, delay) in [("a", 3), ("b", 1), ("c", 4), ("d", 0), ("e", 2)] {
                let log = log.clone();
                group.spawn(async move {
                    yields(delay).await;
                    log.push(format!("finish {name}"));
                    name
                });
            }
            let mut order = Vec::new();
            while let Some(name) = group.next().await {
                log.push(format!("next {name}"));
                order.push(name);
            }
            order
        }
    });
    assert_eq!(order, ["d", "b", "e", "a", "c"]);
    let log = log.take();
    // Each output is taken after its member finished.
    for name in ["a", "b", "c", "d", "e"] {
        let finish = log.iter().position(|e| *e == format!("finish {name}"));
        let next = log.iter().position(|e| *e == format!("next {name}"));
        assert!(finish < next, "{log:?}");
    }
}

#[test]
fn next_on_an_empty_group_is_none() {
    looplet::block_on(async {
        let mut group = TaskGroup::<u32>::new();
        assert_eq!(group.next().await, None);
        assert_eq!(group.try_next(), None);
        assert!(group.is_empty());
        assert_eq!(group.len(), 0);
        group.spawn(async { 1 });
        assert_eq!(group.next().await, Some(1));
        assert_eq!(group.next().await, None, "empty again");
    });
}

#[test]
fn try_next_takes_only_what_is_ready() {
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        let (tx, rx) = oneshot::channel::<u32>();
        group.spawn(async move { rx.await.unwrap() });
        group.spawn(async { 2 });
        assert_eq!(group.try_next(), None, "nothing has run yet");
        looplet::yield_now().await;
        assert_eq!(group.try_next(), Some(2));
        assert_eq!(group.try_next(), None, "one still running");
        assert_eq!(group.len(), 1);
        tx.send(1).unwrap();
        assert_eq!(group.next().await, Some(1));
    });
}

#[test]
fn dropping_the_group_cancels_every_member() {
    let drops = Rc::new(Cell::new(0));
    let finished = Rc::new(Cell::new(0));
    looplet::block_on({
        let (drops, finished) = (drops.clone(), finished.clone());
        async move {
            let group = TaskGroup::new();
            for i in 0..10 {
                let guard = DropCount(drops.clone());
                let finished = finished.clone();
                group.spawn(async move {
                    let _guard = guard;
                    if i % 2 == 0 {
                        // Parked: waits on nothing that will ever come.
                        pending::<()>().await;
                    }
                    yields(3).await;
                    finished.set(finished.get() + 1);
                });
            }
            looplet::yield_now().await; // every member has run once; five are parked
            assert_eq!(drops.get(), 0);
            drop(group);
            // The cancelled futures are dropped the next time the loop gets to them.
            looplet::yield_now().await;
            assert_eq!(drops.get(), 10, "every member's future dropped");
            yields(10).await;
        }
    });
    assert_eq!(
        finished.get(),
        0,
        "no member ran on after the group was dropped"
    );
    assert_eq!(drops.get(), 10, "and none was dropped twice");
}

#[test]
fn dropping_the_group_drops_outputs_not_taken() {
    let drops = Rc::new(Cell::new(0));
    looplet::block_on({
        let drops = drops.clone();
        async move {
            let group = TaskGroup::new();
            for _ in 0..3 {
                let guard = DropCount(drops.clone());
                group.spawn(async move { guard });
            }
            looplet::yield_now().await;
            assert_eq!(group.len(), 3);
            assert_eq!(drops.get(), 0, "the outputs wait in the group");
            drop(group);
            assert_eq!(drops.get(), 3, "dropped with the group, at once");
        }
    });
}

#[test]
fn cancel_all_then_next_is_none() {
    let drops = Rc::new(Cell::new(0));
    looplet::block_on({
        let drops = drops.clone();
        async move {
            let mut group = TaskGroup::new();
            for i in 0..4 {
                let guard = DropCount(drops.clone());
                group.spawn(async move {
                    let _guard = guard;
                    if i > 0 {
                        pending::<()>().await;
                    }
                    i
                });
            }
            looplet::yield_now().await; // member 0 finished, its output is ready
            assert_eq!(group.len(), 4);
            group.cancel_all();
            assert!(group.is_empty());
            assert_eq!(group.next().await, None);
            assert_eq!(group.try_next(), None);
            looplet::yield_now().await;
            assert_eq!(drops.get(), 4);
            // The group is usable again, and a slot reused after a cancel is not confused
            // with the cancelled member that had it.
            group.spawn(async { 10 });
            group.spawn(async { 20 });
            let mut got: Vec<i32> = group.by_ref().collect().await;
            got.sort();
            assert_eq!(got, [10, 20]);
        }
    });
}

#[test]
fn a_cancelled_member_dropped_late_leaves_the_member_that_reused_its_slot_alone() {
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        group.spawn(pending::<u32>());
        group.spawn(pending::<u32>());
        looplet::yield_now().await; // both park
        group.cancel_all();
        // Spawned into the cancelled members' slots before their futures are dropped.
        group.spawn(async {
            yields(2).await;
            5
        });
        group.spawn(async { 6 });
        looplet::yield_now().await; // the cancelled futures are dropped here
        assert_eq!(group.len(), 2);
        let mut got: Vec<u32> = group.by_ref().collect().await;
        got.sort();
        assert_eq!(got, [5, 6]);
    });
}

#[test]
fn a_member_cancelled_while_queued_is_never_run() {
    let ran = Rc::new(Cell::new(false));
    looplet::block_on({
        let ran = ran.clone();
        async move {
            let mut group = TaskGroup::new();
            group.spawn(async move { ran.set(true) });
            group.cancel_all();
            yields(3).await;
            assert_eq!(group.next().await, None);
        }
    });
    assert!(!ran.get());
}

#[test]
fn a_member_panic_resumes_in_next_and_the_others_still_come_out() {
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        group.spawn(async {
            yields(2).await;
            "late"
        });
        group.spawn(async {
            looplet::yield_now().await;
            std::panic::panic_any(7_u32)
        });
        group.spawn(async { "early" });

        assert_eq!(group.next().await, Some("early"));
        let payload = AssertUnwindSafe(group.next())
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(
            payload.downcast_ref::<u32>(),
            Some(&7),
            "the original payload"
        );
        assert_eq!(group.len(), 1);
        assert_eq!(group.next().await, Some("late"));
        assert_eq!(group.next().await, None);
    });
}

#[test]
fn a_panic_in_a_finished_members_destructor_is_its_panic() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor");
        }
    }
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        group.spawn(async {
            let _bomb = PanicOnDrop;
            1
        });
        group.spawn(async { 2 });
        let payload = AssertUnwindSafe(group.next())
            .catch_unwind()
            .await
            .unwrap_err();
        assert_eq!(panic_message(&*payload), "destructor");
        assert_eq!(group.next().await, Some(2));
    });
}

#[test]
fn the_group_is_a_stream() {
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        for n in 0..5_u32 {
            group.spawn(async move {
                yields(5 - n as usize).await;
                n
            });
        }
        assert_eq!(StreamExt::next(&mut group).await, Some(4));
        let rest: Vec<u32> = (&mut group).map(|n| n * 10).collect().await;
        assert_eq!(rest, [30, 20, 10, 0]);
        assert!(futures_core::stream::FusedStream::is_terminated(&group));
        group.spawn(async { 9 });
        assert!(!futures_core::stream::FusedStream::is_terminated(&group));
        assert_eq!(group.collect::<Vec<_>>().await, [9]);
    });
}

#[test]
fn ten_thousand_members() {
    const N: u64 = 10_000;
    let drops = Rc::new(Cell::new(0));
    let total = looplet::block_on({
        let drops = drops.clone();
        async move {
            let mut group = TaskGroup::new();
            for i in 0..N {
                let guard = DropCount(drops.clone());
                group.spawn(async move {
                    let _guard = guard;
                    yields((i % 3) as usize).await;
                    i
                });
            }
            assert_eq!(group.len(), N as usize);
            let mut total = 0;
            let mut count = 0;
            while let Some(i) = group.next().await {
                total += i;
                count += 1;
            }
            assert_eq!(count, N);
            total
        }
    });
    assert_eq!(total, N * (N - 1) / 2);
    assert_eq!(drops.get(), N as usize);
}

#[test]
fn members_spawn_more_members_through_a_spawner() {
    /// Splits `n` into members of one until each is 1; the outputs sum to `n`.
    async fn split(spawner: looplet::task_group::Spawner<u32>, n: u32) -> u32 {
        looplet::yield_now().await;
        if n == 1 {
            return 1;
        }
        spawner.spawn(split(spawner.clone(), n / 2));
        spawner.spawn(split(spawner.clone(), n - n / 2));
        0
    }
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        group.spawn(split(group.spawner(), 50));
        let mut outputs = 0;
        let mut total = 0;
        while let Some(n) = group.next().await {
            outputs += 1;
            total += n;
        }
        assert_eq!(total, 50);
        assert_eq!(outputs, 50 + 49, "50 leaves and 49 splits");
    });
}

#[test]
fn a_spawner_fails_once_the_group_is_gone() {
    looplet::block_on(async {
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        assert!(spawner.try_spawn(async {}).is_ok());
        drop(group);
        let err = spawner.try_spawn(async {}).unwrap_err();
        assert_eq!(err.kind(), SpawnErrorKind::GroupClosed);
        let panic = std::panic::catch_unwind(AssertUnwindSafe(|| spawner.spawn(async {})));
        assert!(panic_message(&*panic.unwrap_err()).contains("dropped"));
    });
    let group = TaskGroup::<()>::new();
    let err = group.spawner().try_spawn(async {}).unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NoLoop, "no loop runs here");
    assert!(group.is_empty(), "a failed spawn adds nothing");
}

#[test]
fn a_dropped_next_future_loses_no_output() {
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        let (tx, rx) = oneshot::channel::<&str>();
        group.spawn(async move { rx.await.unwrap() });
        {
            // Poll `next` once (it waits), then drop it.
            let mut next = pin!(group.next());
            let polled = poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
        }
        tx.send("kept").unwrap();
        looplet::yield_now().await; // the member finishes with nobody waiting
        assert_eq!(group.len(), 1);
        // A select! whose other branch wins drops `next` too.
        let mut other = pin!(async {}.fuse());
        futures_util::select_biased! {
            _ = other => {}
            _ = group.next() => unreachable!("the other branch is ready first"),
        }
        assert_eq!(group.next().await, Some("kept"));
    });
}

#[test]
fn next_wakes_when_the_last_member_is_lost_with_its_loop() {
    // A member that a dropped loop took with it leaves the group: `next` does not wait for it.
    let mut group = TaskGroup::<u32>::new();
    let other = Executor::new();
    group.spawn_on(&other.handle(), pending());
    other.try_tick(); // the member parks
    assert_eq!(group.len(), 1);
    drop(other);
    assert!(group.is_empty());
    assert_eq!(looplet::block_on(group.next()), None);
}

#[test]
fn spawn_on_runs_members_on_the_given_loop() {
    let ex = Executor::new();
    let mut group = TaskGroup::new();
    for n in 0..3 {
        group.spawn_on(&ex.handle(), async move { n });
    }
    let got = ex.block_on(async move {
        let mut got = Vec::new();
        while let Some(n) = group.next().await {
            got.push(n);
        }
        got
    });
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn detach_all_lets_members_run_on_after_the_group_is_dropped() {
    let finished = Rc::new(RefCell::new(Vec::new()));
    looplet::block_on({
        let finished = finished.clone();
        async move {
            let mut group = TaskGroup::new();
            for n in 0..3 {
                let finished = finished.clone();
                group.spawn(async move {
                    yields(2).await;
                    finished.borrow_mut().push(n);
                    n
                });
            }
            group.detach_all();
            assert!(group.is_empty());
            assert_eq!(group.next().await, None);
            drop(group);
            yields(5).await;
        }
    });
    assert_eq!(*finished.borrow(), [0, 1, 2]);
}

#[test]
fn outputs_wait_in_the_group_until_taken() {
    // The members finish while nobody awaits the group; the group waits for nothing.
    looplet::block_on(async {
        let mut group = TaskGroup::new();
        for n in 0..3 {
            group.spawn(async move { n });
        }
        yields(2).await;
        let mut polls = 0;
        let got: Vec<i32> = poll_fn(|cx| {
            polls += 1;
            let mut got = Vec::new();
            while let Poll::Ready(Some(n)) = group.poll_next_unpin(cx) {
                got.push(n);
            }
            Poll::Ready(got)
        })
        .await;
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(polls, 1);
    });
}
