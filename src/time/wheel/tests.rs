//! Tests of the timing wheel: unit tests of each guarantee and a property test against a
//! `BTreeMap` model.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

impl<T> Wheel<T> {
    /// Walks every list and checks the invariants of [`Wheel`].
    fn check(&self) {
        let mut count = 0;
        for (id, list) in self.lists.iter().enumerate() {
            if id < WHEEL_LISTS {
                let (level, slot) = (id / SLOTS, id % SLOTS);
                let bit = self.occupied[level] >> slot & 1 == 1;
                assert_eq!(bit, list.head != NIL, "occupied bit of list {id}");
                assert!(
                    list.head == NIL || slot > digit(self.now, level),
                    "list {id} at or before now"
                );
            }
            let (mut prev, mut index) = (NIL, list.head);
            while index != NIL {
                let node = self.entries.at(index);
                assert_eq!(node.prev, prev, "prev link of {index} on list {id}");
                assert_eq!(
                    self.list_of(node),
                    id,
                    "entry {index} (deadline {}) is on the wrong list",
                    node.when
                );
                assert!(node.when >= list.min, "list {id} min above an entry");
                if id == DUE && !self.due_unsorted && prev != NIL {
                    assert!(
                        self.entries.at(prev).when <= node.when,
                        "due list out of order"
                    );
                }
                (prev, index, count) = (index, node.next, count + 1);
            }
            assert_eq!(list.tail, prev, "tail of list {id}");
            assert!(
                list.head != NIL || list.min == u64::MAX,
                "empty list {id} keeps a min"
            );
        }
        assert_eq!(count, self.entries.len(), "entries off every list");
        let overflow = self.lists[OVERFLOW];
        assert!(overflow.head == NIL || overflow.min & !low_mask(LEVELS) > self.now);
    }

    /// Advances and returns what expired, checking the invariants after.
    fn run(&mut self, now: u64) -> Vec<(TimerKey, T)> {
        let mut out = Vec::new();
        self.advance(now, &mut |key, value| out.push((key, value)));
        self.check();
        out
    }
}

/// The values of what expired, in order.
fn values<T>(fired: Vec<(TimerKey, T)>) -> Vec<T> {
    fired.into_iter().map(|(_, value)| value).collect()
}

/// Node footprint: the slab slot of a `Waker` timer is 40 bytes with this.
#[test]
fn node_is_small() {
    let size = size_of::<Node<std::task::Waker>>();
    println!("size_of::<Node<Waker>>() = {size}");
    assert!(size <= 32, "{size}");
}

/// Remove returns the value once; a stale key touches nothing, even after its slot is reused.
#[test]
fn insert_remove_and_stale_keys() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(100, "a");
    let b = wheel.insert(100, "b");
    assert_eq!((wheel.len(), wheel.deadline(a)), (2, Some(100)));
    assert_eq!(wheel.remove(a), Some("a"));
    assert_eq!(wheel.remove(a), None);
    assert!(!wheel.contains(a) && wheel.contains(b));
    let c = wheel.insert(50, "c");
    assert_eq!(c.0.index(), a.0.index(), "the slot is reused");
    assert_eq!((wheel.remove(a), wheel.get_mut(a)), (None, None));
    *wheel.get_mut(c).unwrap() = "c2";
    wheel.check();
    assert_eq!(values(wheel.run(99)), ["c2"]);
    assert!(!wheel.contains(c) && wheel.deadline(c).is_none());
    assert_eq!(wheel.remove(c), None);
    assert_eq!(values(wheel.run(100)), ["b"]);
    assert!(wheel.is_empty() && wheel.next_deadline().is_none());
}

/// Deadlines at or before `now` expire at the next advance, sorted, FIFO among equals.
#[test]
fn past_deadlines_expire_at_next_advance_in_order() {
    let mut wheel = Wheel::new();
    wheel.run(1000);
    for (deadline, name) in [(1000, "w"), (500, "x"), (0, "y"), (500, "z"), (1000, "v")] {
        wheel.insert(deadline, name);
    }
    assert_eq!(wheel.next_deadline(), Some(0));
    wheel.insert(1001, "later");
    assert_eq!(values(wheel.run(999)), ["y", "x", "z", "w", "v"]);
    assert_eq!(wheel.now(), 1000, "an earlier tick counts as now");
    assert_eq!(values(wheel.run(1001)), ["later"]);
}

/// Equal deadlines placed at different times (and so first on different levels) stay FIFO.
#[test]
fn equal_deadlines_keep_placement_order_across_levels() {
    let mut wheel = Wheel::new();
    wheel.insert(10_000, 'a');
    wheel.run(5000);
    wheel.insert(10_000, 'b');
    wheel.run(9990);
    wheel.insert(10_000, 'c');
    wheel.insert(10_000, 'd');
    wheel.run(9995);
    wheel.insert(10_000, 'e');
    assert_eq!(values(wheel.run(20_000)), ['a', 'b', 'c', 'd', 'e']);
}

/// Inserts `deadlines` at `start`, then checks that each expires exactly at its deadline.
fn expire_exactly(start: u64, deadlines: &[u64]) {
    let mut wheel = Wheel::new();
    wheel.run(start);
    let mut expected: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, &deadline) in deadlines.iter().enumerate() {
        wheel.insert(deadline, i);
        expected.entry(deadline).or_default().push(i);
    }
    wheel.check();
    for (&deadline, ids) in &expected {
        assert!(wheel.next_deadline() <= Some(deadline));
        if deadline > wheel.now() + 1 {
            assert_eq!(
                values(wheel.run(deadline - 1)),
                [],
                "early before {deadline}"
            );
        }
        assert_eq!(
            &values(wheel.run(deadline)),
            ids,
            "at {deadline} from {start}"
        );
    }
    assert!(wheel.is_empty());
}

/// Deadlines at and around every level's span and aligned boundary, from several starts.
#[test]
fn level_boundaries() {
    for start in [
        0,
        12_345,
        (1 << 48) - 7,
        (5 << 48) | 0x3f3f_3f3f,
        u64::MAX - (1 << 51),
    ] {
        let mut deadlines = Vec::new();
        for level in 1..=LEVELS as u32 {
            let span = 1u64 << (level * BITS);
            let aligned = (start | (span - 1)).saturating_add(1);
            for base in [start + span, aligned] {
                deadlines.extend([base - 1, base, base.saturating_add(1)]);
            }
        }
        deadlines.extend([start + (1 << 49), start + (1 << 50) + 3, start + 1, start]);
        expire_exactly(start, &deadlines);
    }
}

/// A `u64::MAX` deadline survives every advance short of `advance(u64::MAX)`.
#[test]
fn max_deadline_fires_only_at_max() {
    for start in [0, u64::MAX - 100, u64::MAX - 1] {
        let mut wheel = Wheel::new();
        wheel.run(start);
        let key = wheel.insert(u64::MAX, ());
        for now in [start, 1 << 48, 1 << 63, u64::MAX - 64, u64::MAX - 1] {
            assert!(wheel.run(now).is_empty(), "fired at {now}");
            assert_eq!(wheel.next_deadline(), Some(u64::MAX));
        }
        assert_eq!(wheel.run(u64::MAX)[0].0, key);
        assert!(wheel.is_empty());
    }
}

/// Draining removes every timer without expiring it, and keys stay generation-checked.
#[test]
fn drain_empties_the_wheel_and_old_keys_stay_stale() {
    let mut wheel = Wheel::new();
    wheel.run(40);
    let old: Vec<_> = [0, 10, 5_000, 1 << 40, u64::MAX]
        .iter()
        .map(|&d| wheel.insert(d, d))
        .collect();
    let mut drained = Vec::new();
    wheel.drain(|v| drained.push(v));
    drained.sort_unstable();
    assert_eq!(drained, [0, 10, 5_000, 1 << 40, u64::MAX]);
    assert!(wheel.is_empty() && wheel.next_deadline().is_none());
    wheel.check();
    let new = wheel.insert(50, 1);
    for key in old {
        assert_eq!(wheel.remove(key), None, "a drained key matched a new timer");
    }
    assert_eq!(wheel.remove(new), Some(1));
    assert_eq!(wheel.now(), 40);
}

/// A small deterministic generator for the tests that need many deadlines.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 17
}

/// Without cancellations, `next_deadline` is the earliest deadline and advancing to it fires.
#[test]
fn next_deadline_is_exact_without_cancellation() {
    let mut wheel = Wheel::new();
    let mut state = 7;
    let mut deadlines = Vec::new();
    for i in 0..2000 {
        let deadline = lcg(&mut state) >> (lcg(&mut state) % 47);
        deadlines.push(deadline);
        wheel.insert(deadline, i);
    }
    deadlines.sort();
    let mut fired = 0;
    while let Some(next) = wheel.next_deadline() {
        assert_eq!(next, deadlines[fired]);
        let out = wheel.run(next);
        assert!(!out.is_empty(), "advance to {next} fired nothing");
        fired += out.len();
    }
    assert_eq!(fired, deadlines.len());
}

/// With cancellations, `next_deadline` stays a lower bound and advancing to it makes progress.
#[test]
fn next_deadline_after_cancellation_still_progresses() {
    let mut wheel = Wheel::new();
    let mut state = 11;
    let mut live = BTreeMap::new();
    for i in 0..3000u64 {
        let deadline = lcg(&mut state) >> (lcg(&mut state) % 47);
        let key = wheel.insert(deadline, i);
        if i % 3 == 0 {
            wheel.remove(key);
        } else {
            live.insert((deadline, i), ());
        }
    }
    let mut steps = 0;
    while let Some(next) = wheel.next_deadline() {
        assert!(next <= live.keys().next().unwrap().0);
        for (_, id) in wheel.run(next) {
            let (&(deadline, _), _) = live.first_key_value().unwrap();
            assert_eq!(live.remove(&(deadline, id)), Some(()));
            assert!(deadline <= next);
        }
        steps += 1;
        assert!(steps <= (LEVELS + 2) * 3000, "no progress");
    }
    assert!(live.is_empty());
}

/// A million timers inserted then cancelled never grow the slab past the peak.
#[test]
fn a_million_insert_remove_cycles_reuse_the_slab() {
    let mut wheel = Wheel::new();
    let mut state = 3;
    let mut keys = Vec::with_capacity(1000);
    let mut top = 0;
    for round in 0..1000u64 {
        wheel.run(round * 1000);
        for i in 0..1000 {
            let when = lcg(&mut state) >> (lcg(&mut state) % 64);
            let key = wheel.insert(when, i);
            top = top.max(key.0.index());
            keys.push(key);
        }
        for key in keys.drain(..).rev() {
            assert!(wheel.remove(key).is_some());
        }
    }
    assert!(wheel.is_empty() && wheel.next_deadline().is_none());
    assert!(top < 1000, "the slab grew to {top}");
    wheel.check();
}

/// A panic in the callback leaves the unreported timers due and the wheel consistent.
#[test]
fn a_panicking_callback_leaves_the_rest_due() {
    let mut wheel = Wheel::new();
    for i in 0..4 {
        wheel.insert(10 + i, i);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wheel.advance(100, &mut |_, i| assert_ne!(i, 1));
    }));
    assert!(result.is_err());
    wheel.check();
    assert_eq!(wheel.now(), 100);
    assert!(wheel.next_deadline().is_some_and(|next| next <= 12));
    assert_eq!(values(wheel.run(100)), [2, 3]);
}

/// How far ahead or behind `now` a generated deadline lies.
#[derive(Clone, Debug)]
enum When {
    /// `now + n`.
    Ahead(u64),
    /// `now - n`: already due.
    Behind(u64),
    /// `now + 64^level + delta`, or the next multiple of `64^level` plus delta.
    Boundary(u32, i8, bool),
    /// `u64::MAX`.
    Max,
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Op {
    /// Inserts at a deadline relative to `now`.
    Insert(When),
    /// Drains every timer.
    Drain,
    /// Removes the `n`th live key, or a stale key if `true`.
    Remove(usize, bool),
    /// Advances by this many ticks (saturating).
    Advance(u64),
    /// Advances to `next_deadline()`, which must make progress.
    AdvanceToNext,
}

/// A tick count: mostly small, sometimes huge.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..100u64,
        3 => 0..5_000u64,
        2 => 0..1u64 << 30,
        2 => 0..1u64 << 50,
        1 => any::<u64>(),
    ]
}

/// An operation, weighted towards inserts and small steps.
fn op() -> impl Strategy<Value = Op> {
    let when = prop_oneof![
        6 => amount().prop_map(When::Ahead),
        1 => (0..200u64).prop_map(When::Behind),
        3 => (1..=LEVELS as u32, -1..=1i8, any::<bool>()).prop_map(|(l, d, a)| When::Boundary(l, d, a)),
        1 => Just(When::Max),
    ];
    let step = prop_oneof![
        2 => Just(0u64),
        5 => 1..100u64,
        3 => 0..5_000u64,
        2 => 0..1u64 << 24,
        1 => 0..1u64 << 50,
        1 => (0..1u64 << 50).prop_map(|s| s << 12),
    ];
    prop_oneof![
        8 => when.prop_map(Op::Insert),
        1 => Just(Op::Drain),
        4 => (any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(n, s)| Op::Remove(n, s)),
        4 => step.prop_map(Op::Advance),
        2 => Just(Op::AdvanceToNext),
    ]
}

/// The absolute deadline `when` names at `now`.
fn deadline_for(now: u64, when: &When) -> u64 {
    match *when {
        When::Ahead(n) => now.saturating_add(n),
        When::Behind(n) => now.saturating_sub(n),
        When::Boundary(level, delta, aligned) => {
            let span = 1u64 << (level * BITS);
            let base = if aligned {
                (now | (span - 1)).saturating_add(1)
            } else {
                now.saturating_add(span)
            };
            base.saturating_add_signed(i64::from(delta))
        }
        When::Max => u64::MAX,
    }
}

/// The wheel mirrored into a model: placed timers ordered by (deadline, placement order).
#[derive(Default)]
struct Model {
    /// (deadline, placement number) -> id.
    placed: BTreeMap<(u64, u64), u64>,
    /// id -> key and its model entry.
    live: HashMap<u64, (TimerKey, Option<(u64, u64)>)>,
    /// The live ids, to pick one to remove.
    ids: Vec<u64>,
    /// Keys of timers that expired or were removed.
    stale: Vec<TimerKey>,
    /// The last id handed out.
    next_id: u64,
    /// The last placement number handed out.
    seq: u64,
}

impl Model {
    /// Gives timer `id` its deadline and the next placement number.
    fn place(&mut self, id: u64, deadline: u64) {
        self.seq += 1;
        self.placed.insert((deadline, self.seq), id);
        self.live.get_mut(&id).unwrap().1 = Some((deadline, self.seq));
    }

    /// Records a new live timer and returns its id (its value in the wheel).
    fn add(&mut self, key: TimerKey) -> u64 {
        self.next_id += 1;
        self.live.insert(self.next_id, (key, None));
        self.ids.push(self.next_id);
        self.next_id
    }

    /// Advances both, checking that exactly the due timers expire, in order.
    fn advance(&mut self, wheel: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let now = now.max(wheel.now());
        let later = self.placed.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut self.placed, later);
        let fired = wheel.run(now);
        let expected: Vec<u64> = due.values().copied().collect();
        assert_eq!(values(fired.clone()), expected, "expired at {now}");
        for (key, id) in fired {
            assert_eq!(self.live.remove(&id).unwrap().0, key);
            self.stale.push(key);
        }
        self.ids.retain(|id| self.live.contains_key(id));
        expected
    }
}

/// Runs `ops` on a wheel and the model, comparing them after each, then drains both.
fn run_ops(ops: &[Op]) {
    let mut wheel = Wheel::new();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Insert(when) => {
                let deadline = deadline_for(wheel.now(), when);
                let key = wheel.insert(deadline, model.next_id + 1);
                let id = model.add(key);
                model.place(id, deadline);
                assert_eq!(wheel.deadline(key), Some(deadline));
            }
            Op::Drain => {
                let mut drained = Vec::new();
                wheel.drain(|id| drained.push(id));
                drained.sort_unstable();
                let mut expected: Vec<u64> = model.live.keys().copied().collect();
                expected.sort_unstable();
                assert_eq!(drained, expected, "drained");
                for (key, _) in model.live.drain().map(|(_, v)| v) {
                    model.stale.push(key);
                }
                model.placed.clear();
                model.ids.clear();
            }
            Op::Remove(n, true) if !model.stale.is_empty() => {
                let key = model.stale[n % model.stale.len()];
                assert_eq!(wheel.remove(key), None);
            }
            Op::Remove(n, _) if !model.ids.is_empty() => {
                let id = model.ids.swap_remove(n % model.ids.len());
                let (key, placed) = model.live.remove(&id).unwrap();
                let entry = placed.expect("every live timer is placed");
                assert_eq!(model.placed.remove(&entry), Some(id));
                assert_eq!(wheel.remove(key), Some(id));
                model.stale.push(key);
            }
            Op::Remove(..) => {}
            Op::Advance(step) => {
                let now = wheel.now().saturating_add(*step);
                model.advance(&mut wheel, now);
            }
            Op::AdvanceToNext => {
                if let Some(next) = wheel.next_deadline() {
                    let before = (
                        wheel.occupied,
                        wheel.lists[OVERFLOW].head,
                        wheel.lists[OVERFLOW].min,
                    );
                    let fired = model.advance(&mut wheel, next);
                    let after = (
                        wheel.occupied,
                        wheel.lists[OVERFLOW].head,
                        wheel.lists[OVERFLOW].min,
                    );
                    assert!(
                        !fired.is_empty() || before != after,
                        "no progress at {next}"
                    );
                }
            }
        }
        assert_eq!(wheel.len(), model.live.len());
        let min = model.placed.keys().next().map(|&(deadline, _)| deadline);
        let next = wheel.next_deadline();
        assert_eq!(next.is_some(), min.is_some());
        assert!(
            next <= min,
            "next_deadline {next:?} after the earliest deadline {min:?}"
        );
    }
    wheel.check();
    let now = wheel.now();
    model.advance(&mut wheel, now);
    let mut steps = 0;
    while let Some(next) = wheel.next_deadline() {
        model.advance(&mut wheel, next);
        steps += 1;
        assert!(
            steps <= (LEVELS + 2) * (ops.len() + 1),
            "draining makes no progress"
        );
    }
    assert!(wheel.is_empty() && model.live.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random operation sequences against the `BTreeMap` model.
    #[test]
    fn matches_the_model(ops in prop::collection::vec(op(), 0..200)) {
        run_ops(&ops);
    }
}
