//! The first-in, first-out waiter list every primitive shares, and the list of wakers to fire
//! once the primitive's borrow is released.
//!
//! A [`WaitList`] is a doubly linked list threaded through a generation-checked
//! [`Slab`]: O(1) to join at the back, to leave from anywhere (a cancelled
//! future), and to pick the head. A waiter that is picked is *unlinked* but stays stored, with
//! its data, until its future removes it: that is how a future learns it was chosen (a lock
//! handed over, a notification given) and how a future dropped after being chosen passes what
//! it was given on. Primitives whose futures re-check a condition on every poll (an event, a
//! watch version) instead [`drain`](WaitList::drain) the list, which removes every node; the
//! futures' keys then go stale, which the slab's generations make safe.
//!
//! No primitive wakes a waker while it holds its `RefCell` borrow: a waker may re-enter (a
//! foreign executor's waker may poll synchronously). They collect wakers into a [`WakeList`]
//! and fire it after the borrow ends.

use std::fmt;
use std::task::Waker;

use crate::slab::{Key, Slab};

/// Marks the end of the list.
const NIL: u32 = u32::MAX;

struct Node<D> {
    waker: Option<Waker>,
    /// Neighbours while `linked`; stale once unlinked.
    prev: u32,
    next: u32,
    linked: bool,
    data: D,
}

/// A FIFO of waiters, each with a waker and some per-primitive data `D`.
///
/// # Invariant
///
/// `head`..`tail`, linked through `prev`/`next`, are exactly the nodes with `linked` set, in
/// the order they were pushed; `linked` counts them. Other stored nodes were unlinked by
/// `unlink_front`/`unlink_all` and wait for their future to remove them.
pub(crate) struct WaitList<D> {
    nodes: Slab<Node<D>>,
    head: u32,
    tail: u32,
    linked: usize,
}

impl<D> WaitList<D> {
    pub(crate) const fn new() -> WaitList<D> {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Whether no waiter is linked (unlinked nodes waiting for removal do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// How many waiters are linked.
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Appends a waiter and returns its key.
    pub(crate) fn push_back(&mut self, waker: Option<&Waker>, data: D) -> Key {
        let key = self.nodes.insert(Node {
            waker: waker.cloned(),
            prev: self.tail,
            next: NIL,
            linked: true,
            data,
        });
        let index = key.index();
        if self.tail == NIL {
            self.head = index;
        } else {
            self.nodes.at_mut(self.tail).next = index;
        }
        self.tail = index;
        self.linked += 1;
        key
    }

    /// Stores `waker` for waiter `key` unless the stored one already wakes the same task.
    /// Returns the waker it replaced, to be dropped once the caller's borrow ends (see
    /// [`Retired`]), or `Err` if `key` is stale (the node was removed or drained).
    pub(crate) fn set_waker(&mut self, key: Key, waker: &Waker) -> Result<Retired, Stale> {
        match self.nodes.get_mut(key) {
            Some(node) => Ok(swap_waker(&mut node.waker, waker)),
            None => Err(Stale),
        }
    }

    /// Registers a waiter that re-checks its condition when woken: refreshes the waker of the
    /// node `slot` names, or pushes a new node if there is none (or it went stale). Returns
    /// the waker it replaced, as [`WaitList::set_waker`] does.
    pub(crate) fn register(&mut self, slot: &mut Option<Key>, waker: &Waker, data: D) -> Retired {
        if let Some(key) = *slot
            && let Ok(retired) = self.set_waker(key, waker)
        {
            return retired;
        }
        *slot = Some(self.push_back(Some(waker), data));
        Retired(None)
    }

    /// Whether waiter `key` is still in line (false once it was picked, or if it is stale).
    pub(crate) fn is_linked(&self, key: Key) -> bool {
        self.nodes.get(key).is_some_and(|node| node.linked)
    }

    /// The data of waiter `key`, linked or not.
    pub(crate) fn get(&self, key: Key) -> Option<&D> {
        self.nodes.get(key).map(|node| &node.data)
    }

    /// The data of the head waiter.
    pub(crate) fn front_mut(&mut self) -> Option<&mut D> {
        match self.head {
            NIL => None,
            index => Some(&mut self.nodes.at_mut(index).data),
        }
    }

    fn unlink(&mut self, index: u32) {
        let node = self.nodes.at_mut(index);
        debug_assert!(node.linked, "unlinking waiter {index} twice");
        node.linked = false;
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes.at_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes.at_mut(next).prev = prev;
        }
        self.linked -= 1;
    }

    /// Picks the head waiter: `mark` updates its data, it leaves the line but stays stored for
    /// its future to find, and its waker goes onto `wakers`. Returns false if nobody waits.
    pub(crate) fn unlink_front(
        &mut self,
        wakers: &mut WakeList,
        mark: impl FnOnce(&mut D),
    ) -> bool {
        let index = self.head;
        if index == NIL {
            return false;
        }
        self.unlink(index);
        let node = self.nodes.at_mut(index);
        mark(&mut node.data);
        wakers.push(node.waker.take());
        true
    }

    /// Picks the head waiter as [`WaitList::unlink_front`] does, but lends its waker out
    /// instead of taking it: for waiters whose node outlives one wait (a channel receiver's),
    /// so that the next wait needs no clone. Give it back with [`WaitList::give_back`].
    pub(crate) fn pick_front_and_lend(&mut self, mark: impl FnOnce(&mut D)) -> Option<Lent> {
        let index = self.head;
        if index == NIL {
            return None;
        }
        self.unlink(index);
        let key = self.nodes.key_at(index);
        let node = self.nodes.at_mut(index);
        mark(&mut node.data);
        let waker = node.waker.take()?;
        Some(Lent { key, waker })
    }

    /// Whether waiter `key` is linked, and its data; `None` if the key is stale.
    pub(crate) fn state_mut(&mut self, key: Key) -> Option<(bool, &mut D)> {
        self.nodes
            .get_mut(key)
            .map(|node| (node.linked, &mut node.data))
    }

    /// Puts the unlinked node `key` back in line, at the back, waking `waker` (the stored one
    /// is kept if it wakes the same task). Returns the waker it replaced, or `Err` if `key` is
    /// stale.
    pub(crate) fn relink(&mut self, key: Key, waker: &Waker) -> Result<Retired, Stale> {
        let tail = self.tail;
        let Some(node) = self.nodes.get_mut(key) else {
            return Err(Stale);
        };
        let retired = swap_waker(&mut node.waker, waker);
        let index = key.index();
        debug_assert!(!node.linked, "relinking waiter {index} that is in line");
        node.linked = true;
        node.prev = tail;
        node.next = NIL;
        if tail == NIL {
            self.head = index;
        } else {
            self.nodes.at_mut(tail).next = index;
        }
        self.tail = index;
        self.linked += 1;
        Ok(retired)
    }

    /// Takes waiter `key` out of line, keeping its node (and waker) stored.
    pub(crate) fn cancel(&mut self, key: Key) {
        if self.is_linked(key) {
            self.unlink(key.index());
        }
    }

    /// Returns a lent waker to its node, unless the node is gone or has a newer waker; then
    /// the waker comes back, to be dropped once the caller's borrow ends (see [`Retired`]).
    #[inline]
    #[must_use = "drop a refused waker after the borrow ends"]
    pub(crate) fn give_back(&mut self, lent: Lent) -> Option<Lent> {
        match self.nodes.get_mut(lent.key) {
            Some(node) if node.waker.is_none() => {
                node.waker = Some(lent.waker);
                None
            }
            _ => Some(lent),
        }
    }

    /// Picks every waiter, in order, as [`WaitList::unlink_front`] does.
    pub(crate) fn unlink_all(&mut self, wakers: &mut WakeList, mut mark: impl FnMut(&mut D)) {
        while self.unlink_front(wakers, &mut mark) {}
    }

    /// Removes every linked waiter, putting its waker onto `wakers`; their keys go stale.
    pub(crate) fn drain(&mut self, wakers: &mut WakeList) {
        let mut index = self.head;
        while index != NIL {
            let node = self.nodes.remove_at(index);
            wakers.push(node.waker);
            index = node.next;
        }
        self.head = NIL;
        self.tail = NIL;
        self.linked = 0;
    }

    /// Removes waiter `key`, unlinking it if it is still in line. Returns its data, whether it
    /// was still linked, and its waker (to be dropped once the caller's borrow ends), or
    /// `None` if the key is stale.
    #[must_use = "drop the removed waiter's waker after the borrow ends"]
    pub(crate) fn remove(&mut self, key: Key) -> Option<(D, bool, Retired)> {
        let linked = self.nodes.get(key)?.linked;
        if linked {
            self.unlink(key.index());
        }
        let node = self.nodes.remove(key).expect("checked above");
        Some((node.data, linked, Retired(node.waker)))
    }
}

impl<D> fmt::Debug for WaitList<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.linked)
            .field("stored", &self.nodes.len())
            .finish()
    }
}

/// A waker taken out of a waiter list (replaced by a newer one, or its node removed), to be
/// dropped once the primitive's borrow is released: dropping a waker can drop the last
/// reference to a task, and with it a future that may use the same primitive (a foreign
/// executor's task does). Drop it after the borrow, as `drop(state); drop(retired);`.
#[must_use = "drop a retired waker after the borrow ends"]
pub(crate) struct Retired(Option<Waker>);

impl Retired {
    /// Nothing retired.
    pub(crate) const NONE: Retired = Retired(None);

    /// Keeps `waker` for dropping later (replacing, and so dropping, nothing: a caller retires
    /// at most one waker per operation).
    #[inline]
    pub(crate) fn keep(&mut self, waker: Retired) {
        if waker.0.is_some() {
            *self = waker;
        }
    }

    /// Stores `waker` in `slot` unless the stored one already wakes the same task, keeping
    /// the waker it replaced.
    #[inline]
    pub(crate) fn swap(&mut self, slot: &mut Option<Waker>, waker: &Waker) {
        if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
            self.swap_cold(slot, waker);
        }
    }

    /// [`Retired::swap`]'s rare half: a first wait, or a task polled with a new waker.
    #[cold]
    fn swap_cold(&mut self, slot: &mut Option<Waker>, waker: &Waker) {
        self.keep(Retired(slot.replace(waker.clone())));
    }
}

/// The waiter's key was stale: its node was removed or drained.
#[derive(Debug)]
pub(crate) struct Stale;

/// Stores `waker` in `slot` unless the stored one already wakes the same task; returns the
/// waker it replaced. For a primitive's single waker slot as for a node's.
pub(crate) fn swap_waker(slot: &mut Option<Waker>, waker: &Waker) -> Retired {
    let mut retired = Retired::NONE;
    retired.swap(slot, waker);
    retired
}

/// A waker lent out of its node by [`WaitList::pick_front_and_lend`].
pub(crate) struct Lent {
    key: Key,
    waker: Waker,
}

impl Lent {
    /// A waker lent out of a place that is not a node of a list (`key` names no node of any
    /// list it is given back to, such as [`Key::NEVER`]).
    #[inline]
    pub(crate) fn new(key: Key, waker: Waker) -> Lent {
        Lent { key, waker }
    }

    /// Wakes the waiter by reference. Call it with no borrow held.
    #[inline]
    pub(crate) fn wake(&self) {
        self.waker.wake_by_ref();
    }

    /// The waker, for a place that is not a node.
    #[inline]
    pub(crate) fn into_waker(self) -> Waker {
        self.waker
    }
}

impl fmt::Debug for Lent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lent").field("key", &self.key).finish()
    }
}

/// Wakers collected under a borrow, to be woken after it ends. Holds one without allocating.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) const fn new() -> WakeList {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker (a waiter registered without one, via `enable`, adds nothing).
    #[inline]
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else {
            return;
        };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes every waker, in the order they were pushed. Call it with no borrow held.
    #[inline(always)]
    pub(crate) fn wake(self) {
        // `rest` is empty unless `first` is taken, so an empty list costs one test.
        let WakeList { first, rest } = self;
        match first {
            Some(waker) => {
                waker.wake();
                if !rest.is_empty() {
                    wake_rest(rest);
                }
            }
            // An empty, never-allocated `Vec`: nothing to drop.
            None => std::mem::forget(rest),
        }
    }
}

#[cold]
fn wake_rest(rest: Vec<Waker>) {
    for waker in rest {
        waker.wake();
    }
}

impl fmt::Debug for WakeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = usize::from(self.first.is_some()) + self.rest.len();
        f.debug_struct("WakeList").field("wakers", &n).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    use super::*;

    /// A waker that appends its name to a shared log when woken.
    struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Wake for Named {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    fn waker(name: &'static str, log: &Arc<Mutex<Vec<&'static str>>>) -> Waker {
        Waker::from(Arc::new(Named(name, log.clone())))
    }

    #[test]
    fn picks_in_push_order_and_skips_removed_waiters() {
        let log = Arc::default();
        let mut list = WaitList::new();
        let a = list.push_back(Some(&waker("a", &log)), 1);
        let b = list.push_back(Some(&waker("b", &log)), 2);
        let c = list.push_back(Some(&waker("c", &log)), 3);
        assert_eq!(list.len(), 3);
        assert_eq!(
            list.remove(b).map(|(d, linked, _)| (d, linked)),
            Some((2, true)),
            "leaves from the middle"
        );
        let mut wakers = WakeList::new();
        assert!(list.unlink_front(&mut wakers, |d| *d += 10));
        assert!(!list.is_linked(a));
        assert_eq!(list.get(a), Some(&11), "picked, but stored until removed");
        assert_eq!(list.front_mut(), Some(&mut 3));
        assert!(list.unlink_front(&mut wakers, |_| {}));
        assert!(!list.unlink_front(&mut wakers, |_| {}));
        assert!(list.is_empty());
        wakers.wake();
        assert_eq!(*log.lock().unwrap(), ["a", "c"]);
        assert_eq!(
            list.remove(a).map(|(d, linked, _)| (d, linked)),
            Some((11, false))
        );
        assert_eq!(
            list.remove(a).map(|(d, linked, _)| (d, linked)),
            None,
            "stale"
        );
        assert_eq!(
            list.remove(c).map(|(d, linked, _)| (d, linked)),
            Some((3, false))
        );
        assert_eq!(list.nodes.len(), 0);
    }

    #[test]
    fn drain_removes_every_linked_waiter_and_keys_go_stale() {
        let log = Arc::default();
        let mut list = WaitList::new();
        let keys: Vec<Key> = ["x", "y", "z"]
            .into_iter()
            .map(|name| list.push_back(Some(&waker(name, &log)), ()))
            .collect();
        let mut wakers = WakeList::new();
        list.drain(&mut wakers);
        wakers.wake();
        assert_eq!(*log.lock().unwrap(), ["x", "y", "z"]);
        assert!(list.is_empty());
        for key in keys {
            assert_eq!(list.remove(key).map(|(d, linked, _)| (d, linked)), None);
            assert!(list.set_waker(key, &waker("late", &log)).is_err());
        }
        let mut slot = None;
        drop(list.register(&mut slot, &waker("again", &log), ()));
        assert!(list.is_linked(slot.unwrap()));
    }

    #[test]
    fn set_waker_keeps_a_waker_that_wakes_the_same_task() {
        let log = Arc::default();
        let w = waker("w", &log);
        let mut list = WaitList::new();
        let key = list.push_back(Some(&w), ());
        assert!(list.set_waker(key, &w.clone()).is_ok());
        let mut wakers = WakeList::new();
        list.unlink_all(&mut wakers, |_| {});
        wakers.wake();
        assert_eq!(*log.lock().unwrap(), ["w"]);
    }
}
