//! A hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical Timing Wheels",
//! 1987): the loop's timer queue, with O(1) insert and cancel.
//!
//! This module is a pure data structure. It reads no clock and wakes nothing: time is a tick
//! count that the caller hands to [`Wheel::advance`], and what expires is handed back through a
//! callback. The loop uses 1 tick = 1.024 µs (2^10 ns).
//!
//! # Levels and slots
//!
//! The wheel has [`LEVELS`] levels of [`SLOTS`] slots. A slot of level `L` covers `64^L` ticks and
//! the whole level spans `64^(L+1)`, so each level resolves [`BITS`] more bits of the deadline and
//! the wheel as a whole resolves `LEVELS * BITS` = 48 bits:
//!
//! | level | slot width (ticks) | slot width | level span |
//! |------:|-------------------:|-----------:|-----------:|
//! | 0     | 1                  | 1.024 µs   | 65.5 µs    |
//! | 1     | 2^6                | 65.5 µs    | 4.19 ms    |
//! | 2     | 2^12               | 4.19 ms    | 268 ms     |
//! | 3     | 2^18               | 268 ms     | 17.2 s     |
//! | 4     | 2^24               | 17.2 s     | 18.3 min   |
//! | 5     | 2^30               | 18.3 min   | 19.5 h     |
//! | 6     | 2^36               | 19.5 h     | 52.1 days  |
//! | 7     | 2^42               | 52.1 days  | 9.13 years |
//!
//! An entry with deadline `d > now` lives on the level of the highest 6-bit group in which `d`
//! and `now` differ (the highest set bit of `d ^ now`, divided by [`BITS`]), in the slot named by
//! `d`'s digit in that group. Above that level `d` and `now` agree, and in that group `d`'s digit is
//! the larger one; so every occupied slot of a level lies strictly after the slot `now` is in, and
//! the slots of level `L` start before those of level `L + 1`. Levels never wrap around: no
//! rotation is needed to read them, and the first set bit (`trailing_zeros`) of the lowest
//! non-empty level's `occupied` bitmap is the next slot to come due.
//!
//! Every slot is an intrusive doubly-linked list threaded through the entries' slab nodes, and
//! the list an entry is on is a function of its deadline and the wheel's `now`. Insert computes it
//! and appends; cancel unlinks, recomputing it only to fix a list end. Both are O(1) and allocate
//! nothing once the slab has grown to the peak number of timers.
//!
//! # Advancing and cascading
//!
//! [`Wheel::advance`] moves time to `t` one event at a time. The next event is the start of the
//! first occupied slot of the lowest non-empty level. If that is at or before `t`, time moves to
//! it and the slot's entries are placed again relative to the new time: those whose deadline is
//! the slot start are due, the others land on a lower level (the cascade of the paper). A level-0
//! slot is one tick wide, so all of its entries are due. Each entry cascades at most once per
//! level, and an event never skips an entry: slot starts never exceed their entries' deadlines.
//! Due entries gather on a list and, once time has reached `t`, are handed to the callback in
//! deadline order.
//!
//! [`Wheel::next_deadline`] is read off the same bitmaps: the minimum recorded when the next
//! slot's list was last appended to. It is the exact earliest deadline unless a timer was
//! cancelled out of that slot since it was last emptied; then it is a lower bound that still lies
//! within the slot, so advancing to it cascades the slot.
//!
//! # Overflow
//!
//! A deadline that differs from `now` above bit 48 (about 2^48 ticks or more ahead, or just past
//! a multiple of 2^48) is on no level: it waits on the overflow list, together with the least of
//! the overflow deadlines (a lower bound after cancellations). The overflow list is one more
//! event: when the wheel is empty and time reaches the 2^48-aligned block that holds that least
//! deadline, every overflow entry is placed again. Those now within 48 bits go to the levels, the
//! others stay and the least deadline is recomputed. Nothing fires early and no arithmetic can
//! overflow: a deadline of `u64::MAX` fires only at `advance(u64::MAX)`.

use std::fmt;

use crate::slab::{Key, Slab};

/// Bits of the deadline that one level resolves.
pub(crate) const BITS: u32 = 6;
/// Slots per level: `1 << BITS`.
pub(crate) const SLOTS: usize = 1 << BITS;
/// Levels of the wheel: `LEVELS * BITS` = 48 bits of ticks.
pub(crate) const LEVELS: usize = 8;

/// Selects a slot from a deadline shifted down to its level.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Lists of the levels, numbered `level * SLOTS + slot`.
const WHEEL_LISTS: usize = LEVELS * SLOTS;
/// The list of entries whose deadline is at or before `now`.
const DUE: usize = WHEEL_LISTS;
/// The list of entries too far ahead for the levels.
const OVERFLOW: usize = WHEEL_LISTS + 1;
/// Number of lists.
const LIST_COUNT: usize = WHEEL_LISTS + 2;
/// "No entry" in a link; entry indices are below it.
const NIL: u32 = u32::MAX >> 1;
/// The most entries a wheel holds, so that every slab index fits below [`NIL`].
const MAX_ENTRIES: usize = NIL as usize;

/// Ticks below a multiple of `64^level`: the low `level * BITS` bits.
fn low_mask(level: usize) -> u64 {
    (1 << (level as u32 * BITS)) - 1
}

/// The digit of `tick` on `level`.
fn digit(tick: u64, level: usize) -> usize {
    ((tick >> (level as u32 * BITS)) & SLOT_MASK) as usize
}

/// The list that holds a placed entry with `deadline` while the wheel's time is `now`.
fn list_for(now: u64, deadline: u64) -> usize {
    if deadline <= now {
        return DUE;
    }
    let level = ((u64::BITS - 1 - (now ^ deadline).leading_zeros()) / BITS) as usize;
    if level < LEVELS {
        level * SLOTS + digit(deadline, level)
    } else {
        OVERFLOW
    }
}

/// A key to one timer; generation-checked (a stale key never touches another timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey(Key);

/// An arbitrary but fixed order, so that keys can sit in ordered collections (the exact
/// deadlines kept while a loop's clock is paused).
impl Ord for TimerKey {
    fn cmp(&self, other: &TimerKey) -> std::cmp::Ordering {
        self.0.to_u64().cmp(&other.0.to_u64())
    }
}

impl PartialOrd for TimerKey {
    fn partial_cmp(&self, other: &TimerKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One timer in the slab: 16 bytes besides the value.
struct Node<T> {
    /// The caller's value.
    value: T,
    /// The absolute deadline, in ticks.
    when: u64,
    /// The previous entry on the list, or [`NIL`].
    prev: u32,
    /// The next entry on the list, or [`NIL`].
    next: u32,
}

/// The ends of one intrusive list and a lower bound of its deadlines.
#[derive(Clone, Copy, Debug)]
struct List {
    /// The first entry, or [`NIL`].
    head: u32,
    /// The last entry, or [`NIL`].
    tail: u32,
    /// At most the least deadline on the list (`u64::MAX` when empty): the least appended since
    /// the list was last empty.
    min: u64,
}

impl List {
    /// A list with no entries.
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        min: u64::MAX,
    };
}

/// A hierarchical timing wheel of timers carrying a `T` each. See the [module docs](self).
///
/// # Invariants
///
/// Between calls, every live entry is on exactly the list [`Wheel::list_of`] names (lists
/// `0..WHEEL_LISTS` are the slots, then [`DUE`] and [`OVERFLOW`]); bit `s` of
/// `occupied[l]` is set exactly when slot `s` of level `l` is non-empty, and only for
/// `s > digit(now, l)`; every list's `min` is at most its least deadline, and the overflow
/// list's 2^48-aligned block of `min` starts after `now`.
pub(crate) struct Wheel<T> {
    /// The nodes; lists link them by slab index.
    entries: Slab<Node<T>>,
    /// [`LIST_COUNT`] lists: the slots of every level, then due and overflow.
    lists: Box<[List]>,
    /// Bit `s` of `occupied[l]`: slot `s` of level `l` holds entries.
    occupied: [u64; LEVELS],
    /// The tick of the last advance.
    now: u64,
    /// The due list may be out of deadline order (an entry was appended after a later one).
    due_unsorted: bool,
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            entries: Slab::new(),
            lists: vec![List::EMPTY; LIST_COUNT].into_boxed_slice(),
            occupied: [0; LEVELS],
            now: 0,
            due_unsorted: false,
        }
    }

    /// The tick passed to the last advance (0 at start).
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Adds a timer with an absolute `deadline` in ticks. A deadline at or before
    /// [`now`](Self::now) is due: it expires at the next advance.
    ///
    /// # Panics
    ///
    /// If the wheel would hold more than 2^31 - 1 timers.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let key = self.alloc(deadline, value);
        self.place(key.index());
        TimerKey(key)
    }

    /// Cancels a timer and returns its value; `None` if the key is stale (the timer already
    /// expired or was removed). O(1), no allocation.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.entries.contains(key.0) {
            return None;
        }
        self.unlink(key.0.index());
        self.entries.remove(key.0).map(|node| node.value)
    }

    /// The value of a live timer.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.entries.get_mut(key.0).map(|node| &mut node.value)
    }

    /// Whether the timer is live.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.entries.contains(key.0)
    }

    #[cfg(test)]
    /// The deadline of a live timer.
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.entries.get(key.0).map(|node| node.when)
    }

    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no timer is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A tick `t` such that no placed timer expires before `t`, and `advance(t)` makes progress:
    /// it expires a timer or cascades a slot. `None` when the wheel is empty. O(LEVELS): it reads the `occupied` bitmaps and one list's minimum.
    ///
    /// It is the earliest deadline exactly unless a timer was cancelled out of the earliest slot
    /// since that slot was last empty. A due timer makes it at most [`now`](Self::now).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.lists[DUE].head != NIL {
            return Some(self.lists[DUE].min);
        }
        let (start, id) = self.next_event()?;
        let min = self.lists[id].min;
        debug_assert!(
            min >= start,
            "wheel: list {id} starts at {start} but records minimum {min} (now {})",
            self.now
        );
        Some(min)
    }

    /// Moves time to `now` (an earlier tick counts as [`now`](Self::now)): removes every timer
    /// with deadline `<= now` and hands it to `expired`, in non-decreasing deadline order.
    /// Timers with equal deadlines come out in the order they were inserted.
    ///
    /// If `expired` panics, the wheel stays consistent: time has reached `now`, and the
    /// timers not yet handed out expire at the next advance.
    pub(crate) fn advance(&mut self, now: u64, expired: &mut impl FnMut(TimerKey, T)) {
        let target = now.max(self.now);
        if self.due_unsorted {
            self.sort_due();
        }
        while let Some((start, id)) = self.next_event() {
            if start > target {
                break;
            }
            debug_assert!(
                start > self.now,
                "wheel: event {start} of list {id} is not after now {}",
                self.now
            );
            self.now = start;
            let mut index = self.lists[id].head;
            self.make_empty(id);
            while index != NIL {
                let node = self.entries.at(index);
                debug_assert!(
                    node.when >= start,
                    "wheel: entry {index} with deadline {} on list {id}, which comes due at {start}",
                    node.when
                );
                let next = node.next;
                self.place(index);
                index = next;
            }
        }
        self.now = target;
        while self.lists[DUE].head != NIL {
            let index = self.lists[DUE].head;
            self.unlink(index);
            let key = self.entries.key_at(index);
            let node = self.entries.remove_at(index);
            expired(TimerKey(key), node.value);
        }
    }

    /// Removes every timer without expiring it, handing each value to `f`. Keys stay
    /// generation-checked: a key of a drained timer never matches a timer inserted later.
    pub(crate) fn drain(&mut self, f: impl FnMut(T)) {
        let mut f = f;
        self.entries.drain(|node| f(node.value));
        self.lists.fill(List::EMPTY);
        self.occupied = [0; LEVELS];
        self.due_unsorted = false;
    }

    /// Stores a new unlinked node.
    fn alloc(&mut self, when: u64, value: T) -> Key {
        assert!(
            self.entries.len() < MAX_ENTRIES,
            "looplet: more than {MAX_ENTRIES} timers in one wheel"
        );
        self.entries.insert(Node {
            value,
            when,
            prev: NIL,
            next: NIL,
        })
    }

    /// The list that holds `node`.
    fn list_of(&self, node: &Node<T>) -> usize {
        list_for(self.now, node.when)
    }

    /// The start of the next slot to come due and its list: the first occupied slot of the
    /// lowest non-empty level, or, with all levels empty, the 2^48-aligned block of the least
    /// overflow deadline.
    fn next_event(&self) -> Option<(u64, usize)> {
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied == 0 {
                continue;
            }
            debug_assert!(
                occupied & (u64::MAX >> (63 - digit(self.now, level))) == 0,
                "wheel: level {level} has occupied {occupied:#018x} at or before now {} (digit {})",
                self.now,
                digit(self.now, level)
            );
            let slot = occupied.trailing_zeros();
            let start =
                (self.now & !low_mask(level + 1)) | (u64::from(slot) << (level as u32 * BITS));
            return Some((start, level * SLOTS + slot as usize));
        }
        let overflow = self.lists[OVERFLOW];
        let start = overflow.min & !low_mask(LEVELS);
        debug_assert!(
            overflow.head == NIL || start > self.now,
            "wheel: overflow minimum {} is in the 2^48-tick block of now {} or before",
            overflow.min,
            self.now
        );
        (overflow.head != NIL).then_some((start, OVERFLOW))
    }

    /// Puts the unlinked entry at `index` on the list its deadline names.
    fn place(&mut self, index: u32) {
        let id = list_for(self.now, self.entries.at(index).when);
        self.push_back(id, index);
    }

    /// Appends the unlinked entry at `index` to list `id`.
    fn push_back(&mut self, id: usize, index: u32) {
        let tail = self.lists[id].tail;
        let node = self.entries.at_mut(index);
        node.prev = tail;
        node.next = NIL;
        let when = node.when;
        if tail == NIL {
            self.lists[id].head = index;
            if id < WHEEL_LISTS {
                self.occupied[id / SLOTS] |= 1 << (id % SLOTS);
            }
        } else {
            let last = self.entries.at_mut(tail);
            last.next = index;
            if id == DUE && last.when > when {
                self.due_unsorted = true;
            }
        }
        let list = &mut self.lists[id];
        list.tail = index;
        list.min = list.min.min(when);
    }

    /// Takes the linked entry at `index` off its list.
    fn unlink(&mut self, index: u32) {
        let node = self.entries.at(index);
        let (prev, next) = (node.prev, node.next);
        let id = self.list_of(node);
        if prev == NIL {
            debug_assert_eq!(
                self.lists[id].head, index,
                "wheel: entry {index} (deadline {}) has no predecessor but does not head list {id} (now {})",
                node.when, self.now
            );
            self.lists[id].head = next;
        } else {
            self.entries.at_mut(prev).next = next;
        }
        if next == NIL {
            debug_assert_eq!(
                self.lists[id].tail, index,
                "wheel: entry {index} has no successor but does not end list {id} (now {})",
                self.now
            );
            self.lists[id].tail = prev;
        } else {
            self.entries.at_mut(next).prev = prev;
        }
        if prev == NIL && next == NIL {
            self.make_empty(id);
        }
    }

    /// Forgets the entries of list `id` (the caller relinks or frees them).
    fn make_empty(&mut self, id: usize) {
        self.lists[id] = List::EMPTY;
        if id < WHEEL_LISTS {
            self.occupied[id / SLOTS] &= !(1 << (id % SLOTS));
        } else if id == DUE {
            self.due_unsorted = false;
        }
    }

    /// Sorts the due list by deadline, stably, without allocating: a bottom-up merge sort over
    /// the `next` links (runs of width 1, 2, 4, ... merged pairwise), then the `prev` links and
    /// the tail are rebuilt. O(n log n); only needed when a due timer was inserted with an
    /// earlier deadline than one already due.
    fn sort_due(&mut self) {
        let mut head = self.lists[DUE].head;
        let mut width = 1;
        while head != NIL {
            let (mut p, mut tail, mut merges) = (head, NIL, 0);
            head = NIL;
            while p != NIL {
                merges += 1;
                let (mut q, mut p_len, mut q_len) = (p, 0, width);
                while p_len < width && q != NIL {
                    p_len += 1;
                    q = self.entries.at(q).next;
                }
                while p_len > 0 || (q_len > 0 && q != NIL) {
                    let take_p = p_len > 0
                        && (q_len == 0
                            || q == NIL
                            || self.entries.at(p).when <= self.entries.at(q).when);
                    let taken = if take_p { &mut p } else { &mut q };
                    let index = *taken;
                    *taken = self.entries.at(index).next;
                    if take_p {
                        p_len -= 1;
                    } else {
                        q_len -= 1;
                    }
                    if tail == NIL {
                        head = index;
                    } else {
                        self.entries.at_mut(tail).next = index;
                    }
                    tail = index;
                }
                p = q;
            }
            self.entries.at_mut(tail).next = NIL;
            if merges <= 1 {
                break;
            }
            width *= 2;
        }
        let (mut prev, mut index) = (NIL, head);
        while index != NIL {
            let node = self.entries.at_mut(index);
            node.prev = prev;
            prev = index;
            index = node.next;
        }
        self.lists[DUE].head = head;
        self.lists[DUE].tail = prev;
        self.due_unsorted = false;
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("now", &self.now)
            .field("len", &self.entries.len())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

#[cfg(test)]
mod tests;
