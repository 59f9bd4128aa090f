//! Scale-out on our host: three instances of the app's `spin.toml` on one real
//! `redis-server`, in spin-compat mode (the real runtime's Redis quirk R2: every swap
//! answers `cas-failed`), all running the advancer on one shared frozen time, with mixed
//! traffic through both doors and all three replicas. Afterwards nothing is lost,
//! duplicated or done twice. The scenarios are in `catalog_e2e::scenarios::replicas`;
//! the shard leases' in `catalog_e2e::scenarios::leases`.

use catalog_e2e::real_spin::fresh_dir;
use catalog_e2e::scenarios::leases::{
    ONE_SHARD, all_final, assert_all_succeeded, gallery_copies, live_holder, shard_state,
};
use catalog_e2e::scenarios::replicas::{self, Cluster};
use catalog_e2e::{
    ADMIN_TOKEN, Door, ORG, T0_SECS, http_client, redis_kv, seed_at, start_app_with, try_send,
};
use spin_local_host::KvSetup;
use spin_local_kv::testing::RedisServer;
use std::path::PathBuf;

#[test]
fn three_replicas_on_one_redis_lose_and_repeat_nothing() {
    replicas::three_replicas_on_one_store_lose_and_repeat_nothing(&Cluster::local());
}

/// The same traffic with one shard: the three replicas' ticks race for one lease at every
/// tick.
#[test]
fn three_replicas_racing_for_one_shard_lose_and_repeat_nothing() {
    replicas::three_replicas_on_one_store_lose_and_repeat_nothing(&Cluster::local_with(&ONE_SHARD));
}

/// The same on one SQLite file, as replicas on one machine share Spin's default store.
#[test]
fn three_replicas_racing_for_one_shard_on_sqlite_lose_and_repeat_nothing() {
    replicas::three_replicas_on_one_store_lose_and_repeat_nothing(&Cluster::local_sqlite_with(
        &ONE_SHARD,
    ));
}

/// Two replicas deleting the same version at once: one delete is accepted, the other is
/// refused (as a second delete is when sent after the first), and one delete operation runs.
#[test]
fn racing_deletes_of_one_version_start_one_operation() {
    replicas::racing_deletes_of_one_version_start_one_operation(&Cluster::local());
}

/// Replica A dies in the middle of a tick, holding the only shard's lease (its store fails
/// from that call on). Replica B, ticking at the same instant, leaves the shard alone; once
/// the lease expires (the tick budget plus the margin, 2.5 s) B takes the shard over and
/// finishes every operation, each transition once.
fn a_replica_dying_with_a_lease(kv: KvSetup, state_dir: Option<PathBuf>) {
    let a = start_app_with(kv.clone(), true, state_dir.clone(), &ONE_SHARD);
    let b = start_app_with(kv, true, state_dir, &ONE_SHARD);
    let door = Door::new(b.base_url(), seed_at(&http_client(), &a.base_url(), ORG));
    let ops = gallery_copies(&door, 8, "lease");
    let store = a.store("default").expect("the store");
    let mut now = T0_SECS;
    let mut at = |secs: u64| {
        now += secs;
        for app in [&a, &b] {
            app.clock().set_unix(now);
        }
        i64::try_from(now).unwrap_or_default() * 1000
    };
    // The copies' first step is due (2 s) and its bucket readable (ended 0.5 s ago).
    let now_ms = at(6);

    // A dies at a store call of its tick that leaves it holding the lease: one after the
    // lease's swap, before its release (a tick of 8 due copies makes a hundred calls
    // between them). Each try costs about 2 s of real time (the guest retries a failing
    // call with pauses), so the tries step by 4 calls: on Redis, whose batch reads go a
    // key at a time (R8), the swap comes after some twenty reads.
    let mut holder = None;
    for n in (1..=240).step_by(4) {
        a.faults().fail_from(n);
        let _ = a.fire_cron("advancer");
        a.faults().clear();
        holder = live_holder(shard_state(&*store, 0).as_ref(), now_ms);
        if holder.is_some() {
            break;
        }
    }
    let holder = holder.expect("A took the lease within 240 store calls");
    // The operator sees it: the engine view names the holder and the lease as unexpired.
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let view = try_send(
        &http_client(),
        &b.base_url(),
        "GET",
        "/admin/v1/engine",
        &[("authorization", auth.as_str())],
        None,
    )
    .expect("the engine view");
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["shards"][0]["lease"]["holder"], holder.as_str());
    assert_eq!(view.body["shards"][0]["lease"]["expired"], false);
    let before: Vec<_> = ops
        .iter()
        .map(|op| door.rest("GET", op, None).body)
        .collect();

    b.fire_cron("advancer").expect("B's tick");
    let after: Vec<_> = ops
        .iter()
        .map(|op| door.rest("GET", op, None).body)
        .collect();
    assert_eq!(before, after, "B worked a shard leased to a live holder");
    assert_eq!(
        live_holder(shard_state(&*store, 0).as_ref(), now_ms).as_deref(),
        Some(holder.as_str())
    );

    let mut ticks = 0;
    while !all_final(&door, &ops) {
        ticks += 1;
        assert!(
            ticks <= 40,
            "operations unfinished after {ticks} ticks of B"
        );
        at(3);
        b.fire_cron("advancer").expect("B's tick");
    }
    assert_all_succeeded(&door, &ops);
    let state = shard_state(&*store, 0).expect("the shard's state");
    assert!(
        state.lease.as_ref().is_none_or(|l| l.holder != holder),
        "the dead holder's lease outlived the takeover: {state:?}"
    );
}

#[test]
fn a_replica_dying_with_a_lease_holds_its_shard_only_until_the_lease_expires_on_redis() {
    let redis = RedisServer::start();
    a_replica_dying_with_a_lease(redis_kv(&redis), None);
}

#[test]
fn a_replica_dying_with_a_lease_holds_its_shard_only_until_the_lease_expires_on_sqlite() {
    let dir = fresh_dir("catalog-e2e-lease").expect("a state dir");
    a_replica_dying_with_a_lease(KvSetup::RuntimeConfig, Some(dir.clone()));
    let _ = std::fs::remove_dir_all(dir);
}
