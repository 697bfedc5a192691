//! A value that changes, and receivers that wait for the change: tokio's `watch`.
//!
//! [`channel(init)`](channel) makes a [`Sender`] and a [`Receiver`] sharing one value. The
//! sender replaces or modifies it; every receiver can [`borrow`](Receiver::borrow) the newest
//! value at any time and wait for the next change with [`changed`](Receiver::changed).
//!
//! Changes coalesce: each receiver remembers the version it last saw, so several sends before
//! it looks make one `changed`, after which it sees the newest value. The initial value counts
//! as seen. Once the sender is dropped, `changed` fails with [`RecvError`] (after reporting a
//! change the receiver had not seen yet), and [`has_changed`](Receiver::has_changed) fails at
//! once: tokio's rules.
//!
//! A [`Ref`] borrows the value in place. Do not hold one across an `.await`: while it lives,
//! a send panics (tokio's `watch` would deadlock instead).
//!
//! # Examples
//!
//! ```
//! use looplet::sync::watch;
//!
//! looplet::block_on(async {
//!     let (tx, mut rx) = watch::channel("starting");
//!     let observer = looplet::spawn(async move {
//!         let mut seen = Vec::new();
//!         while rx.changed().await.is_ok() {
//!             seen.push(*rx.borrow_and_update());
//!         }
//!         seen
//!     });
//!     looplet::yield_now().await; // the observer waits
//!     tx.send("running").unwrap();
//!     looplet::yield_now().await; // it sees "running"
//!     tx.send("stopping").unwrap();
//!     tx.send("stopped").unwrap(); // two sends before it looks: one change
//!     looplet::yield_now().await;
//!     drop(tx);
//!     assert_eq!(observer.await, ["running", "stopped"]);
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::waiters::{WaitList, WakeList};
use crate::slab::Key;

/// Creates a watch channel holding `init`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::watch::channel(1);
/// tx.send(2).unwrap();
/// assert_eq!(*rx.borrow(), 2);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(init),
        version: Cell::new(0),
        closed: Cell::new(false),
        receivers: Cell::new(1),
        waiters: RefCell::new(WaitList::new()),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, version: 0 },
    )
}

/// The value and its bookkeeping, in separate cells so that a [`Ref`] held on the value does
/// not stop receivers from registering.
struct Shared<T> {
    value: RefCell<T>,
    /// Bumped by every change.
    version: Cell<u64>,
    /// The sender is gone.
    closed: Cell<bool>,
    receivers: Cell<usize>,
    /// Receivers waiting in `changed`; a change drains them all.
    waiters: RefCell<WaitList<()>>,
}

impl<T> Shared<T> {
    fn wake_all(&self) {
        let mut wakers = WakeList::new();
        self.waiters.borrow_mut().drain(&mut wakers);
        wakers.wake();
    }
}

/// A borrow of the value in a watch channel; derefs to it.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::watch::channel(String::from("a"));
/// tx.send(String::from("b")).unwrap();
/// let value = rx.borrow();
/// assert!(value.has_changed());
/// assert_eq!(*value, "b");
/// ```
pub struct Ref<'a, T> {
    inner: std::cell::Ref<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it (always false from
    /// [`Sender::borrow`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = looplet::sync::watch::channel(0);
    /// assert!(!rx.borrow().has_changed());
    /// ```
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The sending half: replaces or modifies the value.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::watch::Sender<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::watch::channel(vec![1]);
/// tx.send_modify(|v| v.push(2));
/// assert_eq!(*rx.borrow(), [1, 2]);
/// ```
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and notifies every receiver.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value, left unsent, if there is no receiver.
    ///
    /// # Panics
    ///
    /// If a [`Ref`] of the value is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// assert_eq!(*tx.borrow(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.get() == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Replaces the value, receivers or not, and notifies them; returns the old value.
    ///
    /// # Panics
    ///
    /// If a [`Ref`] of the value is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = looplet::sync::watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.value_mut(), value);
        self.changed();
        old
    }

    /// Modifies the value in place, receivers or not, and notifies them.
    ///
    /// # Panics
    ///
    /// If a [`Ref`] of the value is alive, or `modify` borrows the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(1);
    /// tx.send_modify(|n| *n += 1);
    /// assert_eq!(*rx.borrow(), 2);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|value| {
            modify(value);
            true
        });
    }

    /// Modifies the value in place, and notifies receivers only if `modify` returns true.
    /// Returns what `modify` returned.
    ///
    /// # Panics
    ///
    /// As [`Sender::send_modify`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(5);
    /// assert!(!tx.send_if_modified(|n| std::mem::replace(n, 5) != 5));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = modify(&mut self.value_mut());
        if modified {
            self.changed();
        }
        modified
    }

    /// Borrows the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = looplet::sync::watch::channel('a');
    /// assert_eq!(*tx.borrow(), 'a');
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: false,
        }
    }

    /// A new receiver, which counts the current value as seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let shared = &self.shared;
        shared.receivers.set(shared.receivers.get() + 1);
        Receiver {
            shared: shared.clone(),
            version: shared.version.get(),
        }
    }

    /// How many receivers there are.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(());
    /// let rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.get()
    }

    /// Whether every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.receivers.get() == 0
    }

    fn value_mut(&self) -> std::cell::RefMut<'_, T> {
        self.shared
            .value
            .try_borrow_mut()
            .expect("looplet::sync::watch: cannot send while a Ref of the value is alive")
    }

    /// Bumps the version and wakes every waiting receiver.
    fn changed(&self) {
        let version = &self.shared.version;
        version.set(version.get() + 1);
        self.shared.wake_all();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.closed.set(true);
        self.shared.wake_all();
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("value", &self.shared.value.try_borrow().ok())
            .field("receivers", &self.shared.receivers.get())
            .finish()
    }
}

/// The receiving half: borrows the newest value and waits for changes. Clone it for more
/// receivers; a clone has seen what the original has seen.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::watch::Receiver<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let (tx, mut rx) = looplet::sync::watch::channel(0);
///     tx.send(1).unwrap();
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow_and_update(), 1);
/// });
/// ```
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
    /// The version this receiver has seen.
    version: u64,
}

impl<T> Receiver<T> {
    /// Borrows the newest value without marking it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow(), 2);
    /// assert!(rx.has_changed().unwrap()); // still unseen
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: self.version != self.shared.version.get(),
        }
    }

    /// Borrows the newest value and marks it seen.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = looplet::sync::watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert!(rx.borrow_and_update().has_changed());
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let current = self.shared.version.get();
        let has_changed = self.version != current;
        self.version = current;
        Ref {
            inner: self.shared.value.borrow(),
            has_changed,
        }
    }

    /// Whether there is a value this receiver has not seen.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender is gone (even if there is an unseen value: tokio's rule).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::watch::channel(0);
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.closed.get() {
            return Err(RecvError(()));
        }
        Ok(self.version != self.shared.version.get())
    }

    /// Marks the current value unseen, so the next `changed` returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = looplet::sync::watch::channel(0);
    /// rx.mark_changed();
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// ```
    pub fn mark_changed(&mut self) {
        self.version = self.shared.version.get().wrapping_sub(1);
    }

    /// Marks the current value seen, without borrowing it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = looplet::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// rx.mark_unchanged();
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// ```
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.version.get();
    }

    /// Waits for a value this receiver has not seen, and marks it seen. Returns at once if
    /// there already is one.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the sender is gone and every change was seen.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::sync::watch::channel(0);
    ///     tx.send(1).unwrap();
    ///     drop(tx);
    ///     assert!(rx.changed().await.is_ok()); // the unseen 1
    ///     assert!(rx.changed().await.is_err()); // then the closed channel
    /// });
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            receiver: self,
            key: None,
            done: false,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        let shared = &self.shared;
        shared.receivers.set(shared.receivers.get() + 1);
        Receiver {
            shared: shared.clone(),
            version: self.version,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let receivers = &self.shared.receivers;
        receivers.set(receivers.get() - 1);
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("value", &self.shared.value.try_borrow().ok())
            .field("has_changed", &(self.version != self.shared.version.get()))
            .field("closed", &self.shared.closed.get())
            .finish()
    }
}

/// The future returned by [`Receiver::changed`]. Dropping it loses nothing: an unseen change
/// stays unseen.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let (_tx, mut rx) = looplet::sync::watch::channel(0u8);
/// assert_send(&rx.changed());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Changed<'a, T> {
    receiver: &'a mut Receiver<T>,
    /// Our waiter node (stale once a change drained the list).
    key: Option<Key>,
    done: bool,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        let this = &mut *self;
        let shared = &*this.receiver.shared;
        let current = shared.version.get();
        let result = if this.receiver.version != current {
            this.receiver.version = current;
            Ok(())
        } else if shared.closed.get() {
            Err(RecvError(()))
        } else {
            let retired = shared
                .waiters
                .borrow_mut()
                .register(&mut this.key, cx.waker(), ());
            drop(retired);
            return Poll::Pending;
        };
        if let Some(key) = this.key.take() {
            let removed = shared.waiters.borrow_mut().remove(key);
            drop(removed);
        }
        this.done = true;
        Poll::Ready(result)
    }
}

impl<T> FusedFuture for Changed<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let removed = self.receiver.shared.waiters.borrow_mut().remove(key);
            drop(removed);
        }
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("waiting", &self.key.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A send failed because there is no receiver; holds the value.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::watch::channel(0);
/// drop(rx);
/// assert_eq!(tx.send(3).unwrap_err().into_inner(), 3);
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(looplet::sync::watch::SendError(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a watch channel with no receiver")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The sender is gone: no more changes will come.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::watch::channel(0);
/// drop(tx);
/// assert_eq!(rx.has_changed().unwrap_err().to_string(), "the watch sender was dropped");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the watch sender was dropped")
    }
}

impl std::error::Error for RecvError {}
