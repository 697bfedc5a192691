//! Wake one task or all waiting tasks, with no data: tokio's `Notify`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::waiters::{WaitList, WakeList};
use crate::slab::Key;

/// Notifies a task, or every waiting task, that something happened; tokio's `Notify`.
///
/// The rules, all tokio's:
///
/// - [`notify_one`](Notify::notify_one) wakes the task that has waited longest. If nobody
///   waits, it stores a *permit* instead, and the next `notified().await` returns at once,
///   consuming it. At most one permit is stored, however often `notify_one` is called.
/// - [`notify_waiters`](Notify::notify_waiters) wakes every [`Notified`] future that exists
///   when it is called, polled or not, and stores no permit. A `Notified` counts as waiting
///   for `notify_waiters` from the moment [`notified`](Notify::notified) creates it, so the
///   pattern "create the future, check the condition, then await" loses no wake-up.
/// - For `notify_one`, a `Notified` counts as waiting once it is first polled, or
///   [`enable`](Notified::enable)d; before that it can only take the stored permit.
/// - A `Notified` that was chosen by `notify_one` and then dropped before it completed passes
///   the notification on: to the next waiter, or back into the stored permit.
///
/// `Notify` is `!Send` and `!Sync` (share it through an `Rc`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::Notify>();
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use looplet::sync::Notify;
///
/// looplet::block_on(async {
///     let notify = Rc::new(Notify::new());
///     let waiter = {
///         let notify = notify.clone();
///         looplet::spawn(async move {
///             notify.notified().await;
///             "woken"
///         })
///     };
///     notify.notify_one(); // wakes it, or leaves a permit if it has not waited yet
///     assert_eq!(waiter.await, "woken");
/// });
/// ```
pub struct Notify {
    state: RefCell<State>,
    /// Local: the state is plain cells, and waiters are this loop's tasks.
    _local: PhantomData<Rc<()>>,
}

struct State {
    permit: bool,
    /// How many times `notify_waiters` has been called; a `Notified` remembers the count at
    /// its creation.
    waiters_calls: u64,
    /// Linked: waiting. Unlinked: notified, by the kind recorded.
    waiters: WaitList<Notification>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Notification {
    None,
    One,
    All,
}

impl State {
    /// Wakes the longest waiter, or stores the permit.
    fn notify_one(&mut self, wakers: &mut WakeList) {
        if !self
            .waiters
            .unlink_front(wakers, |n| *n = Notification::One)
        {
            self.permit = true;
        }
    }
}

impl Notify {
    /// Creates a `Notify` with no permit stored. `const`, so it can live in a `thread_local!`.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = looplet::sync::Notify::new();
    /// # drop(notify);
    /// ```
    pub const fn new() -> Notify {
        Notify {
            state: RefCell::new(State {
                permit: false,
                waiters_calls: 0,
                waiters: WaitList::new(),
            }),
            _local: PhantomData,
        }
    }

    /// A future that completes when this is notified (see the rules on [`Notify`]).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let notify = looplet::sync::Notify::new();
    ///     notify.notify_one(); // nobody waits: stores the permit
    ///     notify.notified().await; // takes it at once
    /// });
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            waiters_calls: self.state.borrow().waiters_calls,
            state: NotifiedState::Init,
        }
    }

    /// Wakes the task that has waited longest, or stores a permit if none waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// looplet::block_on(async {
    ///     let notify = Rc::new(looplet::sync::Notify::new());
    ///     let n = notify.clone();
    ///     let task = looplet::spawn(async move { n.notified().await });
    ///     looplet::yield_now().await; // the task waits
    ///     notify.notify_one();
    ///     task.await;
    /// });
    /// ```
    pub fn notify_one(&self) {
        let mut wakers = WakeList::new();
        self.state.borrow_mut().notify_one(&mut wakers);
        wakers.wake();
    }

    /// Wakes every [`Notified`] future that exists now, polled or not; stores no permit.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let notify = looplet::sync::Notify::new();
    ///     let a = notify.notified();
    ///     let b = notify.notified();
    ///     notify.notify_waiters(); // both exist, so both complete
    ///     a.await;
    ///     b.await;
    ///     // ... but nothing is stored for a later one.
    ///     let mut late = std::pin::pin!(notify.notified());
    ///     assert!(!late.as_mut().enable());
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.waiters_calls += 1;
            state
                .waiters
                .unlink_all(&mut wakers, |n| *n = Notification::All);
        }
        wakers.wake();
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Notify::notified`].
///
/// Dropping it while it waits leaves the line; dropping it after `notify_one` chose it, but
/// before it completed, passes that notification on.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let notify = looplet::sync::Notify::new();
/// assert_send(&notify.notified());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `State::waiters_calls` when this was created.
    waiters_calls: u64,
    state: NotifiedState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NotifiedState {
    Init,
    Waiting(Key),
    Done,
}

impl Notified<'_> {
    /// Joins the line for `notify_one` without polling (so without a waker) and says whether
    /// the future is already notified: then awaiting it returns at once.
    ///
    /// Use it to start waiting before doing something that may notify, when the future is
    /// awaited only later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    ///
    /// looplet::block_on(async {
    ///     let notify = looplet::sync::Notify::new();
    ///     let mut notified = pin!(notify.notified());
    ///     assert!(!notified.as_mut().enable()); // now in line
    ///     notify.notify_one(); // goes to it, not into the permit
    ///     notified.await;
    /// });
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        self.get_mut().poll_notified(None)
    }

    /// Moves the state machine on; `waker` is `None` for `enable`. True once notified.
    fn poll_notified(&mut self, waker: Option<&std::task::Waker>) -> bool {
        match self.state {
            NotifiedState::Done => true,
            NotifiedState::Init => {
                let mut state = self.notify.state.borrow_mut();
                // The stored permit first (tokio's order): a future that is notified anyway
                // takes it, so that it does not also release the next `notified()`.
                if std::mem::take(&mut state.permit) {
                    self.state = NotifiedState::Done;
                    return true;
                }
                if state.waiters_calls != self.waiters_calls {
                    // A `notify_waiters` since our creation: we count as notified.
                    self.state = NotifiedState::Done;
                    return true;
                }
                let key = state.waiters.push_back(waker, Notification::None);
                self.state = NotifiedState::Waiting(key);
                false
            }
            NotifiedState::Waiting(key) => {
                let mut state = self.notify.state.borrow_mut();
                if state.waiters.is_linked(key) {
                    if let Some(waker) = waker {
                        let retired = state.waiters.set_waker(key, waker);
                        drop(state);
                        drop(retired);
                    }
                    return false;
                }
                let removed = state.waiters.remove(key);
                drop(state);
                drop(removed);
                self.state = NotifiedState::Done;
                true
            }
        }
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.get_mut().poll_notified(Some(cx.waker())) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl FusedFuture for Notified<'_> {
    fn is_terminated(&self) -> bool {
        self.state == NotifiedState::Done
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let NotifiedState::Waiting(key) = self.state else {
            return;
        };
        let mut wakers = WakeList::new();
        let removed = {
            let mut state = self.notify.state.borrow_mut();
            let removed = state.waiters.remove(key);
            if let Some((Notification::One, _, _)) = removed {
                // Chosen by `notify_one` but never completed: pass it on.
                state.notify_one(&mut wakers);
            }
            removed
        };
        drop(removed);
        wakers.wake();
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
