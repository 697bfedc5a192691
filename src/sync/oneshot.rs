//! A channel for one value: tokio's `oneshot`, asyncio's `Future` set from another task.
//!
//! [`channel`] makes a [`Sender`] and a [`Receiver`] sharing one `Rc<RefCell<..>>`. The sender
//! sends at most once ([`Sender::send`] consumes it), and hands the value back if the receiver
//! is gone. The receiver is itself a future: awaiting it gives the value, or [`RecvError`] if
//! the sender was dropped without sending (or the receiver was closed before a send).
//!
//! # Examples
//!
//! ```
//! use looplet::sync::oneshot;
//!
//! looplet::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     looplet::spawn(async move {
//!         tx.send(6 * 7).unwrap();
//!     })
//!     .detach();
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::future::FusedFuture;

use super::waiters::swap_waker;

/// Creates a one-value channel.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = looplet::sync::oneshot::channel();
/// tx.send("done").unwrap();
/// assert_eq!(rx.try_recv(), Ok("done"));
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        sender_gone: false,
        receiver_closed: false,
        receiver: None,
        sender: None,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner, done: false },
    )
}

struct Inner<T> {
    /// The value sent and not yet received.
    value: Option<T>,
    /// The sender sent or was dropped: nothing more will come.
    sender_gone: bool,
    /// The receiver closed or was dropped: sends fail.
    receiver_closed: bool,
    /// The receiving task's waker.
    receiver: Option<Waker>,
    /// The waker of a task in [`Sender::closed`].
    sender: Option<Waker>,
}

/// The sending half: sends one value.
///
/// `!Send`, like everything in [`looplet::sync`](crate::sync):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::oneshot::Sender<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// let (tx, rx) = looplet::sync::oneshot::channel::<u8>();
/// assert!(!tx.is_closed());
/// drop(rx);
/// assert!(tx.is_closed());
/// ```
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver.
    ///
    /// # Errors
    ///
    /// The value itself, handed back, if the receiver was dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = looplet::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(String::from("lost?")), Err(String::from("lost?")));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let mut inner = self.inner.borrow_mut();
        if inner.receiver_closed {
            return Err(value);
        }
        inner.value = Some(value);
        Ok(())
        // `Drop` marks the sender gone and wakes the receiver.
    }

    /// Whether the receiver was dropped or closed, so a send would fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = looplet::sync::oneshot::channel::<()>();
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().receiver_closed
    }

    /// Waits until the receiver is dropped or closed: a way to stop work nobody wants.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (mut tx, rx) = looplet::sync::oneshot::channel::<u32>();
    ///     looplet::spawn(async move { drop(rx) }).detach();
    ///     tx.closed().await;
    ///     assert!(tx.send(1).is_err());
    /// });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed {
            sender: self,
            done: false,
        }
    }

    /// Polls for the receiver to be dropped or closed: the low-level form of
    /// [`Sender::closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// looplet::block_on(async {
    ///     let (mut tx, rx) = looplet::sync::oneshot::channel::<()>();
    ///     drop(rx);
    ///     poll_fn(|cx| tx.poll_closed(cx)).await;
    /// });
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.receiver_closed {
            return Poll::Ready(());
        }
        let replaced = swap_waker(&mut inner.sender, cx.waker());
        drop(inner);
        drop(replaced);
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.sender_gone = true;
            inner.receiver.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future returned by [`Sender::closed`].
#[must_use = "futures do nothing unless awaited"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
    done: bool,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ready = self.sender.poll_closed(cx);
        self.done = ready.is_ready();
        ready
    }
}

impl<T> FusedFuture for Closed<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The receiving half, and a future of the value.
///
/// Awaiting it gives `Ok(value)`, or `Err(RecvError)` if the sender was dropped without
/// sending. Dropping it (or [`close`](Receiver::close)) makes a later send fail and hand its
/// value back. Once it has completed (or [`try_recv`](Receiver::try_recv) took the value), it
/// must not be polled again; [`FusedFuture::is_terminated`] tells.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::oneshot::Receiver<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// use looplet::sync::oneshot::{self, RecvError};
///
/// looplet::block_on(async {
///     let (tx, rx) = oneshot::channel::<u8>();
///     drop(tx);
///     assert_eq!(rx.await, Err(RecvError));
/// });
/// ```
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
    /// Returned its value or its error.
    done: bool,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing was sent yet, [`TryRecvError::Closed`] if the sender
    /// is gone without sending, the receiver was [closed](Receiver::close) with no value, or
    /// the value was already received.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::sync::oneshot::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            self.done = true;
            Ok(value)
        } else if inner.sender_gone || inner.receiver_closed || self.done {
            self.done = true;
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Refuses the value: a later send fails and hands it back. A value sent before the close
    /// can still be received; with none, awaiting the receiver gives [`RecvError`] at once
    /// (tokio's rule), since no send can succeed any more.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::sync::oneshot;
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.send(5), Err(5));
    /// assert!(rx.try_recv().is_err());
    /// ```
    pub fn close(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_closed = true;
            inner.sender.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        assert!(
            !self.done,
            "looplet: oneshot::Receiver polled after completion"
        );
        let this = &mut *self;
        let mut inner = this.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            this.done = true;
            Poll::Ready(Ok(value))
        } else if inner.sender_gone || inner.receiver_closed {
            this.done = true;
            Poll::Ready(Err(RecvError))
        } else {
            let replaced = swap_waker(&mut inner.receiver, cx.waker());
            drop(inner);
            drop(replaced);
            Poll::Pending
        }
    }
}

impl<T> FusedFuture for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, own, waker) = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_closed = true;
            (
                inner.value.take(),
                inner.receiver.take(),
                inner.sender.take(),
            )
        };
        // The value's and the wakers' destructors run with no borrow held.
        drop(value);
        drop(own);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Receiver")
            .field("sent", &inner.value.is_some())
            .field("sender_gone", &inner.sender_gone)
            .field("done", &self.done)
            .finish()
    }
}

/// No value will come: the sender was dropped without sending, or the receiver was
/// [closed](Receiver::close) before anything was sent.
///
/// # Examples
///
/// ```
/// use looplet::sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<()>();
/// drop(tx);
/// let err = looplet::block_on(rx).unwrap_err();
/// assert_eq!(err.to_string(), "the oneshot channel closed with no value sent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot channel closed with no value sent")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] got no value.
///
/// # Examples
///
/// ```
/// use looplet::sync::oneshot::{self, TryRecvError};
///
/// let (tx, mut rx) = oneshot::channel::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing was sent yet.
    Empty,
    /// The sender is gone without sending, or the value was already received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value sent yet"),
            TryRecvError::Closed => f.write_str("the oneshot channel is closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}
