//! Key-value backends of the local Spin host.
//!
//! The host (crate `spin-local-host`) maps `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue@0.2.0-draft2` onto [`KvStore`]. Backends: in-memory (tests), SQLite
//! (Spin's default `spin` store), Redis, and a local emulation of Spin's `aws_dynamo`
//! store. [`open`] wraps a backend with the `spin-compat` quirks (R1–R4, R8 and R12 in
//! docs/runtime-facts.md) when asked, and always
//! with the fault injector tests drive through [`Faults`].
//!
//! CONTRACT (shared with the host crate; change only together):
//! - every method is blocking and thread-safe; the host calls them from
//!   `tokio::task::spawn_blocking` or directly (they are short);
//! - `swap` is the atomic half of a compare-and-swap whose first half was `cas_current`
//!   (or that never read: `CasBase::NotRead`);
//! - an error for which [`KvError::is_host_panic`] holds is never shown to the guest:
//!   the host traps the instance, as the real runtime's panic ends the invocation.

mod dynamo;
mod memory;
mod redis_store;
mod sqlite;
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub use dynamo::{
    CONDITIONAL_CHECK_FAILED, DUPLICATE_KEYS_MESSAGE, ITEM_TOO_LARGE_MESSAGE, MAX_GET_MANY_KEYS,
    MAX_ITEM_BYTES,
};

/// A store failure, as the guest will see it (`error::other(String)` in both WITs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KvError {}

/// The error of a call the real runtime does not answer at all: its host panics (R8:
/// Spin's Redis `get-many` with one existing key). The host must trap the guest
/// instance rather than hand this to the guest; the text is what its log shows.
pub const HOST_PANIC_MESSAGE: &str = "guest invocation panicked: \
    internal error: entered unreachable code (spin-compat R8: Redis get-many sent KEYS)";

impl KvError {
    /// Whether the real runtime panics here, so the host must trap the guest instance
    /// instead of answering: R8 ([`HOST_PANIC_MESSAGE`]) and R3 ([`POISONED_MESSAGE`]:
    /// the non-counter `increment` and every later call of the poisoned process).
    /// Both only arise in spin-compat mode.
    pub fn is_host_panic(&self) -> bool {
        self.0 == HOST_PANIC_MESSAGE || self.0 == POISONED_MESSAGE
    }
}

/// What the guest observed when it began a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasBase {
    /// `current()` was called and saw no value.
    Absent,
    /// `current()` was called and saw this value.
    Value(Vec<u8>),
    /// `current()` was never called.
    NotRead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapError {
    /// wasi:keyvalue `cas-error::cas-failed`.
    CasFailed,
    Store(KvError),
}

/// What `get_many` answers: each asked key with its value, in the order asked.
pub type KeyValues = Vec<(String, Option<Vec<u8>>)>;

/// One opened store (one label). All methods are atomic with respect to each other.
pub trait KvStore: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn exists(&self, key: &str) -> Result<bool, KvError>;
    fn get_keys(&self) -> Result<Vec<String>, KvError>;
    /// `atomics::increment`: 0 when absent; the stored encoding is the backend's
    /// (8 little-endian bytes on SQLite and memory, decimal text on Redis and aws_dynamo).
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
    /// `cas::current()`: reads the value a later `swap` compares against.
    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// `atomics::swap`: with correct semantics, writes `value` only if the key still
    /// holds what `base` says (`Absent`: only if still absent; `NotRead`: compares
    /// against the value at the time of the swap, i.e. always succeeds).
    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError>;
    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError>;
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError>;
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
}

/// A backend, as named by a Spin runtime config (`[key_value_store.<label>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// `type = "spin"`: a SQLite file (Spin's default `.spin/sqlite_key_value.db`).
    Sqlite { path: PathBuf },
    /// `type = "redis"`, `url = "redis://..."`.
    Redis { url: String },
    /// Not a Spin type: a fresh in-memory store (tests).
    Memory,
    /// `type = "aws_dynamo"`, `table = "..."` (`region`, `consistent_read` and the
    /// credentials are accepted and ignored): no DynamoDB client, a local emulation of the
    /// table in the SQLite file `path` (every label naming `table` shares its keys, as on
    /// Spin), with R12's behaviour in spin-compat mode.
    AwsDynamo { path: PathBuf, table: String },
}

/// How the store behaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreOptions {
    /// Reproduce the real runtime's quirks R1–R4 and R8 (docs/runtime-facts.md).
    pub spin_compat: bool,
    /// In spin-compat mode, the fraction of SQLite calls that fail with
    /// "database is locked" (R4); deterministic from `locked_seed`.
    pub locked_rate: f64,
    pub locked_seed: u64,
    /// In spin-compat mode on `aws_dynamo`, a pause between an `increment`'s read and its
    /// conditional write, so tests can make two increments race (R12); zero by default
    /// (the race still happens when calls interleave, only less often).
    pub dynamo_increment_window: Duration,
}

/// The label [`open`] uses: Spin's default store.
pub const DEFAULT_LABEL: &str = "default";

/// Fault injection shared by every store opened with it; cheap to clone.
///
/// Every call of every store opened with a handle goes through it first (in both modes):
/// it counts the call and may fail it before the backend sees it, so an injected
/// failure never has a side effect. It also carries the R3 "poisoned" state: in
/// spin-compat mode, once an `increment` met a non-counter value, every later call of
/// every store sharing the handle fails with [`POISONED_MESSAGE`] (the real runtime's
/// store mutex is poisoned), a host panic the host turns into a trap.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<FaultsInner>,
}

#[derive(Default)]
struct FaultsInner {
    state: Mutex<FaultState>,
    injected: AtomicU64,
    poisoned: AtomicBool,
}

#[derive(Default)]
struct FaultState {
    /// Calls seen so far (under the lock, so `fail_nth` targets exactly one call).
    ops: u64,
    /// The `ops` value of the call that must fail.
    fail_at: Option<u64>,
    /// The `ops` value from which every call fails (`fail_from`).
    dead_from: Option<u64>,
    rate: f64,
    seed: u64,
    /// Draws made for `rate`; drives the deterministic sequence.
    draws: u64,
}

/// The message of an injected failure.
pub const INJECTED_MESSAGE: &str = "injected fault";
/// The message of an R4 failure, as SQLite words it.
pub const LOCKED_MESSAGE: &str = "database is locked";

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `n`-th call from now (1-based; 0 counts as 1) fails, once. Replaces an
    /// earlier `fail_nth` that has not fired yet.
    pub fn fail_nth(&self, n: u64) {
        let mut state = self.lock();
        state.fail_at = Some(state.ops.saturating_add(n.max(1)));
    }

    /// The `n`-th call from now (1-based; 0 counts as 1) and every call after it fail, until
    /// [`Faults::clear`]: a replica that died at that call and never writes again (its
    /// leases stay held until they expire).
    pub fn fail_from(&self, n: u64) {
        let mut state = self.lock();
        state.dead_from = Some(state.ops.saturating_add(n.max(1)));
    }

    /// From now on, a deterministic pseudo-random fraction `rate` (clamped to 0..=1)
    /// of the calls fails; the same `seed` gives the same sequence of failures.
    pub fn fail_rate(&self, rate: f64, seed: u64) {
        let mut state = self.lock();
        state.rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        state.seed = seed;
        state.draws = 0;
    }

    /// Stops every injected failure (`fail_nth` and `fail_rate`). Counters and the R3
    /// poisoned state stay: like the real process, a poisoned store stays poisoned.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.fail_at = None;
        state.dead_from = None;
        state.rate = 0.0;
        state.draws = 0;
    }

    /// Calls seen by every store opened with this handle (including failed ones).
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Calls failed by injection (`fail_nth`/`fail_rate`; not R3/R4 quirks).
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::SeqCst)
    }

    /// Whether an R3 poisoning happened (spin-compat mode only).
    pub fn poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::SeqCst)
    }

    fn poison(&self) {
        self.inner.poisoned.store(true, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one call and decides whether it fails before reaching the backend.
    fn admit(&self) -> Result<(), KvError> {
        let fail = {
            let mut state = self.lock();
            state.ops = state.ops.saturating_add(1);
            if state.fail_at == Some(state.ops) {
                state.fail_at = None;
                true
            } else if state.dead_from.is_some_and(|from| state.ops >= from) {
                true
            } else if state.rate > 0.0 {
                state.draws = state.draws.wrapping_add(1);
                unit(state.seed, state.draws) < state.rate
            } else {
                false
            }
        };
        if fail {
            self.inner.injected.fetch_add(1, Ordering::SeqCst);
            return Err(KvError(INJECTED_MESSAGE.into()));
        }
        if self.poisoned() {
            return Err(KvError(POISONED_MESSAGE.into()));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("ops", &self.ops())
            .field("injected", &self.injected())
            .field("poisoned", &self.poisoned())
            .finish()
    }
}

/// The error of the R3 `increment` on a non-counter value and of every call after it
/// (the real runtime panics on the value's length, then on the poisoned mutex of its
/// SQLite connection). A host panic ([`KvError::is_host_panic`]): the guest never sees
/// it, its instance traps (an empty 500 for a request).
pub const POISONED_MESSAGE: &str =
    "key-value store poisoned: a previous increment on a non-counter value panicked (PoisonError)";

/// A deterministic uniform draw in [0, 1) from `(seed, n)` (splitmix64).
fn unit(seed: u64, n: u64) -> f64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Opens `config` under Spin's default label ([`DEFAULT_LABEL`]), wrapped by `faults`.
pub fn open(
    config: &BackendConfig,
    options: &StoreOptions,
    faults: &Faults,
) -> Result<Arc<dyn KvStore>, KvError> {
    open_labeled(config, DEFAULT_LABEL, options, faults)
}

/// Opens the store `label` of `config`. On SQLite the label is the `store` column, so
/// several labels share one file; Redis uses the raw key in its database like Spin
/// (labels on one Redis database share keys); every `Memory` open is a fresh store.
pub fn open_labeled(
    config: &BackendConfig,
    label: &str,
    options: &StoreOptions,
    faults: &Faults,
) -> Result<Arc<dyn KvStore>, KvError> {
    let compat = options.spin_compat;
    let (inner, locked): (Box<dyn KvStore>, Option<Locked>) = match config {
        BackendConfig::Memory => (
            Box::new(memory::MemoryStore::new(compat, faults.clone())),
            None,
        ),
        BackendConfig::Sqlite { path } => {
            let store = sqlite::SqliteStore::open(path, label, compat, faults.clone())?;
            // R4 is a quirk of the SQLite file shared between processes only.
            let locked = (compat && options.locked_rate > 0.0).then(|| Locked {
                rate: options.locked_rate,
                seed: options.locked_seed,
                draws: AtomicU64::new(0),
            });
            (Box::new(store), locked)
        }
        BackendConfig::Redis { url } => {
            (Box::new(redis_store::RedisStore::open(url, compat)?), None)
        }
        BackendConfig::AwsDynamo { path, table } => (
            Box::new(dynamo::DynamoStore::open(
                path,
                table,
                compat,
                options.dynamo_increment_window,
            )?),
            None,
        ),
    };
    Ok(Arc::new(Guarded {
        inner,
        faults: faults.clone(),
        locked,
    }))
}

/// R4: a deterministic fraction of calls fails as if another process held the lock.
struct Locked {
    rate: f64,
    seed: u64,
    draws: AtomicU64,
}

/// A backend behind the fault injector and the R4 simulation.
struct Guarded {
    inner: Box<dyn KvStore>,
    faults: Faults,
    locked: Option<Locked>,
}

impl Guarded {
    /// Runs before every call; a failure here leaves the store untouched.
    fn gate(&self) -> Result<(), KvError> {
        self.faults.admit()?;
        if let Some(locked) = &self.locked {
            let n = locked.draws.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
            if unit(locked.seed, n) < locked.rate {
                return Err(KvError(LOCKED_MESSAGE.into()));
            }
        }
        Ok(())
    }
}

impl KvStore for Guarded {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.gate()?;
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.gate()?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.gate()?;
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.gate()?;
        self.inner.exists(key)
    }
    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        self.gate()?;
        self.inner.get_keys()
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.gate()?;
        self.inner.increment(key, delta)
    }
    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.gate()?;
        self.inner.cas_current(key)
    }
    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError> {
        self.gate().map_err(SwapError::Store)?;
        self.inner.swap(key, base, value)
    }
    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        self.gate()?;
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        self.gate()?;
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.gate()?;
        self.inner.delete_many(keys)
    }
}

/// Decodes a SQLite/memory counter: exactly 8 little-endian bytes.
fn decode_counter(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_le_bytes)
}

/// What an `increment` on a non-counter value does on the 8-byte backends: an error
/// in correct mode; in spin-compat mode (R3) the real runtime panics and poisons the
/// store, so this call and every later one fail with a host panic ([`POISONED_MESSAGE`]).
fn not_a_counter(key: &str, compat: bool, faults: &Faults) -> KvError {
    if compat {
        faults.poison();
        KvError(POISONED_MESSAGE.into())
    } else {
        KvError(format!(
            "increment: the value of key {key:?} is not a counter (8 little-endian bytes)"
        ))
    }
}

fn add(current: i64, delta: i64) -> Result<i64, KvError> {
    current
        .checked_add(delta)
        .ok_or_else(|| KvError("increment overflows a 64-bit integer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(faults: &Faults) -> Arc<dyn KvStore> {
        open(&BackendConfig::Memory, &StoreOptions::default(), faults).unwrap()
    }

    #[test]
    fn fail_nth_zero_is_the_next_call() {
        let faults = Faults::new();
        let s = store(&faults);
        faults.fail_nth(0);
        assert!(s.get("k").is_err());
        assert!(s.get("k").is_ok());
    }

    #[test]
    fn fail_from_fails_every_call_from_the_nth_until_cleared() {
        let faults = Faults::new();
        let s = store(&faults);
        faults.fail_from(2);
        assert!(s.set("k", b"v").is_ok());
        assert!(s.get("k").is_err());
        assert!(s.set("k", b"w").is_err());
        faults.clear();
        assert_eq!(s.get("k").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn fail_rate_is_clamped() {
        let faults = Faults::new();
        let s = store(&faults);
        faults.fail_rate(f64::NAN, 1);
        assert!(s.get("k").is_ok());
        faults.fail_rate(7.0, 1);
        assert!(s.get("k").is_err());
        faults.fail_rate(-1.0, 1);
        assert!(s.get("k").is_ok());
    }

    #[test]
    fn unit_draws_are_spread_over_the_interval() {
        let draws: Vec<f64> = (1..=10_000).map(|n| unit(3, n)).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let low = draws.iter().filter(|&&d| d < 0.1).count();
        assert!((800..1200).contains(&low), "{low} of 10000 below 0.1");
    }

    #[test]
    fn counters_overflow_is_an_error() {
        let s = store(&Faults::new());
        s.increment("n", i64::MAX).unwrap();
        assert!(s.increment("n", 1).is_err());
        assert_eq!(s.increment("n", 0).unwrap(), i64::MAX);
    }
}
