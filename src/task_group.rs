//! [`TaskGroup`]: a set of tasks whose outputs come out in the order they finish (asyncio's
//! `TaskGroup`, tokio's `JoinSet`), and its [`Spawner`].
//!
//! # Cost
//!
//! A member is an ordinary task on the loop. When it finishes, it hands its output to the
//! group and wakes whoever waits in [`TaskGroup::next`]: `next` never polls the members, so
//! taking an output costs the same in a group of a million as in a group of one. Per member,
//! the group adds to a plain [`spawn`](crate::spawn) one slot in a slab, which it reuses, and
//! no allocation of its own.
//!
//! # Examples
//!
//! ```
//! use looplet::TaskGroup;
//!
//! let squares = looplet::block_on(async {
//!     let mut group = TaskGroup::new();
//!     for n in 1..=4_u32 {
//!         group.spawn(async move { n * n });
//!     }
//!     let mut squares = Vec::new();
//!     while let Some(sq) = group.next().await {
//!         squares.push(sq);
//!     }
//!     squares.sort();
//!     squares
//! });
//! assert_eq!(squares, [1, 4, 9, 16]);
//! ```

// How it works.
//
// Each member is spawned with its future wrapped in a small `Member` future, and has one slot
// in the group's `Slab` from its spawn until its output is taken. While it runs, the slot
// holds its `Task` handle, only to cancel it (dropping a handle cancels its task). When the
// user's future finishes (or panics), the wrapper puts the output (or the panic's payload) in
// the slot in place of the handle, links the slot at the tail of the group's list of
// finished members, detaches its own task (so async-task frees it as soon as it ends) and
// wakes whoever waits in `next`, if anyone does; `next` takes the head of that list.
//
// The members hold the group by a `Weak` reference: nothing a member holds keeps the group
// alive, there is no reference cycle, and a member that finishes after its group is gone just
// drops its output. Slots carry generations, so a member cancelled by `cancel_all` that is
// dropped later (on the loop's next pass) cannot remove a newer member that reused its slot.
//
// Nothing here wakes a waker or drops a user's value while the group's `RefCell` is borrowed,
// so a waker or a destructor that comes back to the group finds it consistent.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::future::FusedFuture;
use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::executor::Handle;
use crate::slab::{Key, Slab};
use crate::sync::waiters::swap_waker;
use crate::task::{SpawnError, SpawnErrorKind, Task};
use crate::unwind::{Payload, catch, drop_guarded, drop_payload, run_guarded};

/// A set of tasks on the loop whose outputs come out in the order the tasks finish: asyncio's
/// `TaskGroup`, tokio's `JoinSet`.
///
/// - [`spawn`](TaskGroup::spawn) starts a member on the loop running on this thread, like
///   [`looplet::spawn`](crate::spawn); [`spawn_on`](TaskGroup::spawn_on) on a given loop.
///   It returns nothing: the group owns the member. (To cancel one task alone, spawn it with
///   `looplet::spawn` and keep its [`Task`].) A member is queued on the loop at once, and
///   runs whether or not anyone awaits the group.
/// - [`next().await`](TaskGroup::next) gives the next output in completion order, and `None`
///   once the group is empty (tokio's `join_next`). The group is also a [`Stream`] of the
///   outputs, and a [`FusedStream`].
/// - [`try_next`](TaskGroup::try_next) takes an output only if one is ready right now.
/// - [`cancel_all`](TaskGroup::cancel_all) cancels every member and drops every output not
///   taken yet; [`detach_all`](TaskGroup::detach_all) lets the members run on without the
///   group. Either way the group is empty afterwards.
/// - **Dropping the group cancels every member**, as dropping a [`Task`] cancels its task:
///   each member's future is dropped the next time the loop gets to it, without being polled
///   again.
/// - A [`Spawner`] (from [`spawner`](TaskGroup::spawner)) adds members from anywhere, a
///   member included, without borrowing the group.
///
/// **Panics.** A member's panic is caught at the member, and resumed, with its original
/// payload, in whoever takes it from the group with `next`, `try_next` or the stream, in
/// completion order like an output. The other members keep running, and the group stays
/// usable: catch the panic and go on taking outputs.
///
/// **Cancelled members yield nothing.** A member cancelled by `cancel_all`, by the group's
/// drop, or because its loop was dropped, is just removed: it never shows up in `next`
/// (tokio's `JoinSet` would hand back a cancellation error).
///
/// **Cancel safety.** Dropping a `next()` future that has not completed loses nothing: an
/// output leaves the group only when it is returned.
///
/// A `TaskGroup` is `!Send`, like the loop its members run on:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::TaskGroup<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// let order = looplet::block_on(async {
///     let mut group = looplet::TaskGroup::new();
///     for (name, steps) in [("slow", 3), ("quick", 1), ("medium", 2)] {
///         group.spawn(async move {
///             for _ in 0..steps {
///                 looplet::yield_now().await; // stands for real work that waits
///             }
///             name
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(name) = group.next().await {
///         order.push(name);
///     }
///     order
/// });
/// assert_eq!(order, ["quick", "medium", "slow"]); // in the order they finished
/// ```
pub struct TaskGroup<T> {
    inner: Rc<Inner<T>>,
}

/// What the group shares with its members (which hold it by a `Weak`) and spawners.
struct Inner<T> {
    state: RefCell<State<T>>,
}

/// # Invariant
///
/// `members` has a slot for every member of the group, under the key its `Member` future
/// carries: [`Entry::Running`] until it finishes, [`Entry::Done`] from then until its output
/// is taken. The `Done` slots, and only they, form the list `head`..`tail` (linked through
/// their `next`) in the order the members finished; `ready` counts them. `waiting` is true
/// only while `waker` belongs to a poll of the group that returned `Pending` and has not been
/// woken since.
struct State<T> {
    members: Slab<Entry<T>>,
    head: u32,
    tail: u32,
    ready: usize,
    /// The waker of the last poll that found nothing ready, kept between waits so that
    /// waiting again clones nothing.
    waker: Option<Waker>,
    waiting: bool,
    /// Set when the group yielded `None`, cleared by the next spawn: [`FusedStream`].
    terminated: bool,
}

/// Marks the end of the list of finished members.
const NIL: u32 = u32::MAX;

/// One member's slot.
enum Entry<T> {
    /// Running (or waiting to run): its task, kept to cancel it.
    Running(Task<()>),
    /// Finished: what it left, and the next finished member (or [`NIL`]).
    Done(Result<T, Payload>, u32),
}

impl<T> State<T> {
    /// Puts a running member's result in its slot and links the slot at the tail; returns
    /// the member's task, or hands the result back if `key` is no member's (it was cancelled
    /// or detached).
    fn finish(
        &mut self,
        key: Key,
        result: Result<T, Payload>,
    ) -> Result<Task<()>, Result<T, Payload>> {
        let Some(entry) = self.members.get_mut(key) else {
            return Err(result);
        };
        let Entry::Running(task) = std::mem::replace(entry, Entry::Done(result, NIL)) else {
            unreachable!("a member finished twice");
        };
        let index = key.index();
        match self.tail {
            NIL => self.head = index,
            tail => match self.members.at_mut(tail) {
                Entry::Done(_, next) => *next = index,
                Entry::Running(_) => unreachable!("a running member in the finished list"),
            },
        }
        self.tail = index;
        self.ready += 1;
        Ok(task)
    }

    /// Ends a wait: the waiter's waker, to wake once the borrow is released.
    fn take_waker(&mut self) -> Option<Waker> {
        self.waiting = false;
        self.waker.take()
    }

    /// Takes the oldest finished member's result, freeing its slot.
    fn take_head(&mut self) -> Option<Result<T, Payload>> {
        if self.head == NIL {
            return None;
        }
        let Entry::Done(result, next) = self.members.remove_at(self.head) else {
            unreachable!("a running member in the finished list");
        };
        self.head = next;
        if next == NIL {
            self.tail = NIL;
        }
        self.ready -= 1;
        Some(result)
    }
}

impl<T> TaskGroup<T> {
    /// Creates an empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = looplet::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            inner: Rc::new(Inner {
                state: RefCell::new(State {
                    members: Slab::new(),
                    head: NIL,
                    tail: NIL,
                    ready: 0,
                    waker: None,
                    waiting: false,
                    terminated: false,
                }),
            }),
        }
    }

    /// How many members the group holds: those still running and those finished whose output
    /// has not been taken yet (tokio's `JoinSet::len`).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     group.spawn(std::future::pending());
    ///     assert_eq!(group.len(), 2);
    ///     looplet::yield_now().await; // the first one finishes, its output waits
    ///     assert_eq!(group.len(), 2);
    ///     assert_eq!(group.next().await, Some(1));
    ///     assert_eq!(group.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.borrow().members.len()
    }

    /// Whether the group holds no member: [`next`](TaskGroup::next) would return `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     assert!(group.is_empty());
    ///     group.spawn(async {});
    ///     assert!(!group.is_empty());
    ///     group.next().await;
    ///     assert!(group.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next member to finish and returns its output; `None` if the group is
    /// empty.
    ///
    /// Outputs come in the order the members finished. A member that panicked resumes its
    /// panic here, with the original payload, when its turn comes; the group stays usable.
    /// Dropping the future before it completes loses no output.
    ///
    /// # Panics
    ///
    /// With the payload of a member that panicked, as described above.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     assert_eq!(group.next().await, None); // empty
    ///     group.spawn(async { "done" });
    ///     assert_eq!(group.next().await, Some("done"));
    ///     assert_eq!(group.next().await, None);
    /// });
    /// ```
    // Not `Iterator::next`: an async one, as `StreamExt::next` is (the group is a `Stream`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, T> {
        Next {
            group: self,
            done: false,
        }
    }

    /// Takes the output of a member that has already finished, if there is one; never waits.
    ///
    /// Returns `None` both when no member has finished yet and when the group is empty
    /// ([`is_empty`](TaskGroup::is_empty) tells the two apart), as tokio's `try_join_next`.
    ///
    /// # Panics
    ///
    /// With the payload of a member that panicked, if its output is the one taken.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     group.spawn(async { 5 });
    ///     assert_eq!(group.try_next(), None); // not run yet
    ///     looplet::yield_now().await;
    ///     assert_eq!(group.try_next(), Some(5));
    /// });
    /// ```
    pub fn try_next(&mut self) -> Option<T> {
        match self.poll_take(None) {
            Poll::Ready(output) => output,
            Poll::Pending => None,
        }
    }

    /// Takes the oldest finished member's result; `None` once the group is empty; else
    /// waits, if given a waker (`try_next` gives none).
    fn poll_take(&mut self, waker: Option<&Waker>) -> Poll<Option<T>> {
        let result = {
            let mut state = self.inner.state.borrow_mut();
            match state.take_head() {
                Some(result) => result,
                None if state.members.is_empty() => {
                    state.terminated = true;
                    return Poll::Ready(None);
                }
                None => {
                    if let Some(waker) = waker {
                        // The waker replaced is dropped after the borrow: it may hold the
                        // last reference to a task whose future uses this group.
                        let replaced = swap_waker(&mut state.waker, waker);
                        state.waiting = true;
                        drop(state);
                        drop(replaced);
                    }
                    return Poll::Pending;
                }
            }
        };
        match result {
            Ok(output) => Poll::Ready(Some(output)),
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Cancels every member and drops every output not taken yet; the group is empty
    /// afterwards, and [`next`](TaskGroup::next) returns `None` until something is spawned.
    ///
    /// Each cancelled member's future is dropped the next time the loop gets to it, without
    /// being polled again (as when a [`Task`] is dropped); it yields nothing. Unlike tokio's
    /// `abort_all`, the members leave the group at once.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     group.spawn(std::future::pending::<u32>());
    ///     group.spawn(async { 1 });
    ///     group.cancel_all();
    ///     assert!(group.is_empty());
    ///     assert_eq!(group.next().await, None);
    /// });
    /// ```
    pub fn cancel_all(&self) {
        self.inner.clear(drop);
    }

    /// Lets every member run on in the background without the group, and drops every output
    /// not taken yet; the group is empty afterwards (tokio's `detach_all`).
    ///
    /// A detached member is no longer cancelled by the group's drop; its output is dropped
    /// when it finishes, and a panic of it is reported like a detached task's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// looplet::block_on(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let group = looplet::TaskGroup::new();
    ///     let flag = ran.clone();
    ///     group.spawn(async move { flag.set(true) });
    ///     group.detach_all();
    ///     drop(group); // cancels nothing: the member left the group
    ///     looplet::yield_now().await;
    ///     assert!(ran.get());
    /// });
    /// ```
    pub fn detach_all(&self) {
        self.inner.clear(Task::detach);
    }

    /// A handle that adds members to this group without borrowing it: for members that spawn
    /// more members, or for code that holds no reference to the group.
    ///
    /// It does not keep the group alive.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     let spawner = group.spawner();
    ///     group.spawn(async move {
    ///         spawner.spawn(async { "child" }); // from inside a member
    ///         "parent"
    ///     });
    ///     let mut all = Vec::new();
    ///     while let Some(name) = group.next().await {
    ///         all.push(name);
    ///     }
    ///     assert_eq!(all, ["parent", "child"]);
    /// });
    /// ```
    pub fn spawner(&self) -> Spawner<T> {
        Spawner {
            group: Rc::downgrade(&self.inner),
        }
    }
}

impl<T: 'static> TaskGroup<T> {
    /// Spawns a member onto the loop running on this thread; its output joins the group.
    ///
    /// The member is queued on the loop at once, like a spawned task, and runs whether or not
    /// the group is awaited; it is cancelled if the group is dropped first.
    ///
    /// # Panics
    ///
    /// If no looplet loop is running on this thread ([`TaskGroup::try_spawn`] hands the
    /// future back instead).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     for n in 1..=3 {
    ///         group.spawn(async move { n * 10 });
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(n) = group.next().await {
    ///         sum += n;
    ///     }
    ///     assert_eq!(sum, 60);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        if let Err(err) = self.try_spawn(future) {
            panic!("looplet::TaskGroup::spawn: {err}");
        }
    }

    /// Spawns a member onto the loop running on this thread, or hands the future back.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::NoLoop`] if no looplet loop is running on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = looplet::TaskGroup::new();
    /// let err = group.try_spawn(async { 1 }).unwrap_err(); // no loop runs here
    /// assert_eq!(looplet::block_on(err.into_inner()), 1);
    /// ```
    pub fn try_spawn<F>(&self, future: F) -> Result<(), SpawnError<F>>
    where
        F: Future<Output = T> + 'static,
    {
        self.inner.join(future, crate::executor::try_spawn)
    }

    /// Spawns a member onto the loop `handle` refers to; its output joins the group.
    ///
    /// The loop need not be running yet: the member runs when it does.
    ///
    /// # Panics
    ///
    /// If that loop has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let mut group = looplet::TaskGroup::new();
    /// group.spawn_on(&ex.handle(), async { 7 });
    /// assert_eq!(ex.block_on(group.next()), Some(7));
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, handle: &Handle, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        if let Err(err) = self.inner.join(future, |m| handle.try_spawn(m)) {
            panic!("looplet::TaskGroup::spawn_on: {err}");
        }
    }
}

impl<T: 'static> Inner<T> {
    /// Spawns `future` as a member, with `spawn`, and stores its task.
    fn join<F>(
        self: &Rc<Self>,
        future: F,
        spawn: impl FnOnce(Member<F>) -> Result<Task<()>, SpawnError<Member<F>>>,
    ) -> Result<(), SpawnError<F>>
    where
        F: Future<Output = T> + 'static,
    {
        let mut state = self.state.borrow_mut();
        // The borrow is held across the spawn, which runs no user code (it allocates the task
        // and queues it), so the key the member is given is the one `insert` returns below.
        let key = state.members.vacant_key();
        let member = Member {
            future: Some(future),
            group: Rc::downgrade(self),
            key,
        };
        match spawn(member) {
            Ok(task) => {
                let stored = state.members.insert(Entry::Running(task));
                debug_assert_eq!(stored, key);
                state.terminated = false;
                Ok(())
            }
            Err(err) => {
                drop(state);
                let kind = err.kind();
                let mut member = err.into_inner();
                // Taken out, the member never was one: its drop leaves the group alone.
                let future = member.future.take().expect("an unspawned member's future");
                Err(SpawnError::new(kind, future))
            }
        }
    }
}

impl<T> Inner<T> {
    /// A member finished, with `result`: it goes to its slot, and whoever waits is woken. A
    /// member already cancelled or detached by the group (its key is stale) changes nothing,
    /// and its result is dropped.
    fn finished(&self, key: Key, result: Result<T, Payload>) {
        let mut state = self.state.borrow_mut();
        match state.finish(key, result) {
            Ok(task) => {
                // The member's own task, running right now: detaching it lets async-task free
                // it as soon as it ends. That runs no user code, so under the borrow is fine.
                task.detach();
                if state.waiting {
                    let waker = state.take_waker();
                    drop(state);
                    self.wake(waker);
                }
            }
            Err(result) => {
                drop(state);
                drop_result(result);
            }
        }
    }

    /// A member was dropped unfinished: cancelled by the group (its key is stale, and this
    /// changes nothing) or dropped with its loop. It leaves the group, and if that empties the
    /// group, whoever waits is woken to find it empty.
    #[cold]
    fn lost(&self, key: Key) {
        let mut state = self.state.borrow_mut();
        match state.members.remove(key) {
            Some(Entry::Running(task)) => task.detach(),
            Some(Entry::Done(..)) => unreachable!("an unfinished member with a result"),
            None => return,
        }
        if state.waiting && state.members.is_empty() {
            let waker = state.take_waker();
            drop(state);
            self.wake(waker);
        }
    }

    /// Wakes the waiter by reference, with no borrow held, then keeps its waker for its next
    /// wait, unless a newer one was registered meanwhile.
    fn wake(&self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            waker.wake_by_ref();
            let mut state = self.state.borrow_mut();
            if state.waker.is_none() {
                state.waker = Some(waker);
            }
        }
    }

    /// Empties the group: every running member's task goes to `each` (drop: cancel;
    /// detach), every output not taken is dropped.
    fn clear(&self, mut each: impl FnMut(Task<()>)) {
        let mut lost = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            if state.members.is_empty() {
                return;
            }
            // Under the borrow: dropping or detaching a task runs no user code (a cancelled
            // task is queued, and its future dropped later, on the loop). Draining, rather
            // than replacing the slab, keeps its generations: a cancelled member's key stays
            // stale when its slot is reused. Outputs are user values: dropped after the borrow.
            state.members.drain(|entry| match entry {
                Entry::Running(task) => each(task),
                Entry::Done(result, _) => lost.push(result),
            });
            state.head = NIL;
            state.tail = NIL;
            state.ready = 0;
            state.waiting = false;
        }
        for result in lost {
            drop_result(result);
        }
    }
}

/// Drops a result nobody will take, as an unread task output is dropped: a panic in its
/// destructor is reported and dropped.
fn drop_result<T>(result: Result<T, Payload>) {
    match result {
        Ok(output) => drop_guarded(output),
        Err(payload) => drop_payload(payload),
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl<T> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

impl<T> Stream for TaskGroup<T> {
    type Item = T;

    /// The outputs in completion order, as [`TaskGroup::next`] gives them.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_take(Some(cx.waker()))
    }
}

/// Terminated once the group has yielded `None`, until the next member is spawned.
impl<T> FusedStream for TaskGroup<T> {
    fn is_terminated(&self) -> bool {
        self.inner.state.borrow().terminated
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("TaskGroup")
            .field("running", &(state.members.len() - state.ready))
            .field("ready", &state.ready)
            .finish()
    }
}

pin_project! {
    /// A member's future: runs the user's future, catches its panic, and on completion hands
    /// the result to the group.
    ///
    /// The user's future is dropped in place as soon as it completes, inside the poll, so a
    /// panic in its destructor is the member's panic (as for a task). A member dropped
    /// before it completed (cancelled) leaves the group without a result.
    struct Member<F: Future> {
        #[pin]
        future: Option<F>,
        group: Weak<Inner<F::Output>>,
        key: Key,
    }

    impl<F: Future> PinnedDrop for Member<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Unfinished: cancelled by the group (then the key is stale and this changes
            // nothing) or dropped with its loop (then it must leave, or `next` would wait
            // for it forever).
            if this.future.is_some()
                && let Some(group) = this.group.upgrade()
            {
                group.lost(*this.key);
            }
        }
    }
}

impl<F: Future> Future for Member<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let mut future = this.future;
        let polled = catch(|| {
            let poll = future
                .as_mut()
                .as_pin_mut()
                .expect("a member is not polled after it completed")
                .poll(cx);
            if poll.is_ready() {
                future.set(None);
            }
            poll
        });
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                // What is left of a future that panicked is dropped here; a second panic, in
                // its destructor, is reported and dropped: the first one is the member's.
                if future.is_some() {
                    run_guarded(|| future.set(None));
                }
                Err(payload)
            }
        };
        match this.group.upgrade() {
            Some(group) => group.finished(*this.key, result),
            None => drop_result(result),
        }
        Poll::Ready(())
    }
}

/// The future returned by [`TaskGroup::next`].
///
/// Dropping it before it completes loses nothing: the output it would have returned stays in
/// the group.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: &T) {}
/// let mut group = looplet::TaskGroup::<u8>::new();
/// assert_send(&group.next());
/// ```
///
/// # Examples
///
/// A `select!` loop that takes outputs as they come and stops on a message, then cancels the
/// members still running (dropping the group):
///
/// ```
/// use futures_util::select;
///
/// looplet::block_on(async {
///     let (stop, mut stopped) = looplet::channel::bounded::<()>(1);
///     let mut group = looplet::TaskGroup::new();
///     group.spawn(async { 1 });
///     group.spawn(async move {
///         looplet::yield_now().await;
///         stop.send(()).await.unwrap();
///         std::future::pending::<u32>().await // never finishes
///     });
///     let mut got = Vec::new();
///     loop {
///         select! {
///             n = group.next() => got.extend(n),
///             _ = stopped.recv() => break,
///         }
///     }
///     assert_eq!(got, [1]);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Next<'a, T> {
    group: &'a mut TaskGroup<T>,
    done: bool,
}

impl<T> Future for Next<'_, T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let ready = this.group.poll_take(Some(cx.waker()));
        this.done = ready.is_ready();
        ready
    }
}

impl<T> FusedFuture for Next<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> fmt::Debug for Next<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("group", &self.group)
            .field("done", &self.done)
            .finish()
    }
}

/// Adds members to a [`TaskGroup`] without borrowing it; from [`TaskGroup::spawner`].
///
/// Clone it freely, and move it into members: it holds the group weakly, so it neither
/// keeps the group alive nor makes a reference cycle with it. Spawning through it after the
/// group is gone fails ([`Spawner::try_spawn`]) or panics ([`Spawner::spawn`]).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::task_group::Spawner<u8>>();
/// ```
///
/// # Examples
///
/// ```
/// // A member that splits its work into more members of the same group.
/// async fn count(spawner: looplet::task_group::Spawner<u32>, n: u32) -> u32 {
///     if n > 1 {
///         spawner.spawn(count(spawner.clone(), n / 2));
///         spawner.spawn(count(spawner.clone(), n - n / 2));
///         0
///     } else {
///         n
///     }
/// }
///
/// let total = looplet::block_on(async {
///     let mut group = looplet::TaskGroup::new();
///     group.spawn(count(group.spawner(), 100));
///     let mut total = 0;
///     while let Some(n) = group.next().await {
///         total += n;
///     }
///     total
/// });
/// assert_eq!(total, 100);
/// ```
pub struct Spawner<T> {
    group: Weak<Inner<T>>,
}

impl<T: 'static> Spawner<T> {
    /// Spawns a member of the group onto the loop running on this thread, like
    /// [`TaskGroup::spawn`].
    ///
    /// # Panics
    ///
    /// If the group has been dropped, or no looplet loop is running on this thread
    /// ([`Spawner::try_spawn`] hands the future back instead).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let mut group = looplet::TaskGroup::new();
    ///     let spawner = group.spawner();
    ///     spawner.spawn(async { 3 });
    ///     assert_eq!(group.next().await, Some(3));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        if let Err(err) = self.try_spawn(future) {
            panic!("looplet::task_group::Spawner::spawn: {err}");
        }
    }

    /// Spawns a member of the group onto the loop running on this thread, or hands the future
    /// back.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::GroupClosed`] if the group has been dropped,
    /// [`SpawnErrorKind::NoLoop`] if no looplet loop is running on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let group = looplet::TaskGroup::<u8>::new();
    ///     let spawner = group.spawner();
    ///     drop(group);
    ///     let err = spawner.try_spawn(async { 1 }).unwrap_err();
    ///     assert_eq!(err.kind(), looplet::SpawnErrorKind::GroupClosed);
    /// });
    /// ```
    pub fn try_spawn<F>(&self, future: F) -> Result<(), SpawnError<F>>
    where
        F: Future<Output = T> + 'static,
    {
        match self.group.upgrade() {
            Some(group) => group.join(future, crate::executor::try_spawn),
            None => Err(SpawnError::new(SpawnErrorKind::GroupClosed, future)),
        }
    }
}

impl<T> Clone for Spawner<T> {
    fn clone(&self) -> Spawner<T> {
        Spawner {
            group: self.group.clone(),
        }
    }
}

impl<T> fmt::Debug for Spawner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("group_alive", &(self.group.strong_count() > 0))
            .finish()
    }
}
