//! Key-value conformance through both guest APIs.
mod common;
use common::*;

#[test]
fn crud_and_keys_through_both_apis() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let r = ops(
        &app,
        "/",
        &[
            "s.set,default,a,1",
            "w.set,default,b,2",
            "s.get,default,b",
            "w.get,default,a",
            "s.exists,default,a",
            "w.exists,default,zz",
            "s.keys,default",
            "w.keys,default",
            "s.delete,default,a",
            "w.get,default,a",
            "w.delete,default,b",
            "s.exists,default,b",
            "s.get,default,nothing",
        ],
    );
    assert_eq!(
        r,
        vec![
            "ok",
            "ok",
            "ok:utf8:2",
            "ok:utf8:1",
            "ok:true",
            "ok:false",
            "ok:a;b",
            "ok:a;b",
            "ok",
            "ok:none",
            "ok",
            "ok:false",
            "ok:none",
        ]
    );
}

#[test]
fn unlisted_store_is_access_denied_and_unknown_is_no_such_store() {
    let f = fixture("probe.toml");
    let app = start(&f);
    // `exact` lists no store; `probe` lists `missing`, which no runtime config defines.
    assert_eq!(
        ops(
            &app,
            "/exact",
            &["s.get,default,k", "w.get,default,k", "s.get,nolisted,k"]
        ),
        vec![
            "err:access-denied",
            "err:access-denied",
            "err:access-denied"
        ]
    );
    assert_eq!(
        ops(&app, "/", &["s.get,missing,k", "w.get,missing,k"]),
        vec!["err:no-such-store", "err:no-such-store"]
    );
}

#[test]
fn labels_are_separate_stores() {
    let f = fixture("probe.toml");
    let app = start(&f);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "s.set,default,k,d",
                "s.set,other,k,o",
                "s.get,default,k",
                "w.get,other,k"
            ]
        ),
        vec!["ok", "ok", "ok:utf8:d", "ok:utf8:o"]
    );
}

#[test]
fn compare_and_swap_succeeds_and_a_stale_one_fails() {
    let f = fixture("probe.toml");
    let app = start(&f);
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
    // Read, then someone else writes, then swap: cas-failed and nothing written.
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.casread,default,k",
                "s.set,default,k,other",
                "w.swap,mine",
                "s.get,default,k"
            ]
        ),
        vec!["ok:utf8:v2", "ok", "err:cas-failed", "ok:utf8:other"]
    );
    // Read absent, someone creates it, swap: fails (correct mode).
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
        vec!["ok:none", "ok", "err:cas-failed", "ok:utf8:x"]
    );
}

#[test]
fn increment_is_exact_under_concurrent_callers() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let url = format!("{}/?op=w.inc,default,counter,1", app.base_url());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let client = reqwest::blocking::Client::new();
                for _ in 0..50 {
                    assert_eq!(client.get(&url).send().unwrap().status(), 200);
                }
            });
        }
    });
    assert_eq!(ops(&app, "/", &["w.inc,default,counter,0"]), vec!["ok:200"]);
    // The counter's encoding on the memory backend: 8 little-endian bytes.
    assert_eq!(
        ops(&app, "/", &["s.get,default,counter"]),
        vec!["ok:hex:c800000000000000"]
    );
}

#[test]
fn batch_get_set_delete() {
    let f = fixture("probe.toml");
    let app = start(&f);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.setmany,default,a=1;b=2",
                "w.getmany,default,a;b;c",
                "w.delmany,default,a;c",
                "w.getmany,default,a;b"
            ]
        ),
        vec![
            "ok",
            "ok:a=utf8:1;b=utf8:2;c=none",
            "ok",
            "ok:a=none;b=utf8:2"
        ]
    );
}

#[test]
fn injected_store_fault_is_a_clean_error_for_the_guest() {
    let f = fixture("probe.toml");
    let app = start(&f);
    assert_eq!(ops(&app, "/", &["s.set,default,k,v"]), vec!["ok"]);
    let before = app.kv_ops();
    app.faults().fail_nth(1);
    let r = ops(&app, "/", &["s.set,default,k,w", "s.get,default,k"]);
    assert_eq!(
        r[0],
        format!("err:other:{}", spin_local_kv::INJECTED_MESSAGE)
    );
    assert_eq!(r[1], "ok:utf8:v", "the failed write had no effect");
    assert_eq!(app.faults().injected(), 1);
    assert_eq!(app.kv_ops(), before + 2);
    app.faults().fail_nth(1);
    assert_eq!(
        ops(&app, "/", &["w.inc,default,c,1"]),
        vec![format!("err:other:{}", spin_local_kv::INJECTED_MESSAGE)]
    );
}

#[test]
fn sqlite_state_survives_a_restart() {
    let f = fixture("probe.toml");
    let state = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = options(&f);
        o.kv = spin_local_host::KvSetup::RuntimeConfig;
        o.runtime_config_file = None;
        o.state_dir = Some(state.path().to_path_buf());
        o
    };
    let app = spin_local_host::App::start(opts()).unwrap();
    assert_eq!(ops(&app, "/", &["s.set,default,k,kept"]), vec!["ok"]);
    app.shutdown();
    assert!(state.path().join("sqlite_key_value.db").exists());
    let app = spin_local_host::App::start(opts()).unwrap();
    assert_eq!(ops(&app, "/", &["s.get,default,k"]), vec!["ok:utf8:kept"]);
}
