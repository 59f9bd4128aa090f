//! Ticks over `MemoryKv` + `FakeEnv`: the fixtures every advancer test uses, and the due
//! queue itself (purges, unreadable slots, a lost cursor, the cap, the idle cost).

use super::*;
use crate::catalog::{self, Asset, AssetDetails, Image, Version};
use crate::env::{Env, FakeEnv};
use crate::ops::{Event, OpKind, OpStatus, Target};
use crate::sim::{FailRule, GalleryImage, Vm};
use crate::store::{KeyValue, MemoryKv};
use crate::testutil::{Call, FlakyKv, Hooked, SharedEnv};
use crate::vocab::*;

const ORG: &str = "org1";
const T0: i64 = 1_800_000_000_000;

/// Writes an image with one version and one asset, like the REST service does, and starts
/// an operation of `kind` on them. Returns the operation id.
fn start_on_new_version(
    st: &Store<'_>,
    s: &Settings,
    kind: OpKind,
    source: &str,
    replicas: usize,
) -> (String, String, String, Vec<String>) {
    start_in(st, s, ORG, kind, source, replicas)
}

/// [`start_on_new_version`] in org `org`.
fn start_in(
    st: &Store<'_>,
    s: &Settings,
    org: &str,
    kind: OpKind,
    source: &str,
    replicas: usize,
) -> (String, String, String, Vec<String>) {
    let now = st.now();
    let (vs, as_) = ops::initial_statuses(kind);
    let image_id = st.new_id("img-");
    let version_id = st.new_id("ver-");
    let asset_id = st.new_id("ast-");
    let op_id = ops::new_op_id(st);
    let mk_asset = |id: &str, status| Asset {
        id: id.to_owned(),
        org_id: org.into(),
        image_id: image_id.clone(),
        version_id: version_id.clone(),
        provider_instance_id: Some("pi-1".into()),
        provider_label: Some(ProviderLabel::Azure),
        asset_details: AssetDetails::default(),
        status,
        state: None,
        error_code: None,
        error_details: None,
        errors_history: vec![],
        created_at: now,
        updated_at: now,
        operation_id: Some(op_id.clone()),
        op_seq: 0,
    };
    let replica_ids: Vec<String> = (0..replicas).map(|_| st.new_id("ast-")).collect();
    let mut all_assets = vec![asset_id.clone()];
    all_assets.extend(replica_ids.iter().cloned());
    st.put_new(
        &keys::asset(org, &asset_id),
        &mk_asset(&asset_id, as_.unwrap_or(AssetStatus::ImportComplete)),
    )
    .unwrap();
    for r in &replica_ids {
        st.put_new(
            &keys::asset(org, r),
            &mk_asset(r, AssetStatus::PublishInProgress),
        )
        .unwrap();
    }
    let version = Version {
        id: version_id.clone(),
        stream_id: image_id.clone(),
        org_id: org.into(),
        name: "1.0.0".into(),
        description: None,
        os: None,
        version_type: VersionType::Major,
        version_history: vec![],
        source_type: SourceType::AzureSig,
        source_version_id: None,
        state: VersionState::NotReady,
        status: vs.unwrap_or(VersionStatus::Available),
        last_triggered_action: Some(LastTriggeredAction::Import),
        markers: vec![],
        created_at: now,
        updated_at: now,
        operation_id: Some(op_id.clone()),
        status_history: vec![],
        allowed_actions: vec![],
        asset_ids: all_assets,
        regions: vec![],
        partner_image: None,
        op_seq: 0,
    };
    st.put_new(&keys::version(org, &version_id), &version)
        .unwrap();
    let image = Image {
        id: image_id.clone(),
        org_id: org.into(),
        name: "img".into(),
        description: None,
        os: None,
        os_type: OsType::Windows,
        gpu_type: GpuType::None,
        multi_session: false,
        source_type: SourceType::AzureSig,
        source_stream_id: None,
        source_version_id: None,
        status: ImageStatus::Pending,
        markers: vec![],
        version_count: 1,
        created_at: now,
        updated_at: now,
        version_ids: vec![version_id.clone()],
        version_statuses: Default::default(),
        distributed_version_ids: vec![],
        tail_span: None,
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: vec![],
        extra: Default::default(),
    };
    st.put_new(&keys::image(org, &image_id), &image).unwrap();
    let target = Target {
        image_id: image_id.clone(),
        version_id: Some(version_id.clone()),
        asset_ids: vec![asset_id.clone()],
        replica_asset_ids: replica_ids.clone(),
        regions: if kind == OpKind::Distribute {
            vec!["cn-a".into(), "cn-b".into()]
        } else {
            vec![]
        },
        source_id: Some(source.into()),
        provider_instance_id: Some("pi-1".into()),
    };
    ops::start(st, s, &op_id, org, kind, target).unwrap();
    (op_id, image_id, version_id, replica_ids)
}

fn grant(st: &Store<'_>, gallery: &str, to: &[&str]) {
    grant_in(st, ORG, gallery, to)
}

fn grant_in(st: &Store<'_>, org: &str, gallery: &str, to: &[&str]) {
    st.put_new(
        &keys::gallery_image(org, gallery),
        &GalleryImage::granted(gallery, to),
    )
    .unwrap();
}

fn op(st: &Store<'_>, id: &str) -> Operation {
    op_in(st, ORG, id)
}

fn op_in(st: &Store<'_>, org: &str, id: &str) -> Operation {
    ops::get(st, org, id).unwrap().unwrap()
}

fn version(st: &Store<'_>, id: &str) -> Option<Version> {
    st.get::<Version>(&keys::version(ORG, id))
        .unwrap()
        .map(|s| s.value)
}

fn image(st: &Store<'_>, id: &str) -> Option<Image> {
    st.get::<Image>(&keys::image(ORG, id))
        .unwrap()
        .map(|s| s.value)
}

fn asset(st: &Store<'_>, id: &str) -> Asset {
    st.get::<Asset>(&keys::asset(ORG, id))
        .unwrap()
        .unwrap()
        .value
}

/// Ticks every second of fake time until the operation settles (or a minute passes).
fn settle(kv: &dyn KeyValue, env: &FakeEnv, s: &Settings, id: &str) -> i64 {
    let st = &Store::new(kv, env);
    let start = env.now_ms();
    for _ in 0..600 {
        env.advance_ms(1000);
        let r = tick(st, s, s.tick_cap);
        assert_eq!(r.error, None);
        if op(st, id).status.is_terminal() {
            return env.now_ms() - start;
        }
    }
    panic!("operation {id} did not settle: {:?}", op(st, id));
}

fn assert_no_transition_twice(o: &Operation) {
    let mut seen = std::collections::HashSet::new();
    for h in &o.history {
        assert!(
            seen.insert((h.step.clone(), h.attempt, h.event)),
            "twice in history: {h:?} in {:?}",
            o.history
        );
    }
}

#[test]
fn purge_entries_delete_their_keys_when_due() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    Store::new(&kv, &env).put_new("rpc/nonce/x", &1u8).unwrap();
    due::schedule_purge(
        &Store::new(&kv, &env),
        &s,
        T0 + 10_000,
        vec!["rpc/nonce/x".into()],
    )
    .unwrap();
    env.advance_ms(5_000);
    tick(&Store::new(&kv, &env), &s, 10);
    assert!(kv.get("rpc/nonce/x").unwrap().is_some(), "not yet due");
    env.advance_ms(10_000);
    let r = tick(&Store::new(&kv, &env), &s, 10);
    assert_eq!(r.purged, 1);
    assert!(kv.get("rpc/nonce/x").unwrap().is_none());
}

#[test]
fn an_unreadable_entry_is_skipped_not_a_roadblock() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    Store::new(&kv, &env).put_new("gone-later", &1u8).unwrap();
    due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["x".into()]).unwrap();
    due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["gone-later".into()]).unwrap();
    // Corrupt the first slot.
    let lane = due::Lane::Housekeeping.prefix();
    let bucket = due::bucket_of(&s, T0);
    kv.set(&keys::due_slot(lane, bucket, 1), b"garbage")
        .unwrap();
    env.advance_ms(10_000);
    let r = tick(&Store::new(&kv, &env), &s, 10);
    assert_eq!((r.skipped, r.purged), (1, 1));
    assert!(r.error.is_some());
    assert!(kv.get("gone-later").unwrap().is_none());
}

#[test]
fn a_lost_cursor_is_recreated_behind_now() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["k".into()]).unwrap();
    Store::new(&kv, &env).put_new("k", &1u8).unwrap();
    kv.delete(&keys::due_cursor(due::Lane::Housekeeping.prefix()))
        .unwrap();
    env.advance_ms(10_000);
    tick(&Store::new(&kv, &env), &s, 10);
    let r = tick(&Store::new(&kv, &env), &s, 10);
    assert_eq!(
        r.purged, 1,
        "the entry written before the loss is still found"
    );
}

#[test]
fn a_tick_does_at_most_cap_entries_and_the_rest_waits() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    for i in 0..7 {
        due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec![format!("k{i}")]).unwrap();
    }
    env.advance_ms(5_000);
    let r = tick(&Store::new(&kv, &env), &s, 3);
    assert_eq!((r.purged, r.more), (3, true));
    let r = tick(&Store::new(&kv, &env), &s, 3);
    assert_eq!((r.purged, r.more), (3, true));
    let r = tick(&Store::new(&kv, &env), &s, 3);
    assert_eq!(r.purged, 1);
    let r = tick(&Store::new(&kv, &env), &s, 3);
    assert_eq!(r.purged, 0);
}

/// Housekeeping has a lane of its own: a flood of purges due before an operation (a burst
/// of signed requests schedules one nonce purge each) takes no place of the operation's in
/// a tick, and is worked to its own cap in the same tick.
#[test]
fn purges_never_take_an_operations_place_in_a_tick() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    for i in 0..20 {
        due::schedule_purge(&st, &s, T0, vec![format!("nonce-{i}")]).unwrap();
    }
    let (id, ..) = start_on_new_version(&st, &s, OpKind::Delete, "", 0);
    env.advance_ms(10_000);
    let r = tick(&Store::new(&kv, &env), &s, 5);
    assert_eq!((r.advanced, r.purged, r.more), (1, 5, true));
    assert_ne!(
        op(&Store::new(&kv, &env), &id).seq,
        0,
        "the operation moved"
    );
    // The rest of the purges follow, cap by cap.
    let mut purged = r.purged;
    while purged < 20 {
        let r = tick(&Store::new(&kv, &env), &s, 5);
        assert!(r.purged > 0, "purges stalled at {purged}");
        purged += r.purged;
    }
}

/// A deployment that has run a while: every lane and shard of `s` has its position record;
/// the positions are then caught up to two minutes later.
fn settled_positions(st: &Store<'_>, env: &FakeEnv, s: &Settings) {
    for lane in due::Lane::ALL {
        due::ensure_cursor(st, s, lane).unwrap();
    }
    for shard in 0..s.due_shards {
        due::ensure_shard_state(st, s, shard).unwrap();
    }
    env.advance_ms(120_000);
    while tick(st, s, 1000).more {}
}

/// The store calls of `2 × SLACK` idle ticks one bucket (one cron period, 2 s) apart, as
/// the runtime sees them (a `get-many` is one call), in a deployment that has run a while
/// and holds `settled` settled operations.
fn idle_tick_calls(settled: usize, shards: u32) -> Vec<u64> {
    idle_tick_calls_on(MemoryKv::new(), settled, shards)
}

fn idle_tick_calls_on(mem: MemoryKv, settled: usize, shards: u32) -> Vec<u64> {
    let env = FakeEnv::at(T0);
    let calls = std::cell::Cell::new(0u64);
    let kv = Hooked {
        inner: &mem,
        before: |_, _: &str| calls.set(calls.get() + 1),
    };
    let s = Settings {
        due_shards: shards,
        ..Settings::default()
    };
    // Every lane and shard has its position record.
    for lane in due::Lane::ALL {
        due::ensure_cursor(&Store::new(&kv, &env), &s, lane).unwrap();
    }
    for shard in 0..shards {
        due::ensure_shard_state(&Store::new(&kv, &env), &s, shard).unwrap();
    }
    let mut o = ops::transition(
        &{
            let (id, ..) = start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
            op(&Store::new(&kv, &env), &id)
        },
        &s,
        i64::MAX,
        || ops::Outcome::Done { failed: vec![] },
    )
    .unwrap();
    // Many settled operations (and their records) in the store.
    for i in 0..settled {
        o.id = format!("tid-{i}");
        Store::new(&kv, &env)
            .put_new(&keys::operation(ORG, &o.id), &o)
            .unwrap();
    }
    // Catch the positions up, then measure.
    env.advance_ms(120_000);
    while tick(&Store::new(&kv, &env), &s, 1000).more {}
    (0..2 * ahead::SLACK)
        .map(|_| {
            env.advance_ms(2_000);
            let before = calls.get();
            let r = tick(&Store::new(&kv, &env), &s, 1000);
            assert_eq!(r.advanced + r.purged, 0);
            assert!(r.error.is_none(), "{r:?}");
            calls.get() - before
        })
        .collect()
}

#[test]
fn an_idle_tick_costs_a_handful_of_calls_whatever_the_store_holds() {
    let lanes = due::Lane::ALL.len() as u64;
    let small = idle_tick_calls(100, 4);
    assert_eq!(small, idle_tick_calls(100_000, 4));
    // Every tick reads every position in one batch and the counters of the buckets since
    // them in another. Each position is written once in `SLACK` buckets, each on its own
    // turn: with 4 shards and 2 lanes (6 positions in 8 turns) a tick writes at most one.
    for shards in [1, 4, 8, 16] {
        let calls = idle_tick_calls(100, shards);
        let positions = u64::from(shards) + lanes;
        let ticks = calls.len() as u64;
        assert_eq!(
            calls.iter().sum::<u64>(),
            2 * ticks + positions * ticks / ahead::SLACK as u64,
            "{shards} shards: {calls:?}"
        );
        let most = 2 + positions.div_ceil(ahead::SLACK as u64);
        assert!(calls.iter().all(|&c| (2..=most).contains(&c)), "{calls:?}");
    }
    assert!(small.iter().all(|&c| c <= 3), "{small:?}");
    // The default 8 shards: 2 calls, or 3 or 4 when a position's turn comes (10 in 8).
    let default = idle_tick_calls(100, Settings::default().due_shards);
    assert_eq!(default.iter().max(), Some(&4), "{default:?}");
    // On Spin's Redis backend every swap is read back (R2): one more call a write.
    let redis = idle_tick_calls_on(MemoryKv::with_redis_cas_quirk(), 100, 4);
    let writes: u64 = small.iter().map(|c| c - 2).sum();
    assert_eq!(
        redis.iter().sum::<u64>(),
        small.iter().sum::<u64>() + writes
    );
    // Where a batch read is a `get` a key (Spin's Redis, R8), a lagging position would cost
    // a read a bucket every tick: every idle position is saved every tick, as before.
    let one_by_one = idle_tick_calls_on(MemoryKv::without_batch_reads(), 100, 4);
    assert!(
        one_by_one.iter().all(|&c| c == 2 + 4 + lanes),
        "{one_by_one:?}"
    );
}

/// A young deployment: shards no org was ever scheduled in have no state, and an idle tick
/// learns that from their claims in its one batch of counters, not a read a shard.
#[test]
fn shards_never_scheduled_in_cost_an_idle_tick_nothing() {
    let (mem, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let calls = std::cell::Cell::new(0u64);
    let kv = Hooked {
        inner: &mem,
        before: |_, _: &str| calls.set(calls.get() + 1),
    };
    let s = Settings::default();
    let st = Store::new(&kv, &env);
    // One operation: one shard of 8 gets a state, the lanes their cursors.
    start_on_new_version(&st, &s, OpKind::Delete, "", 0);
    for lane in due::Lane::ALL {
        due::ensure_cursor(&st, &s, lane).unwrap();
    }
    env.advance_ms(120_000);
    while tick(&st, &s, 1000).more {}
    for _ in 0..ahead::SLACK {
        env.advance_ms(2_000);
        let before = calls.get();
        tick(&st, &s, 1000);
        // The two batch reads, and the writes of the positions whose turn it is (10
        // positions take 8 turns: at most two).
        assert!(calls.get() - before <= 4, "{}", calls.get() - before);
    }
}

/// Idle positions are saved only now and then (`ahead::SLACK`): work scheduled while they
/// lag behind is still found by the first tick that may read it, in every shard and lane.
#[test]
fn work_behind_a_lagging_idle_position_is_found_in_time() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let s = Settings::default();
    let st = Store::new(&kv, &env);
    settled_positions(&st, &env, &s);
    // Each idle count of ticks leaves some positions behind, a different few each time.
    for idle in 1..=ahead::SLACK {
        for _ in 0..idle {
            env.advance_ms(2_000);
            tick(&st, &s, 1000);
        }
        // One operation in each shard (orgs spread over them), and a purge.
        let mut ids = Vec::new();
        for n in 0.. {
            let org = format!("org-{idle}-{n}");
            if ids.iter().any(|(o, _): &(String, String)| {
                due::shard_of(o, s.due_shards) == due::shard_of(&org, s.due_shards)
            }) {
                continue;
            }
            let (op_id, ..) = start_in(&st, &s, &org, OpKind::Delete, "", 0);
            ids.push((org, op_id));
            if ids.len() == s.due_shards as usize {
                break;
            }
        }
        let doomed = format!("doomed-{idle}");
        st.put_new(&doomed, &1u8).unwrap();
        due::schedule_purge(&st, &s, env.now_ms(), vec![doomed.clone()]).unwrap();
        // The operations are due a step (2 s) later: their bucket is readable by the end
        // of the next bucket and the skew.
        env.advance_ms(2 * 2_000 + 500);
        let r = tick(&st, &s, 1000);
        assert_eq!(r.advanced, s.due_shards, "after {idle} idle ticks: {r:?}");
        assert_eq!(r.purged, 1, "after {idle} idle ticks: {r:?}");
        assert!(kv.get(&doomed).unwrap().is_none());
        for (org, id) in &ids {
            assert!(op_in(&st, org, id).seq > 0, "{org} {id}");
        }
    }
}

/// A deployment whose ticks stopped for a while (every replica down, or a platform whose
/// scheduler paused): the first tick back passes every empty bucket of each shard and lane
/// with batch reads of 100 counters, and saves each position once.
#[test]
fn catching_up_over_empty_buckets_costs_a_read_a_hundred_buckets() {
    let (mem, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let calls = std::cell::Cell::new(0u64);
    let kv = Hooked {
        inner: &mem,
        before: |_, _: &str| calls.set(calls.get() + 1),
    };
    let s = Settings {
        due_shards: 4,
        ..Settings::default()
    };
    settled_positions(&Store::new(&kv, &env), &env, &s);
    let cost = |ms: i64| {
        env.advance_ms(ms);
        let before = calls.get();
        let r = tick(&Store::new(&kv, &env), &s, 1000);
        (calls.get() - before, r.buckets, r.more)
    };
    // 100 buckets of 2 s, within `max_buckets_per_tick` (120), for 6 positions: the
    // positions, 600 counters in 6 batches, a write each.
    let (behind, behind_buckets, more) = cost(200_000);
    assert_eq!(behind, 1 + 6 + 6, "{behind_buckets} buckets");
    assert!(behind_buckets >= 100 * 6, "{behind_buckets}");
    assert!(!more, "caught up in one tick");
    // And the next tick is an idle one again.
    let (next, ..) = cost(2_000);
    assert!(next <= 3, "{next}");
}

mod copies;
mod faults;
mod projection;
mod shards;
