//! The due index: time-bucketed slots the advancer reads in order, so finding due work never
//! lists keys and an idle tick costs a handful of store calls whatever the store holds.
//!
//! Time is cut into buckets of `bucket_ms`; an entry due at `t` goes to bucket
//! `t / bucket_ms`, in slot `n` elected by `increment` on the bucket's counter (so `put_new`
//! on the slot is safe, R1). A bucket is read once it ended `skew_ms` ago; `schedule` never
//! writes into the past (a past time is "now"), so a readable bucket gets no new entries
//! (within the tolerated clock skew). Entries are hints: a stale or replayed entry is
//! harmless, because whoever acts on it re-checks the record it names (an operation's
//! transition is a compare-and-swap on its `seq`, `crate::advancer::advance_one`).
//!
//! ## Shards: the operations index (issue 12)
//!
//! One queue with one cursor made every replica contend for the same entries (replicas
//! added no throughput) and served orgs first come, first served (one org's burst held the
//! others back for minutes). Operations therefore go to a sharded index ([`shards`]):
//!
//! - **Per-org queues.** An entry for org O due at `t` goes to O's own queue: bucket
//!   `b = bucket(t)`, slot `n` elected by `increment` on `due/q/{O}/{b}/count`, the entry at
//!   `due/q/{O}/{b}/{n}`.
//! - **Shard rings.** O belongs to shard `s = fnv1a(O) % due_shards` ([`shard_of`]). When
//!   O's bucket `b` may lack a signal, O is *signalled* in shard `s`'s ring for bucket `b`:
//!   slot `m` elected on `due/r/{s}/{b}/count`, `{org: O}` at `due/r/{s}/{b}/{m}`. The
//!   elector of `n == 1` writes the signal *before* its entry; an elector of `n >= 2` that
//!   finds no slot 1 (its elector is slow or died) signals too. So every written entry has a
//!   signal written no later than itself; duplicate signals are harmless.
//! - **Shard state** `due/r/{s}/state` ([`ShardState`], created once through an elected
//!   claim, R1, which a scheduler makes sure of before it writes a signal; an entry that
//!   writes no signal relies on its slot 1's signaller): the ring cursor `(bucket, done)`;
//!   the *ready list* of orgs with readable work `[{org, bucket, done, upto}]` (O's queue is
//!   read from slot `done + 1` of `bucket` through the end of bucket `upto`); the
//!   round-robin `turn`; and a `lease {holder, until}`.
//!   If the elected creator dies before writing it, a tick re-creates it once it has been
//!   seen missing for a whole period ([`shards::recover_state`]), its ring starting far
//!   enough back to find what was signalled meanwhile.
//!   The ring cursor stops pulling signals while the ready list holds [`MAX_READY`] orgs, so
//!   the record stays small. The consequence: past 64 orgs with readable work in one shard,
//!   a further org waits (first come, first served again) until a ready org drains; more
//!   shards spread such a crowd.
//!
//! ## A tick over the shards (`crate::advancer`)
//!
//! A tick draws a random holder id and a deadline (`tick_budget_ms` from its start), reads
//! every shard's state and lane's cursor in one batch read and the counters of the
//! readable buckets of the idle ones in another (`crate::advancer`'s `ahead`: an idle tick
//! is these two reads), then visits every shard once, from a random offset (so replicas
//! that tick at the same moment spread over the shards). For each shard it:
//!
//! 1. skips the shard if another holder's lease is unexpired. If no org is ready and every
//!    readable ring bucket is empty, it passes them, and saves the ring cursor past them
//!    only once in `SLACK` (8) buckets where a batch read is one call (else every time),
//!    each shard on its own turn (a swap from the bytes
//!    it read, no lease: a lost swap loses nothing; an unsaved cursor only makes the next
//!    ticks read those empty counters again, in the same batch);
//! 2. takes the lease (until the deadline plus [`LEASE_MARGIN_MS`]) by compare-and-swap from
//!    the bytes it read; a lost swap means another tick took it: skip;
//! 3. pulls the signals of readable ring buckets into the ready list, saves the state (a
//!    swap from the bytes it wrote), and only then deletes the pulled ring slots and
//!    counters: a signal is never deleted before a saved state holds it;
//! 4. lets the ready orgs take turns from `turn`: each takes up to
//!    `tick_cap / ready.len()` entries per turn (at least 1, at most [`shards::TURN`], 16, so
//!    a turn stays short when the budget ends the tick), processing each like the legacy
//!    lane did (`advance_one`), deleting processed slots and emptied bucket counters; an org
//!    leaves the list once its queue is drained through `upto`. It stops at `tick_cap`
//!    entries for the shard or at the deadline, whichever comes first;
//! 5. saves the state with its progress and the lease released. A lost swap there (its lease
//!    expired and another tick took the shard) only means the new holder re-reads slots
//!    that are already deleted (absent: skipped) and counters already deleted (read as 0:
//!    an empty bucket), so nothing is lost and, thanks to `advance_one`'s compare-and-swap,
//!    nothing is repeated.
//!
//! So N ticks work up to N shards side by side (leases are for throughput; correctness under
//! racing replicas comes from `advance_one`; a replica runs two ticks each period, since a
//! tick mostly waits on the store, `spin.toml`), and within a shard an org's burst holds
//! another org back by at most one turn. `tick_cap` bounds one shard's work per tick, not
//! the whole tick's: a cap shared by the shards would let the first shard visited (the one
//! with the burst) eat it and hold back the orgs of every other shard, and in tests, where
//! the clock does not move during a tick, the budget alone would never end a tick. A tick
//! does at most `due_shards × tick_cap` entries, within its time budget. One shard is worked
//! by one holder at a time, so one org's burst moves at most `tick_cap` entries a period per
//! replica that gets its shard. The default cap (1 000) is far above what a budget of 1.5 s
//! holds on the runtimes measured (BENCHMARKS.md), so the budget is what ends a busy tick;
//! the cap remains a bound, and the limit in tests whose clock stands still.
//!
//! The cursor lanes (legacy operations, housekeeping) run after the shards, to `tick_cap`
//! each, reading 64 entries at a time; past the deadline a lane stops once it has done 64,
//! so a tick overruns its budget by little and purges keep a pace of at least 32 a second
//! even when operations spend every budget.
//!
//! **Idle cost.** An idle shard costs 3 store calls a tick: read the state, read the one
//! new ring bucket's counter (a `get`: an empty bucket has no counter and reading creates
//! none), move the ring cursor (one swap; on Spin's Redis backend read back, R2: 4). A
//! shard whose state was never created costs 2 (the read, the claim's counter). With the
//! two cursor lanes (4 calls each, 5 on Redis) an idle tick costs `3 × due_shards + 8`
//! calls, 32 with the default 8 shards (`4 × due_shards + 10` on Redis, 42), whatever the
//! store holds; the only writes are the moves. A busy shard adds the lease: a swap to take
//! it and one to release it. A replica runs two ticks each cron period (`spin.toml`), so an
//! idle replica makes twice that.
//!
//! **Late writers.** A scheduler that stalls between electing a slot and writing it (a
//! store busy for seconds, a paused host) may write into a bucket a tick has already read:
//! that entry would never be read. So after writing, a scheduler looks at its clock: still
//! before the bucket's end, no tick can have read the bucket (a tick reads it at its own
//! time `end + skew_ms`, and clocks differ by at most `skew_ms`); past it, it writes the
//! entry again in the bucket of "now" ([`landed_in_time`], up to [`LATE_RETRIES`] times).
//! The first entry, if it was read after all, is a duplicate hint, harmless. This costs no
//! store call when on time; entries due "now" near a bucket's end are written twice about
//! once in (bucket_ms / write time), 0.1 % at 2 s and 2 ms. Only a writer that stalls a
//! whole bucket three times in a row (6 s by default) can still leave its entry unread.
//!
//! **Changing `due_shards`.** Raising it is safe: an org's old entries are still signalled in
//! its old shard, which is still visited; two shards may then read one org's queue for a
//! while, which costs reads and repeats nothing. Lowering it strands whatever was signalled
//! in the dropped shards (their operations stop advancing): lower it only after those
//! shards' ready lists and rings are empty, or raise it back.
//!
//! ## Lanes
//!
//! Besides the shards, the index keeps two cursor-based lanes ([`Lane`]), each with its own
//! buckets, slots and cursor: the legacy operations lane (prefix `due`: entries scheduled
//! before the shards, still worked every tick, cheap once empty; nothing new goes there), and
//! housekeeping (purges of expired nonces, idempotency keys and rate-limit counters). The
//! advancer works the shards first, then each lane to its own cap, so no amount of signed
//! traffic (each request of the RPC door schedules a nonce purge) delays an operation.

use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::settings::Settings;
use crate::store::StoreError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

pub mod shards;
pub mod view;

pub use shards::{
    LEASE_MARGIN_MS, MAX_READY, Ready, ShardState, Signal, ensure_shard_state, shard_of,
};

/// The bucket of time `ms` (`bucket_ms` wide; the same for every lane and shard).
pub fn bucket_of(settings: &Settings, ms: Millis) -> i64 {
    let width = i64::try_from(settings.bucket_ms.max(1)).unwrap_or(i64::MAX);
    ms.div_euclid(width)
}

/// The last bucket a tick at `now` may read: it ended at least `skew_ms` ago.
pub fn last_readable_bucket(settings: &Settings, now: Millis) -> i64 {
    let skew = i64::try_from(settings.skew_ms).unwrap_or(0);
    bucket_of(settings, now.saturating_sub(skew)) - 1
}

/// The buckets one tick may read from `from` on: readable ones only, at most
/// `max_buckets_per_tick`. The flag says readable buckets are left past the window.
pub fn tick_window(settings: &Settings, from: i64, now: Millis) -> (RangeInclusive<i64>, bool) {
    let last = last_readable_bucket(settings, now);
    let most = i64::from(settings.max_buckets_per_tick);
    let end = last.min(from.saturating_add(most - 1));
    (from..=end, end < last)
}

/// What a due entry asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DueKind {
    /// Look at an operation (advance it if it is due).
    Operation { org: String, id: String },
    /// Delete these keys (expired RPC nonces, idempotency records, …).
    Purge { keys: Vec<String> },
}

/// A cursor-based queue of the index: its own buckets, slots and cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Operations scheduled before the shards ([`DueKind::Operation`]): still read, never
    /// written any more.
    Operations,
    /// Keys to delete ([`DueKind::Purge`]).
    Housekeeping,
}

impl Lane {
    /// Every lane, in the order a tick works them.
    pub const ALL: [Lane; 2] = [Lane::Operations, Lane::Housekeeping];

    /// The start of the lane's keys (`crate::keys::due_*`). The operations lane keeps the
    /// keys of the index from before lanes, so entries written then are still read; purges
    /// among them are carried out there as before.
    pub fn prefix(self) -> &'static str {
        match self {
            Lane::Operations => "due",
            Lane::Housekeeping => "due/housekeeping",
        }
    }
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

/// Makes sure lane `lane`'s cursor exists (its creator elected with `increment`, R1). One
/// store call when it does: the claim is only read, so a busy index does not keep counting
/// it up.
pub fn ensure_cursor(st: &Store<'_>, settings: &Settings, lane: Lane) -> Result<(), StoreError> {
    let prefix = lane.prefix();
    if st.counter_read(&keys::due_cursor_claim(prefix))? > 0 {
        return Ok(());
    }
    let start = bucket_of(settings, st.now_ms().saturating_sub(CURSOR_LOOKBACK_MS));
    let cursor = Cursor {
        bucket: start,
        done: 0,
    };
    st.create_once(
        &keys::due_cursor_claim(prefix),
        &keys::due_cursor(prefix),
        &cursor,
    )?;
    Ok(())
}

/// Adds an entry due at `at_ms` (at the earliest the current bucket: a past time is "now"):
/// an operation to its org's queue in the shards, a purge to the housekeeping lane. Returns
/// the bucket the entry is in, for a caller that writes what the entry names after it
/// ([`landed_in_time`]).
pub fn schedule(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    kind: &DueKind,
) -> Result<i64, StoreError> {
    match kind {
        DueKind::Operation { org, id } => shards::schedule_operation(st, settings, at_ms, org, id),
        DueKind::Purge { .. } => schedule_in_lane(st, settings, Lane::Housekeeping, at_ms, kind),
    }
}

/// Adds an entry to a cursor lane. Only housekeeping gets new entries; the legacy operations
/// lane is written by tests only, standing for entries scheduled before the shards.
pub(crate) fn schedule_in_lane(
    st: &Store<'_>,
    settings: &Settings,
    lane: Lane,
    at_ms: Millis,
    kind: &DueKind,
) -> Result<i64, StoreError> {
    ensure_cursor(st, settings, lane)?;
    let mut bucket = 0;
    for _ in 0..LATE_RETRIES {
        let at = at_ms.max(st.now_ms());
        bucket = bucket_of(settings, at);
        let n = st.counter_next(&keys::due_count(lane.prefix(), bucket))?;
        st.put_new(
            &keys::due_slot(lane.prefix(), bucket, n),
            &DueEntry {
                at: Timestamp(at),
                kind: kind.clone(),
            },
        )?;
        if landed_in_time(st, settings, bucket) {
            break;
        }
    }
    Ok(bucket)
}

/// How many times a late writer writes its entry again (see "Late writers"): each attempt
/// goes to the bucket of "now", so only a stall of a whole bucket each time exhausts them.
pub(crate) const LATE_RETRIES: usize = 3;

/// Whether an entry just written to `bucket` is sure to be read: the writer's clock is still
/// before the bucket's end. A tick reads a bucket only at its own time `end + skew_ms`, and
/// clocks differ by at most `skew_ms`, so no tick can have read it yet. A writer past the
/// end writes again (into a bucket of "now"); the duplicate is a harmless hint.
pub fn landed_in_time(st: &Store<'_>, settings: &Settings, bucket: i64) -> bool {
    let width = i64::try_from(settings.bucket_ms.max(1)).unwrap_or(i64::MAX);
    st.now_ms() < bucket.saturating_add(1).saturating_mul(width)
}

/// Schedules the deletion of `keys` at `at_ms` (e.g. a nonce when its window closes).
pub fn schedule_purge(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    keys: Vec<String>,
) -> Result<(), StoreError> {
    schedule(st, settings, at_ms, &DueKind::Purge { keys }).map(|_| ())
}

/// Every key of the index's positions that outlives its entries, for `settings`: each lane's
/// cursor and claim, each shard's state and claim (the tests of lifetimes check that nothing
/// else of the index stays behind).
pub fn position_keys(settings: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    for lane in Lane::ALL {
        out.push(keys::due_cursor(lane.prefix()));
        out.push(keys::due_cursor_claim(lane.prefix()));
    }
    for s in 0..settings.due_shards.max(1) {
        out.push(keys::due_shard_state(s));
        out.push(keys::due_shard_claim(s));
    }
    out
}

#[cfg(test)]
mod tests;
