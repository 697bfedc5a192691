//! A fair async mutex, built on a one-permit [`Semaphore`]: asyncio's `Lock`, tokio's `Mutex`.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::semaphore::{Acquire, Semaphore, SemaphorePermit};

/// A value that one task at a time may use, with a guard that may be held across `.await`.
///
/// Tasks on one loop never run at the same moment, so plain `Rc<RefCell<T>>` is enough for
/// state that is never borrowed across an `.await`. A `Mutex` is for the rest: a borrow that
/// spans waits (a connection used for a whole request, a file being written). `lock().await`
/// waits its turn and returns a [`MutexGuard`]; the next task gets the value when it drops.
///
/// The lock is fair: waiting tasks get it strictly in the order they asked, and it is handed
/// straight to the head waiter when released, so a task that comes later cannot barge in
/// front of one that waits, even if it runs first. A `lock()` future dropped while waiting, or
/// after the lock was handed to it but before it ran, passes its turn on: no wake-up is lost
/// and the lock is never left held by nobody.
///
/// The guard holds a `RefMut` of the value, so there is no `unsafe` here: the one permit of
/// the semaphore proves the borrow is unique.
///
/// `Mutex` is `!Send` and `!Sync` (share it through an `Rc`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::sync::Mutex<u32>>();
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use looplet::sync::Mutex;
///
/// looplet::block_on(async {
///     let log = Rc::new(Mutex::new(Vec::new()));
///     let tasks: Vec<_> = (0..3)
///         .map(|n| {
///             let log = log.clone();
///             looplet::spawn(async move {
///                 let mut log = log.lock().await;
///                 log.push(n);
///                 looplet::yield_now().await; // others wait: the guard is held
///                 log.push(n);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await;
///     }
///     assert_eq!(*log.lock().await, [0, 0, 1, 1, 2, 2]);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    semaphore: Semaphore,
    /// # Invariant
    ///
    /// Borrowed (mutably) exactly while a `MutexGuard` holds the semaphore's one permit.
    value: RefCell<T>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex. `const`, so it can live in a `thread_local!`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = looplet::sync::Mutex::new(5);
    /// assert_eq!(*mutex.try_lock().unwrap(), 5);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            semaphore: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// Consumes the mutex, returning the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = looplet::sync::Mutex::new(String::from("x"));
    /// assert_eq!(mutex.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock, in line behind every task already waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mutex = looplet::sync::Mutex::new(0);
    ///     *mutex.lock().await += 1;
    ///     assert_eq!(*mutex.lock().await, 1);
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            acquire: self.semaphore.acquire(),
        }
    }

    /// Takes the lock if it is free and nobody waits for it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the lock is held, or other tasks wait for it first.
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = looplet::sync::Mutex::new(1);
    /// let guard = mutex.try_lock().unwrap();
    /// assert!(mutex.try_lock().is_err());
    /// drop(guard);
    /// assert!(mutex.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.semaphore.try_acquire() {
            Ok(permit) => Ok(self.guard(permit)),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through a unique reference: no locking needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut mutex = looplet::sync::Mutex::new(1);
    /// *mutex.get_mut() = 2;
    /// assert_eq!(mutex.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn guard<'a>(&'a self, permit: SemaphorePermit<'a>) -> MutexGuard<'a, T> {
        MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`Mutex::lock`].
///
/// Dropping it gives up its place in line, or passes the lock on if it was already handed
/// over.
///
/// `!Send`, like what it waits on:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let mutex = looplet::sync::Mutex::new(0);
/// assert_send(&mutex.lock());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    acquire: Acquire<'a>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let permit = std::task::ready!(Pin::new(&mut self.acquire).poll(cx))
            .expect("a mutex's semaphore is never closed");
        Poll::Ready(self.mutex.guard(permit))
    }
}

impl<T: ?Sized> FusedFuture for Lock<'_, T> {
    fn is_terminated(&self) -> bool {
        self.acquire.is_terminated()
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("acquire", &self.acquire)
            .finish_non_exhaustive()
    }
}

/// The lock on a [`Mutex`], held until dropped; derefs to the value.
///
/// A guard is `!Send`, like the mutex:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let mutex = looplet::sync::Mutex::new(0);
/// assert_send(&mutex.try_lock().unwrap());
/// ```
///
/// # Examples
///
/// ```
/// let mutex = looplet::sync::Mutex::new(vec![1]);
/// let mut guard = mutex.try_lock().unwrap();
/// guard.push(2);
/// assert_eq!(*guard, [1, 2]);
/// ```
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Fields drop in order: the borrow ends before the permit passes the lock on.
    value: RefMut<'a, T>,
    _permit: SemaphorePermit<'a>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// [`Mutex::try_lock`] failed: the lock is held, or others wait for it.
///
/// # Examples
///
/// ```
/// let mutex = looplet::sync::Mutex::new(());
/// let _guard = mutex.try_lock().unwrap();
/// let err = mutex.try_lock().unwrap_err();
/// assert_eq!(err.to_string(), "mutex is locked");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mutex is locked")
    }
}

impl std::error::Error for TryLockError {}
