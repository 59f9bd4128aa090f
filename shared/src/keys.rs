//! The key layout: every key the app writes, in one place. Every catalog key is under its
//! org (`org/<org>/…`), so nothing crosses orgs; ids are generated (`img-…`) or validated by
//! the admin API (no `/`). Counters (R3) and election claims (R1) have keys of their own.

/// The org record.
pub fn org(org: &str) -> String {
    format!("org/{org}")
}
/// An image record.
pub fn image(org: &str, id: &str) -> String {
    format!("org/{org}/image/{id}")
}
/// Counter electing the next slot of the org's image index.
pub fn image_count(org: &str) -> String {
    format!("org/{org}/images/count")
}
/// Slot `n` (from 1) of the org's image index: holds an image id (put_new after the slot
/// was elected by `increment` on [`image_count`]). A slot whose image is gone is skipped.
pub fn image_slot(org: &str, n: i64) -> String {
    format!("org/{org}/images/{n}")
}
/// The directory of the org's image index (`catalog::index`): which slots hold no listed
/// image, which hold an image being deleted, and the gap watermark. One record per org,
/// created once ([`image_index_claim`] elects its creator, R1), then changed by
/// compare-and-swap.
pub fn image_index(org: &str) -> String {
    format!("org/{org}/image-index")
}
/// Counter electing the creator of [`image_index`].
pub fn image_index_claim(org: &str) -> String {
    format!("org/{org}/image-index/claim")
}
/// A version record.
pub fn version(org: &str, id: &str) -> String {
    format!("org/{org}/version/{id}")
}
/// A sealed page of an image's versions (`catalog::pages`), named after the version whose
/// addition sealed it.
pub fn version_page(org: &str, image: &str, page: &str) -> String {
    format!("org/{org}/image/{image}/page/{page}")
}
/// An asset record.
pub fn asset(org: &str, id: &str) -> String {
    format!("org/{org}/asset/{id}")
}
/// A counter or claim of an image (e.g. version numbering: `image_counter(o, i, "major")`).
pub fn image_counter(org: &str, image: &str, name: &str) -> String {
    format!("org/{org}/image/{image}/counter/{name}")
}
/// An operation record.
pub fn operation(org: &str, id: &str) -> String {
    format!("org/{org}/op/{id}")
}
/// An idempotency record of the REST door.
pub fn idempotency(org: &str, hashed_key: &str) -> String {
    format!("org/{org}/idem/{hashed_key}")
}
/// Counter electing the first recorder of an idempotency key.
pub fn idempotency_claim(org: &str, hashed_key: &str) -> String {
    format!("org/{org}/idem/{hashed_key}/claim")
}
/// A REST bearer token, by the hex SHA-256 of the token: holds the org id.
pub fn token(hash_hex: &str) -> String {
    format!("auth/token/{hash_hex}")
}
/// An RPC AccessKey, by its id.
pub fn access_key(id: &str) -> String {
    format!("auth/ak/{id}")
}
/// Counter electing the first use of an RPC signature nonce.
pub fn nonce(access_key_id: &str, nonce_hash_hex: &str) -> String {
    format!("rpc/nonce/{access_key_id}/{nonce_hash_hex}")
}
/// A provider instance of an org.
pub fn provider_instance(org: &str, id: &str) -> String {
    format!("org/{org}/sim/provider-instance/{id}")
}
/// A gallery image version of an org.
pub fn gallery_image(org: &str, id: &str) -> String {
    format!("org/{org}/sim/gallery-image/{id}")
}
/// A customer VM of an org.
pub fn vm(org: &str, id: &str) -> String {
    format!("org/{org}/sim/vm/{id}")
}
/// A WUYING instance of an org.
pub fn instance(org: &str, id: &str) -> String {
    format!("org/{org}/sim/instance/{id}")
}
/// A region of an org.
pub fn region(org: &str, id: &str) -> String {
    format!("org/{org}/sim/region/{id}")
}
/// The simulation settings (global).
pub fn simulation() -> String {
    "sim/settings".to_owned()
}
/// Counter electing slots of due bucket `bucket` of the lane whose keys start with `lane`
/// (`crate::due::Lane::prefix`).
pub fn due_count(lane: &str, bucket: i64) -> String {
    format!("{lane}/{bucket}/count")
}
/// Slot `n` (from 1) of due bucket `bucket` of lane `lane`.
pub fn due_slot(lane: &str, bucket: i64, n: i64) -> String {
    format!("{lane}/{bucket}/{n}")
}
/// The advancer's cursor record of lane `lane`.
pub fn due_cursor(lane: &str) -> String {
    format!("{lane}/cursor")
}
/// Counter electing the creator of lane `lane`'s cursor record (R1).
pub fn due_cursor_claim(lane: &str) -> String {
    format!("{lane}/cursor/claim")
}
/// Counter electing slots of org `org`'s operations queue in due bucket `bucket`
/// (`crate::due`, "Per-org queues").
pub fn due_queue_count(org: &str, bucket: i64) -> String {
    format!("due/q/{org}/{bucket}/count")
}
/// Slot `n` (from 1) of org `org`'s operations queue in due bucket `bucket`.
pub fn due_queue_slot(org: &str, bucket: i64, n: i64) -> String {
    format!("due/q/{org}/{bucket}/{n}")
}
/// Counter electing slots of shard `shard`'s ring in due bucket `bucket` (`crate::due`,
/// "Shard rings").
pub fn due_ring_count(shard: u32, bucket: i64) -> String {
    format!("due/r/{shard}/{bucket}/count")
}
/// Slot `m` (from 1) of shard `shard`'s ring in due bucket `bucket`: a signal naming an org
/// with entries in that bucket.
pub fn due_ring_slot(shard: u32, bucket: i64, m: i64) -> String {
    format!("due/r/{shard}/{bucket}/{m}")
}
/// Shard `shard`'s state record: ring cursor, ready orgs, turn, lease.
pub fn due_shard_state(shard: u32) -> String {
    format!("due/r/{shard}/state")
}
/// Counter electing the creator of shard `shard`'s state record (R1).
pub fn due_shard_claim(shard: u32) -> String {
    format!("due/r/{shard}/state/claim")
}
/// Counter electing who re-creates shard `shard`'s state record in period `period` when its
/// elected creator died before writing it (R1).
pub fn due_shard_recovery(shard: u32, period: i64) -> String {
    format!("due/r/{shard}/state/recovery/{period}")
}

/// The org's register of running captures (RPC door).
pub fn rpc_captures(org: &str) -> String {
    format!("org/{org}/rpc/captures")
}
/// Counter electing the creator of the register (R1).
pub fn rpc_captures_claim(org: &str) -> String {
    format!("org/{org}/rpc/captures/claim")
}

/// The org's register of running operations (`crate::ops::running`).
pub fn running_operations(org: &str) -> String {
    format!("org/{org}/running-operations")
}
/// Counter electing the creator of that register (R1).
pub fn running_operations_claim(org: &str) -> String {
    format!("org/{org}/running-operations/claim")
}

/// The cron's last tick, as JSON `health::Tick`. Written blindly: a heartbeat, not a record.
pub const LAST_TICK: &str = "health:last-tick";
/// How many ticks ran, through `increment` only (R3).
pub const TICK_COUNT: &str = "health:tick-count";
/// Transitions the advancer made since the store was created (the sum of every tick's
/// `advanced`), through `increment` only (R3).
pub const ENGINE_ADVANCED: &str = "health:engine-advanced";
/// Purge entries the advancer carried out since the store was created, through `increment`
/// only (R3).
pub const ENGINE_PURGED: &str = "health:engine-purged";

/// Whether `id` may be a key segment of a caller-chosen id (orgs, inventory, shared images):
/// 1–128 of letters, digits, `.`, `_`, `-` — never `/`, so no id can reach another's keys.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Counter of the requests org `org` sent through `door` (`rest`, `rpc`) in rate-limit
/// window `window` (the window's start divided by its width), through `increment` only
/// (R3); purged through the due index once the window is over (`ratelimit`).
pub fn rate_counter(org: &str, door: &str, window: i64) -> String {
    format!("org/{org}/rate/{door}/{window}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_by_org() {
        assert_ne!(image("a", "img-1"), image("b", "img-1"));
        assert!(image_slot("a", 3).starts_with("org/a/"));
        assert!(rpc_captures("a").starts_with("org/a/"));
        assert_ne!(due_count("due", 5), due_slot("due", 5, 1));
        // The sharded index never meets the legacy lane's keys (`due/<bucket>/…`).
        for k in [
            due_queue_count("a", 5),
            due_ring_slot(0, 5, 1),
            due_shard_state(0),
        ] {
            assert!(k.starts_with("due/q/") || k.starts_with("due/r/"), "{k}");
        }
    }
}
