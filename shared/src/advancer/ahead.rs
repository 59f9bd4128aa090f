//! What a tick reads before it works (issue 25): every shard's state and every lane's
//! cursor in one batch read, then the counters of the readable buckets each idle shard and
//! each lane would read, in one more. So an idle tick costs two reads whatever the number
//! of shards, plus a position write now and then ([`SLACK`]), instead of a read, a counter
//! read and a swap for each shard and lane.
//!
//! A readable bucket gets no new entries (`crate::due`), so a count read here is final when
//! the shard or lane is worked later in the tick; a position read here may be stale by then
//! (another replica's tick moved it), which costs a lost swap, never work: a stale state is
//! read again before the lease is taken from it (`shard`).

use crate::due::{self, Cursor, Lane, ShardState};
use crate::keys;
use crate::records::{self, Store};
use crate::settings::Settings;
use crate::store::StoreError;
use std::ops::RangeInclusive;

/// How many empty readable buckets an idle shard or lane may leave behind its saved position
/// before a tick writes it, where a batch read is one call of the runtime ([`slack`]). Its
/// next reads cover them again (in the same one batch read), so
/// an idle position is written about once in `SLACK` buckets instead of every tick; each
/// shard and lane writes in a different bucket of the `SLACK` (`due_to_write`), so an idle
/// tick writes about one position, not all of them at once. 8 buckets of the default 2 s:
/// a batch of at most 8 × (shards + lanes) = 80 counters with the defaults, under a batch
/// read's 100 keys (R12).
pub const SLACK: i64 = 8;

/// A position read ahead: the record and its stored bytes (what a swap expects).
pub(super) type Seen<T> = Option<(T, Vec<u8>)>;

/// What one shard or lane had before the tick worked it.
pub(super) struct Position<T> {
    /// The record (`None`: missing); `Err`: it could not be read or decoded.
    pub seen: Result<Seen<T>, StoreError>,
    /// The buckets read ahead for it and their counts, when it was read.
    pub counts: Option<Counts>,
    /// A missing shard state whose claim was read as never counted: nothing was ever
    /// scheduled in the shard, so there is nothing to recover (`shards::recover_state`).
    pub never_used: bool,
}

/// The readable buckets read ahead for one shard or lane, from its saved position.
pub(super) struct Counts {
    pub window: RangeInclusive<i64>,
    /// Readable buckets are left past the window (`max_buckets_per_tick`).
    pub more: bool,
    /// The count of each bucket of the window, in order.
    pub counts: Vec<i64>,
}

impl Counts {
    /// The counts of the readable buckets from position `from` (at most
    /// `max_buckets_per_tick`), whose counters are named by `key`, for a shard or lane that
    /// was not read ahead: one batch read (nothing written: an empty bucket's counter does
    /// not exist), so a position that fell behind catches up in one call.
    pub fn read(
        st: &Store<'_>,
        settings: &Settings,
        from: i64,
        key: impl Fn(i64) -> String,
    ) -> Result<Counts, StoreError> {
        let (window, more) = due::tick_window(settings, from, st.now_ms());
        let keys: Vec<String> = window.clone().map(key).collect();
        Ok(Counts {
            counts: st.counters_read(&keys)?,
            window,
            more,
        })
    }

    /// Whether every bucket of the window is empty.
    pub fn all_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    /// The count of `bucket`, if it was read.
    pub fn of(&self, bucket: i64) -> Option<i64> {
        let i = usize::try_from(bucket.checked_sub(*self.window.start())?).ok()?;
        self.counts.get(i).copied()
    }

    /// Whether a position `from` now passes the whole (empty) window should be saved: it
    /// leaves `slack` buckets behind, or the window ends on its turn among the positions.
    pub fn due_to_write(&self, from: i64, turn: i64, slack: i64) -> bool {
        let end = *self.window.end();
        end - from + 1 >= slack || (end + turn).rem_euclid(slack) == 0
    }
}

/// The slack of idle positions on this store: [`SLACK`] where a batch read is one call of
/// the runtime; 1 (every move saved, as before issue 25) where it is one `get` a key (Spin's
/// Redis, R8), since there a lagging position costs a read a bucket on every tick.
pub(super) fn slack(st: &Store<'_>) -> i64 {
    if st.kv().batch_reads() { SLACK } else { 1 }
}

/// Every shard's and lane's position, read ahead.
pub(super) struct Ahead {
    shards: Vec<Option<Position<ShardState>>>,
    lanes: Vec<Option<Position<Cursor>>>,
}

impl Ahead {
    /// Two batch reads (more only past 100 keys): the positions, then the counters of what
    /// an idle shard (no ready org, no half-read ring bucket, no other tick's lease) and each
    /// lane would read. A failed read leaves that part unread: it is read again where it is
    /// worked, as before the read ahead, and the error is reported there.
    pub fn read(st: &Store<'_>, settings: &Settings, holder: &str) -> Ahead {
        let n = settings.due_shards.max(1);
        let mut keys: Vec<String> = (0..n).map(keys::due_shard_state).collect();
        keys.extend(Lane::ALL.iter().map(|l| keys::due_cursor(l.prefix())));
        let raw = st.get_many_raw(&keys);
        let seen = |i: usize| -> Result<Option<Vec<u8>>, StoreError> {
            match &raw {
                Ok(r) => Ok(r.get(i).cloned().flatten()),
                Err(e) => Err(e.clone()),
            }
        };
        let now = st.now_ms();
        let mut shards: Vec<Position<ShardState>> = (0..n as usize)
            .map(|i| Position {
                seen: decoded(&keys[i], seen(i)),
                counts: None,
                never_used: false,
            })
            .collect();
        let mut lanes: Vec<Position<Cursor>> = (0..Lane::ALL.len())
            .map(|i| Position {
                seen: decoded(&keys[n as usize + i], seen(n as usize + i)),
                counts: None,
                never_used: false,
            })
            .collect();

        // The windows to count, and whose they are.
        let mut wanted: Vec<(usize, RangeInclusive<i64>, bool)> = Vec::new();
        let mut counter_keys = Vec::new();
        for (i, p) in shards.iter().enumerate() {
            if let Ok(Some((s, _))) = &p.seen
                && s.ready.is_empty()
                && s.ring.done == 0
                && !s.leased_to_other(holder, now)
            {
                let (window, more) = due::tick_window(settings, s.ring.bucket, now);
                counter_keys.extend(window.clone().map(|b| keys::due_ring_count(i as u32, b)));
                wanted.push((i, window, more));
            }
        }
        // A missing state's claim: a shard never scheduled in has none, and costs nothing more.
        let missing: Vec<usize> = (0..shards.len())
            .filter(|&i| matches!(shards[i].seen, Ok(None)))
            .collect();
        let claims = counter_keys.len();
        counter_keys.extend(missing.iter().map(|&i| keys::due_shard_claim(i as u32)));
        for (i, (lane, p)) in Lane::ALL.iter().zip(&lanes).enumerate() {
            if let Ok(Some((c, _))) = &p.seen {
                let (window, more) = due::tick_window(settings, c.bucket, now);
                counter_keys.extend(window.clone().map(|b| keys::due_count(lane.prefix(), b)));
                wanted.push((shards.len() + i, window, more));
            }
        }
        let Ok(read) = st.counters_read(&counter_keys) else {
            // Unread: each is counted where it is worked.
            return Ahead {
                shards: shards.into_iter().map(Some).collect(),
                lanes: lanes.into_iter().map(Some).collect(),
            };
        };
        for (k, &i) in missing.iter().enumerate() {
            shards[i].never_used = read.get(claims + k) == Some(&0);
        }
        let mut counts = read[..claims]
            .iter()
            .chain(&read[claims + missing.len()..])
            .copied();
        for (i, window, more) in wanted {
            let c = Counts {
                counts: counts.by_ref().take(window.clone().count()).collect(),
                window,
                more,
            };
            match i.checked_sub(shards.len()) {
                None => shards[i].counts = Some(c),
                Some(l) => lanes[l].counts = Some(c),
            }
        }
        Ahead {
            shards: shards.into_iter().map(Some).collect(),
            lanes: lanes.into_iter().map(Some).collect(),
        }
    }

    /// Takes what was read ahead for shard `shard` (once: a second visit reads afresh).
    pub fn take_shard(&mut self, shard: u32) -> Option<Position<ShardState>> {
        self.shards.get_mut(shard as usize)?.take()
    }

    /// Takes what was read ahead for lane number `i` of [`Lane::ALL`].
    pub fn take_lane(&mut self, i: usize) -> Option<Position<Cursor>> {
        self.lanes.get_mut(i)?.take()
    }
}

fn decoded<T: serde::de::DeserializeOwned>(
    key: &str,
    raw: Result<Option<Vec<u8>>, StoreError>,
) -> Result<Seen<T>, StoreError> {
    match raw? {
        None => Ok(None),
        Some(bytes) => Ok(Some((records::decode::<T>(key, &bytes)?.value, bytes))),
    }
}
