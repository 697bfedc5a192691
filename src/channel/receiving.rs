//! Where a channel's receivers wait, and the values handed to them: one rule, two shapes.
//!
//! The rule (see the channel's docs): a value sent while receivers wait is *handed* to the one
//! that has waited longest (counted in `claimed` until it takes it), and a newcomer cannot
//! take it; a receiver that gives up its wait passes a value handed to it on.
//!
//! The shape depends on how many receivers the channel has had. Until a [`Receiver`] is first
//! cloned there is one, and every queued value is its own: nobody else can take it, so
//! nothing needs counting. Its place is a slot with its waker and where it stands
//! ([`Stand`]), and a hand-over is a flag flip and a wake; it stands `Granted` between the two
//! only so that a clone made meanwhile knows the value is taken. From the first clone on
//! ([`Stand::Split`]), receivers wait in a FIFO [`WaitList`], each with a node of its own that
//! it keeps (with its waker) until it is dropped, and hand-overs are counted. The channel's
//! code calls the methods here and never looks at the shape, so a channel whose receiver is
//! never cloned pays nothing for the list, and the rule is written once, here.
//!
//! A receiver's *place* is the `Option<Key>` it carries: its node in the list, or `None` (no
//! node yet, or the solo shape, where the one receiver needs none).
//!
//! [`Receiver`]: super::Receiver

use std::fmt;
use std::task::Waker;

use crate::slab::Key;
use crate::sync::waiters::{self, Retired, WaitList, WakeList};

/// The receivers' waiting places and the count of values handed to them.
///
/// # Invariant
///
/// Until the split, `list` is empty and `claimed` is 0. From then on, `stand` is `Split`,
/// `waker` is `None`, and `claimed` counts the nodes of `list` whose data is `true`: receivers
/// handed a value they have not taken. A receiver waits (stands `Waiting`, or is linked) only
/// while every queued value is claimed: the channel hands a value over as soon as it is
/// queued.
pub(super) struct Receiving {
    stand: Stand,
    /// The solo receiver's waker, kept between waits so that waiting again clones nothing;
    /// lent out while it is woken.
    waker: Option<Waker>,
    /// Data `true`: a value was handed to the node's receiver and not yet taken.
    list: WaitList<bool>,
    claimed: usize,
}

/// Where the solo receiver stands; or that there is none any more.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stand {
    Idle,
    Waiting,
    /// Woken for a value it has not taken yet.
    Granted,
    /// The receiver has been cloned: receivers wait in the list.
    Split,
}

/// What a receiver's poll finds at its place.
pub(super) enum Found {
    /// A value for it: take the front of the queue.
    Take,
    /// It is still waiting (so nothing is queued for it).
    Waiting,
    /// Neither: as if new.
    Nothing,
}

/// A waker lent out of a waiting receiver's place, to wake once the channel's borrow is
/// released and then give back ([`Receiving::give_back`]). The solo receiver's is lent with
/// [`Key::NEVER`], which no list node answers to.
pub(super) use waiters::Lent;

impl Receiving {
    /// The places of a channel with one receiver.
    pub(super) const fn new() -> Receiving {
        Receiving {
            stand: Stand::Idle,
            waker: None,
            list: WaitList::new(),
            claimed: 0,
        }
    }

    /// How many queued values are handed to receivers that have not taken them.
    #[inline]
    pub(super) fn claimed(&self) -> usize {
        self.claimed
    }

    /// A value was queued: hands it to the receiver that has waited longest, if one waits,
    /// and lends out its waker for the caller to wake.
    #[inline]
    pub(super) fn hand_over(&mut self) -> Option<Lent> {
        // Tests, not a `match`: the compiler makes a jump table of that.
        if self.stand == Stand::Waiting {
            self.stand = Stand::Granted;
            self.waker.take().map(|waker| Lent::new(Key::NEVER, waker))
        } else if self.stand == Stand::Split && !self.list.is_empty() {
            self.claimed += 1;
            self.list.pick_front_and_lend(|granted| *granted = true)
        } else {
            None
        }
    }

    /// A receiver polls, with `queued` values in the queue: finds a value that is its own, or
    /// refreshes its waker if it still waits and `waker` is given. A waker it replaces goes
    /// to `retired`, for the caller to drop once the channel's borrow ends.
    #[inline]
    pub(super) fn find(
        &mut self,
        place: Option<Key>,
        waker: Option<&Waker>,
        queued: usize,
        retired: &mut Retired,
    ) -> Found {
        match self.stand {
            Stand::Split => self.find_in_list(place, waker, retired),
            _ if queued > 0 => {
                self.stand = Stand::Idle;
                Found::Take
            }
            Stand::Waiting => {
                if let Some(waker) = waker {
                    retired.swap(&mut self.waker, waker);
                }
                Found::Waiting
            }
            Stand::Idle | Stand::Granted => Found::Nothing,
        }
    }

    /// [`Receiving::find`], split: only a value handed to it is its own.
    #[inline(never)]
    fn find_in_list(
        &mut self,
        place: Option<Key>,
        waker: Option<&Waker>,
        retired: &mut Retired,
    ) -> Found {
        let Some(key) = place else {
            return Found::Nothing;
        };
        match self.list.state_mut(key) {
            Some((true, _)) => {
                if let Some(waker) = waker
                    && let Ok(old) = self.list.set_waker(key, waker)
                {
                    retired.keep(old);
                }
                Found::Waiting
            }
            Some((false, granted)) if *granted => {
                *granted = false;
                self.claimed -= 1;
                Found::Take
            }
            // Not handed a value (woken because the channel closed, or idle).
            _ => Found::Nothing,
        }
    }

    /// A receiver that found nothing to take waits, at the back of the line. A waker it
    /// replaces goes to `retired`, as in [`Receiving::find`].
    #[inline]
    pub(super) fn wait(&mut self, place: &mut Option<Key>, waker: &Waker, retired: &mut Retired) {
        if self.stand != Stand::Split {
            self.stand = Stand::Waiting;
            retired.swap(&mut self.waker, waker);
            return;
        }
        self.wait_in_list(place, waker, retired);
    }

    /// [`Receiving::wait`], split.
    #[inline(never)]
    fn wait_in_list(&mut self, place: &mut Option<Key>, waker: &Waker, retired: &mut Retired) {
        if let Some(key) = *place
            && let Ok(old) = self.list.relink(key, waker)
        {
            retired.keep(old);
            return;
        }
        *place = Some(self.list.push_back(Some(waker), false));
    }

    /// A receiver gives up its wait (its `recv` was dropped, or it is): a value handed to it
    /// passes on to the next waiting receiver (whose waker is returned), or stays queued.
    pub(super) fn withdraw(&mut self, place: Option<Key>) -> Option<Lent> {
        if self.stand != Stand::Split {
            // A value it was woken for stays queued, its own as before.
            self.stand = Stand::Idle;
            return None;
        }
        let key = place?;
        let granted = match self.list.state_mut(key) {
            Some((true, _)) => {
                self.list.cancel(key);
                false
            }
            Some((false, granted)) => std::mem::take(granted),
            None => false,
        };
        if !granted {
            return None;
        }
        self.claimed -= 1;
        self.hand_over()
    }

    /// A receiver is dropped: it withdraws, and its node goes. Returns the waker of the
    /// receiver to wake, and the node's own, to be dropped once the channel's borrow ends.
    pub(super) fn leave(&mut self, place: Option<Key>) -> (Option<Lent>, Retired) {
        let lent = self.withdraw(place);
        let mut retired = Retired::NONE;
        if let Some((_, _, old)) = place.and_then(|key| self.list.remove(key)) {
            retired = old;
        }
        (lent, retired)
    }

    /// Gives a lent waker back to its place, unless the place has a newer one (or is gone):
    /// then it comes back, to be dropped once the channel's borrow ends.
    #[inline]
    #[must_use = "drop a refused waker after the borrow ends"]
    pub(super) fn give_back(&mut self, lent: Lent) -> Option<Lent> {
        if self.stand == Stand::Split {
            // Lent before the first clone and given back after it, the solo receiver's waker
            // finds no node and is refused: the receiver's next wait clones its waker.
            self.list.give_back(lent)
        } else if self.waker.is_none() {
            self.waker = Some(lent.into_waker());
            None
        } else {
            Some(lent)
        }
    }

    /// Wakes every waiting receiver (the channel closed): each finds no value handed to it,
    /// and looks at the queue again.
    pub(super) fn wake_all(&mut self, wakers: &mut WakeList) {
        match self.stand {
            Stand::Waiting => {
                self.stand = Stand::Idle;
                wakers.push(self.waker.take());
            }
            Stand::Split => self.list.unlink_all(wakers, |_| {}),
            Stand::Idle | Stand::Granted => {}
        }
    }

    /// The last receiver is gone, with the queue: nothing is claimed any more.
    pub(super) fn clear_claims(&mut self) {
        self.claimed = 0;
    }

    /// Whether a value handed to the receiver at `place` waits for it (counted in `claimed`).
    /// Never for the solo receiver: every queued value is its own, and none is counted.
    pub(super) fn is_granted(&self, place: Option<Key>) -> bool {
        match self.stand {
            Stand::Split => place.is_some_and(|key| self.list.get(key) == Some(&true)),
            _ => false,
        }
    }

    /// The channel's receiver is being cloned: from now on receivers wait in a list. The one
    /// receiver so far keeps where it stands, in a node whose key is returned for it to
    /// carry as its place (a value it was woken for is counted as handed to it); `None` if
    /// it needs none yet (it never waited) or the list is there already.
    pub(super) fn split(&mut self) -> Option<Key> {
        let stand = std::mem::replace(&mut self.stand, Stand::Split);
        let waker = self.waker.take();
        match stand {
            Stand::Split => None,
            Stand::Idle if waker.is_none() => None,
            Stand::Waiting => Some(self.list.push_back(waker.as_ref(), false)),
            // Out of line (idle, or woken and not yet run), with its waker kept.
            Stand::Idle | Stand::Granted => {
                let granted = stand == Stand::Granted;
                let key = self.list.push_back(waker.as_ref(), granted);
                self.list.cancel(key);
                self.claimed += usize::from(granted);
                Some(key)
            }
        }
    }
}

impl fmt::Debug for Receiving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiving")
            .field("stand", &self.stand)
            .field("waiting", &self.list.len())
            .field("claimed", &self.claimed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// A fresh place for retired wakers: the tests drop them at once, with no borrow.
    fn retired() -> Retired {
        Retired::NONE
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn solo_hand_over_wakes_once_and_keeps_the_waker() {
        let (count, waker) = counter();
        let mut r = Receiving::new();
        let mut place = None;
        assert!(r.hand_over().is_none(), "nobody waits");
        r.wait(&mut place, &waker, &mut retired());
        assert_eq!(place, None, "the solo receiver needs no node");
        let lent = r.hand_over().expect("it waits");
        assert!(r.hand_over().is_none(), "handed to it already");
        assert_eq!(
            r.claimed(),
            0,
            "the solo receiver's values are its own: nothing counted"
        );
        lent.wake();
        drop(r.give_back(lent));
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(matches!(
            r.find(place, None, 1, &mut retired()),
            Found::Take
        ));
        assert!(matches!(
            r.find(place, None, 0, &mut retired()),
            Found::Nothing
        ));
        r.wait(&mut place, &waker, &mut retired());
        assert!(
            r.hand_over().is_some(),
            "the waker was given back: no clone needed"
        );
    }

    #[test]
    fn split_keeps_the_solo_receivers_stand_and_order() {
        let (_count, waker) = counter();
        let (_count2, waker2) = counter();
        // Waiting when cloned: first in line, ahead of the clone.
        let mut r = Receiving::new();
        r.wait(&mut None, &waker, &mut retired());
        let mut first = r.split();
        assert!(first.is_some());
        let mut second = None;
        r.wait(&mut second, &waker2, &mut retired());
        drop(r.hand_over().expect("the first waits"));
        assert!(matches!(
            r.find(second, None, 1, &mut retired()),
            Found::Waiting
        ));
        assert!(matches!(
            r.find(first, None, 1, &mut retired()),
            Found::Take
        ));

        // Granted when cloned: the value stays its own.
        let mut r = Receiving::new();
        r.wait(&mut None, &waker, &mut retired());
        drop(r.hand_over());
        first = r.split();
        assert!(r.is_granted(first));
        assert!(!r.is_granted(None), "the clone was handed nothing");
        assert_eq!(r.claimed(), 1);

        // Never waited: no node until it waits.
        let mut r = Receiving::new();
        assert_eq!(r.split(), None);
        assert_eq!(r.split(), None, "split once");
    }

    #[test]
    fn a_withdrawn_solo_grant_stays_queued() {
        let (_count, waker) = counter();
        let mut r = Receiving::new();
        r.wait(&mut None, &waker, &mut retired());
        drop(r.hand_over());
        assert!(r.withdraw(None).is_none(), "nobody else to pass it to");
        assert!(
            matches!(r.find(None, None, 1, &mut retired()), Found::Take),
            "the next poll takes it"
        );
    }
}
