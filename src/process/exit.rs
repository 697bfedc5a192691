//! Waiting for a child's exit with no thread and no polling, and reaping every child.
//!
//! Two ways to learn that a child exited, chosen per child at spawn:
//!
//! - **pidfd** (Linux 5.3+): `pidfd_open` gives an fd that becomes readable when the child
//!   can be reaped; it sits on the loop's reactor like a socket, and the "operation" retried
//!   on readiness is `waitpid(pid, WNOHANG)` (std's `try_wait`), which says `WouldBlock`
//!   while the child runs. No `O_NONBLOCK` is asked for: the fd is only polled, never read or
//!   passed to `waitid`, so 5.3 to 5.9 kernels (which lack `PIDFD_NONBLOCK`) use it too.
//! - **SIGCHLD**, where `pidfd_open` fails (`ENOSYS` on older kernels, `EPERM` from a seccomp
//!   filter, or `LOOPLET_NO_PIDFD=1` in the environment): one [`Signals`] listener for
//!   `SIGCHLD` per thread, shared by every child waiting on that thread, and on each
//!   `SIGCHLD` every waiting child retries `try_wait` (tokio's approach). `ENOSYS` and
//!   `EPERM` switch the whole process to SIGCHLD; any other error (out of fds) only that
//!   child, except `ESRCH`.
//! - **none**, when `pidfd_open` fails with `ESRCH`: the child was reaped already by
//!   something else (`SIGCHLD` set to `SIG_IGN`, or a `waitpid(-1)`). Waiting asks
//!   `try_wait` at once, which says `ECHILD`, as the pidfd path does when the child is
//!   reaped that way later; no `SIGCHLD` listener, whose handler would end a `SIG_IGN`
//!   host's auto-reaping.
//!
//! A child that is dropped before it was reaped is never left a zombie: it is killed first
//! if it was spawned with `kill_on_drop(true)`, then handed to a detached task on the loop
//! running on this thread, which waits for it the same way. With no loop running, or if that
//! loop is dropped first, it goes to a process-wide orphan list that every `spawn`, every
//! observed exit and every `SIGCHLD` sweeps with `try_wait` (tokio's orphan queue).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};

use rustix::io::Errno;

use crate::executor::Hold;
use crate::io::Async;
use crate::reactor::{Kind, READ};
use crate::signal::{SIGCHLD, Signals};

/// A pidfd for `child`: Linux 5.3+.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_pidfd(child: &std::process::Child) -> Result<OwnedFd, Errno> {
    use rustix::process::{Pid, PidfdFlags};
    rustix::process::pidfd_open(Pid::from_child(child), PidfdFlags::empty())
}

/// No pidfds here: every child is watched through `SIGCHLD`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open_pidfd(_child: &std::process::Child) -> Result<OwnedFd, Errno> {
    Err(Errno::NOSYS)
}

/// The environment variable that turns pidfds off, read once, at the first spawn.
pub(crate) const NO_PIDFD_ENV: &str = "LOOPLET_NO_PIDFD";

/// Whether to try `pidfd_open`: not yet decided, yes, or no (for the rest of the process).
static PIDFD: AtomicU8 = AtomicU8::new(UNDECIDED);
const UNDECIDED: u8 = 0;
const PIDFD_ON: u8 = 1;
const PIDFD_OFF: u8 = 2;

fn pidfd_wanted() -> bool {
    match PIDFD.load(Ordering::Relaxed) {
        UNDECIDED => {
            let off = std::env::var_os(NO_PIDFD_ENV).is_some_and(|v| !v.is_empty() && v != "0");
            PIDFD.store(if off { PIDFD_OFF } else { PIDFD_ON }, Ordering::Relaxed);
            !off
        }
        state => state == PIDFD_ON,
    }
}

/// Children dropped before they were reaped, with no loop left to wait for them.
static ORPHANS: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

/// Reaps every orphan that has exited.
pub(crate) fn reap_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    // An error (`ECHILD`: someone else reaped it) leaves nothing to wait for either.
    orphans.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
}

fn orphan(child: std::process::Child) {
    ORPHANS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(child);
}

/// How a child's exit is watched.
enum Watch {
    /// Readable once the child can be reaped.
    Pidfd(Async<OwnedFd>),
    /// Woken by the thread's `SIGCHLD` listener; `seen` is the last generation of it for
    /// which `try_wait` ran.
    Sigchld {
        hub: Option<Rc<Hub>>,
        seen: Option<u64>,
    },
    /// `pidfd_open` found no such process (`ESRCH`): something else in the process reaped
    /// the child already (`SIGCHLD` set to `SIG_IGN`, or a `waitpid(-1)`). A wait asks
    /// `try_wait` at once, which fails with `ECHILD`, as on the pidfd path after such a
    /// reaping; no `SIGCHLD` listener is made, since its handler would end a `SIG_IGN`
    /// host's auto-reaping.
    ReapedElsewhere,
    /// Reaped (or moved to a reaper): nothing left to watch.
    Done,
}

/// A spawned child's exit: the waiting, the status, and the reaping on drop.
pub(crate) struct Exit {
    /// # Invariant
    ///
    /// `Some` until `Drop` moves it out.
    child: Option<std::process::Child>,
    watch: Watch,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    /// This is a reaper's own `Exit`: dropping it never spawns another reaper.
    detached: bool,
    /// Until the child is reaped, the loop it was spawned on knows its exit is still to come:
    /// a paused clock does not jump past it (see `time::pause`).
    hold: Option<Hold>,
}

impl Exit {
    /// Starts watching `child` (whose stdio the caller has taken).
    pub(crate) fn new(child: std::process::Child, kill_on_drop: bool) -> Exit {
        let watch = match pidfd_wanted().then(|| open_pidfd(&child)) {
            Some(Ok(fd)) => Watch::Pidfd(Async::new_nonblocking(fd, Kind::Other)),
            Some(Err(Errno::SRCH)) => Watch::ReapedElsewhere,
            Some(Err(err)) => {
                if err == Errno::NOSYS || err == Errno::PERM {
                    PIDFD.store(PIDFD_OFF, Ordering::Relaxed);
                }
                Watch::Sigchld {
                    hub: None,
                    seen: None,
                }
            }
            None => Watch::Sigchld {
                hub: None,
                seen: None,
            },
        };
        Exit {
            child: Some(child),
            watch,
            status: None,
            kill_on_drop,
            detached: false,
            hold: Hold::current(),
        }
    }

    fn child(&mut self) -> &mut std::process::Child {
        self.child
            .as_mut()
            .expect("the child is present until drop")
    }

    /// The pid, while the child has not been reaped (after that it may belong to another).
    pub(crate) fn id(&self) -> Option<u32> {
        match (&self.child, self.status) {
            (Some(child), None) => Some(child.id()),
            _ => None,
        }
    }

    pub(crate) fn set_kill_on_drop(&mut self, kill: bool) {
        self.kill_on_drop = kill;
    }

    /// `"pidfd"` or `"SIGCHLD"`: how the exit is watched (shown by `Child`'s `Debug`).
    pub(crate) fn mechanism(&self) -> &'static str {
        match self.watch {
            Watch::Pidfd(_) => "pidfd",
            Watch::Sigchld { .. } => "SIGCHLD",
            Watch::ReapedElsewhere => "reaped elsewhere",
            Watch::Done => "reaped",
        }
    }

    /// Sends `SIGKILL`, unless the child was reaped already (then its pid may be another
    /// process's, and this does nothing).
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.child().kill()
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.child().try_wait()?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        // Closes the pidfd (or lets go of the SIGCHLD listener) now rather than at drop.
        self.watch = Watch::Done;
        self.hold = None;
        reap_orphans();
    }

    /// Waits for the exit and reaps the child.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        if let Watch::ReapedElsewhere = self.watch {
            match self.child().try_wait()? {
                Some(status) => {
                    self.reaped(status);
                    return Poll::Ready(Ok(status));
                }
                // waitpid found it running after all: watch it as the fallback does.
                None => {
                    self.watch = Watch::Sigchld {
                        hub: None,
                        seen: None,
                    }
                }
            }
        }
        let child = self
            .child
            .as_mut()
            .expect("the child is present until drop");
        let status = match &mut self.watch {
            Watch::Pidfd(pidfd) => ready!(pidfd.poll_with(
                READ,
                cx,
                |_| match child.try_wait()? {
                    Some(status) => Ok(status),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                },
                |_| None,
            ))?,
            Watch::Sigchld { hub, seen } => {
                let hub = match hub {
                    Some(hub) => hub,
                    None => hub.insert(Hub::current()?),
                };
                loop {
                    // Listen first, then look: a SIGCHLD after the look wakes us.
                    let generation = hub.poll_generation(cx)?;
                    if *seen == Some(generation) {
                        return Poll::Pending;
                    }
                    *seen = Some(generation);
                    if let Some(status) = child.try_wait()? {
                        break status;
                    }
                }
            }
            Watch::ReapedElsewhere => unreachable!("handled above"),
            Watch::Done => unreachable!("an Exit is done only once reaped or dropped"),
        };
        self.reaped(status);
        Poll::Ready(Ok(status))
    }
}

impl Drop for Exit {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.status.is_some() {
            return;
        }
        if self.kill_on_drop {
            // Fails only if it exited already, which the next line finds out.
            let _ = child.kill();
        }
        if !matches!(child.try_wait(), Ok(None)) {
            // Reaped now, or not ours to reap (`ECHILD`).
            reap_orphans();
            return;
        }
        if self.detached {
            orphan(child);
            return;
        }
        let reaper = Exit {
            child: Some(child),
            watch: std::mem::replace(&mut self.watch, Watch::Done),
            status: None,
            kill_on_drop: false,
            detached: true,
            // A child nobody waits for any more does not hold a paused clock.
            hold: None,
        };
        let reap = async move {
            let mut reaper = reaper;
            // On an error the reaper's drop hands the child to the orphan list.
            let _ = std::future::poll_fn(|cx| reaper.poll_wait(cx)).await;
        };
        // With no loop running, the error gives the future back and dropping it drops the
        // reaper, whose own drop puts the child on the orphan list. So does the loop's drop
        // if it comes before the child's exit.
        if let Ok(task) = crate::try_spawn(reap) {
            task.detach();
        }
    }
}

impl fmt::Debug for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exit")
            .field("pid", &self.id())
            .field("watch", &self.mechanism())
            .field("status", &self.status)
            .finish()
    }
}

thread_local! {
    /// This thread's `SIGCHLD` listener, alive while some child waits through it.
    static HUB: RefCell<Weak<Hub>> = const { RefCell::new(Weak::new()) };
}

/// One `SIGCHLD` listener shared by every child waiting on this thread without a pidfd.
///
/// Each `SIGCHLD` bumps `generation` and wakes every waiter, which then runs `try_wait`.
/// The listener's socket has one waker slot, so the hub polls it with a fan-out waker that
/// wakes all of them.
struct Hub {
    signals: RefCell<Signals>,
    /// How many times `SIGCHLD` has been seen.
    generation: Cell<u64>,
    fanout: Arc<Fanout>,
    /// `fanout`, as a waker.
    waker: Waker,
}

impl Hub {
    /// The thread's hub, made (and the `SIGCHLD` handler installed) if there is none.
    fn current() -> io::Result<Rc<Hub>> {
        HUB.with(|slot| {
            if let Some(hub) = slot.borrow().upgrade() {
                return Ok(hub);
            }
            let fanout = Arc::new(Fanout {
                wakers: Mutex::new(Vec::new()),
            });
            let hub = Rc::new(Hub {
                signals: RefCell::new(Signals::new([SIGCHLD])?),
                generation: Cell::new(0),
                waker: Waker::from(fanout.clone()),
                fanout,
            });
            *slot.borrow_mut() = Rc::downgrade(&hub);
            Ok(hub)
        })
    }

    /// Leaves `cx`'s waker for the next `SIGCHLD`, takes in those that arrived, and returns
    /// the generation.
    fn poll_generation(&self, cx: &Context<'_>) -> io::Result<u64> {
        self.fanout.add(cx.waker());
        let mut signals = self.signals.borrow_mut();
        let mut hub_cx = Context::from_waker(&self.waker);
        let mut arrived = false;
        while let Poll::Ready(signal) = signals.poll_recv(&mut hub_cx) {
            signal?;
            arrived = true;
        }
        if arrived {
            self.generation.set(self.generation.get() + 1);
            reap_orphans();
            // The other waiters did not see the byte we just read: they look now.
            self.fanout.wake_all();
        }
        Ok(self.generation.get())
    }
}

/// A waker that wakes every waker left with it (then forgets them).
struct Fanout {
    wakers: Mutex<Vec<Waker>>,
}

impl Fanout {
    fn add(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let wakers =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Wake for Fanout {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// `pidfd_open` on a child already reaped behind std's back (as `SIGCHLD` set to
    /// `SIG_IGN` does) fails with `ESRCH`. That is no reason to install the `SIGCHLD`
    /// handler (which would end a `SIG_IGN` host's auto-reaping): the wait asks
    /// `waitpid` at once and gets `ECHILD`, as the pidfd path does after such a reaping.
    #[test]
    fn a_child_reaped_before_its_pidfd_opened_gets_no_sigchld_listener() {
        use rustix::process::{Pid, PidfdFlags, WaitOptions, getpid, pidfd_open, waitpid};
        if !pidfd_wanted() || pidfd_open(getpid(), PidfdFlags::empty()).is_err() {
            eprintln!("no pidfds here (or LOOPLET_NO_PIDFD is set): nothing to check");
            return;
        }
        let child = std::process::Command::new("true").spawn().unwrap();
        waitpid(Some(Pid::from_child(&child)), WaitOptions::empty()).unwrap();
        let mut exit = Exit::new(child, false);
        assert_eq!(exit.mechanism(), "reaped elsewhere");
        let err = crate::block_on(std::future::poll_fn(|cx| exit.poll_wait(cx))).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(Errno::CHILD.raw_os_error()),
            "{err}"
        );
        assert_eq!(
            exit.try_wait().unwrap_err().raw_os_error(),
            Some(Errno::CHILD.raw_os_error())
        );
        assert!(
            HUB.with(|hub| hub.borrow().upgrade().is_none()),
            "a SIGCHLD listener was made for it"
        );
        drop(exit); // not ours to reap: no reaper task, no orphan
        assert!(ORPHANS.lock().unwrap().is_empty());
    }
}
