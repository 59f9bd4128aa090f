//! spin-compat mode: the real runtime's quirks R1–R4, observed from a guest.
mod common;
use common::*;
use spin_local_host::{App, BackendConfig, KvSetup};

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
    let r = ops(
        &app,
        "/",
        &[
            "s.set,default,k,text",
            "w.inc,default,k,1",
            "s.get,default,other",
        ],
    );
    assert_eq!(r[0], "ok");
    assert!(r[1].starts_with("err:other:"), "{r:?}");
    assert!(
        r[2].starts_with("err:other:"),
        "every later call fails: {r:?}"
    );
    assert!(app.faults().poisoned());
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
