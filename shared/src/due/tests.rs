//! Entries land in their bucket's elected slots; the cursor is created once.

use super::*;
use crate::env::FakeEnv;
use crate::store::MemoryKv;

#[test]
fn entries_land_in_their_time_bucket_in_elected_slots() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    let kind = DueKind::Purge {
        keys: vec!["x".into()],
    };
    schedule(&Store::new(&kv, &env), &s, 105_500, &kind).unwrap();
    schedule(&Store::new(&kv, &env), &s, 105_900, &kind).unwrap();
    let b = bucket_of(&s, 105_500);
    assert_eq!(
        Store::new(&kv, &env)
            .counter_read(&keys::due_count(Lane::Housekeeping.prefix(), b))
            .unwrap(),
        2
    );
    let e: DueEntry = Store::new(&kv, &env)
        .get(&keys::due_slot(Lane::Housekeeping.prefix(), b, 2))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(e.at, Timestamp(105_900));
    assert_eq!(e.kind, kind);
}

#[test]
fn a_past_time_is_scheduled_now_never_behind_the_cursor() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    schedule(
        &Store::new(&kv, &env),
        &s,
        1,
        &DueKind::Purge { keys: vec![] },
    )
    .unwrap();
    let b = bucket_of(&s, 100_000);
    assert_eq!(
        Store::new(&kv, &env)
            .counter_read(&keys::due_count(Lane::Housekeeping.prefix(), b))
            .unwrap(),
        1
    );
}

#[test]
fn the_cursor_is_created_once_behind_now() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    ensure_cursor(&Store::new(&kv, &env), &s, Lane::Operations).unwrap();
    let c: Cursor = Store::new(&kv, &env)
        .get(&keys::due_cursor(Lane::Operations.prefix()))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(c.bucket, bucket_of(&s, 100_000 - CURSOR_LOOKBACK_MS));
    // A later call does not reset it.
    Store::new(&kv, &env)
        .update::<Cursor, ()>(&keys::due_cursor(Lane::Operations.prefix()), |c| {
            crate::records::Change::Write(Cursor {
                bucket: c.bucket + 7,
                done: 0,
            })
        })
        .unwrap();
    ensure_cursor(&Store::new(&kv, &env), &s, Lane::Operations).unwrap();
    let c2: Cursor = Store::new(&kv, &env)
        .get(&keys::due_cursor(Lane::Operations.prefix()))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(c2.bucket, c.bucket + 7);
}

#[test]
fn a_bucket_is_readable_once_it_ended_skew_ago() {
    let s = Settings::default();
    let b = bucket_of(&s, 10_000);
    let end = (b + 1) * s.bucket_ms as i64;
    assert!(last_readable_bucket(&s, end + s.skew_ms as i64 - 1) < b);
    assert_eq!(last_readable_bucket(&s, end + s.skew_ms as i64), b);
}

/// The queue counter of `org`'s bucket `b` and the signals of shard `shard`'s ring bucket.
fn queue_and_ring(kv: &MemoryKv, env: &FakeEnv, org: &str, shard: u32, b: i64) -> (i64, i64) {
    let st = Store::new(kv, env);
    (
        st.counter_read(&keys::due_queue_count(org, b)).unwrap(),
        st.counter_read(&keys::due_ring_count(shard, b)).unwrap(),
    )
}

fn op_kind(org: &str, id: &str) -> DueKind {
    DueKind::Operation {
        org: org.into(),
        id: id.into(),
    }
}

#[test]
fn operations_go_to_their_orgs_queue_and_signal_the_orgs_shard_once_a_bucket() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    let st = Store::new(&kv, &env);
    for i in 0..3 {
        schedule(&st, &s, 105_000, &op_kind("o1", &format!("tid-{i}"))).unwrap();
    }
    let (b, shard) = (bucket_of(&s, 105_000), shard_of("o1", s.due_shards));
    assert_eq!(queue_and_ring(&kv, &env, "o1", shard, b), (3, 1));
    let sig: Signal = st
        .get(&keys::due_ring_slot(shard, b, 1))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(sig.org, "o1");
    let e: DueEntry = st
        .get(&keys::due_queue_slot("o1", b, 3))
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(e.kind, op_kind("o1", "tid-2"));
    // The shard's state was created with the first entry; nothing went to the legacy lane.
    assert!(
        st.get::<ShardState>(&keys::due_shard_state(shard))
            .unwrap()
            .is_some()
    );
    assert!(!kv.keys().iter().any(|k| k.starts_with("due/cursor")));
}

#[test]
fn a_later_elector_signals_again_when_slot_one_is_missing() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    let st = Store::new(&kv, &env);
    let (b, shard) = (bucket_of(&s, 100_000), shard_of("o1", s.due_shards));
    // Slot 1's elector died before writing its signal (and so its entry).
    st.counter_next(&keys::due_queue_count("o1", b)).unwrap();
    schedule(&st, &s, 100_000, &op_kind("o1", "tid-a")).unwrap();
    schedule(&st, &s, 100_000, &op_kind("o1", "tid-b")).unwrap();
    // Each later entry signals: duplicates are harmless, a missing signal is not.
    assert_eq!(queue_and_ring(&kv, &env, "o1", shard, b), (3, 2));
}

#[test]
fn an_orgs_shard_is_stable_and_spread() {
    // Pinned (FNV-1a 64 of the id, modulo): every component and every version of the code
    // must agree on an org's shard.
    assert_eq!(["o1", "org-a", "acme"].map(|o| shard_of(o, 4)), [1, 3, 3]);
    assert_eq!(
        ["o1", "org-a", "acme"].map(|o| shard_of(o, 16)),
        [13, 7, 15]
    );
    assert_eq!(shard_of("anything", 1), 0);
    assert_eq!(shard_of("anything", 0), 0, "0 shards read as 1");
    let mut seen = [0u32; 4];
    for i in 0..400 {
        seen[shard_of(&format!("org-{i}"), 4) as usize] += 1;
    }
    assert!(seen.iter().all(|n| (60..=140).contains(n)), "{seen:?}");
}

#[test]
fn position_keys_name_every_lane_and_shard() {
    let s = Settings {
        due_shards: 3,
        ..Settings::default()
    };
    let p = position_keys(&s);
    assert_eq!(p.len(), 2 * Lane::ALL.len() + 2 * 3);
    assert!(p.contains(&keys::due_shard_state(2)));
}

#[test]
fn only_a_signaller_reads_the_shard_claim() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
    let st = Store::new(&kv, &env);
    let op = |id: &str| DueKind::Operation {
        org: "o1".into(),
        id: id.into(),
    };
    // Slot 1: the bucket's counter, the shard's claim (and, the first time, its state),
    // the signal's slot and write, the entry.
    schedule(&st, &s, 105_000, &op("a")).unwrap();
    let shard = shard_of("o1", s.due_shards);
    assert!(
        st.get::<ShardState>(&keys::due_shard_state(shard))
            .unwrap()
            .is_some()
    );
    let before = kv.ops();
    schedule(&st, &s, 105_000, &op("b")).unwrap();
    // Slot 2: the bucket's counter, slot 1's read (it proves the signal, and the state),
    // the entry.
    assert_eq!(kv.ops() - before, 3);
    let before = kv.ops();
    schedule(&st, &s, 205_000, &op("c")).unwrap();
    // A new bucket's slot 1: the counter, the claim, the signal's slot and write, the entry.
    assert_eq!(kv.ops() - before, 5);
}
