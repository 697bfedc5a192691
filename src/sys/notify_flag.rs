//! The flag that keeps cross-thread notifications to one eventfd write per sleep, and the
//! order that makes it lose no wake-up; model-checked with loom.
//!
//! A notifier *raises* the flag and writes the eventfd only if it was down. The loop, when
//! the eventfd reported readable, drains it and *then* lowers the flag, then looks at its
//! remote queue. The invariant, at any quiet moment: **the flag is up only while the eventfd
//! holds a write**, so every notification either finds the flag down and writes (a fresh
//! edge: the loop wakes), or finds it up and is covered by a write the loop has not yet
//! drained (the loop will look at the queue after draining it). Lowering before draining breaks
//! it: a notify between the two has its write drained away and leaves the flag up with the
//! eventfd empty, and no later notify ever writes again.
//!
//! `RUSTFLAGS="--cfg looplet_loom" cargo test --release --lib notify_flag` checks every
//! interleaving of two notifiers and one loop turn, and that the wrong order is caught. (The
//! cfg is looplet's own: a global `--cfg loom` would switch dependencies such as
//! event-listener to loom too, which they only support behind features of their own.) The
//! remote queue is modelled as a loom mutex around a `Vec`: `concurrent-queue`'s own
//! correctness is its business; what the model checks is the order of push, raise, drain,
//! lower and pop.

#[cfg(looplet_loom)]
use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(looplet_loom))]
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a notification is outstanding: set by the first notify since the loop last drained
/// the eventfd.
#[derive(Debug)]
pub(crate) struct NotifyFlag(AtomicBool);

impl NotifyFlag {
    pub(crate) fn new() -> NotifyFlag {
        NotifyFlag(AtomicBool::new(false))
    }

    /// Raises the flag; whether the caller must write the eventfd (the flag was down).
    pub(crate) fn raise(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }

    /// Lowers the flag. Only after the eventfd has been drained (see the module docs); the
    /// read-modify-write makes the work of every notify that saw the flag up visible to the
    /// loop's next look at its queue.
    pub(crate) fn lower(&self) {
        self.0.swap(false, Ordering::AcqRel);
    }

    /// Whether the flag is up.
    #[cfg(all(test, looplet_loom))]
    fn is_up(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(all(test, looplet_loom))]
mod tests {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    use super::NotifyFlag;

    /// The remote queue, as far as the protocol is concerned.
    type Queue = Mutex<Vec<u32>>;

    /// The loop's side of one turn, in the order the real loop uses (or the wrong one).
    fn loop_turn(
        flag: &NotifyFlag,
        eventfd: &AtomicUsize,
        queue: &Queue,
        drain_first: bool,
    ) -> usize {
        if eventfd.load(Ordering::SeqCst) > 0 {
            if drain_first {
                eventfd.swap(0, Ordering::SeqCst);
                flag.lower();
            } else {
                flag.lower();
                eventfd.swap(0, Ordering::SeqCst);
            }
        }
        queue.lock().expect("not poisoned").drain(..).count()
    }

    /// Two threads push a wake and notify while the loop runs a turn. Afterwards, whatever the
    /// interleaving: if the flag is up, the eventfd holds a write (later notifies are
    /// covered), and a wake left in the queue has a write waiting to wake the loop.
    fn model(drain_first: bool) {
        loom::model(move || {
            let flag = Arc::new(NotifyFlag::new());
            let eventfd = Arc::new(AtomicUsize::new(0));
            let queue = Arc::new(Queue::new(Vec::new()));
            let notifiers: Vec<_> = (0..2)
                .map(|i| {
                    let (flag, eventfd, queue) = (flag.clone(), eventfd.clone(), queue.clone());
                    thread::spawn(move || {
                        queue.lock().expect("not poisoned").push(i);
                        if flag.raise() {
                            eventfd.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            loop_turn(&flag, &eventfd, &queue, drain_first);
            for notifier in notifiers {
                notifier.join().expect("a notifier panicked");
            }
            let pending = eventfd.load(Ordering::SeqCst) > 0;
            assert!(
                !flag.is_up() || pending,
                "the flag is up with nothing to read"
            );
            let queued = !queue.lock().expect("not poisoned").is_empty();
            assert!(
                !queued || pending,
                "a wake is queued and nothing wakes the loop"
            );
        });
    }

    #[test]
    fn draining_before_lowering_loses_no_wake() {
        model(true);
    }

    /// The model bites: the order that once lost wakes fails it.
    #[test]
    #[should_panic(expected = "nothing")]
    fn lowering_before_draining_is_caught() {
        model(false);
    }
}
