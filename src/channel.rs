//! Single-threaded channels between tasks on one loop: the producer/consumer of the seeds.
//!
//! [`bounded`] and [`unbounded`] make a multi-producer, multi-consumer queue that lives in an
//! `Rc<RefCell<..>>`: no atomics, no locks, because every end stays on the loop's thread (the
//! ends are `!Send`). Both ends are `Clone`: clone the [`Receiver`] for a pool of workers that
//! share the jobs (each value goes to exactly one of them). The receiver is also a [`Stream`].
//!
//! - `send(v).await` waits while a bounded channel is full. Waiting senders are served first in,
//!   first out: when a receiver frees a slot, it is reserved for the sender that has waited
//!   longest, and a newcomer cannot take it. A send future dropped while waiting gives its
//!   place (or its reserved slot) to the next sender.
//! - Waiting receivers are served first in, first out too: a value sent while receivers wait
//!   is handed to the one that has waited longest, and a newcomer cannot take it. A `recv`
//!   future dropped after a value was handed to it, but before it ran, passes the value on to
//!   the next waiting receiver (or leaves it queued): a value is never lost.
//! - `send` returns `Err(SendError(v))`, handing the value back, once every receiver is gone
//!   or one of them closed the channel. Nothing sent is silently lost: a value is either in
//!   the queue, or handed back.
//! - `recv().await` returns `None` once every sender is dropped (or the channel closed) and
//!   the queue is drained.
//! - Dropping the last receiver drops the values still queued, at that moment.
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

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::future::FusedFuture;
use futures_core::{FusedStream, Stream};

use crate::slab::Key;
use crate::sync::waiters::{Retired, WakeList};
use receiving::{Found, Lent, Receiving};

mod receiving;

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
        receivers: 1,
        open: true,
        receiving: Receiving::new(),
        waiters: VecDeque::new(),
        head_ticket: 0,
        waiting: 0,
    }));
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            place: Cell::new(None),
        },
    )
}

/// The state both ends share.
///
/// # Invariant
///
/// `queue.len() + reserved <= capacity`. `waiters[i]` is the sender holding ticket
/// `head_ticket + i`; `None` marks one that gave up. `waiting` counts the `Some` entries.
/// `receiving.claimed() <= queue.len()`, and a receiver waits in `receiving` only while
/// `queue.len() == receiving.claimed()` (a value sent while receivers wait is handed over at
/// once).
struct Chan<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// Slots promised to woken senders that have not filled them yet.
    reserved: usize,
    senders: usize,
    receivers: usize,
    /// False once every receiver is dropped, or one closed the channel: no more sends.
    open: bool,
    /// Where receivers wait, and the values handed to them (see [`receiving`]).
    receiving: Receiving,
    waiters: VecDeque<Option<Waker>>,
    head_ticket: u64,
    waiting: usize,
}

impl<T> Chan<T> {
    /// Whether a sender that is not queued may push right now.
    fn has_room(&self) -> bool {
        self.waiting == 0 && self.queue.len() + self.reserved < self.capacity
    }

    /// Queues a value; hands it to the longest-waiting receiver.
    fn push(&mut self, value: T) -> Option<Lent> {
        self.queue.push_back(value);
        self.hand_over()
    }

    /// Hands one unclaimed value to the longest-waiting receiver, if any waits; returns its
    /// waker, lent out of its place (see [`wake_lent`]).
    #[inline]
    fn hand_over(&mut self) -> Option<Lent> {
        self.receiving.hand_over()
    }

    /// Whether nothing more will be sent.
    fn disconnected(&self) -> bool {
        self.senders == 0 || !self.open
    }

    /// Takes the front value for a receiver. The caller reserves the freed slot for a waiting
    /// sender ([`Chan::grant`]) if `waiting > 0`.
    fn pop(&mut self) -> T {
        self.queue.pop_front().expect("a queued value")
    }

    /// Wakes every waiting receiver to find the channel closed.
    fn wake_receivers(&mut self, wakers: &mut WakeList) {
        self.receiving.wake_all(wakers);
    }

    /// Reserves the free slots for the longest-waiting senders; their wakers go on `wakers`.
    fn grant(&mut self, wakers: &mut WakeList) {
        while self.waiting > 0 && self.queue.len() + self.reserved < self.capacity {
            let entry = self.waiters.pop_front().expect("waiting > 0");
            self.head_ticket += 1;
            if let Some(waker) = entry {
                self.waiting -= 1;
                self.reserved += 1;
                wakers.push(Some(waker));
            }
        }
        self.trim();
    }

    /// Drops the tombstones at both ends of the waiter queue. At the back no live ticket
    /// points past them, so the numbers are free for the next waiters: a send that waits and
    /// is cancelled again and again (a `timeout` around `send` in a loop) leaves nothing
    /// behind. A tombstone between two live waiters stays (16 bytes) until the one in front
    /// of it is served.
    fn trim(&mut self) {
        while let Some(None) = self.waiters.front() {
            self.waiters.pop_front();
            self.head_ticket += 1;
        }
        while let Some(None) = self.waiters.back() {
            self.waiters.pop_back();
        }
    }

    /// Closes the channel for sending; returns every waiting sender's and receiver's waker.
    fn close(&mut self) -> WakeList {
        self.open = false;
        self.waiting = 0;
        self.head_ticket += self.waiters.len() as u64;
        let mut wakers = WakeList::new();
        for waker in self.waiters.drain(..).flatten() {
            wakers.push(Some(waker));
        }
        self.wake_receivers(&mut wakers);
        wakers
    }
}

/// A receiver freed a slot while senders wait: reserves it for the longest-waiting one, and
/// wakes it once the borrow is released. Out of line, and `cold` so that the receive path
/// around it stays short: a channel whose senders never wait never gets here (measured: as
/// `inline(never)` instead, a pingpong round trip costs 40 more instructions).
#[cold]
fn grant_freed<T>(mut chan: std::cell::RefMut<'_, Chan<T>>) {
    let mut wakers = WakeList::new();
    chan.grant(&mut wakers);
    drop(chan);
    wakers.wake();
}

/// Wakes a receiver that was handed a value, by reference, with no borrow held; then gives
/// its waker back to its place, so that the receiver's next wait clones nothing.
#[inline(always)]
fn wake_lent<T>(chan: &RefCell<Chan<T>>, lent: Option<Lent>) {
    if let Some(lent) = lent {
        lent.wake();
        let refused = chan.borrow_mut().receiving.give_back(lent);
        drop(refused);
    }
}

/// The sending end of a channel. Clone it for more producers.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::channel::Sender<u8>>();
/// ```
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
        let chan = self.chan.borrow_mut();
        if !chan.open {
            return Err(TrySendError::Closed(value));
        } else if !chan.has_room() {
            return Err(TrySendError::Full(value));
        }
        deliver(&self.chan, chan, value);
        Ok(())
    }

    /// Whether every receiver has been dropped, or one closed the channel.
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
        let mut wakers = WakeList::new();
        {
            let mut chan = self.chan.borrow_mut();
            chan.senders -= 1;
            if chan.senders == 0 {
                chan.wake_receivers(&mut wakers);
            }
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Sender")
            .field("queued", &chan.queue.len())
            .field("closed", &!chan.open)
            .field("waiting_sends", &chan.waiting)
            // Waiting sends and the places cancelled ones left between them.
            .field("send_line", &chan.waiters.len())
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

    // Inlined into the caller's state machine: an `async fn` that wraps `send` (the bench's
    // runtime adapter) costs 30 fewer instructions per send with it.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // Checked before anything changes: a `Send` polled again after it completed would
        // otherwise join the line for room with no value to send.
        assert!(
            this.value.is_some(),
            "looplet: channel Send polled after completion"
        );
        let mut chan = this.sender.chan.borrow_mut();
        let mut value = || this.value.take().expect("checked above");
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
                let mut retired = Retired::NONE;
                retired.swap(&mut chan.waiters[index], cx.waker());
                drop(chan);
                drop(retired);
                return Poll::Pending;
            }
        }
        let value = value();
        deliver(&this.sender.chan, chan, value);
        Poll::Ready(Ok(()))
    }
}

/// Queues a value a sender may push now (see [`Chan::has_room`] and the tickets), hands it to
/// the longest-waiting receiver, and wakes that one once the borrow is released.
#[inline(always)]
fn deliver<T>(cell: &RefCell<Chan<T>>, mut chan: std::cell::RefMut<'_, Chan<T>>, value: T) {
    let lent = chan.push(value);
    drop(chan);
    wake_lent(cell, lent);
}

impl<T> FusedFuture for Send<'_, T> {
    fn is_terminated(&self) -> bool {
        self.value.is_none()
    }
}

impl<T> Drop for Send<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Inlined, so that a send that never waited costs its caller one test here.
        if let Some(ticket) = self.ticket {
            self.give_up(ticket);
        }
    }
}

impl<T> Send<'_, T> {
    /// A send dropped while waiting: its place in line, or the slot granted to it, passes on.
    #[cold]
    fn give_up(&mut self, ticket: u64) {
        let mut chan = self.sender.chan.borrow_mut();
        if !chan.open {
            return;
        }
        let mut woken = WakeList::new();
        let mut own = None;
        if ticket < chan.head_ticket {
            // Granted but never used: pass the slot on.
            chan.reserved -= 1;
            chan.grant(&mut woken);
        } else {
            let index = (ticket - chan.head_ticket) as usize;
            own = chan.waiters[index].take();
            chan.waiting -= 1;
            chan.trim();
        }
        drop(chan);
        drop(own);
        woken.wake();
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
/// Clone it for more consumers: each value goes to one of them, to the one that has waited
/// longest if several wait.
///
/// **A cloned receiver that stops being polled can hold a value.** Polled as a [`Stream`] or
/// through [`poll_recv`](Receiver::poll_recv), a receiver keeps its place in line between
/// polls, and a value handed to it waits for it, unseen by the others, until it is polled
/// again or dropped. So a consumer that stops polling (a `select!` loop that broke out but
/// keeps the receiver) should drop it; or use [`recv`](Receiver::recv), whose future gives
/// the place, and any value handed to it, up when dropped. With one receiver (never cloned)
/// this cannot happen: every queued value is its own.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::channel::Receiver<u8>>();
/// ```
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
///
/// A pool of workers sharing one queue of jobs:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// looplet::block_on(async {
///     let (jobs, rx) = looplet::channel::bounded(4);
///     let done = Rc::new(RefCell::new(Vec::new()));
///     let workers: Vec<_> = (0..3)
///         .map(|_| {
///             let (mut rx, done) = (rx.clone(), done.clone());
///             looplet::spawn(async move {
///                 while let Some(job) = rx.recv().await {
///                     done.borrow_mut().push(job * 10);
///                 }
///             })
///         })
///         .collect();
///     drop(rx);
///     for job in 0..10 {
///         jobs.send(job).await.unwrap();
///     }
///     drop(jobs);
///     for w in workers {
///         w.await;
///     }
///     let mut done = done.take();
///     done.sort();
///     assert_eq!(done, (0..10).map(|j| j * 10).collect::<Vec<_>>());
/// });
/// ```
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
    /// Our place in `Chan::receiving` (a node, once the receiver has been cloned and we have
    /// waited). A `Cell` so that cloning (through `&self`) can hand us our node.
    place: Cell<Option<Key>>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting until one is sent.
    ///
    /// Returns `None` once the channel is empty and every sender is dropped (or the channel
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
        Recv {
            receiver: self,
            done: false,
        }
    }

    /// Receives a value if one is queued right now (and not handed to a waiting receiver).
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
        match self.recv_with(None) {
            Poll::Ready(Some(value)) => Ok(value),
            Poll::Ready(None) => Err(TryRecvError::Disconnected),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next value: the low-level form of [`Receiver::recv`].
    ///
    /// A receiver polled this way (or as a [`Stream`]) keeps its place in line between polls;
    /// if a value is handed to it, it stays reserved for it until it is polled again or
    /// dropped (see the warning on [`Receiver`]). The [`Recv`] future gives its place up when
    /// dropped.
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
        self.recv_with(Some(cx.waker()))
    }

    /// Takes a value handed to us or an unclaimed one; `None` once disconnected and empty;
    /// else waits in line if given a waker (`try_recv` gives none).
    fn recv_with(&mut self, waker: Option<&Waker>) -> Poll<Option<T>> {
        // Declared before the borrow, so dropped after it.
        let mut retired = Retired::NONE;
        let mut chan = self.chan.borrow_mut();
        let result = Receiver::recv_locked(self.place.get_mut(), &mut chan, waker, &mut retired);
        if chan.waiting > 0 && result.is_ready() {
            grant_freed(chan);
        }
        result
    }

    /// `place` is our place in `Chan::receiving`: kept, with our waker, until we are
    /// dropped, so that waiting again costs no allocation or clone.
    #[inline]
    fn recv_locked(
        place: &mut Option<Key>,
        chan: &mut Chan<T>,
        waker: Option<&Waker>,
        retired: &mut Retired,
    ) -> Poll<Option<T>> {
        match chan
            .receiving
            .find(*place, waker, chan.queue.len(), retired)
        {
            Found::Take => return Poll::Ready(Some(chan.pop())),
            // Still in line, so nothing is queued for us (see `Chan`'s invariant).
            Found::Waiting => return Poll::Pending,
            Found::Nothing => {}
        }
        if chan.queue.len() > chan.receiving.claimed() {
            return Poll::Ready(Some(chan.pop()));
        }
        if chan.disconnected() {
            return Poll::Ready(None);
        }
        if let Some(waker) = waker {
            chan.receiving.wait(place, waker, retired);
        }
        Poll::Pending
    }

    /// Gives up our place in line; a value handed to us passes on. Out of line: a `recv`
    /// that completes never gets here.
    #[cold]
    fn withdraw(&mut self) {
        let lent = self.chan.borrow_mut().receiving.withdraw(self.place.get());
        wake_lent(&self.chan, lent);
    }

    /// Stops the channel from accepting values, keeping those already queued.
    ///
    /// Senders get `Err(SendError(v))` from then on, including those waiting for room; every
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
        let wakers = self.chan.borrow_mut().close();
        wakers.wake();
    }

    /// How many values are queued (including those handed to receivers not yet run).
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

impl<T> Clone for Receiver<T> {
    /// Another consumer of the same queue. It waits in line with the others.
    fn clone(&self) -> Receiver<T> {
        let mut chan = self.chan.borrow_mut();
        chan.receivers += 1;
        // The first clone: receivers wait in a list from now on, and we get a node there if
        // we need one (we waited) in place of the solo slot. A later clone changes nothing.
        if let Some(key) = chan.receiving.split() {
            self.place.set(Some(key));
        }
        drop(chan);
        Receiver {
            chan: self.chan.clone(),
            place: Cell::new(None),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (lent, retired, wakers, queued) = {
            let mut chan = self.chan.borrow_mut();
            let (lent, retired) = chan.receiving.leave(self.place.take());
            chan.receivers -= 1;
            if chan.receivers == 0 {
                let wakers = chan.close();
                chan.receiving.clear_claims();
                (lent, retired, wakers, std::mem::take(&mut chan.queue))
            } else {
                (lent, retired, WakeList::new(), VecDeque::new())
            }
        };
        drop(retired);
        drop(queued);
        wakers.wake();
        wake_lent(&self.chan, lent);
    }
}

/// Polls as [`Receiver::poll_recv`] does: a cloned receiver keeps its place (and a value
/// handed to it) between polls, so drop one you stop polling.
impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        let chan = self.chan.borrow();
        chan.disconnected()
            && chan.queue.len() == chan.receiving.claimed()
            && !chan.receiving.is_granted(self.place.get())
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Receiver")
            .field("queued", &chan.queue.len())
            .field("senders", &chan.senders)
            .field("receivers", &chan.receivers)
            .finish()
    }
}

/// The future returned by [`Receiver::recv`].
///
/// Dropping it gives up the receiver's place in line; a value already handed to it passes on
/// to the next waiting receiver (or stays queued), so nothing is lost.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let (_tx, mut rx) = looplet::channel::unbounded::<u8>();
/// assert_send(&rx.recv());
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a mut Receiver<T>,
    done: bool,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let ready = self.receiver.poll_recv(cx);
        self.done = ready.is_ready();
        ready
    }
}

impl<T> FusedFuture for Recv<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Recv<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Inlined, so that a recv that completed costs its caller one test here.
        if !self.done {
            self.receiver.withdraw();
        }
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
