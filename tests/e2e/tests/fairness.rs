//! Fairness between orgs (issue 12): one org's burst of operations does not hold another
//! org's operation back. Both orgs are in the same shard of the due index (the hard case:
//! in different shards they never meet), on our host with a frozen clock moved 3 s per tick.
//! The clock stands still during a tick, so the time budget never ends one here: a cap of
//! 50 a shard plays its part (on a real runtime the budget ends a busy tick first).

use catalog_e2e::scenarios::leases::{all_final, gallery_copies};
use catalog_e2e::{Door, http_client, redis_kv, seed_at, start_app_with};
use catalog_model::due::shard_of;
use catalog_model::settings::DEFAULT_DUE_SHARDS;
use spin_local_host::App;
use spin_local_kv::testing::RedisServer;

const BURST: usize = 300;

fn tick(app: &App) {
    app.clock().advance(std::time::Duration::from_secs(3));
    app.fire_cron("advancer").expect("a tick");
}

/// Ticks until `ops` are final; returns how many ticks that took.
fn ticks_until_final(app: &App, door: &Door, ops: &[String]) -> u32 {
    let mut ticks = 0;
    while !all_final(door, ops) {
        ticks += 1;
        assert!(ticks <= 60, "still running after {ticks} ticks");
        tick(app);
    }
    ticks
}

#[test]
fn a_burst_of_one_org_holds_another_orgs_copy_back_by_at_most_two_ticks() {
    let redis = RedisServer::start();
    // The burst runs all at once: more than the default quota of running operations.
    let app = start_app_with(
        redis_kv(&redis),
        true,
        None,
        &[("tick_cap", "50"), ("quota_operations", "1000")],
    );
    let burst_org = "org-burst";
    let shard = shard_of(burst_org, DEFAULT_DUE_SHARDS);
    let quiet_org = (0..)
        .map(|i| format!("org-quiet-{i}"))
        .find(|o| shard_of(o, DEFAULT_DUE_SHARDS) == shard)
        .expect("an org in the same shard");
    let http = http_client();
    let burst = Door::new(app.base_url(), seed_at(&http, &app.base_url(), burst_org));
    let quiet = Door::new(app.base_url(), seed_at(&http, &app.base_url(), &quiet_org));

    // The quiet org's copy alone: its own time.
    let alone = gallery_copies(&quiet, 1, "alone");
    let own = ticks_until_final(&app, &quiet, &alone);

    // The same copy right behind the burst, both due in the same bucket.
    let queued = gallery_copies(&burst, BURST, "burst");
    let behind = gallery_copies(&quiet, 1, "behind");
    let with_burst = ticks_until_final(&app, &quiet, &behind);
    let burst_done = queued
        .iter()
        .filter(|op| all_final(&burst, std::slice::from_ref(op)))
        .count();
    eprintln!(
        "fairness: the copy took {own} ticks alone, {with_burst} behind {BURST} copies of \
         another org ({burst_done} of them finished by then)"
    );
    assert!(
        burst_done < BURST,
        "the burst was over before the copy: the test shows nothing"
    );
    assert!(
        with_burst <= own + 2,
        "held back: {with_burst} ticks behind the burst, {own} alone"
    );
}
