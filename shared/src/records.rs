//! Typed records over the [`KeyValue`] port, with the write discipline of runtime facts R1–R4.
//!
//! Every stored record is an envelope `{"t": "<write token>", "v": <value>}`. The write token
//! is fresh for every write, so after a compare-and-swap that reports `Unknown` (Spin's Redis
//! backend, R2) the key is read back and the token tells whether *our* write landed.
//!
//! - [`Store::put_new`] is a blind `set`: only for a key whose creator was elected unique (a fresh
//!   random id, or a slot number handed out by `increment`), never to "create if absent" (R1).
//! - [`Store::update`] is the only read-modify-write: a bounded compare-and-swap loop.
//! - Counters ([`Store::counter_next`], [`Store::counter_read`]) live under their own keys,
//!   are written only through `increment` (R3) and read with `get`.
//! - Transient store errors (R4) are retried a few times with backoff, then returned: the edge
//!   answers 503 with `Retry-After`.

use crate::env::{Env, Millis};
use crate::store::{CasOutcome, KeyValue, StoreError};
use crate::time::Timestamp;
use serde::{Serialize, de::DeserializeOwned};

/// Keys one batch read may name: DynamoDB refuses more than 100 (R12).
pub const MAX_BATCH_KEYS: usize = 100;

/// Keys one batch delete may name: DynamoDB's `BatchWriteItem` takes at most 25 (R12).
pub const MAX_DELETE_KEYS: usize = 25;

/// How many times a transient store error is tried in all (first call included). Six
/// calls wait 20 + 40 + 80 + 160 + 320 ms at most: on real Spin the SQLite file is shared
/// by the HTTP and cron processes, and under load a writer can hold it past 140 ms (R4);
/// four attempts let such a busy spell reach clients as 503s.
pub const STORE_ATTEMPTS: u32 = 6;
/// First backoff pause after a transient error; doubles each time.
pub const STORE_BACKOFF_MS: u64 = 20;
/// Compare-and-swap rounds before [`Store::update`] gives up with [`UpdateError::Contended`].
pub const CAS_ROUNDS: u32 = 24;

/// What one round of [`Store::update`] decided on the value it read.
enum Round<T, E> {
    /// Write this value, under this fresh token.
    Write(T, String),
    Unchanged(Stored<T>),
    Abort(E),
    Missing,
    Failed(StoreError),
}

/// A record as read, with the write token of the write that stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub value: T,
    /// The write token: changes with every write; usable as an `ETag`.
    pub token: String,
}

/// A record as read together with the bytes stored (what a later compare-and-swap from
/// this read expects, [`Store::update_from`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<T> {
    pub stored: Stored<T>,
    pub raw: Vec<u8>,
}

/// What an [`Store::update`] closure decides after seeing the current value.
#[derive(Debug)]
pub enum Change<T, E> {
    /// Write this new value.
    Write(T),
    /// Nothing to do: the current value is returned as is.
    Unchanged,
    /// Refuse: the update ends with [`UpdateError::Aborted`].
    Abort(E),
}

/// Why an [`Store::update`] did not write.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateError<E> {
    /// No record under the key (nothing is created).
    NotFound,
    /// The closure refused.
    Aborted(E),
    /// The store failed (after retries, when transient).
    Store(StoreError),
    /// Every compare-and-swap round lost to another writer.
    Contended,
}

impl<E> From<StoreError> for UpdateError<E> {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

impl<E> UpdateError<E> {
    /// The one mapping of a failed update into a door's error: `NotFound` becomes
    /// `not_found()`, a refusal is the closure's own error, and the store's failures
    /// (contention included, which a client retries like a busy store) go through
    /// `From<StoreError>`.
    pub fn lift(self, not_found: impl FnOnce() -> E) -> E
    where
        E: From<StoreError>,
    {
        self.unless_missing().unwrap_or_else(not_found)
    }

    /// The failure as the door's error, or `None` when there was no record (for callers to
    /// whom a missing record is no failure).
    pub fn unless_missing(self) -> Option<E>
    where
        E: From<StoreError>,
    {
        match self {
            UpdateError::NotFound => None,
            UpdateError::Aborted(e) => Some(e),
            UpdateError::Store(e) => Some(e.into()),
            UpdateError::Contended => Some(StoreError::contended().into()),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for UpdateError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::NotFound => f.write_str("record not found"),
            UpdateError::Aborted(e) => write!(f, "update refused: {e}"),
            UpdateError::Store(e) => write!(f, "{e}"),
            UpdateError::Contended => f.write_str("record too contended, try again"),
        }
    }
}

#[derive(serde::Deserialize)]
struct EnvelopeIn<T> {
    t: String,
    v: T,
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    t: &'a str,
    v: &'a T,
}

/// Runs a store call, retrying transient errors with exponential backoff.
fn retry<R>(
    env: &dyn Env,
    mut call: impl FnMut() -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut pause = STORE_BACKOFF_MS;
    let mut attempt = 1;
    loop {
        match call() {
            Err(StoreError::Transient(_)) if attempt < STORE_ATTEMPTS => {
                env.pause_ms(pause);
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

pub(crate) fn encode<T: Serialize>(value: &T, token: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&EnvelopeOut { t: token, v: value })
        // Our own types always serialize; keep the error typed rather than panicking.
        .map_err(|e| StoreError::Unavailable(format!("cannot encode record: {e}")))
}

/// Decodes a stored envelope; a value that does not decode is [`StoreError::Corrupt`].
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<Stored<T>, StoreError> {
    let env: EnvelopeIn<T> =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{key}: {e}")))?;
    Ok(Stored {
        value: env.v,
        token: env.t,
    })
}

/// Decodes a stored envelope and keeps its bytes (what a later compare-and-swap expects).
pub fn decode_seen<T: DeserializeOwned>(key: &str, raw: Vec<u8>) -> Result<Seen<T>, StoreError> {
    Ok(Seen {
        stored: decode(key, &raw)?,
        raw,
    })
}

/// The pause before CAS round `round` (1, 2, …): uniform in 1..=min(2^round, 64) ms.
fn contention_pause_ms(env: &dyn Env, round: u32, attempt_ms: u64) -> u64 {
    crate::store::race_pause_ms(round, attempt_ms, env.random_u64())
}

/// The storage handle: the key-value port and the environment, with the record operations
/// as methods. It is two references, so it is passed by reference and copied freely.
///
/// ```
/// use catalog_model::records::{Change, Store};
/// # use catalog_model::{store::MemoryKv, env::FakeEnv};
/// # let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
/// let st = Store::new(&kv, &env);
/// st.put_new("k", &1u32)?;
/// let now = st.update::<u32, ()>("k", |n| Change::Write(n + 1)).unwrap();
/// assert_eq!(now.value, 2);
/// # Ok::<(), catalog_model::store::StoreError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Store<'a> {
    kv: &'a dyn KeyValue,
    env: &'a dyn Env,
}

impl<'a> Store<'a> {
    pub fn new(kv: &'a dyn KeyValue, env: &'a dyn Env) -> Self {
        Store { kv, env }
    }

    /// The raw port, for callers with their own encoding (the heartbeat, the nonce counters).
    pub fn kv(&self) -> &'a dyn KeyValue {
        self.kv
    }

    pub fn env(&self) -> &'a dyn Env {
        self.env
    }

    pub fn now_ms(&self) -> Millis {
        self.env.now_ms()
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(self.env.now_ms())
    }

    /// A fresh write token (64 random bits as hex).
    pub fn fresh_token(&self) -> String {
        format!("{:016x}", self.env.random_u64())
    }

    /// A fresh id: `prefix` followed by 20 lowercase hex digits (80 random bits).
    pub fn new_id(&self, prefix: &str) -> String {
        let hi = self.env.random_u64();
        let lo = self.env.random_u64() & 0xffff;
        format!("{prefix}{hi:016x}{lo:04x}")
    }

    /// Runs a raw store call with the transient-error retry of every record operation.
    pub fn retry<R>(&self, call: impl FnMut() -> Result<R, StoreError>) -> Result<R, StoreError> {
        retry(self.env, call)
    }

    /// Reads a record.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Stored<T>>, StoreError> {
        match retry(self.env, || self.kv.get(key))? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    /// Reads a record with its stored bytes.
    pub fn get_seen<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Seen<T>>, StoreError> {
        retry(self.env, || self.kv.get(key))?
            .map(|raw| decode_seen(key, raw))
            .transpose()
    }

    /// Reads many records; absent keys are `None`, in order. One call of the port for up to
    /// [`MAX_BATCH_KEYS`] keys (on Spin, one `get-many` where the backend's works, else one
    /// `get` per key: R8).
    pub fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<Stored<T>>>, StoreError> {
        self.get_many_raw(keys)?
            .into_iter()
            .zip(keys)
            .map(|(bytes, key)| bytes.map(|b| decode(key, &b)).transpose())
            .collect()
    }

    /// Reads many keys, undecoded, in calls of the port of at most [`MAX_BATCH_KEYS`] keys
    /// each (one call for up to 100 keys); absent keys are `None`, in order.
    pub fn get_many_raw(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH_KEYS) {
            out.extend(retry(self.env, || self.kv.get_many(chunk))?);
        }
        Ok(out)
    }

    /// Writes a record blindly with a fresh write token. Only for keys whose creator is
    /// elected unique (a fresh random id, or a slot handed out by `increment`), see R1.
    pub fn put_new<T: Serialize>(&self, key: &str, value: &T) -> Result<String, StoreError> {
        let token = self.fresh_token();
        let bytes = encode(value, &token)?;
        retry(self.env, || self.kv.set(key, &bytes))?;
        Ok(token)
    }

    /// A new record under `key` with a fresh write token, encoded for [`Store::put_many`].
    pub fn new_entry<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(String, Vec<u8>), StoreError> {
        Ok((key.to_owned(), encode(value, &self.fresh_token())?))
    }

    /// Writes new records in one store call (`set_many`), under the rule of
    /// [`Store::put_new`]. The writes land in any order and a failure may leave any subset
    /// written, so the caller batches only records whose order does not matter.
    pub fn put_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        match entries {
            [] => Ok(()),
            [(key, bytes)] => retry(self.env, || self.kv.set(key, bytes)),
            _ => retry(self.env, || self.kv.set_many(entries)),
        }
    }

    /// Deletes a key (absent keys are fine).
    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        retry(self.env, || self.kv.delete(key))
    }

    /// Deletes keys (absent ones are fine) in calls of at most [`MAX_DELETE_KEYS`] keys, each
    /// key once (R12). A failure may leave any subset deleted.
    pub fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut distinct = keys.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for chunk in distinct.chunks(MAX_DELETE_KEYS) {
            match chunk {
                [key] => retry(self.env, || self.kv.delete(key))?,
                _ => retry(self.env, || self.kv.delete_many(chunk))?,
            }
        }
        Ok(())
    }

    /// Reads, changes and writes a record with compare-and-swap, at most [`CAS_ROUNDS`] times.
    ///
    /// The closure sees the current value and may be called again after a lost race, so it
    /// must decide from what it sees (re-check the state it starts from), never from outside
    /// state it changed. A swap reported `Unknown` (R2) or failing transiently is settled by
    /// reading the key back and comparing write tokens.
    pub fn update<T, E>(
        &self,
        key: &str,
        f: impl FnMut(&T) -> Change<T, E>,
    ) -> Result<Stored<T>, UpdateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        self.update_from(key, None, f)
    }

    /// [`Store::update`] whose first round starts from `seen`, bytes this request already
    /// read under `key`, instead of reading them again: one store call less when the record
    /// did not change meanwhile. If it did, the swap from stale bytes is not applied (a
    /// conflict, or on Redis an `Unknown` the read-back settles, R2) and the next round
    /// reads the record as usual; `f` decides from what it sees, so stale bytes never write.
    pub fn update_from<T, E>(
        &self,
        key: &str,
        mut seen: Option<Vec<u8>>,
        mut f: impl FnMut(&T) -> Change<T, E>,
    ) -> Result<Stored<T>, UpdateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        let (kv, env) = (self.kv, self.env);
        let mut stale = false;
        let mut round_started = env.now_ms();
        for round in 0..CAS_ROUNDS {
            if round > 0 && !stale {
                // A lost race: wait a random, growing while (scaled by the lost round's own
                // time) before the next round, so that many writers of one hot record (50
                // Add Version calls on one image) spread out instead of colliding again in
                // lockstep.
                let attempt_ms = u64::try_from(env.now_ms() - round_started).unwrap_or(0);
                env.pause_ms(contention_pause_ms(env, round, attempt_ms));
            }
            round_started = env.now_ms();
            // A round from `seen` that does not land shows only that the earlier read was
            // stale: the next round reads at once, without a contention pause.
            let from_seen = seen.is_some();
            stale = from_seen;
            let (new, token, swapped) = match seen.take() {
                Some(raw) => match self.decide(key, Some(&raw), &mut f) {
                    (Round::Write(v, token), Some(bytes)) => {
                        let swapped = kv.compare_and_swap(key, &raw, &bytes);
                        (v, token, swapped)
                    }
                    (Round::Failed(e), _) => return Err(UpdateError::Store(e)),
                    // Only a fresh read may end the update without a write: a refusal or
                    // "no change" decided on earlier bytes is decided again on the record
                    // as it is.
                    _ => continue,
                },
                // The read is the swap's own (`current()` on Spin): one call less than a
                // `get` before the swap.
                None => {
                    let mut decided = None;
                    let read_swap = retry(env, || {
                        decided = None;
                        kv.read_and_swap(key, &mut |raw| {
                            let (round, bytes) = self.decide(key, raw, &mut f);
                            decided = Some(round);
                            bytes
                        })
                    })?;
                    match decided {
                        Some(Round::Write(v, token)) => {
                            let swapped = read_swap.swap.unwrap_or(Ok(CasOutcome::Conflict));
                            (v, token, swapped)
                        }
                        Some(Round::Unchanged(current)) => return Ok(current),
                        Some(Round::Abort(e)) => return Err(UpdateError::Aborted(e)),
                        Some(Round::Missing) => return Err(UpdateError::NotFound),
                        Some(Round::Failed(e)) => return Err(UpdateError::Store(e)),
                        // A port that did not show the value: count it a lost round.
                        None => continue,
                    }
                }
            };
            let landed = match swapped {
                Ok(CasOutcome::Swapped) => true,
                Ok(CasOutcome::Conflict) => false,
                // R2, or a failure that may have happened after the write: ask the store.
                Ok(CasOutcome::Unknown) | Err(StoreError::Transient(_)) => {
                    match retry(env, || kv.get(key))? {
                        Some(now) => decode::<serde_json::Value>(key, &now)
                            .map(|s| s.token == token)
                            .unwrap_or(false),
                        None => false,
                    }
                }
                Err(e) => return Err(UpdateError::Store(e)),
            };
            if landed {
                return Ok(Stored { value: new, token });
            }
        }
        Err(UpdateError::Contended)
    }

    /// One round's decision on the bytes it starts from (read by a
    /// [`KeyValue::read_and_swap`], or earlier by the caller): what `f` made of them, and the
    /// bytes to swap in when it writes.
    fn decide<T, E>(
        &self,
        key: &str,
        raw: Option<&[u8]>,
        f: &mut impl FnMut(&T) -> Change<T, E>,
    ) -> (Round<T, E>, Option<Vec<u8>>)
    where
        T: Serialize + DeserializeOwned,
    {
        let Some(raw) = raw else {
            return (Round::Missing, None);
        };
        let current: Stored<T> = match decode(key, raw) {
            Ok(c) => c,
            Err(e) => return (Round::Failed(e), None),
        };
        match f(&current.value) {
            Change::Write(v) => {
                let token = self.fresh_token();
                match encode(&v, &token) {
                    Ok(bytes) => (Round::Write(v, token), Some(bytes)),
                    Err(e) => (Round::Failed(e), None),
                }
            }
            Change::Unchanged => (Round::Unchanged(current), None),
            Change::Abort(e) => (Round::Abort(e), None),
        }
    }

    /// Adds one to a counter and returns the new value: the caller is elected for that
    /// number. A transient failure is retried; if the failed call had in fact counted, a
    /// number is skipped, which elections tolerate (gaps are harmless, duplicates are not).
    pub fn counter_next(&self, key: &str) -> Result<i64, StoreError> {
        retry(self.env, || self.kv.increment(key, 1))
    }

    /// Adds `amount` to a counter and returns the new value (a budget's spending,
    /// `crate::ratelimit`). A retried call that had in fact counted counts twice.
    pub fn counter_add(&self, key: &str, amount: i64) -> Result<i64, StoreError> {
        retry(self.env, || self.kv.increment(key, amount))
    }

    /// Reads a counter with `get` ([`crate::store::read_counter`]: no write, nothing
    /// created); an absent counter reads 0.
    pub fn counter_read(&self, key: &str) -> Result<i64, StoreError> {
        retry(self.env, || crate::store::read_counter(self.kv, key))
    }

    /// Reads many counters ([`Store::counter_read`]'s format) in calls of at most
    /// [`MAX_BATCH_KEYS`] keys each (one `get-many` each where the backend's works, R8, R12);
    /// absent counters read 0, in order.
    pub fn counters_read(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        keys.iter()
            .zip(self.get_many_raw(keys)?)
            .map(|(key, bytes)| crate::store::counter_value(key, bytes.as_deref()))
            .collect()
    }

    /// Creates the record under `key` if this caller is the first to count `claim` (R1: a
    /// record is never created "if absent" by a swap). Returns whether this caller wrote it;
    /// a caller that was not elected finds the record written by the one that was, or soon.
    pub fn create_once<T: Serialize>(
        &self,
        claim: &str,
        key: &str,
        value: &T,
    ) -> Result<bool, StoreError> {
        if self.counter_next(claim)? != 1 {
            return Ok(false);
        }
        self.put_new(key, value)?;
        Ok(true)
    }

    /// Makes sure the record under `key` exists, created once as `T::default()` by the
    /// elector of `claim` ([`Store::create_once`]): one read when it does. A loser of the
    /// election gives the elected creator a moment; if the creator died between its
    /// election and its write, it writes the default itself, or the record could never
    /// exist. A creator that is merely very slow could then overwrite a change made
    /// meanwhile: the lesser evil, for registers that only bound things (captures, running
    /// operations).
    pub fn ensure_created<T: Serialize + Default>(
        &self,
        claim: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let present =
            || -> Result<bool, StoreError> { Ok(retry(self.env, || self.kv.get(key))?.is_some()) };
        if present()? || self.create_once(claim, key, &T::default())? {
            return Ok(());
        }
        for _ in 0..3 {
            self.env.pause_ms(50);
            if present()? {
                return Ok(());
            }
        }
        self.put_new(key, &T::default()).map(drop)
    }
}

#[cfg(test)]
mod contention_tests {
    use super::*;

    #[test]
    fn contention_pauses_grow_and_stay_bounded() {
        let env = crate::env::FakeEnv::at(0);
        for round in 1..CAS_ROUNDS {
            let p = contention_pause_ms(&env, round, 0);
            assert!(
                (1..=(1u64 << round.min(5))).contains(&p),
                "round {round}: {p}"
            );
            // A slow store's rounds pause longer, up to the bound.
            let slow = contention_pause_ms(&env, round, 40);
            assert!((1..=(40u64 << round.min(5)).min(1_000)).contains(&slow));
        }
    }
}

#[cfg(test)]
mod tests;
