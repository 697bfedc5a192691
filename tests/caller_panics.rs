//! Panics caused by the caller (a misuse, not a bug in looplet) point at the caller's line.
//!
//! This file is its own test binary: it swaps the process's panic hook to see the location
//! each panic reports.

use std::panic::{self, AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `f`, which must panic, and returns the line its panic reported and its message.
fn panic_site(f: impl FnOnce()) -> (String, u32, String) {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    panic::set_hook(Box::new(move |info| {
        let location = info.location().expect("a location");
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        *record.lock().unwrap() = Some((location.file().to_string(), location.line(), message));
    }));
    let result = catch_unwind(AssertUnwindSafe(f));
    let _ = panic::take_hook();
    assert!(result.is_err(), "expected a panic");
    seen.lock().unwrap().take().expect("the hook saw the panic")
}

#[test]
fn misuse_panics_point_at_the_callers_line() {
    let (file, line, message) = panic_site(|| drop(looplet::spawn(async {})));
    assert_eq!((file.as_str(), line), (file!(), line!() - 1), "{message}");
    assert!(
        message.contains("spawn from code running inside"),
        "{message}"
    );

    let (file, line, message) = panic_site(|| drop(looplet::channel::bounded::<u8>(0)));
    assert_eq!((file.as_str(), line), (file!(), line!() - 1), "{message}");

    let (file, line, message) =
        panic_site(|| drop(looplet::call_later(Duration::from_millis(1), || {})));
    assert_eq!((file.as_str(), line), (file!(), line!() - 1), "{message}");
    assert!(
        message.contains("call_later called with no looplet loop"),
        "{message}"
    );

    let (file, line, message) = panic_site(|| drop(looplet::Handle::current()));
    assert_eq!((file.as_str(), line), (file!(), line!() - 1), "{message}");

    let (file, line, message) = panic_site(|| {
        looplet::block_on(async { looplet::block_on(async {}) });
    });
    assert_eq!((file.as_str(), line), (file!(), line!() - 2), "{message}");
    assert!(message.contains("running event loop"), "{message}");

    // A timer cannot know who polls it, but its message names the line that made it.
    let made_at = line!() + 1;
    let mut nap = Box::pin(looplet::sleep(Duration::from_millis(1)));
    let (_, _, message) = panic_site(|| {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = std::future::Future::poll(nap.as_mut(), &mut cx);
    });
    assert!(
        message.contains(&format!("{}:{made_at}", file!())),
        "{message}"
    );
}
