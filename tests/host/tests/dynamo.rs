//! A runtime config with `type = "aws_dynamo"`: the local emulation of Spin's DynamoDB
//! store, seen from a guest; in spin-compat mode R12 (docs/runtime-facts.md).
mod common;
use std::time::Duration;

use common::*;
use spin_local_host::{App, KvSetup};

fn dynamo_app(f: &Fixture, spin_compat: bool) -> App {
    let config = f.dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        "[key_value_store.default]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\n\
         table = \"image-catalog\"\nconsistent_read = true\n\
         [key_value_store.other]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\n\
         table = \"other\"\naccess_key = \"test\"\nsecret_key = \"test\"\n",
    )
    .unwrap();
    let mut o = options(f);
    o.runtime_config_file = Some(config);
    o.kv = KvSetup::RuntimeConfig;
    o.spin_compat = spin_compat;
    o.store_options.dynamo_increment_window = Duration::from_millis(300);
    App::start(o).unwrap()
}

#[test]
fn r12_aws_dynamo_store_as_measured_on_spin() {
    let f = fixture("probe.toml");
    let app = dynamo_app(&f, true);
    let results = ops(
        &app,
        "/",
        &[
            "w.get,default,missing",
            "w.inc,default,c,1",
            "w.inc,default,zero,0",
            "w.get,default,c",
            "w.exists,default,zero",
            "w.casread,default,c",
            "w.set,default,c,other",
            "w.swap,mine",
            "w.get,default,c",
            "w.cas,default,new,one",
            "w.setmany,default,a=1;b=2",
            "w.getmany,default,a;nope;b",
            "w.getmany,default,a;a",
            "w.delmany,default,a;a",
            "w.get,other,a",
        ],
    );
    assert_eq!(
        results[..12],
        [
            "ok:none",
            "ok:1",
            "ok:0",
            "ok:utf8:1",
            "ok:true",
            "ok:utf8:1",
            "ok",
            "err:cas-failed",
            "ok:utf8:other",
            "ok",
            "ok",
            "ok:a=utf8:1;b=utf8:2",
        ]
    );
    for dup in &results[12..14] {
        assert!(
            dup.starts_with("err:other:ServiceError(ServiceError { source: Unhandled(Unhandled { source: ErrorMetadata { code: Some(\"ValidationException\"), message: Some(\"Provided list of item keys contains duplicates\")"),
            "{dup}"
        );
    }
    // Another table: its own keys.
    assert_eq!(results[14], "ok:none");
}

#[test]
fn r12_two_racing_increments_one_guest_sees_conditional_check_failed() {
    let f = fixture("probe.toml");
    let app = dynamo_app(&f, true);
    let url = format!("{}/?op=w.inc,default,n,1", app.base_url());
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url).1.expect("json")["results"][0].clone())
        })
        .collect();
    let mut results: Vec<String> = racers
        .into_iter()
        .map(|t| t.join().unwrap().as_str().unwrap().to_string())
        .collect();
    results.sort();
    assert_eq!(results[1], "ok:1", "{results:?}");
    assert!(
        results[0].starts_with(
            "err:other:ServiceError(ServiceError { source: TransactionCanceledException("
        ) && results[0].contains("[ConditionalCheckFailed]"),
        "{results:?}"
    );
    assert_eq!(ops(&app, "/", &["w.get,default,n"]), vec!["ok:utf8:1"]);
}

#[test]
fn aws_dynamo_without_spin_compat_is_a_plain_store() {
    let f = fixture("probe.toml");
    let app = dynamo_app(&f, false);
    assert_eq!(
        ops(
            &app,
            "/",
            &[
                "w.inc,default,c,2",
                "w.get,default,c",
                "w.set,default,a,1",
                "w.getmany,default,a;nope",
            ]
        ),
        vec!["ok:2", "ok:utf8:2", "ok", "ok:a=utf8:1;nope=none"]
    );
}
