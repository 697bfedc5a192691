//! A bounded channel where every receiver sees every value: tokio's `broadcast`.
//!
//! [`channel(capacity)`](channel) makes a [`Sender`] (clone it for more producers) and a
//! [`Receiver`]; [`Sender::subscribe`] adds receivers, each of which gets a clone of every
//! value sent after it subscribed. A value is stored once, in a ring of `capacity` slots, and
//! dropped as soon as every receiver has received it (the last receiver gets the value itself,
//! not a clone).
//!
//! **Lagging.** A receiver that falls behind does not hold the senders up: when the ring is
//! full, a send drops the oldest value. The receivers that had not received it get
//! [`RecvError::Lagged(n)`](RecvError::Lagged) once, `n` being how many values they missed,
//! and then continue from the oldest value still kept. This is tokio's rule, except that the
//! ring holds exactly `capacity` values (tokio rounds up to a power of two).
//!
//! **Closing.** Once every sender is dropped, receivers get what is still queued for them, then
//! [`RecvError::Closed`]. A send with no receiver fails with [`SendError`], handing the value
//! back; it is not stored for later subscribers.
//!
//! **Streams.** Unlike tokio's, a [`Receiver`] is also a [`Stream`], like
//! [`channel::Receiver`](crate::channel::Receiver): it yields `Ok(value)`, or `Err(Lagged(n))`
//! where `recv` would say `RecvError::Lagged(n)`, and ends where `recv` would say
//! `RecvError::Closed` (tokio-stream's `BroadcastStream` does the same).
//!
//! # Examples
//!
//! ```
//! use looplet::sync::broadcast::{self, RecvError};
//!
//! looplet::block_on(async {
//!     let (tx, mut rx1) = broadcast::channel(2);
//!     let mut rx2 = tx.subscribe();
//!     tx.send(1).unwrap();
//!     tx.send(2).unwrap();
//!     assert_eq!(rx1.recv().await, Ok(1));
//!     tx.send(3).unwrap(); // the ring is full: rx2 loses 1
//!     assert_eq!(rx1.recv().await, Ok(2));
//!     assert_eq!(rx2.recv().await, Err(RecvError::Lagged(1)));
//!     assert_eq!(rx2.recv().await, Ok(2));
//!     drop(tx);
//!     assert_eq!(rx2.recv().await, Ok(3));
//!     assert_eq!(rx2.recv().await, Err(RecvError::Closed));
//! });
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_core::{FusedStream, Stream};

use super::waiters::{WaitList, WakeList};
use crate::slab::Key;

/// Creates a broadcast channel that keeps at most `capacity` values.
///
/// # Panics
///
/// If `capacity` is 0.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = looplet::sync::broadcast::channel(16);
/// assert_eq!(tx.send("hi"), Ok(1)); // one receiver got it
/// assert_eq!(rx.try_recv(), Ok("hi"));
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "looplet::sync::broadcast: capacity must be at least 1"
    );
    let shared = Rc::new(RefCell::new(Shared {
        ring: VecDeque::new(),
        head: 0,
        capacity,
        senders: 1,
        receivers: 1,
        waiters: WaitList::new(),
    }));
    let receiver = Receiver {
        shared: shared.clone(),
        next: 0,
        waiter: None,
    };
    (Sender { shared }, receiver)
}

/// # Invariant
///
/// `ring[i]` holds the value sent at position `head + i`; `tail = head + ring.len()`. A slot's
/// `unread` is the number of receivers whose `next` is at or before it: it never decreases
/// along the ring, and the front slot's is > 0 (a slot every receiver has read is dropped at
/// once). So a receiver with `next < head` has missed `head - next` values.
struct Shared<T> {
    ring: VecDeque<Slot<T>>,
    head: u64,
    capacity: usize,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for a value; a send drains them all.
    waiters: WaitList<()>,
}

/// A value and how many receivers have yet to get it. The value sits behind an `Rc` so that a
/// receiver clones it with the channel's borrow released: `T::clone` is the user's code, and
/// may use the channel (or panic) without finding it borrowed.
struct Slot<T> {
    value: Rc<T>,
    unread: usize,
}

impl<T> Shared<T> {
    fn tail(&self) -> u64 {
        self.head + self.ring.len() as u64
    }

    /// Drops the receiver at `next` from the `unread` counts; returns the slots nobody needs
    /// any more, to be dropped once the borrow is released.
    fn forget_reader(&mut self, next: u64) -> Vec<Slot<T>> {
        let from = next.saturating_sub(self.head) as usize;
        for slot in self.ring.iter_mut().skip(from) {
            slot.unread -= 1;
        }
        let mut unneeded = Vec::new();
        while self.ring.front().is_some_and(|slot| slot.unread == 0) {
            unneeded.extend(self.ring.pop_front());
            self.head += 1;
        }
        unneeded
    }
}

impl<T> Shared<T> {
    /// Receives the value at `*next` for one receiver, moving it on. The caller turns the
    /// `Rc` into a `T` with [`own`] once the borrow is released.
    fn try_recv(&mut self, next: &mut u64) -> Result<Rc<T>, TryRecvError> {
        if *next < self.head {
            let missed = self.head - *next;
            *next = self.head;
            return Err(TryRecvError::Lagged(missed));
        }
        let index = (*next - self.head) as usize;
        let Some(slot) = self.ring.get_mut(index) else {
            return Err(if self.senders == 0 {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        };
        *next += 1;
        slot.unread -= 1;
        if slot.unread > 0 {
            return Ok(Rc::clone(&slot.value));
        }
        // The last reader: every older slot is gone already, so this is the front. It gets
        // the value itself.
        debug_assert_eq!(index, 0, "unread counts must not decrease along the ring");
        let slot = self.ring.pop_front().expect("the slot just read");
        self.head += 1;
        Ok(slot.value)
    }
}

/// A received value as the receiver's own: the value itself if this was its last reader (so
/// the last receiver gets it without a clone), a clone otherwise. Called with no borrow held.
/// Should `T::clone` panic, this receiver has moved past the value (tokio's rule too).
fn own<T: Clone>(value: Rc<T>) -> T {
    Rc::try_unwrap(value).unwrap_or_else(|shared| T::clone(&shared))
}

/// The sending half; clone it for more producers.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::broadcast::Sender<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// let (tx, _rx) = looplet::sync::broadcast::channel::<u8>(4);
/// let tx2 = tx.clone();
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// assert_eq!(tx.len(), 2);
/// ```
pub struct Sender<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T> Sender<T> {
    /// Sends a value to every receiver; returns how many there are.
    ///
    /// If the ring is full, the oldest value is dropped, and receivers that had not received it
    /// will get [`RecvError::Lagged`].
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if there is no receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::broadcast::channel(1);
    /// let rx2 = tx.subscribe();
    /// assert_eq!(tx.send(1), Ok(2));
    /// drop((rx, rx2));
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wakers = WakeList::new();
        let (receivers, evicted) = {
            let mut shared = self.shared.borrow_mut();
            if shared.receivers == 0 {
                return Err(SendError(value));
            }
            let evicted = if shared.ring.len() == shared.capacity {
                shared.head += 1;
                shared.ring.pop_front()
            } else {
                None
            };
            let receivers = shared.receivers;
            shared.ring.push_back(Slot {
                value: Rc::new(value),
                unread: receivers,
            });
            shared.waiters.drain(&mut wakers);
            (receivers, evicted)
        };
        drop(evicted);
        wakers.wake();
        Ok(receivers)
    }

    /// A new receiver, which gets the values sent from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = looplet::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(late.try_recv(), Ok(2));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let mut shared = self.shared.borrow_mut();
        shared.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: shared.tail(),
            waiter: None,
        }
    }

    /// How many receivers there are.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::broadcast::channel::<()>(1);
    /// assert_eq!(tx.receiver_count(), 1);
    /// drop(rx);
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.borrow().receivers
    }

    /// How many values are kept: sent, and not yet received by every receiver (nor dropped for
    /// lack of room).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = looplet::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// rx.try_recv().unwrap();
    /// assert_eq!(tx.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.borrow().ring.len()
    }

    /// Whether no value is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = looplet::sync::broadcast::channel::<u8>(4);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.borrow().ring.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.borrow_mut().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut shared = self.shared.borrow_mut();
            shared.senders -= 1;
            if shared.senders == 0 {
                shared.waiters.drain(&mut wakers);
            }
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared.borrow();
        f.debug_struct("Sender")
            .field("queued", &shared.ring.len())
            .field("capacity", &shared.capacity)
            .field("receivers", &shared.receivers)
            .finish()
    }
}

/// The receiving half; every receiver gets every value sent after it subscribed.
///
/// Cloning a receiver makes one at the same place: both get the same values from there on.
/// [`resubscribe`](Receiver::resubscribe) makes one that starts at the newest end, as
/// [`Sender::subscribe`] does.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::broadcast::Receiver<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
///
/// looplet::block_on(async {
///     let (tx, rx) = looplet::sync::broadcast::channel(8);
///     for n in 1..=3 {
///         tx.send(n).unwrap();
///     }
///     drop(tx);
///     let got: Vec<_> = rx.map(Result::unwrap).collect().await;
///     assert_eq!(got, [1, 2, 3]);
/// });
/// ```
pub struct Receiver<T> {
    shared: Rc<RefCell<Shared<T>>>,
    /// The position of the next value this receiver gets.
    next: u64,
    /// Our waiter node while waiting (stale once a send drained the list).
    waiter: Option<Key>,
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value, waiting until one is sent.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged(n)`](RecvError::Lagged) if this receiver missed `n` values (the
    /// next call continues from the oldest value kept), [`RecvError::Closed`] once every sender
    /// is gone and every value was received.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::sync::broadcast::channel(1);
    ///     looplet::spawn(async move { tx.send('x').unwrap() }).detach();
    ///     assert_eq!(rx.recv().await, Ok('x'));
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            done: false,
        }
    }

    /// Receives the next value if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value is ready; otherwise as [`Receiver::recv`].
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::sync::broadcast::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = broadcast::channel(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let value = self.shared.borrow_mut().try_recv(&mut self.next);
        value.map(own)
    }

    /// Polls for the next value: the low-level form of [`Receiver::recv`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::sync::broadcast::channel(1);
    ///     tx.send(5).unwrap();
    ///     assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Ok(5));
    /// });
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut shared = self.shared.borrow_mut();
        let result = match shared.try_recv(&mut self.next) {
            Ok(value) => Ok(value),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
            Err(TryRecvError::Empty) => {
                let retired = shared.waiters.register(&mut self.waiter, cx.waker(), ());
                drop(shared);
                drop(retired);
                return Poll::Pending;
            }
        };
        let stale = self
            .waiter
            .take()
            .and_then(|key| shared.waiters.remove(key));
        drop(shared);
        drop(stale);
        Poll::Ready(result.map(own))
    }
}

impl<T> Receiver<T> {
    /// A new receiver that starts at the newest end: it gets the values sent from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut fresh = rx.resubscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(fresh.try_recv(), Ok(2));
    /// ```
    pub fn resubscribe(&self) -> Receiver<T> {
        let mut shared = self.shared.borrow_mut();
        shared.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: shared.tail(),
            waiter: None,
        }
    }

    /// How many values this receiver has yet to receive, counting those it missed: more than
    /// the capacity means the next `recv` reports a lag.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        (self.shared.borrow().tail() - self.next) as usize
    }

    /// Whether this receiver has nothing to receive right now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = looplet::sync::broadcast::channel::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every sender is gone (values may still be queued for this receiver).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::broadcast::channel::<u8>(4);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().senders == 0
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        let mut shared = self.shared.borrow_mut();
        shared.receivers += 1;
        let from = self.next.saturating_sub(shared.head) as usize;
        for slot in shared.ring.iter_mut().skip(from) {
            slot.unread += 1;
        }
        Receiver {
            shared: self.shared.clone(),
            next: self.next,
            waiter: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (removed, unneeded) = {
            let mut shared = self.shared.borrow_mut();
            let removed = self
                .waiter
                .take()
                .and_then(|key| shared.waiters.remove(key));
            shared.receivers -= 1;
            (removed, shared.forget_reader(self.next))
        };
        drop(removed);
        drop(unneeded);
    }
}

impl<T: Clone> Stream for Receiver<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, Lagged>>> {
        self.get_mut().poll_recv(cx).map(|result| match result {
            Ok(value) => Some(Ok(value)),
            Err(RecvError::Lagged(n)) => Some(Err(Lagged(n))),
            Err(RecvError::Closed) => None,
        })
    }
}

impl<T: Clone> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        let shared = self.shared.borrow();
        shared.senders == 0 && self.next == shared.tail()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("unreceived", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future returned by [`Receiver::recv`].
///
/// Dropping it loses nothing: values stay queued for the receiver until it receives them.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let (_tx, mut rx) = looplet::sync::broadcast::channel::<u8>(1);
/// assert_send(&rx.recv());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    done: bool,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let ready = self.receiver.poll_recv(cx);
        self.done = ready.is_ready();
        ready
    }
}

impl<T: Clone> FusedFuture for Recv<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.receiver.waiter.take() {
            let removed = self.receiver.shared.borrow_mut().waiters.remove(key);
            drop(removed);
        }
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("receiver", &self.receiver)
            .field("done", &self.done)
            .finish()
    }
}

/// A send failed because there is no receiver; holds the value.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::broadcast::channel(1);
/// drop(rx);
/// assert_eq!(tx.send(9).unwrap_err().into_inner(), 9);
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(looplet::sync::broadcast::SendError(1).into_inner(), 1);
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
        f.write_str("broadcasting to no receiver")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`] got no value.
///
/// # Examples
///
/// ```
/// use looplet::sync::broadcast::{self, RecvError};
///
/// looplet::block_on(async {
///     let (tx, mut rx) = broadcast::channel::<u8>(1);
///     drop(tx);
///     assert_eq!(rx.recv().await, Err(RecvError::Closed));
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and every value was received.
    Closed,
    /// The receiver missed this many values, dropped for lack of room; it continues from the
    /// oldest value kept.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("broadcast channel closed"),
            RecvError::Lagged(n) => write!(f, "broadcast receiver lagged by {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] got no value.
///
/// # Examples
///
/// ```
/// use looplet::sync::broadcast::{self, TryRecvError};
///
/// let (tx, mut rx) = broadcast::channel::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value is ready now.
    Empty,
    /// Every sender is gone and every value was received.
    Closed,
    /// The receiver missed this many values; it continues from the oldest value kept.
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("broadcast channel empty"),
            TryRecvError::Closed => f.write_str("broadcast channel closed"),
            TryRecvError::Lagged(n) => write!(f, "broadcast receiver lagged by {n} values"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The stream form of [`RecvError::Lagged`]: the receiver missed this many values.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use looplet::sync::broadcast::{self, Lagged};
///
/// looplet::block_on(async {
///     let (tx, mut rx) = broadcast::channel(1);
///     tx.send(1).unwrap();
///     tx.send(2).unwrap();
///     drop(tx);
///     assert_eq!(rx.next().await, Some(Err(Lagged(1))));
///     assert_eq!(rx.next().await, Some(Ok(2)));
///     assert_eq!(rx.next().await, None);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broadcast receiver lagged by {} values", self.0)
    }
}

impl std::error::Error for Lagged {}
