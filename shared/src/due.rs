//! The due index: time-bucketed slots the advancer reads in order, so finding due work never
//! lists keys and an idle tick costs a handful of store calls whatever the store holds.
//!
//! An entry for time `t` goes to bucket `t / bucket_ms`, in slot `n` elected by `increment` on
//! the bucket's counter (so `put_new` on the slot is safe, R1). The cursor record says which
//! bucket and how many of its slots were processed; a bucket is read once it ended
//! `skew_ms` ago. Entries are hints: a stale or replayed entry is harmless, because whoever
//! acts on it re-checks the record it names.

use crate::env::Millis;
use crate::keys;
use crate::ops::Settings;
use crate::records::Store;
use crate::store::StoreError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a due entry asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DueKind {
    /// Look at an operation (advance it if it is due).
    Operation { org: String, id: String },
    /// Delete these keys (expired RPC nonces, idempotency records, …).
    Purge { keys: Vec<String> },
}

/// One slot of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueEntry {
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: DueKind,
}

/// The advancer's position: slots `1..=done` of `bucket` are processed, as is every earlier
/// bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub bucket: i64,
    pub done: i64,
}

/// How far back a new cursor starts (covers clock skew between replicas at first use).
pub const CURSOR_LOOKBACK_MS: Millis = 60_000;

/// The bucket of time `ms`.
pub fn bucket_of(settings: &Settings, ms: Millis) -> i64 {
    let width = i64::try_from(settings.bucket_ms.max(1)).unwrap_or(i64::MAX);
    ms.div_euclid(width)
}

/// The last bucket a tick at `now` may read: it ended at least `skew_ms` ago.
pub fn last_readable_bucket(settings: &Settings, now: Millis) -> i64 {
    let skew = i64::try_from(settings.skew_ms).unwrap_or(0);
    bucket_of(settings, now.saturating_sub(skew)) - 1
}

/// Makes sure the cursor exists (creation elected with `increment`, R1). One store call when
/// it does.
pub fn ensure_cursor(st: &Store<'_>, settings: &Settings) -> Result<(), StoreError> {
    if st.counter_read(&keys::due_cursor_claim())? > 0 {
        return Ok(());
    }
    if st.counter_next(&keys::due_cursor_claim())? == 1 {
        let start = bucket_of(settings, st.now_ms().saturating_sub(CURSOR_LOOKBACK_MS));
        st.put_new(
            &keys::due_cursor(),
            &Cursor {
                bucket: start,
                done: 0,
            },
        )?;
    }
    Ok(())
}

/// Adds an entry due at `at_ms` (at the earliest the current bucket: a past time is "now").
pub fn schedule(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    kind: &DueKind,
) -> Result<(), StoreError> {
    ensure_cursor(st, settings)?;
    let at = at_ms.max(st.now_ms());
    let bucket = bucket_of(settings, at);
    let n = st.counter_next(&keys::due_count(bucket))?;
    st.put_new(
        &keys::due_slot(bucket, n),
        &DueEntry {
            at: Timestamp(at),
            kind: kind.clone(),
        },
    )?;
    Ok(())
}

/// Schedules the deletion of `keys` at `at_ms` (e.g. a nonce when its window closes).
pub fn schedule_purge(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    keys: Vec<String>,
) -> Result<(), StoreError> {
    schedule(st, settings, at_ms, &DueKind::Purge { keys })
}

#[cfg(test)]
mod tests {
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
                .counter_read(&keys::due_count(b))
                .unwrap(),
            2
        );
        let e: DueEntry = Store::new(&kv, &env)
            .get(&keys::due_slot(b, 2))
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
                .counter_read(&keys::due_count(b))
                .unwrap(),
            1
        );
    }

    #[test]
    fn the_cursor_is_created_once_behind_now() {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(100_000), Settings::default());
        ensure_cursor(&Store::new(&kv, &env), &s).unwrap();
        let c: Cursor = Store::new(&kv, &env)
            .get(&keys::due_cursor())
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(c.bucket, bucket_of(&s, 100_000 - CURSOR_LOOKBACK_MS));
        // A later call does not reset it.
        Store::new(&kv, &env)
            .update::<Cursor, ()>(&keys::due_cursor(), |c| {
                crate::records::Change::Write(Cursor {
                    bucket: c.bucket + 7,
                    done: 0,
                })
            })
            .unwrap();
        ensure_cursor(&Store::new(&kv, &env), &s).unwrap();
        let c2: Cursor = Store::new(&kv, &env)
            .get(&keys::due_cursor())
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
}
