//! The cross-thread wake path: where a task's waker sends it when it fires away from the loop.
//!
//! A wake on the loop's own thread, while the loop runs, pushes the task's runnable straight
//! onto the run queue: no atomics beyond async-task's state word. Any other wake (another
//! thread, or this thread while the loop is not running) goes into one `ConcurrentQueue` and
//! notifies the loop through its [`Notifier`] (an eventfd, written once per sleep). The loop
//! drains that queue into its run queue at its next look outside ([`Local::drain_remote`]).
//!
//! [`Local::drain_remote`]: super::Local

use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Wake;

use concurrent_queue::ConcurrentQueue;

use super::run::Job;
use crate::context::with_current;
use crate::sys::Notifier;

/// A task's runnable: its metadata names the loop it belongs to.
pub(crate) type Runnable = async_task::Runnable<Arc<Shared>>;

/// The part of a loop that other threads touch: where their wakes go.
///
/// Every task's waker holds it, so it may outlive the loop: it holds no fd but the eventfd
/// that wakes the loop (the epoll instance belongs to the loop's [`Reactor`]).
pub(crate) struct Shared {
    /// Runnables woken on another thread (or on this thread while the loop is not running).
    pub(super) remote: ConcurrentQueue<Runnable>,
    /// Set when the `block_on` future's waker fires away from the running loop.
    pub(super) main_woken: AtomicBool,
    /// Wakes the loop if it sleeps in its poller.
    pub(crate) notifier: Notifier,
    /// Work outside the loop that will come back to it ([`Hold`]s alive): while there is any,
    /// a paused clock does not jump.
    outstanding: AtomicUsize,
}

/// Work outside the loop that the loop knows will come back to it: a pool job started by
/// `unblock`, a child process. While one is alive the loop's paused clock does not jump
/// (see `time::pause`).
///
/// The holder drops it once the result is in the loop's hands (a `Task` that has handed over
/// its output, a child reaped), so a jump can never slip in between a result's arrival and the
/// wake that delivers it.
pub(crate) struct Hold(Arc<Shared>);

impl Hold {
    /// A hold on the loop running on this thread, if there is one.
    pub(crate) fn current() -> Option<Hold> {
        with_current(|local| {
            local.map(|local| {
                local.shared.outstanding.fetch_add(1, Ordering::Relaxed);
                Hold(local.shared.clone())
            })
        })
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let shared = &self.0;
        if shared.outstanding.fetch_sub(1, Ordering::Release) == 1 {
            // The last hold let go away from its loop, which may be waiting for it: let it
            // look again. (On the loop's own thread, its next turn looks anyway.)
            let here = with_current(|local| {
                local.is_some_and(|local| ptr::eq(Arc::as_ptr(&local.shared), Arc::as_ptr(shared)))
            });
            if !here {
                shared.notifier.notify();
            }
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").finish_non_exhaustive()
    }
}

impl Shared {
    /// async-task's schedule function: where a woken task goes.
    ///
    /// A plain `fn` (the loop is found through the task's metadata), so that async-task need
    /// not hold a guard reference to the task, two atomic operations, around each call.
    pub(super) fn schedule(runnable: Runnable) {
        let runnable = with_current(|local| match local {
            Some(local) if ptr::eq(Arc::as_ptr(&local.shared), &**runnable.metadata()) => {
                local.push(Job::Task(runnable));
                None
            }
            _ => Some(runnable),
        });
        let Some(runnable) = runnable else {
            return;
        };
        // Once pushed, the runnable can run to completion on the loop's thread and free the
        // task, metadata included, before `notify` below: keep the loop alive ourselves.
        let shared = runnable.metadata().clone();
        if let Err(err) = shared.remote.push(runnable) {
            // The queue is unbounded and never closed, so this cannot happen. If it did,
            // leaking is the only sound choice: the runnable may own a future that must not
            // be dropped on this thread.
            std::mem::forget(err.into_inner());
            return;
        }
        // Nothing useful to do if the eventfd write fails: the loop is then already awake.
        shared.notifier.notify();
    }
}

/// The waker of the `block_on` future.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let queued = with_current(|local| match local {
            Some(local) if ptr::eq(Arc::as_ptr(&local.shared), Arc::as_ptr(self)) => {
                local.schedule_main();
                true
            }
            _ => false,
        });
        if !queued {
            self.main_woken.store(true, Ordering::Release);
            self.notifier.notify();
        }
    }
}

impl Shared {
    /// A loop's shared part, with its notifier.
    pub(super) fn new(notifier: Notifier) -> Shared {
        Shared {
            remote: ConcurrentQueue::unbounded(),
            main_woken: AtomicBool::new(false),
            notifier,
            outstanding: AtomicUsize::new(0),
        }
    }

    /// Whether work outside the loop is still on its way back to it ([`Hold`]).
    pub(super) fn has_outstanding(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) != 0
    }
}
