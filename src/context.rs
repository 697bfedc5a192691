//! The loop running on this thread: one thread-local pointer, and the guard that sets it.
//!
//! `spawn`, timers and sockets find the running loop without a handle being passed around.
//! This is the only place that reads the thread-local, and the only `unsafe` outside the
//! platform seam. The rest of the crate asks it for narrow handles: the executor for the loop
//! itself ([`current_rc`]), a socket for the loop's [`Reactor`] ([`current_reactor`]), a timer
//! for its [`Timers`] ([`with_timers`]). A socket or a timer keeps the handle to its own
//! driver, never the whole loop. One more thread-local counts the loops whose clock was
//! paused, so that reading the clock costs nothing more than `Instant::now()` while none is
//! ([`any_clock_shifted`]).

use std::cell::Cell;
use std::ptr;
use std::rc::Rc;

use crate::executor::Local;
use crate::reactor::Reactor;
use crate::time::Timers;

thread_local! {
    /// The loop running on this thread, or null.
    ///
    /// # Invariant
    ///
    /// Non-null only while an [`Enter`] guard is alive; it then points into the `Rc<Local>`
    /// that the guard borrows, so the `Local` outlives every dereference made while it is set.
    static CURRENT: Cell<*const Local> = const { Cell::new(ptr::null()) };

    /// How many loops on this thread have a clock that is not plain real time (paused, or
    /// resumed away from it): while none has, reading a loop's clock is `Instant::now()`.
    static SHIFTED_CLOCKS: Cell<usize> = const { Cell::new(0) };
}

/// Whether any loop on this thread has a paused (or once paused) clock.
#[inline]
pub(crate) fn any_clock_shifted() -> bool {
    SHIFTED_CLOCKS.with(Cell::get) != 0
}

/// Counts a loop's clock leaving real time (`1`) or a shifted clock going away (`-1`).
pub(crate) fn shift_clocks(delta: isize) {
    // `try_with`: a loop dropped while the thread's locals are torn down has nobody to tell.
    let _ = SHIFTED_CLOCKS.try_with(|n| n.set(n.get().wrapping_add_signed(delta)));
}

/// Runs `f` with the loop running on this thread, if there is one.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    // SAFETY: a non-null CURRENT points to a live `Local` (see the invariant on CURRENT), and
    // the shared reference cannot outlive this call.
    f(unsafe { current.as_ref() })
}

/// The loop running on this thread, as an `Rc`.
#[inline]
pub(crate) fn current_rc() -> Option<Rc<Local>> {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT was made by `Rc::as_ptr` on an `Rc<Local>` that is alive
    // while it is set (see the invariant on CURRENT); adding a strong count before `from_raw`
    // makes the new `Rc` an owner of its own.
    unsafe {
        Rc::increment_strong_count(current);
        Some(Rc::from_raw(current))
    }
}

/// The reactor of the loop running on this thread.
#[inline]
pub(crate) fn current_reactor() -> Option<Rc<Reactor>> {
    with_current(|local| local.map(|local| local.reactor.clone()))
}

/// Runs `f` with the timers of the loop running on this thread, if there is one.
#[inline]
pub(crate) fn with_timers<R>(f: impl FnOnce(Option<&Rc<Timers>>) -> R) -> R {
    with_current(|local| f(local.map(|local| &local.timers)))
}

/// Whether a loop is running (in `block_on` or `try_tick`) on this thread.
#[inline]
pub(crate) fn a_loop_is_running() -> bool {
    with_current(|local| local.is_some_and(Local::is_running))
}

/// Marks a loop as running on this thread for the guard's lifetime.
pub(crate) struct Enter<'a> {
    local: &'a Local,
    previous: *const Local,
    running: bool,
}

impl<'a> Enter<'a> {
    /// For `block_on`.
    ///
    /// # Panics
    ///
    /// If any loop is running on this thread (see [`Executor::block_on`]).
    #[track_caller]
    pub(crate) fn block_on(local: &'a Rc<Local>) -> Enter<'a> {
        if a_loop_is_running() {
            panic!(
                "looplet: block_on cannot be called from a running event loop (asyncio: \
                 'cannot be called from a running event loop'): it would stall every task of \
                 the loop already running on this thread until it returned. Inside a task, \
                 spawn the future with looplet::spawn and await its Task, or just await it"
            );
        }
        Enter::run(local)
    }

    /// For `block_on` and `try_tick`.
    ///
    /// # Panics
    ///
    /// If this loop is already running on this thread.
    #[track_caller]
    pub(crate) fn run(local: &'a Rc<Local>) -> Enter<'a> {
        if local.start_running() {
            panic!(
                "looplet: block_on (or try_tick) called on a loop that is already running on \
                 this thread (asyncio: 'This event loop is already running'); waiting here \
                 would deadlock. Spawn the future with looplet::spawn and await its Task instead"
            );
        }
        Enter {
            local,
            previous: CURRENT.with(|c| c.replace(Rc::as_ptr(local))),
            running: true,
        }
    }

    /// For the executor's drop: wakes land in this loop's queue.
    pub(crate) fn drop_tasks(local: &'a Rc<Local>) -> Enter<'a> {
        Enter {
            local,
            previous: CURRENT.with(|c| c.replace(Rc::as_ptr(local))),
            running: false,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        if self.running {
            self.local.stop_running();
        }
    }
}
