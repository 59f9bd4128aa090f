//! The sharded operations index: per-org queues, shard rings of signals, and each shard's
//! state record with its lease (the design is in the parent module's docs, "Shards").

use super::{CURSOR_LOOKBACK_MS, Cursor, DueEntry, DueKind, bucket_of};
use crate::env::Millis;
use crate::keys;
use crate::records::{self, Store};
use crate::settings::Settings;
use crate::store::{CasOutcome, StoreError};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Orgs a shard's ready list holds at most: the ring cursor stops pulling signals while it
/// is full, so the state record stays small (about 200 bytes an org at most).
pub const MAX_READY: usize = 64;

/// Entries an org takes at most in one turn: turns stay short when the time budget, not the
/// cap, ends a tick (with a cap of 1 000 and two orgs, a share of `cap / orgs` would let the
/// first org spend the whole budget before the second one's turn).
pub const TURN: u32 = 16;

/// How long a lease outlives its tick's time budget: a holder that died is taken over by
/// the first tick after `tick_budget_ms` + this, within a tick or two of a 2 s cron. It also
/// covers the clock skew tolerated between replicas (`skew_ms`, 500 by default), which
/// would otherwise let another replica see a live lease as expired.
pub const LEASE_MARGIN_MS: Millis = 1_000;

/// How long, from its claim, a shard state may be missing before a tick re-creates it (its
/// elected creator died between election and write). Also the period of the re-creation's
/// own election (`keys::due_shard_recovery`).
pub const RECOVERY_PERIOD_MS: Millis = 60_000;

/// How far back a re-created shard state starts its ring: past the two periods a
/// re-creation waits, with room for an advancer that was down meanwhile (each tick passes
/// at most `max_buckets_per_tick` ring buckets, so catching up takes a few ticks).
pub const RECOVERY_LOOKBACK_MS: Millis = 10 * RECOVERY_PERIOD_MS;

/// The shard of org `org` among `shards`: FNV-1a of its id, so every component and every
/// version of the code agrees (std's hasher is not stable across releases).
pub fn shard_of(org: &str, shards: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in org.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(shards.max(1))) as u32
}

/// A signal in a shard's ring: org `org` has entries in the ring slot's bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub org: String,
}

/// An org with readable work in a shard: its queue is read from slot `done + 1` of `bucket`
/// through the end of bucket `upto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    pub org: String,
    pub bucket: i64,
    pub done: i64,
    pub upto: i64,
}

/// Who works a shard until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    /// A random id of the holding tick.
    pub holder: String,
    /// Until when (ms since the epoch); past it, anyone may take the shard.
    pub until: Millis,
}

/// A shard's state record (`keys::due_shard_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardState {
    /// The ring's position: slots `1..=done` of ring bucket `bucket`, and every earlier
    /// ring bucket, are pulled into `ready`.
    pub ring: Cursor,
    /// Orgs with readable work, in the order they take turns.
    pub ready: Vec<Ready>,
    /// The index in `ready` of the org that goes first next time.
    pub turn: usize,
    /// The tick working the shard, if any.
    pub lease: Option<Lease>,
}

impl ShardState {
    /// A fresh state whose ring starts [`CURSOR_LOOKBACK_MS`] before `now` (covers clock skew
    /// between replicas at first use).
    pub fn new(settings: &Settings, now: Millis) -> Self {
        Self::from(settings, now.saturating_sub(CURSOR_LOOKBACK_MS))
    }

    /// A fresh state whose ring starts at the bucket of `from`.
    fn from(settings: &Settings, from: Millis) -> Self {
        ShardState {
            ring: Cursor {
                bucket: bucket_of(settings, from),
                done: 0,
            },
            ready: Vec::new(),
            turn: 0,
            lease: None,
        }
    }

    /// Whether a tick other than `holder` holds the lease at `now`.
    pub fn leased_to_other(&self, holder: &str, now: Millis) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.holder != holder && l.until > now)
    }

    /// Takes in a signal of ring bucket `bucket` for `org`: a new ready org, or a longer
    /// reach for one already there (its position is never past `bucket`, since the ring is
    /// pulled in order).
    pub fn signalled(&mut self, org: &str, bucket: i64) {
        match self.ready.iter_mut().find(|r| r.org == org) {
            Some(r) => r.upto = r.upto.max(bucket),
            None => self.ready.push(Ready {
                org: org.to_owned(),
                bucket,
                done: 0,
                upto: bucket,
            }),
        }
    }
}

/// Makes sure shard `shard`'s state exists (its creator elected with `increment`, R1). One
/// store call when it does: the claim is only read. A scheduler calls it before it writes a
/// signal, so that every signal has a state to be pulled into.
pub fn ensure_shard_state(
    st: &Store<'_>,
    settings: &Settings,
    shard: u32,
) -> Result<(), StoreError> {
    if st.counter_read(&keys::due_shard_claim(shard))? > 0 {
        return Ok(());
    }
    st.create_once(
        &keys::due_shard_claim(shard),
        &keys::due_shard_state(shard),
        &ShardState::new(settings, st.now_ms()),
    )?;
    Ok(())
}

/// Adds an operation entry due at `at_ms` (at the earliest the current bucket) to org
/// `org`'s queue, and signals the org in its shard's ring when the bucket may not have been
/// signalled yet.
pub fn schedule_operation(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    org: &str,
    id: &str,
) -> Result<i64, StoreError> {
    schedule_operation_with(st, settings, at_ms, org, id, Vec::new())
}

/// [`schedule_operation`] that writes the entry in one store call (`set_many`) with `along`:
/// new records under keys elected unique (R1) whose writes may land in any order with the
/// entry's, and of which a failure may leave any subset written (the caller says why that
/// is safe). The signal, when one is due, is still written on its own before them all.
pub fn schedule_operation_with(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    org: &str,
    id: &str,
    along: Vec<(String, Vec<u8>)>,
) -> Result<i64, StoreError> {
    let mut along = along;
    let mut bucket = 0;
    for _ in 0..super::LATE_RETRIES {
        bucket = write_operation_entry(st, settings, at_ms, org, id, along)?;
        if super::landed_in_time(st, settings, bucket) {
            break;
        }
        // The records of `along` are written; only the entry is written again.
        along = Vec::new();
    }
    Ok(bucket)
}

/// One attempt of [`schedule_operation_with`]: the entry (and its signal) in the bucket of
/// `max(at_ms, now)`; the bucket written.
fn write_operation_entry(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    org: &str,
    id: &str,
    mut along: Vec<(String, Vec<u8>)>,
) -> Result<i64, StoreError> {
    let shard = shard_of(org, settings.due_shards);
    let at = at_ms.max(st.now_ms());
    let bucket = bucket_of(settings, at);
    let n = st.counter_next(&keys::due_queue_count(org, bucket))?;
    // The elector of slot 1 signals before writing its entry, so a written slot 1 proves
    // the signal. A later elector that finds no slot 1 (its elector is slow, or died before
    // signalling) signals too: a duplicate signal is a harmless hint, a missing one would
    // leave the bucket unread.
    let signalled = n > 1
        && st
            .retry(|| st.kv().get(&keys::due_queue_slot(org, bucket, 1)))?
            .is_some();
    if !signalled {
        // Only a signaller needs the shard's state: an entry without its own signal is
        // behind slot 1, whose elector made sure of the state before it signalled. So a
        // bucket's later entries skip the claim's read.
        ensure_shard_state(st, settings, shard)?;
        signal(st, shard, bucket, org)?;
    }
    let entry = DueEntry {
        at: Timestamp(at),
        kind: DueKind::Operation {
            org: org.to_owned(),
            id: id.to_owned(),
        },
    };
    along.push(st.new_entry(&keys::due_queue_slot(org, bucket, n), &entry)?);
    st.put_many(&along)?;
    Ok(bucket)
}

/// Writes a signal for `org` in shard `shard`'s ring bucket `bucket`, in a slot elected by
/// `increment` (so `put_new` is safe, R1).
pub fn signal(st: &Store<'_>, shard: u32, bucket: i64, org: &str) -> Result<(), StoreError> {
    let m = st.counter_next(&keys::due_ring_count(shard, bucket))?;
    st.put_new(
        &keys::due_ring_slot(shard, bucket, m),
        &Signal {
            org: org.to_owned(),
        },
    )?;
    Ok(())
}

/// Reads a shard's state with its stored bytes (what a later [`swap_state`] expects).
pub fn read_state(st: &Store<'_>, shard: u32) -> Result<Option<(ShardState, Vec<u8>)>, StoreError> {
    let key = keys::due_shard_state(shard);
    match st.retry(|| st.kv().get(&key))? {
        None => Ok(None),
        Some(raw) => Ok(Some((
            records::decode::<ShardState>(&key, &raw)?.value,
            raw,
        ))),
    }
}

/// Replaces a shard's state if it still holds exactly `expected` (bytes this caller read or
/// wrote). `Some(bytes written)` if the swap landed; `None` if the record changed meanwhile
/// (another tick took it). A swap the store cannot vouch for (R2, or a transient failure
/// that may have come after the write, R4) is settled by reading the write token back.
pub fn swap_state(
    st: &Store<'_>,
    shard: u32,
    expected: &[u8],
    new: &ShardState,
) -> Result<Option<Vec<u8>>, StoreError> {
    let key = keys::due_shard_state(shard);
    let token = st.fresh_token();
    let bytes = records::encode(new, &token)?;
    let landed = match st.kv().compare_and_swap(&key, expected, &bytes) {
        Ok(CasOutcome::Swapped) => true,
        Ok(CasOutcome::Conflict) => false,
        Ok(CasOutcome::Unknown) | Err(StoreError::Transient(_)) => {
            match st.retry(|| st.kv().get(&key))? {
                Some(now) => records::decode::<serde_json::Value>(&key, &now)
                    .map(|s| s.token == token)
                    .unwrap_or(false),
                None => false,
            }
        }
        Err(e) => return Err(e),
    };
    Ok(landed.then_some(bytes))
}

/// Re-creates shard `shard`'s state when its claim was counted but the record is missing:
/// its elected creator died between election and write. Nothing was pulled from the ring
/// then, so a fresh state behind now loses nothing; but a fresh state written over one that
/// a tick has already moved would drop its ready orgs. So a tick only counts its sighting in
/// the current [`RECOVERY_PERIOD_MS`]-long period, and re-creates the record only when it is
/// the first to see it missing in a period after one in which it was already seen missing
/// (the creator has then been silent for a whole period: it is dead, not slow). One
/// re-creator per period (R1); one that dies is replaced in the next period.
pub fn recover_state(st: &Store<'_>, settings: &Settings, shard: u32) -> Result<(), StoreError> {
    if st.counter_read(&keys::due_shard_claim(shard))? == 0 {
        // Nothing was ever scheduled in this shard.
        return Ok(());
    }
    let period = st.now_ms().div_euclid(RECOVERY_PERIOD_MS);
    let n = st.counter_next(&keys::due_shard_recovery(shard, period))?;
    if n == 1 && st.counter_read(&keys::due_shard_recovery(shard, period - 1))? > 0 {
        st.put_new(
            &keys::due_shard_state(shard),
            &ShardState::from(settings, st.now_ms() - RECOVERY_LOOKBACK_MS),
        )?;
    }
    Ok(())
}
