//! Lifetimes of what deleted images and idempotency keys leave behind: an image's index slot
//! and counters go with it, an idempotency key's record and claim go 24 hours after its
//! first use, and the store shrinks back to what it held, but for the few keys that live on
//! by design (each named below).

use super::*;
use crate::catalog::deletion::{MAJOR_COUNTER, minor_counter, release_image, start_image_deletion};
use crate::catalog::listing::{index_image, slot_counter, unindex_image};
use crate::env::FakeEnv;
use crate::keys;
use crate::ops::{OpStatus, Settings};
use crate::records::Store;
use crate::store::{KeyValue, MemoryKv};

const T0: i64 = 1_760_000_000_000;

/// Writes `id` with one version and its asset (in the shape `sample_*` gives), its version
/// counters, and indexes it.
fn stored_image(st: &Store<'_>, id: &str) -> i64 {
    let mut img = sample_image();
    let mut ver = sample_version();
    let mut asset = sample_asset();
    img.id = id.into();
    ver.id = format!("ver-{id}");
    ver.stream_id = id.into();
    asset.id = format!("ast-{id}");
    asset.image_id = id.into();
    asset.version_id = ver.id.clone();
    ver.asset_ids = vec![asset.id.clone()];
    img.version_ids = vec![ver.id.clone()];
    st.put_new(&keys::asset("o1", &asset.id), &asset).unwrap();
    st.put_new(&keys::version("o1", &ver.id), &ver).unwrap();
    st.put_new(&keys::image("o1", id), &img).unwrap();
    for _ in 0..2 {
        st.counter_next(&keys::image_counter("o1", id, MAJOR_COUNTER))
            .unwrap();
    }
    st.counter_next(&keys::image_counter("o1", id, &minor_counter(2)))
        .unwrap();
    index_image(st, "o1", id).unwrap()
}

/// Moves the clock a second at a time and ticks the advancer until `done` holds.
fn run_until(st: &Store<'_>, env: &FakeEnv, s: &Settings, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        env.advance_ms(1_000);
        crate::advancer::tick(st, s, 100);
    }
    assert!(done(), "not reached in 200 ticks");
}

#[test]
fn a_deleted_images_slot_and_counters_leave_with_it() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    assert_eq!(stored_image(&st, "img-a"), 1);
    assert_eq!(stored_image(&st, "img-b"), 2);
    let before_delete = kv.keys();
    let op = start_image_deletion(&st, &s, "o1", "img-a", None).unwrap();
    run_until(&st, &env, &s, || {
        crate::ops::get(&st, "o1", &op)
            .unwrap()
            .is_some_and(|o| o.status == OpStatus::Succeeded)
    });
    let left: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| k.contains("img-a") || k.starts_with("org/o1/images/"))
        .collect();
    // The org's slot counter lives on; slot 1 went with img-a; img-b keeps slot 2.
    assert_eq!(
        left,
        vec![keys::image_slot("o1", 2), keys::image_count("o1")],
        "{left:?}"
    );
    let listed: Vec<String> = org_images(&st, "o1")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec!["img-b".to_owned()]);
    // Nothing of img-a's is left but its operation records: before the deletion the store
    // held img-a's 8 keys (image, version, asset, slot, slot number, major, minor-1 read
    // as 0 and deleted, minor-2); now it holds none of them.
    for k in &before_delete {
        if k.contains("img-a") || k == &keys::image_slot("o1", 1) {
            assert!(kv.get(k).unwrap().is_none(), "{k} left behind");
        }
    }
}

#[test]
fn the_slot_number_is_remembered_exactly_whatever_call_fails() {
    use crate::testutil::FlakyKv;
    // index_image makes 3 calls without failures: fail each one in turn (after it applied).
    for fail_at in 1..=4 {
        let (kv, env) = (FlakyKv::redis_quirk(), FakeEnv::at(T0));
        let st = Store::new(&kv, &env);
        kv.fail_call(fail_at);
        let n = index_image(&st, "o1", "img-a").unwrap();
        assert_eq!(
            st.get::<String>(&keys::image_slot("o1", n))
                .unwrap()
                .map(|s| s.value),
            Some("img-a".to_owned()),
            "fail_at {fail_at}"
        );
        assert_eq!(
            kv.inner.increment(&slot_counter("o1", "img-a"), 0).unwrap(),
            n,
            "fail_at {fail_at}"
        );
        unindex_image(&st, "o1", "img-a").unwrap();
        assert!(kv.inner.get(&keys::image_slot("o1", n)).unwrap().is_none());
    }
}

#[test]
fn unindexing_never_removes_a_slot_that_names_another_image() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    index_image(&st, "o1", "img-a").unwrap();
    let n = index_image(&st, "o1", "img-b").unwrap();
    // A wrong number (it cannot happen through index_image): img-b's slot stays.
    st.counter_next(&slot_counter("o1", "img-x")).unwrap();
    st.kv()
        .increment(&slot_counter("o1", "img-x"), n - 1)
        .unwrap();
    unindex_image(&st, "o1", "img-x").unwrap();
    assert!(kv.get(&keys::image_slot("o1", n)).unwrap().is_some());
    assert!(kv.get(&slot_counter("o1", "img-x")).unwrap().is_none());
    // Repeating a release finds nothing more to do, and leaves nothing behind.
    release_image(&st, "o1", "img-a").unwrap();
    let after = kv.keys();
    release_image(&st, "o1", "img-a").unwrap();
    assert_eq!(kv.keys(), after);
    assert!(kv.get(&keys::image_slot("o1", 1)).unwrap().is_none());
}

/// The REST door end to end: idempotent creations, versions, a PATCH, deletions; then the
/// clock moves past every lifetime and the store holds what it held before, but for the keys
/// that live on by design.
#[test]
fn the_store_shrinks_back_once_every_lifetime_is_over() {
    use crate::api::{ApiRequest, ApiResponse};
    use crate::imagemgmt::{handle, idem};
    use crate::sim::{GalleryImage, ProviderInstance};
    use crate::vocab::ProviderLabel;
    use serde_json::{Value, json};

    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    let token = crate::auth::mint_token(&st, "o1").unwrap();
    st.put_new(
        &keys::provider_instance("o1", "pi-1"),
        &ProviderInstance {
            id: "pi-1".into(),
            provider_label: ProviderLabel::Azure,
            region: Some("westeurope".into()),
        },
    )
    .unwrap();
    st.put_new(
        &keys::gallery_image("o1", "g-1"),
        &GalleryImage::granted("g-1", &["pi-1"]),
    )
    .unwrap();
    let before = kv.keys();

    let call = |method: &str, path: &str, body: Option<Value>, key: Option<&str>| {
        let mut headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
        if let Some(k) = key {
            headers.push(("idempotency-key".into(), k.into()));
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = ApiRequest {
            method: method.into(),
            path: format!("/imagemgmt/v1{path}"),
            query: query.into(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        handle(&st, &s, &req)
    };
    let created = |r: &ApiResponse| {
        assert_eq!(r.status, 201, "{}", r.json_body());
        r.json_body()["id"].as_str().unwrap().to_owned()
    };
    let sig = |name: &str| {
        json!({
            "streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1",
            "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        })
    };
    let post_image = |name: &str, key: &str| {
        call(
            "POST",
            "/images?action=copy-existing-image",
            Some(sig(name)),
            Some(key),
        )
    };
    let a = created(&post_image("a", "key-a"));
    // Replayed, not created again.
    assert_eq!(created(&post_image("a", "key-a")), a);
    let b = created(&post_image("b", "key-b"));
    // Versions: a MAJOR (2.0.0) and a MINOR from it (2.1.0), each with a key of its own.
    let version = |src: Option<&str>, key: &str| {
        let mut body = json!({
            "sourceType": "AZURE_SIG", "providerInstanceId": "pi-1",
            "versionType": if src.is_some() { "MINOR" } else { "MAJOR" },
            "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        });
        if let Some(v) = src {
            body["sourceVersionId"] = json!(v);
        }
        let r = call(
            "POST",
            &format!("/images/{a}/versions"),
            Some(body),
            Some(key),
        );
        assert_eq!(r.status, 201, "{}", r.json_body());
        r.json_body()["versionId"].as_str().unwrap().to_owned()
    };
    let v2 = version(None, "key-v2");
    version(Some(&v2), "key-v21");
    let r = call(
        "PATCH",
        &format!("/images/{b}"),
        Some(json!({"description": "patched"})),
        Some("key-patch"),
    );
    assert!(r.status < 300, "{}", r.json_body());
    assert!(kv.keys().iter().any(|k| k.contains("/idem/")));

    // Let every operation settle, then delete both images.
    env.advance_ms(120_000);
    while crate::advancer::tick(&st, &s, 1_000).more {}
    for img in [&a, &b] {
        let r = call("DELETE", &format!("/images/{img}"), None, None);
        assert_eq!(r.status, 202, "{}", r.json_body());
    }
    run_until(&st, &env, &s, || {
        [&a, &b]
            .iter()
            .all(|i| call("GET", &format!("/images/{i}"), None, None).status == 404)
    });
    assert_eq!(
        call("GET", "/images", None, None).json_body()["totalElements"],
        0
    );

    // Past every lifetime (24 hours after the last keyed request), with the advancer
    // caught up.
    env.advance_ms(idem::TTL_MS + 60_000);
    while crate::advancer::tick(&st, &s, 1_000).more {}

    let survivors: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    for k in &survivors {
        // The advancer's position in each lane and each shard of the due index (and the
        // counter that elected its creator, R1): one pair a lane or shard for the whole
        // store, for as long as it runs.
        let due = crate::due::position_keys(&s).contains(k);
        // The org's slot counter: never reset, or it would elect again the numbers of
        // slots that still hold live images. The platform's (its shared images) likewise.
        let count =
            k == &keys::image_count("o1") || k == &keys::image_count(crate::catalog::platform::ORG);
        // The org's index directory and the counter that elected its creator (R1): it
        // remembers which slots are holes, as long as the slot counter lives.
        let dir = k == &keys::image_index("o1") || k == &keys::image_index_claim("o1");
        // Operations: every 201 and 202 names one in its `Operation-Location`, and the
        // contract gives `GET /operations/{id}` no end.
        let op = k.starts_with("org/o1/op/");
        // The org's register of running operations and its creator's counter (R1): one
        // record an org, empty once its operations ended.
        let running =
            k == &keys::running_operations("o1") || k == &keys::running_operations_claim("o1");
        assert!(
            due || count || dir || op || running,
            "left behind: {k} (all: {survivors:#?})"
        );
    }
    assert!(!survivors.iter().any(|k| k.contains("/idem/")));
    let register: crate::ops::running::Register = st
        .get(&keys::running_operations("o1"))
        .unwrap()
        .map(|r| r.value)
        .unwrap_or_default();
    assert_eq!(
        register.running,
        vec![],
        "every operation ended and released its room"
    );
    assert!(
        !survivors
            .iter()
            .any(|k| k.starts_with("org/o1/images/") && k != &keys::image_count("o1"))
    );
}
