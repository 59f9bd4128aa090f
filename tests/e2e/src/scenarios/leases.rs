//! Leases of the due index's shards (issue 12; `catalog_model::due`, "Shards"): a replica
//! that dies holding a shard's lease holds that shard back no longer than the lease, and
//! nothing it was doing is lost or done twice.
//!
//! The apps run with one shard (`due_shards = 1`), so every replica wants the same lease.
//! On our host a replica "dies" when its store fails from one call on (it never writes
//! again, [`spin_local_kv::Faults::fail_from`]); on real Spin, `spin up` is killed with
//! SIGKILL in the middle of a tick.

use std::time::{Duration, Instant};

use catalog_model::due::ShardState;
use catalog_model::{keys, records};
use spin_local_kv::{BackendConfig, Faults, KvStore, StoreOptions};

use crate::bodies::sig_body;
use crate::{Door, check_operation, operation_path};

/// One shard for every org: the replicas race for one lease.
pub const ONE_SHARD: [(&str, &str); 1] = [("due_shards", "1")];

/// Shard `shard`'s state record as the store holds it (`None`: absent or unreadable).
pub fn shard_state(store: &dyn KvStore, shard: u32) -> Option<ShardState> {
    let key = keys::due_shard_state(shard);
    let raw = store.get(&key).ok()??;
    records::decode::<ShardState>(&key, &raw)
        .ok()
        .map(|s| s.value)
}

/// The holder of the state's lease, if it is unexpired at `now_ms`.
pub fn live_holder(state: Option<&ShardState>, now_ms: i64) -> Option<String> {
    let lease = state?.lease.as_ref()?;
    (lease.until > now_ms).then(|| lease.holder.clone())
}

/// A plain client of the store the app's replicas share (for looking at the index): a
/// Redis server keyed as Spin's backend keys it, or Spin's SQLite file.
pub fn open_store(config: &BackendConfig) -> std::sync::Arc<dyn KvStore> {
    spin_local_kv::open(config, &StoreOptions::default(), &Faults::new())
        .unwrap_or_else(|e| panic!("the store {config:?}: {e}"))
}

/// Creates `n` images copied from the gallery through `door`; returns their operations.
pub fn gallery_copies(door: &Door, n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let a = door.rest(
                "POST",
                "/images?action=copy-existing-image",
                Some(sig_body(&format!("{prefix}-{i}"))),
            );
            assert_eq!(a.status, 201, "copy {i}: {}", a.body);
            operation_path(&a).expect("a copy names its operation")
        })
        .collect()
}

/// Whether every operation is final; panics on a history entry made twice.
pub fn all_final(door: &Door, ops: &[String]) -> bool {
    ops.iter().all(|op| {
        let status = check_operation(&door.rest("GET", op, None).body);
        ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str())
    })
}

/// Every operation succeeded, each transition once (`check_operation`).
pub fn assert_all_succeeded(door: &Door, ops: &[String]) {
    for op in ops {
        let body = door.rest("GET", op, None).body;
        assert_eq!(check_operation(&body), "SUCCEEDED", "{op}: {body}");
    }
}

/// On real Spin: polls the store until shard 0 is leased (a tick is working it), at most
/// `within`; returns the holder.
pub fn wait_for_a_lease(store: &dyn KvStore, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(h) = live_holder(shard_state(store, 0).as_ref(), now_ms()) {
            return Some(h);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// The wall clock in ms (real Spin's replicas and this test share it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
