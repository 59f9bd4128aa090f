//! spin-compat mode: the real runtime's key-value quirks R1–R4 and R8, observed from a
//! guest and from its client.
mod common;
use common::*;
use spin_local_host::{App, BackendConfig, KvSetup, TickError};

fn compat(f: &Fixture, kv: KvSetup) -> App {
    let mut o = options(f);
    o.spin_compat = true;
    o.kv = kv;
    App::start(o).unwrap()
}

#[test]
fn r1_cas_from_absent_writes_blindly_on_sqlite() {
    let f = fixture("probe.toml");
    let app = compat(&f, KvSetup::TempSqlite);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.casread,default,n",
                "s.set,default,n,x",
                "w.swap,mine",
                "s.get,default,n"
            ]
        ),
        vec!["ok:none", "ok", "ok", "ok:utf8:mine"]
    );
}

#[test]
fn r3_increment_on_a_non_counter_poisons_the_store() {
    let f = fixture("probe.toml");
    let app = compat(&f, KvSetup::TempSqlite);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "s.set,default,k,text",
                "w.inc,default,n,1",
                "s.set,other,o,1"
            ]
        ),
        vec!["ok", "ok:1", "ok"]
    );
    assert!(!app.faults().poisoned());
    // As on Spin 4.0.2: the host panics inside the increment, the guest never answers
    // (not even for the ops before it in the same request) and the client gets an
    // empty 500.
    let empty_500 = (500, Some("0".to_string()), String::new());
    assert_eq!(raw(&app, "op=var,greeting&op=w.inc,default,k,1"), empty_500);
    assert!(app.faults().poisoned());
    // Every later request that touches the store, of any label and through either
    // interface, ends the same way: the process' store is poisoned.
    for query in [
        "op=s.get,default,other",
        "op=s.set,default,n,x",
        "op=w.inc,default,n,1",
        "op=w.getmany,default,n",
        "op=w.get,default,k",
        "op=w.cas,default,n,x",
        "op=s.exists,other,o",
    ] {
        assert_eq!(raw(&app, query), empty_500, "{query}");
    }
    // A request that does not touch the store still answers.
    assert_eq!(ops(&app, "/", &["var,greeting"]), vec!["ok:hello"]);
    // A cron tick that touches the store traps too.
    assert!(
        matches!(app.fire_cron("ticker"), Err(TickError::Trap(m)) if m.contains("poisoned")),
        "{:?}",
        app.logs()
    );
    assert!(
        app.logs().iter().any(|l| l.contains("PoisonError")),
        "{:?}",
        app.logs()
    );
    // The host's own handle on the store shares the process' fate.
    let e = app.store("default").unwrap().get("k").unwrap_err();
    assert!(e.is_host_panic(), "{e}");
    assert!(app.faults().poisoned());
}

#[test]
fn correct_mode_increment_on_a_non_counter_is_an_error_value() {
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.kv = KvSetup::TempSqlite;
    let app = App::start(o).unwrap();
    let r = ops(
        &app,
        "/",
        &[
            "s.set,default,k,text",
            "w.inc,default,k,1",
            "s.get,default,k",
            "w.inc,default,n,1",
        ],
    );
    assert_eq!(r[0], "ok");
    assert!(r[1].starts_with("err:other:"), "{r:?}");
    assert!(!r[1].contains("poison"), "{r:?}");
    assert_eq!(r[2..], ["ok:utf8:text", "ok:1"]);
    assert!(!app.faults().poisoned());
}

#[test]
fn r3_counter_is_8_le_bytes_on_sqlite() {
    let f = fixture("probe.toml");
    let app = compat(&f, KvSetup::TempSqlite);
    assert_eq!(
        ops(&app, "/", &["w.inc,default,c,5", "s.get,default,c"]),
        vec!["ok:5", "ok:utf8:\u{5}\0\0\0\0\0\0\0"]
    );
}

#[test]
fn r4_database_is_locked_reaches_the_guest() {
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.spin_compat = true;
    o.kv = KvSetup::TempSqlite;
    o.store_options.locked_rate = 1.0;
    let app = App::start(o).unwrap();
    assert_eq!(
        ops(&app, "/", &["s.get,default,k"]),
        vec![format!("err:other:{}", spin_local_kv::LOCKED_MESSAGE)]
    );
}

#[test]
fn r2_redis_swap_reports_cas_failed_although_it_landed() {
    let redis = spin_local_kv::testing::RedisServer::start();
    let f = fixture("probe.toml");
    let app = compat(
        &f,
        KvSetup::Backend(BackendConfig::Redis {
            url: redis.url.clone(),
        }),
    );
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "s.set,default,k,v1",
                "w.cas,default,k,v2",
                "s.get,default,k",
                "w.inc,default,n,3",
                "s.get,default,n"
            ]
        ),
        vec!["ok", "err:cas-failed", "ok:utf8:v2", "ok:3", "ok:utf8:3"]
    );
}

#[test]
fn correct_mode_on_redis_swaps_cleanly() {
    let redis = spin_local_kv::testing::RedisServer::start();
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.kv = KvSetup::Backend(BackendConfig::Redis {
        url: redis.url.clone(),
    });
    let app = App::start(o).unwrap();
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "s.set,default,k,v1",
                "w.cas,default,k,v2",
                "s.get,default,k"
            ]
        ),
        vec!["ok", "ok", "ok:utf8:v2"]
    );
}

fn on_redis(redis: &spin_local_kv::testing::RedisServer, spin_compat: bool) -> (Fixture, App) {
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.spin_compat = spin_compat;
    o.kv = KvSetup::Backend(BackendConfig::Redis {
        url: redis.url.clone(),
    });
    let app = App::start(o).unwrap();
    (f, app)
}

/// One probe request as the client sees it: status, `content-length`, body.
fn raw(app: &App, query: &str) -> (u16, Option<String>, String) {
    let resp = reqwest::blocking::get(format!("{}/?{query}", app.base_url())).expect("request");
    let status = resp.status().as_u16();
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, length, resp.text().unwrap_or_default())
}

#[test]
fn r8_redis_get_many_with_one_key_is_an_empty_500() {
    let redis = spin_local_kv::testing::RedisServer::start();
    let (_f, app) = on_redis(&redis, true);
    assert_eq!(ops(&app, "/", &["w.set,default,a,1"]), vec!["ok"]);
    // As on Spin 4.0.2: the host panics, the guest never answers.
    assert_eq!(
        raw(&app, "op=w.getmany,default,a"),
        (500, Some("0".into()), String::new())
    );
    assert!(
        app.logs()
            .iter()
            .any(|l| l.contains("guest invocation panicked")),
        "{:?}",
        app.logs()
    );
    // A key that matches nothing is no panic but an empty list; later requests work.
    assert_eq!(
        ops(&app, "/", &["w.getmany,default,missing", "w.get,default,a"]),
        vec!["ok:", "ok:utf8:1"]
    );
}

#[test]
fn r8_redis_get_many_with_two_keys_fails() {
    let redis = spin_local_kv::testing::RedisServer::start();
    let (_f, app) = on_redis(&redis, true);
    // The texts the probe guest got from Spin 4.0.2 on Redis.
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.setmany,default,a=1;b=2",
                "w.getmany,default,a;b",
                "w.getmany,default,a;missing",
                "w.getmany,default,",
                "w.delmany,default,a;missing",
                "w.get,default,a",
                "w.get,default,b"
            ]
        ),
        vec![
            "ok",
            "err:other:An error was signalled by the server - ResponseError: \
             wrong number of arguments for 'keys' command",
            "err:other:An error was signalled by the server - ResponseError: \
             wrong number of arguments for 'keys' command",
            "ok:",
            "ok",
            "ok:none",
            "ok:utf8:2"
        ]
    );
}

#[test]
fn correct_mode_on_redis_answers_get_many() {
    let redis = spin_local_kv::testing::RedisServer::start();
    let (_f, app) = on_redis(&redis, false);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.setmany,default,a=1;b=2",
                "w.getmany,default,a",
                "w.getmany,default,b;missing;a"
            ]
        ),
        vec!["ok", "ok:a=utf8:1", "ok:b=utf8:2;missing=none;a=utf8:1"]
    );
}
