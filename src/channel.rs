//! Single-threaded channels between tasks on one loop: the producer/consumer of the seeds.
//!
//! [`bounded`] and [`unbounded`] make a multi-producer, single-consumer queue that lives in an
//! `Rc<RefCell<..>>`: no atomics, no locks, because every end stays on the loop's thread (the
//! ends are `!Send`). A [`Sender`] is `Clone`; the [`Receiver`] is also a
//! [`Stream`].
//!
//! - `send(v).await` waits while a bounded channel is full. Waiting senders are served first in,
//!   first out: when the receiver frees a slot, it is reserved for the sender that has waited
//!   longest, and a newcomer cannot take it. A send future dropped while waiting gives its
//!   place (or its reserved slot) to the next sender.
//! - `send` returns `Err(SendError(v))`, handing the value back, once the receiver is gone or
//!   closed. Nothing sent is silently lost: a value is either in the queue, or handed back.
//! - `recv().await` returns `None` once every sender is dropped (or the receiver closed) and
//!   the queue is drained.
//! - Dropping the receiver drops the values still queued, at that moment.
//!
//! # Examples
//!
//! ```
//! use looplet::channel;
//!
//! looplet::block_on(async {
//!     let (tx, mut rx) = channel::bounded(1);
//!     let producer = looplet::spawn(async move {
//!         for n in 1..=3 {
//!             tx.send(n).await.unwrap(); // waits while the consumer is behind
//!         }
//!     });
//!     let mut got = Vec::new();
//!     while let Some(n) = rx.recv().await {
//!         got.push(n);
//!     }
//!     producer.await;
//!     assert_eq!(got, [1, 2, 3]);
//! });
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};

/// Creates a channel that holds at most `capacity` values; `send` waits while it is full.
///
/// # Panics
///
/// If `capacity` is 0 (a channel that can hold nothing could never deliver a value).
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::channel::bounded::<u32>(2);
/// assert!(tx.try_send(1).is_ok());
/// assert!(tx.try_send(2).is_ok());
/// assert!(tx.try_send(3).is_err()); // full
/// # drop(rx);
/// ```
#[track_caller]
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "looplet::channel::bounded: capacity must be at least 1"
    );
    new(capacity)
}

/// Creates a channel with no limit: `send` never waits.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let (tx, mut rx) = looplet::channel::unbounded();
///     for n in 0..1000 {
///         tx.send(n).await.unwrap(); // never waits
///     }
///     drop(tx);
///     let mut sum = 0;
///     while let Some(n) = rx.recv().await {
///         sum += n;
///     }
///     assert_eq!(sum, 499_500);
/// });
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(usize::MAX)
}

fn new<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        queue: VecDeque::new(),
        capacity,
        reserved: 0,
        senders: 1,
        open: true,
        receiver: None,
        receiver_waiting: false,
        waiters: VecDeque::new(),
        head_ticket: 0,
        waiting: 0,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The state both ends share.
///
/// # Invariant
///
/// `queue.len() + reserved <= capacity`. `waiters[i]` is the sender holding ticket
/// `head_ticket + i`; `None` marks one that gave up. `waiting` counts the `Some` entries.
struct Chan<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// Slots promised to woken senders that have not filled them yet.
    reserved: usize,
    senders: usize,
    /// False once the receiver is dropped or closed: no more sends.
    open: bool,
    /// The receiver's waker, kept between waits so re-registering costs no clone.
    receiver: Option<Waker>,
    /// Whether the receiver is waiting now (so a send must wake it).
    receiver_waiting: bool,
    waiters: VecDeque<Option<Waker>>,
    head_ticket: u64,
    waiting: usize,
}

impl<T> Chan<T> {
    /// Whether a sender that is not queued may push right now.
    fn has_room(&self) -> bool {
        self.waiting == 0 && self.queue.len() + self.reserved < self.capacity
    }

    fn push(&mut self, value: T) {
        self.queue.push_back(value);
        if self.receiver_waiting {
            self.receiver_waiting = false;
            if let Some(waker) = &self.receiver {
                // Waking by reference runs no user code: it only queues the receiving task.
                waker.wake_by_ref();
            }
        }
    }

    /// Reserves the free slots for the longest-waiting senders; returns their wakers.
    fn grant(&mut self) -> Vec<Waker> {
        let mut woken = Vec::new();
        while self.waiting > 0 && self.queue.len() + self.reserved < self.capacity {
            let entry = self.waiters.pop_front().expect("waiting > 0");
            self.head_ticket += 1;
            if let Some(waker) = entry {
                self.waiting -= 1;
                self.reserved += 1;
                woken.push(waker);
            }
        }
        self.trim();
        woken
    }

    /// Drops the tombstones at the front of the waiter queue.
    fn trim(&mut self) {
        while let Some(None) = self.waiters.front() {
            self.waiters.pop_front();
            self.head_ticket += 1;
        }
    }

    /// Closes the channel for sending; returns every waiting sender's waker.
    fn close(&mut self) -> Vec<Waker> {
        self.open = false;
        self.waiting = 0;
        self.head_ticket += self.waiters.len() as u64;
        self.waiters.drain(..).flatten().collect()
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// The sending end of a channel. Clone it for more producers.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let (tx, mut rx) = looplet::channel::unbounded();
///     let tx2 = tx.clone();
///     tx.send("a").await.unwrap();
///     tx2.send("b").await.unwrap();
///     assert_eq!(rx.recv().await, Some("a"));
///     assert_eq!(rx.recv().await, Some("b"));
/// });
/// ```
pub struct Sender<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Sends a value, waiting while a bounded channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver has been dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (tx, rx) = looplet::channel::bounded(1);
    ///     drop(rx);
    ///     let err = tx.send(String::from("lost?")).await.unwrap_err();
    ///     assert_eq!(err.0, "lost?"); // no: handed back
    /// });
    /// ```
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            sender: self,
            value: Some(value),
            ticket: None,
        }
    }

    /// Sends a value if there is room right now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the channel is full (or senders are already waiting),
    /// [`TrySendError::Closed`] if the receiver is gone; both hand the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::channel::{self, TrySendError};
    ///
    /// let (tx, rx) = channel::bounded(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut chan = self.chan.borrow_mut();
        if !chan.open {
            Err(TrySendError::Closed(value))
        } else if chan.has_room() {
            chan.push(value);
            Ok(())
        } else {
            Err(TrySendError::Full(value))
        }
    }

    /// Whether the receiver has been dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::channel::unbounded::<()>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.chan.borrow().open
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.borrow_mut().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = self.chan.borrow_mut();
        chan.senders -= 1;
        if chan.senders == 0 && chan.receiver_waiting {
            chan.receiver_waiting = false;
            let waker = chan.receiver.take();
            drop(chan);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Sender")
            .field("queued", &chan.queue.len())
            .field("closed", &!chan.open)
            .finish()
    }
}

/// The future returned by [`Sender::send`].
///
/// Dropping it before it completes cancels the send: the value is dropped, and the sender's
/// place in line (or the slot reserved for it) passes to the next waiting sender.
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    sender: &'a Sender<T>,
    value: Option<T>,
    /// Our place in line while waiting for room.
    ticket: Option<u64>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut chan = this.sender.chan.borrow_mut();
        let mut value = || this.value.take().expect("Send polled after completion");
        if !chan.open {
            this.ticket = None;
            return Poll::Ready(Err(SendError(value())));
        }
        match this.ticket {
            None if chan.has_room() => {}
            None => {
                this.ticket = Some(chan.head_ticket + chan.waiters.len() as u64);
                chan.waiters.push_back(Some(cx.waker().clone()));
                chan.waiting += 1;
                return Poll::Pending;
            }
            Some(ticket) if ticket < chan.head_ticket => {
                // Granted: a slot was reserved for us.
                chan.reserved -= 1;
                this.ticket = None;
            }
            Some(ticket) => {
                let index = (ticket - chan.head_ticket) as usize;
                match &mut chan.waiters[index] {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        }
        chan.push(value());
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else {
            return;
        };
        let mut chan = self.sender.chan.borrow_mut();
        if !chan.open {
            return;
        }
        let woken = if ticket < chan.head_ticket {
            // Granted but never used: pass the slot on.
            chan.reserved -= 1;
            chan.grant()
        } else {
            let index = (ticket - chan.head_ticket) as usize;
            chan.waiters[index] = None;
            chan.waiting -= 1;
            chan.trim();
            Vec::new()
        };
        drop(chan);
        wake_all(woken);
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("waiting", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

/// The receiving end of a channel; also a [`Stream`] of the values.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
///
/// looplet::block_on(async {
///     let (tx, rx) = looplet::channel::unbounded();
///     for n in 1..=3 {
///         tx.try_send(n).unwrap();
///     }
///     drop(tx);
///     let all: Vec<i32> = rx.collect().await;
///     assert_eq!(all, [1, 2, 3]);
/// });
/// ```
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting until one is sent.
    ///
    /// Returns `None` once the channel is empty and every sender is dropped (or the receiver
    /// was closed).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::channel::bounded(4);
    ///     looplet::spawn(async move { tx.send(9).await.unwrap() }).detach();
    ///     assert_eq!(rx.recv().await, Some(9));
    ///     assert_eq!(rx.recv().await, None); // the sender is gone
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { receiver: self }
    }

    /// Receives a value if one is queued right now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued, [`TryRecvError::Disconnected`] if nothing
    /// is queued and nothing more can be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::channel::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = channel::unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut chan = self.chan.borrow_mut();
        match chan.queue.pop_front() {
            Some(value) => {
                let woken = chan.grant();
                drop(chan);
                wake_all(woken);
                Ok(value)
            }
            None if chan.senders == 0 || !chan.open => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next value: the low-level form of [`Receiver::recv`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::channel::unbounded();
    ///     tx.try_send(5).unwrap();
    ///     assert_eq!(poll_fn(|cx| rx.poll_recv(cx)).await, Some(5));
    /// });
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut chan = self.chan.borrow_mut();
        if let Some(value) = chan.queue.pop_front() {
            if chan.waiting > 0 {
                let woken = chan.grant();
                drop(chan);
                wake_all(woken);
            }
            return Poll::Ready(Some(value));
        }
        if chan.senders == 0 || !chan.open {
            return Poll::Ready(None);
        }
        match &chan.receiver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => chan.receiver = Some(cx.waker().clone()),
        }
        chan.receiver_waiting = true;
        Poll::Pending
    }

    /// Stops the channel from accepting values, keeping those already queued.
    ///
    /// Senders get `Err(SendError(v))` from then on, including those waiting for room; the
    /// receiver goes on receiving what was queued, then `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (tx, mut rx) = looplet::channel::unbounded();
    ///     tx.send(1).await.unwrap();
    ///     rx.close();
    ///     assert_eq!(tx.send(2).await.unwrap_err().0, 2);
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn close(&mut self) {
        let woken = self.chan.borrow_mut().close();
        wake_all(woken);
    }

    /// How many values are queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::channel::unbounded();
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// assert!(!rx.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.chan.borrow().queue.len()
    }

    /// Whether no value is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = looplet::channel::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.borrow().queue.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut chan = self.chan.borrow_mut();
        let woken = chan.close();
        let queued = std::mem::take(&mut chan.queue);
        chan.receiver = None;
        drop(chan);
        drop(queued);
        wake_all(woken);
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        let chan = self.chan.borrow();
        chan.queue.is_empty() && (chan.senders == 0 || !chan.open)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Receiver")
            .field("queued", &chan.queue.len())
            .field("senders", &chan.senders)
            .finish()
    }
}

/// The future returned by [`Receiver::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.receiver.poll_recv(cx)
    }
}

/// The value of a send that failed because the receiver is gone or closed.
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::channel::unbounded();
/// drop(rx);
/// let err = looplet::block_on(tx.send(vec![1, 2])).unwrap_err();
/// assert_eq!(err.into_inner(), [1, 2]);
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::channel::SendError(3);
    /// assert_eq!(err.into_inner(), 3);
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
        f.write_str("sending on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] failed; holds the value.
///
/// # Examples
///
/// ```
/// use looplet::channel::{self, TrySendError};
///
/// let (tx, _rx) = channel::bounded(1);
/// tx.try_send('a').unwrap();
/// match tx.try_send('b') {
///     Err(TrySendError::Full(c)) => assert_eq!(c, 'b'),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full (or other senders are waiting for room first).
    Full(T),
    /// The receiver is gone or closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::channel::TrySendError::Full(1);
    /// assert_eq!(err.into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// Why [`Receiver::try_recv`] got no value.
///
/// # Examples
///
/// ```
/// use looplet::channel::{self, TryRecvError};
///
/// let (tx, mut rx) = channel::unbounded::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing is queued right now.
    Empty,
    /// Nothing is queued and nothing more can be sent.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on a closed, empty channel"),
        }
    }
}

impl std::error::Error for TryRecvError {}
