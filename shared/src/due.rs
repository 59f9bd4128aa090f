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
use crate::records::Store;
use crate::settings::Settings;
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

/// Makes sure the cursor exists (its creator elected with `increment`, R1). One store call
/// when it does: the claim is only read, so a busy index does not keep counting it up.
pub fn ensure_cursor(st: &Store<'_>, settings: &Settings) -> Result<(), StoreError> {
    if st.counter_read(&keys::due_cursor_claim())? > 0 {
        return Ok(());
    }
    let start = bucket_of(settings, st.now_ms().saturating_sub(CURSOR_LOOKBACK_MS));
    let cursor = Cursor {
        bucket: start,
        done: 0,
    };
    st.create_once(&keys::due_cursor_claim(), &keys::due_cursor(), &cursor)?;
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
mod tests;
