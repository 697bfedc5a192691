//! `#[looplet::test]` and `#[looplet::main]`: the body runs on a fresh loop, failures fail the
//! test, `start_paused` pauses the clock.

use std::time::Duration;

#[looplet::test]
async fn the_body_runs_on_a_loop() {
    let answer = looplet::spawn(async { 40 }).await + 2;
    assert_eq!(answer, 42);
    assert!(looplet::Handle::try_current().is_some());
}

#[looplet::test]
async fn an_ok_result_passes() -> std::io::Result<()> {
    looplet::sleep(Duration::from_millis(1)).await;
    Ok(())
}

#[looplet::test]
#[should_panic(expected = "failed inside the loop")]
async fn a_panic_fails_the_test() {
    looplet::yield_now().await;
    panic!("failed inside the loop");
}

/// Ignored: run by the harness it fails, which is the point; the next test checks that the
/// `Err` is what the harness gets.
#[looplet::test]
#[ignore = "fails on purpose: returns Err"]
async fn returns_an_error() -> Result<(), String> {
    looplet::yield_now().await;
    Err("the harness fails a test that returns Err".into())
}

#[test]
fn an_err_result_is_what_the_harness_gets() {
    assert_eq!(
        returns_an_error(),
        Err("the harness fails a test that returns Err".to_owned())
    );
}

#[looplet::test(start_paused = true)]
async fn start_paused_makes_an_hour_take_no_time() {
    let start = looplet::time::now();
    let slow = looplet::sleep(Duration::from_secs(7200));
    assert!(
        looplet::timeout(Duration::from_secs(3600), slow)
            .await
            .is_err()
    );
    assert_eq!(looplet::time::now() - start, Duration::from_secs(3600));
}

#[looplet::test(start_paused = false)]
async fn start_paused_false_is_real_time() {
    let start = std::time::Instant::now();
    looplet::sleep(Duration::from_millis(5)).await;
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn each_test_gets_its_own_loop() {
    // The attribute's function is an ordinary function: calling it runs a loop of its own,
    // so there is no loop running here afterwards.
    the_body_runs_on_a_loop();
    assert!(looplet::Handle::try_current().is_none());
}
