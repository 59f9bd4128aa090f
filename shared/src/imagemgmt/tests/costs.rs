//! What a request costs in store calls, through [`handle`] as a client calls it: every call
//! of the door counts (the token's read, the idempotency records when a key is sent; the
//! limiter's sampled `increment` apart, see [`calls`]), each a call of the port (`set_many` is one call, as
//! `wasi:keyvalue/batch.set-many` is one call to the runtime; a compare-and-swap is one).
//! GET version is 2 calls (the token, then the image and the version in one batch read).
//! An update of a record is its read and its swap here (`KeyValue::read_and_swap`'s default)
//! and on our host alike, where the read is the swap's own `current()`. A swap from bytes
//! read earlier (`Store::update_from`) is one call here and two on our host (the component
//! reads `current()` before it swaps, R1). On Spin's Redis a batch read is one `get` per key
//! (R8), so GET version is 3 there.

use super::*;
use crate::testutil::{Call, Hooked};
use std::sync::Mutex;

/// The store calls of one request, as `op key` lines, without the limiter's: with the
/// default limit it counts one request in `ratelimit::sample_unit` (22) with an
/// `increment` (and the first of a window schedules its counter's purge), which
/// `ratelimit::tests` holds; so a figure here is every request's, and that one request in
/// 22 adds one call.
fn calls(w: &World, method: &str, target: &str, body: Option<Value>) -> Vec<String> {
    let mut c = all_calls(w, method, target, body);
    c.retain(|l| !l.contains("/rate/rest/") && !l.contains("due/housekeeping"));
    c
}

/// The store calls of one request, as `op key` lines.
fn all_calls(w: &World, method: &str, target: &str, body: Option<Value>) -> Vec<String> {
    let log = Mutex::new(Vec::new());
    let kv = Hooked {
        inner: &w.kv,
        before: |call: Call, key: &str| {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{} {key}", call.name()));
        },
    };
    let r = handle(
        &Store::new(&kv, &w.env),
        &w.settings,
        &w.req(method, target, body),
    );
    assert!(r.status < 300, "{method} {target}: {:?}", r.json_body());
    log.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Add Version's body without `mspOrgId` (the partner check reads two more records).
fn plain_version() -> Value {
    json!({
        "sourceType": "AZURE_SIG", "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    })
}

fn add_version_calls(w: &World, image: &str, body: Value) -> Vec<String> {
    calls(w, "POST", &format!("/images/{image}/versions"), Some(body))
}

/// Whether an op is in the calls (e.g. no `get_many`).
fn has(calls: &[String], op: &str) -> bool {
    calls.iter().any(|c| c.split(' ').next() == Some(op))
}

#[test]
fn add_version_costs_ten_store_calls_in_a_signalled_bucket() {
    let w = World::new();
    let (image, _) = first_version(&w.sig_image("cost"));
    // The image's own operation took slot 1 of the org's due bucket: Add Version's entry
    // goes behind it. The token, the image (read once, swapped from that
    // read), the newest version (its history), the org's register of running operations
    // (read and swapped: its claim), the major counter, the bucket's slot and slot 1's
    // read, one batch (asset, version, operation, entry), the image's swap.
    let c = add_version_calls(&w, &image, plain_version());
    assert_eq!(c.len(), 10, "{c:#?}");
    assert!(!has(&c, "get_many"), "{c:#?}");
    let batch = c.iter().find(|l| l.starts_with("set_many ")).unwrap();
    assert_eq!(batch.split(',').count(), 4, "{batch}");
    // With `mspOrgId`, the partner check reads the org and the gallery image.
    let c = add_version_calls(&w, &image, sig_version("MAJOR"));
    assert_eq!(c.len(), 12, "{c:#?}");
}

#[test]
fn add_version_in_a_fresh_bucket_adds_the_signal() {
    let w = World::new();
    let (image, _) = first_version(&w.sig_image("cost"));
    // A later bucket of the org's queue: the elector of its slot 1 checks the shard's
    // state (one read of its claim) and writes the signal (a slot and its write) before
    // its entry, instead of reading slot 1.
    w.env
        .advance_ms(i64::try_from(w.settings.bucket_ms).unwrap());
    let c = add_version_calls(&w, &image, plain_version());
    assert_eq!(c.len(), 12, "{c:#?}");
}

#[test]
fn add_version_on_redis_reads_its_swap_back() {
    let w = World::on(MemoryKv::with_redis_cas_quirk());
    let (image, _) = first_version(&w.sig_image("cost"));
    // Every swap answers "failed" on Redis (R2): the image and the register are read back
    // once each.
    let c = add_version_calls(&w, &image, plain_version());
    assert_eq!(c.len(), 12, "{c:#?}");
}

#[test]
fn an_image_changed_since_the_access_check_costs_one_read_more() {
    let w = World::new();
    let (image, _) = first_version(&w.sig_image("cost"));
    // A writer changes the image between the door's read and its swap: the swap from the
    // stale bytes does not land, the image is read again and the version still attached.
    let log = Mutex::new(Vec::<String>::new());
    let image_key = keys::image("o1", &image);
    let racing = Hooked {
        inner: &w.kv,
        before: |call: Call, key: &str| {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            let first_swap = !log.iter().any(|l| *l == format!("swap {image_key}"));
            if call == Call::Swap && first_swap && key == image_key {
                w.edit_image(&image, |i| i.description = Some("meanwhile".into()));
            }
            log.push(format!("{} {key}", call.name()));
        },
    };
    let r = handle(
        &Store::new(&racing, &w.env),
        &w.settings,
        &w.req(
            "POST",
            &format!("/images/{image}/versions"),
            Some(plain_version()),
        ),
    );
    assert_eq!(r.status, 201, "{:?}", r.json_body());
    let mut c = log.into_inner().unwrap_or_else(|e| e.into_inner());
    c.retain(|l| !l.contains("/rate/rest/") && !l.contains("due/housekeeping"));
    assert_eq!(c.len(), 12, "{c:#?}");
    let img = w.stored_image(&image);
    assert_eq!(img.description.as_deref(), Some("meanwhile"));
    assert_eq!(img.version_ids.len(), 2);
    assert_eq!(img.version_ids[1], r.json_body()["versionId"]);
}

#[test]
fn get_version_costs_two_store_calls() {
    let w = World::new();
    let (image, v1) = first_version(&w.sig_image("cost"));
    // The token, then the image and the version in one batch read (the image's markers
    // are the version's).
    let c = calls(&w, "GET", &format!("/images/{image}/versions/{v1}"), None);
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(
        c[1],
        format!(
            "get_many {},{}",
            keys::image("o1", &image),
            keys::version("o1", &v1)
        )
    );
    // GET image: the token, the image once.
    let c = calls(&w, "GET", &format!("/images/{image}"), None);
    assert_eq!(c.len(), 2, "{c:#?}");
    // A version's copies: the same batch, then the copies.
    let c = calls(
        &w,
        "GET",
        &format!("/images/{image}/versions/{v1}/copies"),
        None,
    );
    assert_eq!(c.len(), 3, "{c:#?}");
}

#[test]
fn a_new_image_writes_its_records_its_operation_and_its_entry_in_one_batch() {
    let w = World::new();
    first_version(&w.sig_image("warm"));
    let body = json!({
        "streamName": "second", "osType": "WINDOWS", "gpuType": "NONE",
        "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
        "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
            "sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    });
    // The token; the quota's count and index directory; the register (read and swap); the
    // major counter; the due bucket's slot and slot 1's read; one batch (asset, version,
    // image, operation, entry); the index's count, slot and the image's slot counter, and
    // the directory's read for a reclaim.
    let c = calls(&w, "POST", "/images?action=copy-existing-image", Some(body));
    assert_eq!(c.len(), 13, "{c:#?}");
    let batch = c.iter().find(|l| l.starts_with("set_many ")).unwrap();
    for record in ["/asset/", "/version/", "/image/", "/op/", "due/q/"] {
        assert!(batch.contains(record), "{record} not in {batch}");
    }
    assert_eq!(batch.split(',').count(), 5, "{batch}");
    let sets: Vec<&String> = c.iter().filter(|l| l.starts_with("set ")).collect();
    assert_eq!(
        sets.len(),
        1,
        "only the index slot is written alone: {sets:#?}"
    );
}

#[test]
fn deleting_an_image_costs_eleven_store_calls_once_the_org_has_an_index_directory() {
    let w = World::new();
    let (a, _) = first_version(&w.sig_image("a"));
    let (b, _) = first_version(&w.sig_image("b"));
    // The first mark creates the org's index directory (elected, then written).
    calls(&w, "DELETE", &format!("/images/{a}"), None);
    // The token; the image, read by the door and then swapped through its own read; the
    // due bucket's slot, slot 1's read and the entry; the operation; the image's slot
    // number; the directory's `deleting` bit, swapped through its read (no read before).
    let c = calls(&w, "DELETE", &format!("/images/{b}"), None);
    assert_eq!(c.len(), 11, "{c:#?}");
    let dir_reads = c
        .iter()
        .filter(|l| l.starts_with("get ") && l.ends_with("/image-index"))
        .count();
    assert_eq!(dir_reads, 1, "{c:#?}");
}
