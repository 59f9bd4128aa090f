//! The model's ports implemented over Spin, shared by every component.
//!
//! Key-value goes through `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch): Spin
//! implements it on every backend and, unlike `fermyon:spin/key-value`, it has `increment`
//! and compare-and-swap. `batch.set-many` works on every backend (R8) and carries
//! [`KeyValue::set_many`]. `batch.get-many` carries [`KeyValue::get_many`] of two or more
//! keys where it works (SQLite, the default store); Spin's Redis backend implements it with
//! `KEYS` instead of `MGET` (docs/runtime-facts.md, R8), and a component cannot tell which
//! backend the runtime config chose. So:
//! - the variable `store_batch_reads` (default `true`) turns it off: set it to `false` with
//!   a Redis store, and every batch read is one `get` per key;
//! - one key is always a plain `get` (a one-key `get-many` panics Spin's Redis host);
//! - a failed `get-many` falls back to one `get` per key and turns batch reads off for the
//!   rest of the instance (one request or one tick): a Redis store left at the default
//!   costs one refused call per instance, never a failed request.
//!
//! Time and randomness come from WASI, so the local host's test clock reaches the model
//! unchanged.

use catalog_model::env::{Env, Millis};
use catalog_model::store::{
    CasOutcome, KeyValue, NextBytes, ReadSwap, StoreError, answer_in_order, increment_racing,
    race_pause_ms,
};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};
use std::cell::Cell;

/// The store label every component uses (`key_value_stores = ["default"]`).
pub const STORE_LABEL: &str = "default";

/// `wasi:keyvalue` bucket as the model's [`KeyValue`] port.
pub struct SpinKv {
    bucket: store::Bucket,
    /// Whether [`KeyValue::get_many`] may call `batch.get-many` (module docs).
    batch_reads: Cell<bool>,
}

/// The variable that turns batch reads off (module docs); absent or anything but `false`
/// or `0`: on.
pub const BATCH_READS_VARIABLE: &str = "store_batch_reads";

impl SpinKv {
    pub fn open(label: &str) -> Result<Self, StoreError> {
        let batch_reads = spin_sdk::variables::get(BATCH_READS_VARIABLE)
            .map(|v| !matches!(v.trim(), "false" | "0"))
            .unwrap_or(true);
        store::open(label)
            .map(|bucket| Self {
                bucket,
                batch_reads: Cell::new(batch_reads),
            })
            .map_err(map_error)
    }

    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(STORE_LABEL)
    }

    fn get_each(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
}

fn map_error(e: store::Error) -> StoreError {
    match e {
        store::Error::NoSuchStore => StoreError::Unavailable("no such store".into()),
        store::Error::AccessDenied => StoreError::Unavailable("access denied".into()),
        // Spin reports every backend failure (e.g. SQLite's "database is locked", R4) as
        // `other`: transient until proven otherwise.
        store::Error::Other(m) => StoreError::Transient(m),
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(map_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(map_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(map_error)
    }

    fn batch_reads(&self) -> bool {
        self.batch_reads.get()
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.len() < 2 || !self.batch_reads.get() {
            return self.get_each(keys);
        }
        // Each key once: DynamoDB refuses a batch that names a key twice (R12); the answer
        // is matched to the keys by name, so a repeated key still gets its value.
        let mut distinct = keys.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            return self.get_each(keys);
        }
        match batch::get_many(&self.bucket, &distinct) {
            Ok(answer) => Ok(answer_in_order(keys, answer)),
            // Spin's Redis backend (R8), or a store failing now: the gets retry or fail
            // as reads do.
            Err(_) => {
                self.batch_reads.set(false);
                self.get_each(keys)
            }
        }
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        batch::set_many(&self.bucket, entries).map_err(map_error)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        batch::delete_many(&self.bucket, keys).map_err(map_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        // On DynamoDB (R12) an increment that raced another one fails having written
        // nothing: it is run again after a random pause scaled by the attempt's own time
        // (`race_pause_ms`), so racing callers (every tick counts itself on one key)
        // spread out instead of colliding again.
        let attempt_ms = Cell::new(0);
        increment_racing(
            || {
                let started = std::time::Instant::now();
                let r = atomics::increment(&self.bucket, key, delta).map_err(map_error);
                attempt_ms.set(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                r
            },
            |round| SpinEnv.pause_ms(race_pause_ms(round, attempt_ms.get(), SpinEnv.random_u64())),
        )
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(map_error)?;
        // Always read `current()` first: a swap that never saw a value is blind on Spin's
        // SQLite backend (R1), and an absent key is never "expected" by the model.
        match cas.current().map_err(map_error)? {
            Some(current) if current == expected => {}
            _ => return Ok(CasOutcome::Conflict),
        }
        swap(cas, new)
    }

    fn read_and_swap(&self, key: &str, f: &mut NextBytes<'_>) -> Result<ReadSwap, StoreError> {
        // `current()` is the read: one call less than a `get` and then `compare_and_swap`.
        // The bucket (`self`) stays open until the swap (R12).
        let cas = atomics::Cas::new(&self.bucket, key).map_err(map_error)?;
        let read = cas.current().map_err(map_error)?;
        Ok(ReadSwap::after(read, f, |_, new| swap(cas, new)))
    }
}

/// Swaps `new` in through `cas`, whose `current()` the caller has read.
fn swap(cas: atomics::Cas, new: &[u8]) -> Result<CasOutcome, StoreError> {
    match atomics::swap(cas, new) {
        Ok(()) => Ok(CasOutcome::Swapped),
        // Spin's Redis backend says `cas-failed` even when the write landed (R2).
        Err(atomics::CasError::CasFailed(_)) => Ok(CasOutcome::Unknown),
        Err(atomics::CasError::StoreError(e)) => Err(map_error(e)),
    }
}

/// WASI clocks and randomness as the model's [`Env`] port.
pub struct SpinEnv;

impl Env for SpinEnv {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }

    fn random_u64(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn pause_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

pub mod http;

/// The operation settings from Spin variables (absent ones keep the model's defaults).
pub fn settings() -> Result<catalog_model::ops::Settings, String> {
    catalog_model::ops::Settings::from_vars(|name| spin_sdk::variables::get(name).ok())
}
