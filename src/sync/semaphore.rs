//! A fair counting semaphore: asyncio's `Semaphore`, tokio's `Semaphore`.

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

/// A count of permits that tasks acquire and release, first come, first served.
///
/// [`acquire`](Semaphore::acquire) waits until a permit is free and returns a
/// [`SemaphorePermit`] that gives it back when dropped. Waiters are served strictly in the
/// order they started waiting, also when they ask for several permits at once
/// ([`acquire_many`](Semaphore::acquire_many)): released permits go to the waiter at the head
/// of the line, even if it needs more than there are and a smaller request behind it could have
/// been served (tokio's rule; it keeps large requests from starving). The head collects
/// permits as they are released, so while anyone waits, [`available_permits`] is 0 and
/// nobody can barge in.
///
/// Cancelling a waiting `acquire` (dropping its future) loses nothing: the permits collected
/// for it so far, or all of them if it was already served but not yet polled, go on to the
/// next waiter or back to the semaphore.
///
/// [`close`](Semaphore::close) makes every waiting and future `acquire` fail with
/// [`AcquireError`]; permits already held stay valid.
///
/// A `Semaphore` is `!Send` and `!Sync`: it lives on its loop's thread, in plain cells, and
/// tasks share it through an `Rc` (or a reference that outlives them).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::Semaphore>();
/// ```
///
/// [`available_permits`]: Semaphore::available_permits
///
/// # Examples
///
/// At most two of five tasks run at once:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use looplet::sync::Semaphore;
///
/// looplet::block_on(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let running = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (sem, running) = (sem.clone(), running.clone());
///             looplet::spawn(async move {
///                 let _permit = sem.acquire().await.unwrap();
///                 running.set(running.get() + 1);
///                 assert!(running.get() <= 2);
///                 looplet::yield_now().await;
///                 running.set(running.get() - 1);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await;
///     }
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: RefCell<State>,
    /// Local: the state is plain cells, and waiters are this loop's tasks.
    _local: PhantomData<Rc<()>>,
}

/// # Invariant
///
/// `permits > 0` implies no waiter is linked: released permits go to the head waiter first.
/// A linked waiter's `missing` is > 0; a waiter unlinked while the semaphore is open has
/// `missing == 0` (it was served).
struct State {
    permits: usize,
    closed: bool,
    waiters: WaitList<Waiter>,
}

/// A waiting acquire: how many of its permits it still lacks.
struct Waiter {
    missing: u32,
}

impl State {
    /// Hands `n` permits to the waiters, in order (the head first, even partly), and the rest
    /// to the pool; the served waiters' wakers go onto `wakers`.
    fn release(&mut self, mut n: usize, wakers: &mut WakeList) {
        while n > 0 {
            let Some(head) = self.waiters.front_mut() else {
                break;
            };
            let give = n.min(head.missing as usize);
            head.missing -= give as u32;
            n -= give;
            if head.missing == 0 {
                self.waiters.unlink_front(wakers, |_| {});
            }
        }
        if n > 0 {
            self.permits = self
                .permits
                .checked_add(n)
                .filter(|&p| p <= Semaphore::MAX_PERMITS)
                .expect("looplet::sync::Semaphore: more than MAX_PERMITS permits");
        }
    }
}

impl Semaphore {
    /// The most permits a semaphore can hold (tokio's limit, so code ports unchanged).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// Creates a semaphore with `permits` free permits. `const`, so it can live in a `static`
    /// `thread_local!`.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Semaphore::MAX_PERMITS,
            "looplet::sync::Semaphore: more than MAX_PERMITS permits"
        );
        Semaphore {
            state: RefCell::new(State {
                permits,
                closed: false,
                waiters: WaitList::new(),
            }),
            _local: PhantomData,
        }
    }

    /// How many permits are free right now (0 while anyone waits).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(2);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Adds `n` permits: they go to waiters first, in order, then to the pool.
    ///
    /// # Panics
    ///
    /// If the free permits plus `n` exceed [`Semaphore::MAX_PERMITS`] (checked before any
    /// waiter is served, so a panic here changes nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        let mut wakers = WakeList::new();
        let mut state = self.state.borrow_mut();
        let fits = state
            .permits
            .checked_add(n)
            .is_some_and(|total| total <= Semaphore::MAX_PERMITS);
        if !fits {
            drop(state);
            panic!("looplet::sync::Semaphore: more than MAX_PERMITS permits");
        }
        state.release(n, &mut wakers);
        drop(state);
        wakers.wake();
    }

    /// Removes up to `n` free permits for good; returns how many it removed.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(3);
    /// assert_eq!(sem.forget_permits(5), 3);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut state = self.state.borrow_mut();
        let forgotten = n.min(state.permits);
        state.permits -= forgotten;
        forgotten
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, before or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let sem = looplet::sync::Semaphore::new(1);
    ///     let permit = sem.acquire().await.unwrap();
    ///     assert_eq!(sem.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once, in line like everyone else.
    ///
    /// Asking for 0 permits completes at once.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, before or while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let sem = looplet::sync::Semaphore::new(5);
    ///     let permit = sem.acquire_many(3).await.unwrap();
    ///     assert_eq!(permit.num_permits(), 3);
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            permits: n,
            key: None,
            done: false,
        }
    }

    /// Takes one permit if one is free and nobody waits.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] if the semaphore is closed, [`TryAcquireError::NoPermits`]
    /// if no permit is free (or others wait first).
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::sync::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// # drop(permit);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody waits.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(4);
    /// assert!(sem.try_acquire_many(5).is_err());
    /// let permit = sem.try_acquire_many(4).unwrap();
    /// assert_eq!(permit.num_permits(), 4);
    /// ```
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            Err(TryAcquireError::Closed)
        } else if state.permits >= n as usize {
            // `permits > 0` means nobody waits (or n == 0, which needs nothing).
            state.permits -= n as usize;
            Ok(SemaphorePermit {
                semaphore: self,
                permits: n,
            })
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Closes the semaphore: every waiting and later `acquire` fails with [`AcquireError`],
    /// `try_acquire` with [`TryAcquireError::Closed`]. Permits already held stay valid, and
    /// releasing them (or [`add_permits`](Semaphore::add_permits)) still adds to the count.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let sem = looplet::sync::Semaphore::new(1);
    ///     sem.close();
    ///     assert!(sem.is_closed());
    ///     assert!(sem.acquire().await.is_err());
    /// });
    /// ```
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.unlink_all(&mut wakers, |_| {});
        }
        wakers.wake();
    }

    /// Whether [`close`](Semaphore::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(1);
    /// assert!(!sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    fn release(&self, n: usize) {
        let mut wakers = WakeList::new();
        self.state.borrow_mut().release(n, &mut wakers);
        wakers.wake();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// The future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// Dropping it while it waits gives up its place; the permits it had collected go on to the
/// next waiter (or back to the semaphore). It does nothing until first polled: its place in
/// line is taken at that first poll.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let sem = looplet::sync::Semaphore::new(1);
/// assert_send(&sem.acquire());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    permits: u32,
    /// Our node while in line (or served and not yet polled).
    key: Option<Key>,
    done: bool,
}

impl Acquire<'_> {
    /// The state machine behind `poll`: `Ready(Ok(()))` once our permits are ours.
    fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        let n = self.permits;
        let mut state = self.semaphore.state.borrow_mut();
        let Some(key) = self.key else {
            if state.closed {
                return Poll::Ready(Err(AcquireError(())));
            }
            if state.permits >= n as usize && (n == 0 || state.waiters.is_empty()) {
                state.permits -= n as usize;
                return Poll::Ready(Ok(()));
            }
            // Free permits mean nobody waits: take them, and wait for the rest.
            let take = state.permits.min(n as usize);
            state.permits -= take;
            let missing = n - take as u32;
            self.key = Some(
                state
                    .waiters
                    .push_back(Some(cx.waker()), Waiter { missing }),
            );
            return Poll::Pending;
        };
        if state.closed {
            // tokio's order: closing wins even over a grant not yet seen. The permits we
            // collected go back (to the pool: a closed semaphore has no waiters).
            let (waiter, _, retired) = state.waiters.remove(key).expect("our waiter node");
            self.key = None;
            let mut wakers = WakeList::new();
            state.release((n - waiter.missing) as usize, &mut wakers);
            drop(state);
            drop(retired);
            wakers.wake();
            return Poll::Ready(Err(AcquireError(())));
        }
        if state.waiters.is_linked(key) {
            let retired = state.waiters.set_waker(key, cx.waker());
            drop(state);
            drop(retired);
            return Poll::Pending;
        }
        // Served: every permit was handed to us.
        let removed = state.waiters.remove(key);
        drop(state);
        drop(removed);
        self.key = None;
        Poll::Ready(Ok(()))
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "looplet: Acquire polled after completion");
        let result = std::task::ready!(self.poll_acquire(cx));
        self.done = true;
        Poll::Ready(result.map(|()| SemaphorePermit {
            semaphore: self.semaphore,
            permits: self.permits,
        }))
    }
}

impl FusedFuture for Acquire<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key else {
            return;
        };
        let mut wakers = WakeList::new();
        let retired = {
            let mut state = self.semaphore.state.borrow_mut();
            let (waiter, _, retired) = state.waiters.remove(key).expect("our waiter node");
            let collected = self.permits - waiter.missing;
            state.release(collected as usize, &mut wakers);
            retired
        };
        drop(retired);
        wakers.wake();
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.permits)
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back.
///
/// # Examples
///
/// ```
/// let sem = looplet::sync::Semaphore::new(1);
/// {
///     let _permit = sem.try_acquire().unwrap();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is released at once if it is not kept"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: u32,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits taken for good: the semaphore has that many fewer from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = looplet::sync::Semaphore::new(3);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits as usize);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// [`Semaphore::acquire`] failed: the semaphore is closed.
///
/// # Examples
///
/// ```
/// let sem = looplet::sync::Semaphore::new(0);
/// sem.close();
/// let err = looplet::block_on(sem.acquire()).unwrap_err();
/// assert_eq!(err.to_string(), "semaphore closed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why [`Semaphore::try_acquire`] took nothing.
///
/// # Examples
///
/// ```
/// use looplet::sync::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// Not enough permits are free, or others wait for them first.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}
