//! Catching the panics of user code, and dropping what they carry.
//!
//! Wherever the loop runs user code (a task's poll, a future's destructor when a task is
//! cancelled or its executor dropped, a task's output dropped unread, a `call_later` callback),
//! a panic is caught there and the loop goes on. The standard panic hook has already reported
//! the panic, on stderr, when it happened; what is caught is its payload, and a payload is user
//! data too: its `Drop` may panic again. [`drop_payload`] is the one place that drops payloads.

use std::any::Any;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A caught panic's payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Runs `f`, catching a panic; `Err` holds the payload.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Payload> {
    catch_unwind(AssertUnwindSafe(f))
}

/// How many payloads of one chain (each one's `Drop` panicking with the next) are dropped
/// before the rest is leaked: user code can make a chain that never ends.
const PAYLOAD_CHAIN: usize = 8;

/// Drops a caught panic's payload without letting its destructor unwind into the loop.
///
/// A payload whose `Drop` panics is dropped under a guard, and so is that second panic's
/// payload (usually a plain message), and so on for [`PAYLOAD_CHAIN`] payloads; a payload
/// still panicking in `Drop` after that is leaked rather than dropped.
pub(crate) fn drop_payload(payload: Payload) {
    let mut payload = payload;
    for _ in 0..PAYLOAD_CHAIN {
        match catch(move || drop(payload)) {
            Ok(()) => return,
            Err(nested) => payload = nested,
        }
    }
    mem::forget(payload);
}

/// Runs `f`, catching a panic (the panic hook has reported it) and dropping its payload
/// safely: for user code whose panic has nobody to go to, such as a destructor.
pub(crate) fn run_guarded(f: impl FnOnce()) {
    if let Err(payload) = catch(f) {
        drop_payload(payload);
    }
}

/// Drops `value` under [`run_guarded`].
pub(crate) fn drop_guarded<T>(value: T) {
    run_guarded(move || drop(value));
}
