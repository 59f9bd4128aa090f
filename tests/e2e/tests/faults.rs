//! Faults: key-value calls failing at random and one by one, and a host killed in the
//! middle of traffic. Every answer is a success or a clean 5xx problem; once the store is
//! healthy the advancer finishes every acknowledged operation; no record is half-written;
//! nothing acknowledged is lost.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use catalog_e2e::bodies::{add_body, sig_body, vm_body};
use catalog_e2e::{
    Answer, Door, ORG, assert_clean_error, check_operation, first_version, http_client,
    operation_path, redis_kv, seed_at, start_app,
};
use catalog_model::imagemgmt::submit::SUBMIT_FAILED_CODE;
use serde_json::{Value, json};
use spin_local_host::{App, KvSetup, TickError};
use spin_local_kv::testing::RedisServer;
use spin_local_kv::{INJECTED_MESSAGE, LOCKED_MESSAGE};

const FINAL: [&str; 3] = ["SUCCEEDED", "FAILED", "CANCELLED"];

fn publish_body() -> Value {
    json!({"replicas": [{"providerInstanceId": "pi-1"}]})
}

/// Under injected faults an answer is a success or a clean 5xx problem, nothing else.
fn success_or_clean_5xx(what: &str, a: &Answer) -> bool {
    if (200..300).contains(&a.status) {
        return true;
    }
    assert!(
        a.status >= 500,
        "{what}: a store fault became {} {}",
        a.status,
        a.body
    );
    assert_clean_error(what, a);
    assert!(
        a.header("content-type")
            .unwrap_or_default()
            .contains("problem+json"),
        "{what}: {} is not problem+json: {:?}",
        a.status,
        a.headers
    );
    // A stable code and the kind's fixed text: the store's own words (or a record's key)
    // go to the component's log, never into the answer.
    let code = a.body["code"].as_str().unwrap_or_default();
    assert!(
        ["STORE_BUSY", "STORE_UNAVAILABLE", SUBMIT_FAILED_CODE].contains(&code),
        "{what}: a store fault answered code {code:?}: {}",
        a.body
    );
    let body = a.body.to_string();
    for internal in [INJECTED_MESSAGE, LOCKED_MESSAGE, "org/"] {
        assert!(
            !body.contains(internal),
            "{what}: the answer carries {internal:?}: {body}"
        );
    }
    false
}

/// A tick under faults may fail, but as the guest's error, never as a trap.
fn tick_under_faults(app: &App) {
    if let Err(TickError::Trap(m)) = app.fire_cron("advancer") {
        panic!("the advancer trapped on a store fault: {m}");
    }
}

fn tick(app: &App) {
    app.clock().advance(std::time::Duration::from_secs(3));
    app.fire_cron("advancer")
        .unwrap_or_else(|e| panic!("tick on a healthy store failed: {e}"));
}

/// Ticks until every operation in `ops` is final.
fn settle(app: &App, door: &Door, ops: &BTreeSet<String>) {
    for _ in 0..100 {
        let open: Vec<&String> = ops
            .iter()
            .filter(|op| !FINAL.contains(&door.rest("GET", op, None).str("status").as_str()))
            .collect();
        if open.is_empty() {
            return;
        }
        tick(app);
    }
    let open: Vec<String> = ops
        .iter()
        .map(|op| door.rest("GET", op, None).body)
        .filter(|b| !FINAL.contains(&b["status"].as_str().unwrap_or_default()))
        .map(|b| b.to_string())
        .collect();
    panic!("operations still open after 100 ticks on a healthy store: {open:#?}");
}

/// No half-written record: every listed image's versions are gettable, each names an
/// operation that exists and is final, and counts agree. Returns every version id.
fn consistent(door: &Door) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let images = door.rest("GET", "/images?size=100", None);
    assert_eq!(images.status, 200, "{}", images.body);
    let list = images.body["content"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(images.body["totalElements"], list.len(), "{}", images.body);
    for img in list {
        let id = img["id"].as_str().unwrap_or_default();
        let versions = door.rest("GET", &format!("/images/{id}/versions?size=100"), None);
        assert_eq!(versions.status, 200, "{}", versions.body);
        let content = versions.body["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(versions.body["totalElements"], content.len());
        let image = door.rest("GET", &format!("/images/{id}"), None);
        assert_eq!(
            image.status, 200,
            "listed image not gettable: {}",
            image.body
        );
        assert_eq!(image.body["versionCount"], content.len(), "{}", image.body);
        let mut names = BTreeSet::new();
        for v in content {
            let vid = v["id"].as_str().unwrap_or_default();
            assert!(names.insert(v["name"].to_string()), "number twice: {v}");
            let got = door.rest("GET", &format!("/images/{id}/versions/{vid}"), None);
            assert_eq!(got.status, 200, "listed version not gettable: {}", got.body);
            let op = got.str("operationId");
            assert!(!op.is_empty(), "version without operation: {}", got.body);
            let op = door.rest("GET", &format!("/operations/{op}"), None);
            assert_eq!(op.status, 200, "version's operation missing: {}", op.body);
            let status = check_operation(&op.body);
            assert!(FINAL.contains(&status.as_str()), "{}", op.body);
            all.insert(vid.to_owned());
        }
    }
    all
}

fn sqlite_app() -> (App, Door) {
    let app = start_app(KvSetup::TempSqlite, true, None);
    let creds = seed_at(&http_client(), &app.base_url(), ORG);
    let door = Door::new(app.base_url(), creds);
    (app, door)
}

#[test]
fn a_fraction_of_store_calls_failing_gives_clean_answers_and_recovers() {
    // 5 %: the app's bounded retries absorb nearly all of them (the next test uses a
    // rate that gets 5xx answers through).
    rate_traffic(0.05, 7);
}

/// At 50 % (a call is tried six times) some requests exhaust their retries and answer a
/// clean 503, and none may leave
/// a listed version without its operation. Sequential, so the seed replays the same
/// failures.
#[test]
fn add_version_answering_5xx_leaves_no_half_written_version() {
    let (app, door) = sqlite_app();
    let created = door.rest(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_body("half")),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let (image, _) = first_version(&created);
    let mut ops = BTreeSet::from_iter(operation_path(&created));
    app.faults().fail_rate(0.5, 3);
    let mut refused = 0;
    for _ in 0..30 {
        let a = door.rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(add_body()),
        );
        if success_or_clean_5xx("add version", &a) {
            ops.extend(operation_path(&a));
        } else {
            refused += 1;
        }
    }
    app.faults().clear();
    assert!(refused > 0, "no request answered 5xx: raise the rate");
    settle(&app, &door, &ops);
    consistent(&door);
}

fn rate_traffic(rate: f64, seed: u64) {
    let (app, door) = sqlite_app();
    let images: Vec<String> = (0..3)
        .map(|i| {
            let a = door.rest(
                "POST",
                "/images?action=copy-existing-image",
                Some(sig_body(&format!("rate-{i}"))),
            );
            assert_eq!(a.status, 201, "{}", a.body);
            first_version(&a).0
        })
        .collect();
    let acked = Mutex::new(BTreeSet::<(String, String)>::new());
    let ops = Mutex::new(BTreeSet::<String>::new());
    let failures = AtomicUsize::new(0);
    app.faults().fail_rate(rate, seed);
    std::thread::scope(|s| {
        for w in 0..3usize {
            let (door, images, acked, ops, failures) = (&door, &images, &acked, &ops, &failures);
            s.spawn(move || {
                for k in 0..15usize {
                    let image = &images[(w + k) % images.len()];
                    let (what, a) = match k % 3 {
                        0 | 1 => (
                            "add version",
                            door.rest(
                                "POST",
                                &format!("/images/{image}/versions"),
                                Some(add_body()),
                            ),
                        ),
                        _ => (
                            "list",
                            door.rest("GET", &format!("/images/{image}/versions"), None),
                        ),
                    };
                    if !success_or_clean_5xx(what, &a) {
                        failures.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    if a.status == 201 {
                        let mut g = acked.lock().unwrap_or_else(|e| e.into_inner());
                        g.insert((image.clone(), a.str("versionId")));
                        if let Some(op) = operation_path(&a) {
                            ops.lock().unwrap_or_else(|e| e.into_inner()).insert(op);
                        }
                    }
                }
            });
        }
        let app = &app;
        s.spawn(move || {
            for _ in 0..10 {
                app.clock().advance(std::time::Duration::from_secs(2));
                tick_under_faults(app);
            }
        });
    });
    app.faults().clear();
    assert!(app.faults().injected() > 0, "no fault was injected");
    eprintln!(
        "fail_rate: {} injected faults, {} clean 5xx answers, {} acknowledged versions",
        app.faults().injected(),
        failures.load(Ordering::SeqCst),
        acked.lock().map(|g| g.len()).unwrap_or_default()
    );
    let ops = ops.into_inner().unwrap_or_default();
    settle(&app, &door, &ops);
    let versions = consistent(&door);
    for (image, v) in acked.into_inner().unwrap_or_default() {
        assert!(
            versions.contains(&v),
            "acknowledged version {v} of {image} lost"
        );
    }
    for op in &ops {
        assert_eq!(
            check_operation(&door.rest("GET", op, None).body),
            "SUCCEEDED"
        );
    }
}

/// Fails each store call of `request` in turn (n = 1..=calls it makes): every answer is
/// the success or a clean 5xx; `prepare` makes the fresh state each attempt needs.
fn each_call_fails_in_turn(
    app: &App,
    door: &Door,
    what: &str,
    prepare: &dyn Fn(usize) -> String,
    request: &dyn Fn(&str) -> Answer,
    ops: &mut BTreeSet<String>,
) -> u64 {
    let target = prepare(0);
    let before = app.kv_ops();
    let ok = request(&target);
    let calls = app.kv_ops() - before;
    assert!((200..300).contains(&ok.status), "{what}: {}", ok.body);
    ops.extend(operation_path(&ok));
    for n in 1..=calls {
        let target = prepare(n as usize);
        app.faults().fail_nth(n);
        let a = request(&target);
        app.faults().clear();
        if success_or_clean_5xx(&format!("{what}, store call {n} of {calls} failing"), &a) {
            ops.extend(operation_path(&a));
        } else {
            // Nothing half-written: the same request on a healthy store succeeds.
            let again = request(&target);
            assert!(
                (200..300).contains(&again.status),
                "{what} after call {n} failed: retry gave {} {}",
                again.status,
                again.body
            );
            ops.extend(operation_path(&again));
        }
        consistent_now(door, what, n);
    }
    calls
}

/// Like [`consistent`] but while operations may still run: listed versions gettable and
/// counted, operations present.
fn consistent_now(door: &Door, what: &str, n: u64) {
    let images = door.rest("GET", "/images?size=100", None);
    for img in images.body["content"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = img["id"].as_str().unwrap_or_default();
        let versions = door.rest("GET", &format!("/images/{id}/versions?size=100"), None);
        let content = versions.body["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let image = door.rest("GET", &format!("/images/{id}"), None);
        assert_eq!(
            image.body["versionCount"],
            content.len(),
            "{what}, call {n} failed: image {} vs listed {}",
            image.body,
            versions.body
        );
        for v in content {
            let op = v["operationId"].as_str().unwrap_or_default();
            let got = door.rest("GET", &format!("/operations/{op}"), None);
            assert_eq!(
                got.status, 200,
                "{what}, call {n} failed: version {v} has no operation"
            );
        }
    }
}

#[test]
fn each_store_call_of_add_version_publish_and_a_tick_failing_in_turn() {
    let (app, door) = sqlite_app();
    let mut ops = BTreeSet::new();

    // Add Version.
    let created = door.rest(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_body("nth-add")),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let (image, _) = first_version(&created);
    ops.extend(operation_path(&created));
    let add_calls = each_call_fails_in_turn(
        &app,
        &door,
        "add version",
        &|_| image.clone(),
        &|image| {
            door.rest(
                "POST",
                &format!("/images/{image}/versions"),
                Some(add_body()),
            )
        },
        &mut ops,
    );

    // Publish: one imported version per attempt.
    // One imported version per store call of a publish (15 today) plus the measuring one.
    let vms: Vec<(String, String)> = (0..24usize)
        .map(|i| {
            let a = door.rest(
                "POST",
                "/images?action=import-custom-vm",
                Some(vm_body(&format!("nth-vm-{i}"))),
            );
            assert_eq!(a.status, 201, "{}", a.body);
            ops.extend(operation_path(&a));
            first_version(&a)
        })
        .collect();
    settle(&app, &door, &ops);
    let publish_calls = each_call_fails_in_turn(
        &app,
        &door,
        "publish",
        &|i| {
            let (image, version) = vms.get(i).cloned().unwrap_or_default();
            format!("/images/{image}/versions/{version}?action=publish")
        },
        &|path| door.rest("POST", path, Some(publish_body())),
        &mut ops,
    );
    assert!(
        publish_calls as usize <= vms.len(),
        "more calls than prepared versions"
    );

    // A tick with one due transition: each of its calls fails in turn.
    let added = door.rest(
        "POST",
        &format!("/images/{image}/versions"),
        Some(add_body()),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    ops.extend(operation_path(&added));
    settle(&app, &door, &ops);
    let fresh = || {
        let a = door.rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(add_body()),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        app.clock().advance(std::time::Duration::from_secs(3));
        operation_path(&a).unwrap_or_default()
    };
    let op = fresh();
    let before = app.kv_ops();
    tick_under_faults(&app);
    let tick_calls = app.kv_ops() - before;
    let mut tick_ops = BTreeSet::from([op]);
    for n in 1..=tick_calls {
        settle(&app, &door, &tick_ops);
        let op = fresh();
        tick_ops.insert(op);
        app.faults().fail_nth(n);
        tick_under_faults(&app);
        app.faults().clear();
        consistent_now(&door, "tick", n);
    }
    ops.extend(tick_ops);
    settle(&app, &door, &ops);
    consistent(&door);
    for op in &ops {
        assert_eq!(
            check_operation(&door.rest("GET", op, None).body),
            "SUCCEEDED",
            "{op}"
        );
    }
    eprintln!(
        "fail_nth: add version {add_calls} store calls, publish {publish_calls}, tick {tick_calls}"
    );
}

/// Drops the host while four threads send Add Version; a new host on the same store
/// shows every acknowledged version, finishes every acknowledged operation and leaves no
/// half-written record.
fn kill_mid_traffic(kv: KvSetup, state_dir: Option<std::path::PathBuf>) {
    let app = start_app(kv.clone(), true, state_dir.clone());
    let creds = seed_at(&http_client(), &app.base_url(), ORG);
    let door = Door::new(app.base_url(), creds.clone());
    let mut app = Some(app);
    let acked = catalog_e2e::kill::add_versions_until_killed(&door, || drop(app.take()));
    let app = start_app(kv, true, state_dir);
    let door = Door::new(app.base_url(), creds);
    settle(&app, &door, &acked.ops);
    let versions = catalog_e2e::kill::check_nothing_lost(&door, &acked);
    consistent(&door);
    eprintln!(
        "kill: {} acknowledged before the kill, {} versions after restart",
        acked.versions.len(),
        versions.len()
    );
}

#[test]
fn killing_a_host_on_sqlite_loses_nothing_and_leaves_nothing_half_written() {
    let dir = tempfile_dir();
    kill_mid_traffic(KvSetup::RuntimeConfig, Some(dir.clone()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn killing_a_host_on_redis_loses_nothing_and_leaves_nothing_half_written() {
    let redis = RedisServer::start();
    kill_mid_traffic(redis_kv(&redis), None);
}

/// A fresh state directory under the system temp dir (no extra crate for one test).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "catalog-e2e-kill-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}
