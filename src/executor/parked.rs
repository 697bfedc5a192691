//! The parked-task registry, and what keeps panics in user futures from escaping.
//!
//! Every task's future is wrapped in a [`Tracked`]: when it first returns `Pending`, it leaves
//! a clone of its waker in the loop's registry, so that dropping the executor can reach every
//! task still alive, wherever its waker went ([`drop_all`]). A task that completes on its
//! first poll never touches the registry.
//!
//! The registry is also what the task dump reads ([`crate::all_tasks`]): each entry has the
//! line that spawned the task (which every task carries: 8 bytes) and, for a task spawned with
//! a name or under the debug option, its [`Info`] (name, age, and under the debug option its
//! polls). Named tasks register as they are spawned, so the dump shows them before their first
//! poll; the others, debug option or not, when they first park. Nothing here runs per poll: the debug option's counting and timing is done by the run
//! loop, in a copy of it that only the debug option runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::Local;
use super::debug::Info;
use crate::context::{Enter, current_rc};
use crate::slab::Key;
use crate::task::{Origin, Outcome};
use crate::unwind::{catch, run_guarded};

/// A task in the registry.
pub(crate) struct Entry {
    /// The task's waker: waking it brings the task back to be dropped with the executor. Its
    /// data pointer is the task's id.
    pub(super) waker: Waker,
    /// Where the task was spawned.
    pub(super) location: Origin,
    /// What a named or debug-mode task records.
    pub(super) info: Option<Rc<Info>>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("location", &self.location)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Every task's future, wrapped so that a task that parks is known to the executor, and so
    /// that no panic of the user's future escapes into the loop or into async-task (which
    /// aborts the process on a panic in a future's destructor or an output's).
    ///
    /// A task that completes on its first poll never touches the registry; one that returns
    /// `Pending` registers its waker once and removes it when its future is dropped.
    ///
    /// The user's future is dropped here, in place, never by async-task: on completion inside
    /// the poll (a panicking destructor then counts as the task's panic), and on cancellation
    /// (its `Task` dropped, or its executor) in `drop`, under a guard that reports the panic
    /// the way a detached task's is reported.
    pub(super) struct Tracked<F> {
        #[pin]
        future: Option<F>,
        parked: Option<(Rc<Local>, Key)>,
        // Where the task was spawned.
        location: Origin,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                run_guarded(|| this.future.set(None));
            }
            if let Some((local, key)) = this.parked.take() {
                let entry = local.unpark(key);
                drop(entry);
            }
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
        #[cfg(feature = "tracing")]
        let _span =
            tracing::trace_span!("looplet::poll", task = %crate::task::TaskId::of(cx.waker()))
                .entered();
        let this = self.project();
        let mut future = this.future;
        let polled = catch(|| {
            let poll = future
                .as_mut()
                .as_pin_mut()
                .expect("async-task never polls a finished task")
                .poll(cx);
            if poll.is_ready() {
                // Dropped in place, now: a panic in its destructor is the task's panic.
                future.set(None);
            }
            poll
        });
        let output = match polled {
            Ok(Poll::Pending) => {
                if this.parked.is_none()
                    && let Some(local) = current_rc()
                {
                    let key = local.park_waker(cx.waker(), this.location);
                    *this.parked = Some((local, key));
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                // What is left of a future that panicked is dropped here; a second panic, in
                // its destructor, is reported and dropped: the first one is the task's.
                if future.is_some() {
                    run_guarded(|| future.set(None));
                }
                Err(payload)
            }
        };
        Poll::Ready(Outcome::new(output))
    }
}

impl<F> Tracked<F> {
    /// Wraps a task's future, spawned at `location`; `registered` is the loop and key of a
    /// task registered as it was spawned.
    pub(super) fn new(
        future: F,
        location: Origin,
        registered: Option<(Rc<Local>, Key)>,
    ) -> Tracked<F> {
        Tracked {
            future: Some(future),
            parked: registered,
            location,
        }
    }
}

/// Drops every task `local` still holds, on this thread: the executor is going away.
///
/// Every parked task is scheduled, so that it comes back as a runnable to drop; then the run
/// queue, the remote queue and the timers are drained until nothing is left, since dropping
/// a future or a callback runs user destructors, which may spawn tasks or start timers.
pub(super) fn drop_all(local: &Rc<Local>) {
    // Wakes from here on land in this loop's queue, which is drained below.
    let _enter = Enter::drop_tasks(local);
    // Schedule every parked task, so that each comes back as a runnable we can drop.
    let parked: Vec<Waker> = local.parked_wakers();
    for waker in parked {
        waker.wake();
    }
    loop {
        let next = local.queue.borrow_mut().pop_front();
        if let Some(job) = next {
            // Dropping a runnable closes its task and drops its future, here.
            drop(job);
            continue;
        }
        if let Ok(runnable) = local.shared.remote.pop() {
            drop(runnable);
            continue;
        }
        // Delayed calls, and timers of futures kept outside any task. Dropping them (or
        // the futures above) runs user destructors, which may spawn tasks or start timers:
        // go round until nothing is left.
        if local.timers.len() > 0 {
            local.timers.clear();
            continue;
        }
        if local.parked.borrow().is_empty() {
            break;
        }
        // A parked task is still alive but in neither queue: another thread has just
        // marked it scheduled and is about to push it into the remote queue.
        std::thread::yield_now();
    }
}
