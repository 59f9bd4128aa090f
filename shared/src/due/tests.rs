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
