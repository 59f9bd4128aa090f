//! Lifetimes through the REST door, on our host (the clock is moved, never slept): an
//! `Idempotency-Key` replays its first answer for 24 hours after its first use and runs
//! afresh after; once the advancer has caught up, an expired key's record and claim are
//! gone from the store, and so is a deleted image's index slot.

use crate::bodies::sig_body;
use crate::{Answer, Harness, operation_path};

/// Past the 24 hours of a key's lifetime (the contract's replay window), with a margin.
const PAST_LIFETIME_SECS: u64 = 24 * 3600 + 60;

fn keyed(h: &Harness, key: &str, name: &str) -> Answer {
    h.send(
        "POST",
        "/imagemgmt/v1/images?action=copy-existing-image",
        Some(&h.token),
        &[("idempotency-key", key)],
        Some(sig_body(name)),
    )
}

fn created_id(a: &Answer) -> String {
    assert_eq!(a.status, 201, "{}", a.body);
    a.str("id")
}

pub fn an_idempotency_key_replays_for_24_hours_then_runs_afresh(h: &Harness) {
    let first = keyed(h, "life-1", "lifetime");
    let image = created_id(&first);
    let op = first.header("operation-location").map(str::to_owned);
    assert!(op.is_some(), "no Operation-Location");

    // A day less an hour later: the first answer, replayed (nothing created).
    h.tick(23 * 3600);
    let replay = keyed(h, "life-1", "lifetime");
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("operation-location").map(str::to_owned), op);
    let clash = keyed(h, "life-1", "another-body");
    assert_eq!(clash.status, 422, "{}", clash.body);
    assert_eq!(clash.body["code"], "IDEMPOTENCY_KEY_REUSED");

    // Past 24 hours from the first use: the same request runs afresh, and its answer is the
    // one replayed from then on.
    h.tick(PAST_LIFETIME_SECS - 23 * 3600);
    let fresh = keyed(h, "life-1", "lifetime");
    let second = created_id(&fresh);
    assert_ne!(second, image, "an expired key must not replay");
    assert_ne!(fresh.header("operation-location").map(str::to_owned), op);
    let again = keyed(h, "life-1", "lifetime");
    assert_eq!(again.body, fresh.body);
    let listed = h.rest("GET", "/images", None);
    assert_eq!(listed.body["totalElements"], 2, "{}", listed.body);
}

/// The org's keys under `prefix` (our host only: the store read directly).
fn stored_under(h: &Harness, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = h
        .local()
        .store("default")
        .and_then(|s| s.get_keys().map_err(|e| anyhow::anyhow!("{e:?}")))
        .unwrap_or_else(|e| panic!("listing the store: {e:#}"))
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .collect();
    keys.sort();
    keys
}

pub fn expired_keys_and_deleted_images_leave_the_store(h: &Harness) {
    let idem = format!("org/{}/idem/", h.org);
    let slots = format!("org/{}/images/", h.org);
    let count = format!("org/{}/images/count", h.org);
    assert!(stored_under(h, &idem).is_empty());

    let first = keyed(h, "gone", "to-delete");
    let gone = created_id(&first);
    let kept = created_id(&keyed(h, "kept", "to-keep"));
    // A record and a claim counter per key; a slot per image, and the org's slot counter.
    assert_eq!(
        stored_under(h, &idem).len(),
        4,
        "{:?}",
        stored_under(h, &idem)
    );
    assert_eq!(
        stored_under(h, &slots).len(),
        3,
        "{:?}",
        stored_under(h, &slots)
    );

    let op = operation_path(&first).expect("Operation-Location");
    h.tick_until(&op, 40, |a| a.str("status") == "SUCCEEDED");
    let deleted = h.rest("DELETE", &format!("/images/{gone}"), None);
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    h.tick_until(&format!("/images/{gone}"), 40, |a| a.status == 404);
    // Its slot went with it; the other image's slot and the counter stay.
    assert_eq!(
        stored_under(h, &slots).len(),
        2,
        "{:?}",
        stored_under(h, &slots)
    );
    assert!(stored_under(h, &count).len() == 1);
    let all = stored_under(h, &format!("org/{}/", h.org));
    assert!(
        !all.iter().any(|k| k.contains(&gone)),
        "the deleted image left {all:?}"
    );
    let listed = h.rest("GET", "/images", None);
    assert_eq!(listed.body["totalElements"], 1, "{}", listed.body);
    assert_eq!(listed.body["content"][0]["id"], kept.as_str());

    // Past both keys' lifetimes, and the advancer catching up with the moved clock (a tick
    // passes at most 120 due buckets of 2 s: 360 ticks a day).
    h.tick(PAST_LIFETIME_SECS);
    for _ in 0..500 {
        if stored_under(h, &idem).is_empty() {
            break;
        }
        h.tick(0);
    }
    assert!(
        stored_under(h, &idem).is_empty(),
        "{:?}",
        stored_under(h, &idem)
    );

    // A purged key is fresh: a new election, a new image, then replayed.
    let fresh = keyed(h, "kept", "to-keep");
    let again = created_id(&fresh);
    assert_ne!(again, kept);
    assert_eq!(keyed(h, "kept", "to-keep").body, fresh.body);
    assert_eq!(stored_under(h, &idem).len(), 2);
}
