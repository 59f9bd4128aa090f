//! Cron: on demand, on schedule (driven by the test clock), errors and traps.
mod common;
use common::*;
use spin_local_host::{App, CronMode, TickError};
use std::time::Duration;

#[test]
fn fire_on_demand_uses_the_clock_timestamp() {
    let f = fixture("probe.toml");
    let app = start(&f);
    app.clock().set_unix(1_700_000_000);
    assert_eq!(app.fire_cron("ticker"), Ok(()));
    app.clock().advance(Duration::from_secs(30));
    assert_eq!(app.fire_cron("ticker"), Ok(()));
    let kv = app.store("default").unwrap();
    assert_eq!(kv.get("cron.last").unwrap(), Some(b"1700000030".to_vec()));
    assert_eq!(kv.increment("cron.ticks", 0).unwrap(), 2);
    assert_eq!(app.cron_ticks("ticker"), 2);
    assert!(
        app.logs()
            .contains(&"[ticker] tick at 1700000030".to_string())
    );
}

#[test]
fn guest_error_and_trap_are_reported_not_fatal() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let kv = app.store("default").unwrap();
    kv.set("cron.fail", b"1").unwrap();
    assert_eq!(
        app.fire_cron("ticker"),
        Err(TickError::Guest("cron probe asked to fail".into()))
    );
    kv.delete("cron.fail").unwrap();
    kv.set("cron.trap", b"1").unwrap();
    assert!(matches!(app.fire_cron("ticker"), Err(TickError::Trap(_))));
    kv.delete("cron.trap").unwrap();
    assert_eq!(app.fire_cron("ticker"), Ok(()));
    assert!(app.logs().iter().any(|l| l.starts_with("[ticker] error:")));
    assert!(matches!(app.fire_cron("probe"), Err(TickError::NotCron(_))));
}

#[test]
fn schedule_follows_the_test_clock() {
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.cron = CronMode::Scheduled;
    let app = App::start(o).unwrap();
    // Freeze at an even second, then move 5 s: `*/2` fires at +2 and +4.
    app.clock().set_unix(1_700_000_000);
    app.clock().advance(Duration::from_secs(5));
    assert!(app.wait_for_ticks("ticker", 2, Duration::from_secs(20)));
    assert_eq!(
        app.store("default")
            .unwrap()
            .increment("cron.ticks", 0)
            .unwrap(),
        2
    );
    app.clock().advance(Duration::from_secs(2));
    assert!(app.wait_for_ticks("ticker", 3, Duration::from_secs(20)));
}

#[test]
fn guest_sees_the_controlled_clock() {
    let f = fixture("probe.toml");
    let app = start(&f);
    app.clock().set_unix(1_234_567_890);
    assert_eq!(ops(&app, "/", &["now"]), vec!["ok:1234567890"]);
    app.clock().advance(Duration::from_secs(3600));
    assert_eq!(ops(&app, "/", &["now"]), vec!["ok:1234571490"]);
}
