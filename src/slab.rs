//! A slab with generation-checked keys: O(1) insert and remove, and a stale key never reaches
//! the entry that reused its slot.
//!
//! The loop keeps three registries in slabs: parked tasks (executor), timers (the wheel) and IO
//! sources (reactor). In each of them a key can outlive its entry (a timer that fired, a source
//! whose event is still in the poller's buffer), so every key carries the generation of the
//! slot it was issued for, and every lookup checks it.

use std::fmt;

/// A reference to one entry of a [`Slab`]: the slot index and the generation it was issued for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// A key that no slab ever issues (no slot has index `u32::MAX`): it finds nothing.
    pub(crate) const NEVER: Key = Key {
        index: NIL,
        generation: 0,
    };

    /// The slot index; stable while the entry lives.
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    /// Packs the key into a `u64` (for example to use it as a poller event key).
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The inverse of [`Key::to_u64`].
    pub(crate) fn from_u64(bits: u64) -> Key {
        Key {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}v{})", self.index, self.generation)
    }
}

/// Marks the end of the free list.
const NIL: u32 = u32::MAX;

enum Slot<T> {
    Occupied {
        generation: u32,
        value: T,
    },
    /// `next_free` links the free list; `generation` is the one the next occupant gets.
    Vacant {
        generation: u32,
        next_free: u32,
    },
}

/// A vector of slots with a free list.
///
/// # Invariant
///
/// `free` heads a list, linked through `Slot::Vacant::next_free`, of exactly the vacant slots;
/// `len` counts the occupied ones. A slot's generation is bumped each time it is vacated, so a
/// key issued before the removal no longer matches.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: u32,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: NIL,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` and returns its key.
    ///
    /// # Panics
    ///
    /// If the slab would hold more than `u32::MAX - 1` entries.
    #[inline]
    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if self.free != NIL {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            let Slot::Vacant {
                generation,
                next_free,
            } = *slot
            else {
                unreachable!("free list points at an occupied slot {index}");
            };
            self.free = next_free;
            *slot = Slot::Occupied { generation, value };
            Key { index, generation }
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("looplet: more than u32::MAX - 1 entries in one registry");
            self.slots.push(Slot::Occupied {
                generation: 0,
                value,
            });
            Key {
                index,
                generation: 0,
            }
        }
    }

    /// The key that the next [`Slab::insert`] will return, if nothing is removed meanwhile:
    /// for a value that must know its own key before it can be stored.
    pub(crate) fn vacant_key(&self) -> Key {
        if self.free == NIL {
            return Key {
                index: self.slots.len() as u32,
                generation: 0,
            };
        }
        match self.slots[self.free as usize] {
            Slot::Vacant { generation, .. } => Key {
                index: self.free,
                generation,
            },
            Slot::Occupied { .. } => unreachable!("free list points at an occupied slot"),
        }
    }

    /// Removes the entry `key` refers to; `None` if it is already gone (a stale key).
    #[inline]
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        match self.slots.get(key.index as usize) {
            Some(Slot::Occupied { generation, .. }) if *generation == key.generation => {
                Some(self.vacate(key.index))
            }
            _ => None,
        }
    }

    /// Removes the occupied entry at `index`, whatever its generation.
    ///
    /// # Panics
    ///
    /// If the slot is vacant: callers hold the index of an entry they know to be live.
    #[inline]
    pub(crate) fn remove_at(&mut self, index: u32) -> T {
        self.vacate(index)
    }

    #[inline]
    fn vacate(&mut self, index: u32) -> T {
        let slot = &mut self.slots[index as usize];
        let Slot::Occupied { generation, .. } = *slot else {
            panic!("slab slot {index} is already vacant");
        };
        let old = std::mem::replace(
            slot,
            Slot::Vacant {
                generation: generation.wrapping_add(1),
                next_free: self.free,
            },
        );
        self.free = index;
        self.len -= 1;
        match old {
            Slot::Occupied { value, .. } => value,
            Slot::Vacant { .. } => unreachable!(),
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.index as usize) {
            Some(Slot::Occupied { generation, value }) if *generation == key.generation => {
                Some(value)
            }
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize) {
            Some(Slot::Occupied { generation, value }) if *generation == key.generation => {
                Some(value)
            }
            _ => None,
        }
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// The occupied entry at `index`, for intrusive lists that link entries by index.
    ///
    /// # Panics
    ///
    /// If the slot is vacant.
    pub(crate) fn at(&self, index: u32) -> &T {
        match &self.slots[index as usize] {
            Slot::Occupied { value, .. } => value,
            Slot::Vacant { .. } => panic!("slab slot {index} is vacant"),
        }
    }

    /// The occupied entry at `index`, mutably. See [`Slab::at`].
    #[inline]
    pub(crate) fn at_mut(&mut self, index: u32) -> &mut T {
        match &mut self.slots[index as usize] {
            Slot::Occupied { value, .. } => value,
            Slot::Vacant { .. } => panic!("slab slot {index} is vacant"),
        }
    }

    /// The key of the occupied entry at `index`, for intrusive lists that link entries by index.
    ///
    /// # Panics
    ///
    /// If the slot is vacant.
    pub(crate) fn key_at(&self, index: u32) -> Key {
        match &self.slots[index as usize] {
            Slot::Occupied { generation, .. } => Key {
                index,
                generation: *generation,
            },
            Slot::Vacant { .. } => panic!("slab slot {index} is vacant"),
        }
    }

    /// Removes every entry, handing each to `f`; their keys go stale like any removed key.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(T)) {
        for index in 0..self.slots.len() as u32 {
            if let Slot::Occupied { .. } = self.slots[index as usize] {
                f(self.vacate(index));
            }
        }
    }

    /// Every live entry with its key, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| match slot {
                Slot::Occupied { generation, value } => Some((
                    Key {
                        index: index as u32,
                        generation: *generation,
                    },
                    value,
                )),
                Slot::Vacant { .. } => None,
            })
    }
}

impl<T> fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("len", &self.len)
            .field("capacity", &self.slots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_key_never_reaches_the_new_occupant() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn free_list_reuses_every_slot() {
        let mut slab = Slab::new();
        let keys: Vec<_> = (0..100).map(|i| slab.insert(i)).collect();
        for k in &keys[..50] {
            slab.remove(*k).unwrap();
        }
        assert_eq!(slab.len(), 50);
        for i in 0..50 {
            slab.insert(1000 + i);
        }
        assert_eq!(slab.slots.len(), 100, "no growth while free slots remain");
        let mut seen: Vec<i32> = slab.iter().map(|(_, v)| *v).collect();
        seen.sort();
        assert_eq!(seen.len(), 100);
        assert_eq!(slab.len(), 100);
    }

    #[test]
    fn vacant_key_is_the_key_insert_returns() {
        let mut slab = Slab::new();
        let first = slab.vacant_key();
        assert_eq!(slab.insert('a'), first);
        let b = slab.insert('b');
        slab.remove(first);
        let reused = slab.vacant_key();
        assert_eq!(reused.index(), first.index());
        assert_ne!(reused, first, "a reused slot gets a new generation");
        assert_eq!(slab.get(reused), None);
        assert_eq!(slab.insert('c'), reused);
        assert_eq!(slab.vacant_key().index(), 2);
        assert_eq!(slab.get(b), Some(&'b'));
    }

    #[test]
    fn key_round_trips_through_u64() {
        let mut slab = Slab::new();
        for i in 0..3 {
            let k = slab.insert(i);
            slab.remove(k);
        }
        let k = slab.insert(7);
        assert_eq!(Key::from_u64(k.to_u64()), k);
        assert_eq!(slab.get(Key::from_u64(k.to_u64())), Some(&7));
    }

    #[test]
    fn drain_empties_and_makes_every_key_stale() {
        let mut slab = Slab::new();
        let keys: Vec<_> = (0..5).map(|i| slab.insert(i)).collect();
        let mut seen = Vec::new();
        slab.drain(|v| seen.push(v));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert!(slab.is_empty());
        let fresh = slab.insert(9);
        assert!(
            keys.iter().all(|k| slab.get(*k).is_none()),
            "no old key reaches {fresh:?}"
        );
    }
}
