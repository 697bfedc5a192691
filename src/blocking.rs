//! `unblock`: blocking code on a thread pool, awaited from the loop.

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::blocking::Unblock;
use futures_io::AsyncWrite;

use crate::Task;
use crate::executor::Hold;
use crate::task::Outcome;
use crate::unwind::catch;

/// Runs a blocking closure on a thread pool and returns a [`Task`] for its result.
///
/// asyncio's `loop.run_in_executor(None, f)`: the loop's thread must never block, so a
/// closure that does (a CPU-heavy computation, a blocking library call, `std::fs`) goes to a
/// pool thread, and the task that awaits its `Task` waits like for any other task while the
/// loop runs the others. When the closure returns, the pool thread wakes the awaiting task
/// through its waker, the loop's ordinary cross-thread wake path: there is no extra channel.
///
/// # The pool
///
/// The pool is the [`blocking`](https://docs.rs/blocking) crate's (smol's), one per process
/// and shared with every loop and with any other crate that uses it. It starts no thread
/// before the first `unblock` (or file or stdio operation): looplet spawns no thread you did
/// not ask for. It adds a thread when queued closures outnumber idle threads five to one, up
/// to `BLOCKING_MAX_THREADS` threads (an environment variable read at the first use, 1 to
/// 10,000; 500 when unset); past the bound, closures wait in the queue, first in first out,
/// for a free thread. A thread that has found no work for half a second exits, so an idle
/// program has no pool threads left. Pool threads are not joined at exit: they never keep
/// the process alive, and a closure still running when `main` returns is cut short.
///
/// The closure and its result cross to another thread, so both must be `Send`: a closure that
/// holds an `Rc` or other loop-local state cannot go to the pool (the compiler says so). Keep
/// the loop-local part in the task, and send the pool only what it needs.
///
/// # Outside a loop
///
/// `unblock` needs no loop: it can be called anywhere, and its `Task` is `Send` (when `T` is)
/// and can be awaited on any loop, on any thread, or by any executor, not only where it was
/// made.
///
/// # Panics, drop and cancel
///
/// - A panic in `f` resumes in whoever awaits the `Task`, with the original payload (the
///   standard panic hook prints it on the pool thread first, as for any thread). The pool
///   goes on.
/// - **Dropping the `Task` cancels the closure if it has not started**: it never runs. A
///   closure already running cannot be stopped: it runs to the end on its thread, and its
///   result is dropped there. [`Task::detach`] lets it run in any case.
/// - [`Task::cancel`] does the same, and waits: it returns `None` once a running closure has
///   finished (its result is discarded), or at once if the closure had not started; `Some`
///   only if it had finished before the call.
///
/// # Examples
///
/// ```
/// let sum = looplet::block_on(async {
///     // Heavy work goes to the pool; the loop runs other tasks meanwhile.
///     looplet::unblock(|| (1..=1_000_000u64).sum::<u64>()).await
/// });
/// assert_eq!(sum, 500_000_500_000);
/// ```
///
/// A panic in the closure reaches the awaiter:
///
/// ```
/// use std::panic::{AssertUnwindSafe, catch_unwind};
///
/// let caught = catch_unwind(AssertUnwindSafe(|| {
///     looplet::block_on(looplet::unblock(|| panic!("disk on fire")))
/// }));
/// let payload = caught.unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"disk on fire"));
/// ```
///
/// Loop-local state cannot go to the pool:
///
/// ```compile_fail
/// let shared = std::rc::Rc::new(1);
/// let task = looplet::unblock(move || *shared + 1); // error: `Rc` is not `Send`
/// ```
pub fn unblock<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // The loop this was called on (if any) knows the job is out, until its result is in:
    // a paused clock does not jump meanwhile. A panic is caught on the pool thread (after the
    // hook has printed it) and resumed in the awaiter.
    let hold = Hold::current();
    Task::from_pool(::blocking::unblock(move || (Outcome::new(catch(f)), hold)))
}

/// Drives `future` to completion on the pool, in the background.
///
/// Each wake makes one pool job that polls the future once, so a future that waits (for
/// another pool job, say) holds no pool thread while it waits, and cannot starve the job it
/// waits for even when the pool is at its thread limit. What a dropped
/// [`File`](crate::fs::File) uses to finish its unflushed writes.
pub(crate) fn drive_on_pool(future: impl Future<Output = ()> + Send + 'static) {
    let schedule = |runnable: async_task::Runnable| {
        ::blocking::unblock(move || {
            runnable.run();
        })
        .detach();
    };
    let (runnable, task) = async_task::spawn(future, schedule);
    task.detach();
    runnable.schedule();
}

/// Writes `buf` into an `Unblock`'s pipe; if the pipe is closed, returns why.
///
/// The pool job that drains the pipe stops at the first failed `write(2)` (`EPIPE`, `EBADF`,
/// a full disk), closing the pipe; a write into it then returns `Ok(0)`, which `write_all`
/// turns into `WriteZero`, and the real error would only come out of the next flush. So
/// when a non-empty `buf` gets `Ok(0)`, this flushes at once and returns the flush's error
/// (the job's); a flush that succeeds leaves the `Ok(0)`. The one rule for every writer on
/// the pool: [`File`](crate::fs::File), `Stdout` and `Stderr`.
pub(crate) fn poll_write_unblock<T: Write + Send + 'static>(
    mut unblock: Pin<&mut Unblock<T>>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let n = ready!(unblock.as_mut().poll_write(cx, buf))?;
    if n == 0 && !buf.is_empty() {
        // Pending here is safe to repoll: the next poll_write finds the job stopping and
        // waits for it (returning its error) before it would start another.
        ready!(unblock.poll_flush(cx))?;
    }
    Poll::Ready(Ok(n))
}
