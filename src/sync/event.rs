//! A flag that tasks wait to be set: asyncio's `Event`.

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

/// A flag, initially clear, that tasks can wait on: asyncio's `Event`.
///
/// [`wait`](Event::wait) returns at once while the flag is set, and otherwise waits until
/// [`set`](Event::set), which wakes every waiter. As in asyncio, a waiter that was woken by
/// `set` returns even if [`clear`](Event::clear) ran before it got to run.
///
/// `Event` is `!Send` and `!Sync` (share it through an `Rc`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::Event>();
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use looplet::sync::Event;
///
/// looplet::block_on(async {
///     let ready = Rc::new(Event::new());
///     let waiters: Vec<_> = (0..3)
///         .map(|n| {
///             let ready = ready.clone();
///             looplet::spawn(async move {
///                 ready.wait().await;
///                 n
///             })
///         })
///         .collect();
///     looplet::yield_now().await; // all three wait
///     ready.set(); // wakes every one
///     let mut sum = 0;
///     for w in waiters {
///         sum += w.await;
///     }
///     assert_eq!(sum, 3);
/// });
/// ```
pub struct Event {
    state: RefCell<State>,
    /// Local: the state is plain cells, and waiters are this loop's tasks.
    _local: PhantomData<Rc<()>>,
}

struct State {
    set: bool,
    /// Counts the times the flag went from clear to set, so a waiter knows it was set while it
    /// waited even if it is clear again.
    sets: u64,
    waiters: WaitList<()>,
}

impl Event {
    /// Creates a clear event. `const`, so it can live in a `thread_local!`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!looplet::sync::Event::new().is_set());
    /// ```
    pub const fn new() -> Event {
        Event {
            state: RefCell::new(State {
                set: false,
                sets: 0,
                waiters: WaitList::new(),
            }),
            _local: PhantomData,
        }
    }

    /// Sets the flag and wakes every waiter. Does nothing if it is already set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = looplet::sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// looplet::block_on(event.wait()); // returns at once
    /// ```
    pub fn set(&self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            if state.set {
                return;
            }
            state.set = true;
            state.sets += 1;
            state.waiters.drain(&mut wakers);
        }
        wakers.wake();
    }

    /// Clears the flag: later `wait`s wait for the next `set`.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = looplet::sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = looplet::sync::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// looplet::block_on(async {
    ///     let event = Rc::new(looplet::sync::Event::new());
    ///     let e = event.clone();
    ///     looplet::spawn(async move { e.set() }).detach();
    ///     event.wait().await;
    ///     assert!(event.is_set());
    /// });
    /// ```
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            key: None,
            sets: 0,
            done: false,
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Event")
            .field("set", &state.set)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let event = looplet::sync::Event::new();
/// assert_send(&event.wait());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    event: &'a Event,
    /// Our node while waiting (stale once `set` drained the list).
    key: Option<Key>,
    /// `State::sets` when we started waiting.
    sets: u64,
    done: bool,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let mut state = this.event.state.borrow_mut();
        let woken = this.key.is_some() && state.sets != this.sets;
        if state.set || woken {
            let removed = this.key.take().and_then(|key| state.waiters.remove(key));
            drop(state);
            drop(removed);
            this.done = true;
            return Poll::Ready(());
        }
        if this.key.is_none() {
            this.sets = state.sets;
        }
        let retired = state.waiters.register(&mut this.key, cx.waker(), ());
        drop(state);
        drop(retired);
        Poll::Pending
    }
}

impl FusedFuture for Wait<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let removed = self.event.state.borrow_mut().waiters.remove(key);
            drop(removed);
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("waiting", &self.key.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
