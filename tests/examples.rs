//! The chat and port-scan examples, run as a user would: many clients, every line checked.

#[path = "../examples/chat.rs"]
mod chat;
#[path = "../examples/port_scan.rs"]
mod port_scan;

use std::time::Duration;

#[test]
fn chat_with_a_hundred_clients_delivers_every_line_to_every_other_client() {
    let report = looplet::block_on(looplet::timeout(
        Duration::from_secs(60),
        chat::self_test(100, 20),
    ))
    .expect("the chat did not finish in 60 s")
    .expect("the chat failed");
    assert!(report.passed(), "{report:?}");
}

#[test]
fn port_scan_finds_the_ports_it_opened() {
    let (opened, scan) = looplet::block_on(port_scan::self_test(5)).expect("the scan ran");
    for port in &opened {
        assert!(scan.open.contains(port), "missed {port}: {scan:?}");
    }
    assert!(scan.refused > 0, "closed loopback ports refuse: {scan:?}");
}

#[test]
fn port_scan_refuses_to_scan_a_remote_host() {
    let err = looplet::block_on(port_scan::scan(
        "192.0.2.1".parse().unwrap(),
        1..=2,
        Duration::from_millis(10),
    ))
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
