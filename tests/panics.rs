//! Panics wherever the loop runs user code, beyond those tests/executor.rs and tests/time.rs
//! already cover (a task's poll, its future's `Drop` on cancel and at executor drop, an unread
//! output's `Drop`, a payload's `Drop`, a `call_later` callback): a payload chain that never
//! ends, a callback's payload, a callback's captured values dropped with the executor, and many
//! panicking destructors at one executor drop. Each time the loop goes on, and everything that
//! should be dropped is dropped, exactly once.
//!
//! The panic hook prints each of these panics on stderr: that output is expected.

use std::cell::Cell;
use std::future::pending;
use std::panic::panic_any;
use std::rc::Rc;
use std::time::Duration;

use looplet::{Executor, call_later};

thread_local! {
    /// How many `Chain` payloads this thread has dropped.
    static CHAIN_DROPS: Cell<usize> = const { Cell::new(0) };
}

/// A panic payload whose `Drop` panics with another `Chain`, `left` more times; then with a
/// plain message.
struct Chain {
    left: usize,
}

impl Drop for Chain {
    fn drop(&mut self) {
        CHAIN_DROPS.with(|d| d.set(d.get() + 1));
        match self.left {
            0 => panic!("the last link of the chain"),
            left => panic_any(Chain { left: left - 1 }),
        }
    }
}

/// Counts its drops in a shared cell; panics in `Drop` if `explode`.
struct Bomb {
    drops: Rc<Cell<usize>>,
    explode: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.explode {
            panic!("a destructor exploded (expected in this test)");
        }
    }
}

fn bomb(drops: &Rc<Cell<usize>>) -> Bomb {
    Bomb {
        drops: drops.clone(),
        explode: true,
    }
}

/// The payload of a detached task's panic panics in `Drop` with a second payload: that one is
/// dropped too (it used to be leaked), and its own panic's message as well.
#[test]
fn a_payload_whose_drop_panics_has_its_successor_dropped_too() {
    CHAIN_DROPS.with(|d| d.set(0));
    let after = looplet::block_on(async {
        looplet::spawn(async { panic_any(Chain { left: 1 }) }).detach();
        looplet::yield_now().await;
        looplet::spawn(async { "the loop goes on" }).await
    });
    assert_eq!(after, "the loop goes on");
    assert_eq!(
        CHAIN_DROPS.with(Cell::get),
        2,
        "both payloads of the chain were dropped"
    );
}

/// A chain of payloads that never ends (each `Drop` panics with the next) cannot hang the loop:
/// after a few links the rest is leaked, and the loop goes on.
#[test]
fn a_payload_chain_that_never_ends_is_cut_short() {
    CHAIN_DROPS.with(|d| d.set(0));
    let after = looplet::block_on(async {
        looplet::spawn(async { panic_any(Chain { left: usize::MAX }) }).detach();
        looplet::yield_now().await;
        looplet::spawn(async { "the loop goes on" }).await
    });
    assert_eq!(after, "the loop goes on");
    let drops = CHAIN_DROPS.with(Cell::get);
    assert!(
        (2..1000).contains(&drops),
        "{drops} links were dropped: more than one, and not forever"
    );
}

/// A `call_later` callback that panics with a payload whose `Drop` panics.
#[test]
fn a_callbacks_panic_payload_whose_drop_panics_is_caught() {
    CHAIN_DROPS.with(|d| d.set(0));
    let ran_after = looplet::block_on(async {
        call_later(Duration::ZERO, || panic_any(Chain { left: 0 }));
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        call_later(Duration::from_millis(1), move || r.set(true));
        looplet::sleep(Duration::from_millis(5)).await;
        ran.get()
    });
    assert!(ran_after, "a later callback still ran");
    assert_eq!(CHAIN_DROPS.with(Cell::get), 1);
}

/// Values captured by callbacks that never ran are dropped with the executor, each under a
/// guard: ten that panic do not stop the others (or the executor's drop) from finishing.
#[test]
fn callbacks_dropped_with_the_executor_may_panic_in_drop() {
    let drops = Rc::new(Cell::new(0));
    let ex = Executor::new();
    ex.block_on(async {
        for i in 0..20 {
            let mut held = bomb(&drops);
            held.explode = i % 2 == 0;
            call_later(Duration::from_secs(3600), move || drop(held));
        }
    });
    drop(ex);
    assert_eq!(drops.get(), 20, "every callback was dropped, once");
}

/// One executor drop with many panicking destructors of every kind at once: parked tasks,
/// tasks never polled, a task's unread output, and timers; every one runs, once.
#[test]
fn many_panicking_destructors_at_one_executor_drop_all_run() {
    let drops = Rc::new(Cell::new(0));
    let ex = Executor::new();
    for _ in 0..10 {
        let held = bomb(&drops);
        ex.spawn(async move {
            let _held = held;
            pending::<()>().await
        })
        .detach();
    }
    let held = bomb(&drops);
    let unread = ex.spawn(async move { held });
    ex.block_on(looplet::yield_now()); // those park; `unread` finishes, its output kept
    let d = drops.clone();
    ex.block_on(async move {
        for _ in 0..10 {
            let held = bomb(&d);
            call_later(Duration::from_secs(3600), move || drop(held));
        }
    });
    for _ in 0..10 {
        let held = bomb(&drops);
        ex.spawn(async move {
            let _held = held;
            pending::<()>().await
        })
        .detach(); // never polled
    }
    drop(unread); // the output is dropped here, under a guard
    assert_eq!(drops.get(), 1);
    drop(ex);
    assert_eq!(drops.get(), 31, "every destructor ran, once");
}

/// The payload of a panic in a destructor is user data too: a `Box<dyn Any>` the loop drops.
#[test]
fn a_destructor_panicking_with_a_loud_payload_at_executor_drop() {
    CHAIN_DROPS.with(|d| d.set(0));
    struct PanicsWithChain;
    impl Drop for PanicsWithChain {
        fn drop(&mut self) {
            panic_any(Chain { left: 1 });
        }
    }
    let ex = Executor::new();
    ex.spawn(async {
        let _held = PanicsWithChain;
        pending::<()>().await
    })
    .detach();
    ex.block_on(looplet::yield_now());
    drop(ex);
    assert_eq!(CHAIN_DROPS.with(Cell::get), 2);
}
