//! Test helpers: a store that fails chosen calls, including *after* applying a write (the
//! worst case of R4, where the caller cannot know whether the write landed).

use crate::store::{CasOutcome, KeyValue, MemoryKv, StoreError};
use std::cell::Cell;

/// Wraps [`MemoryKv`]; call number `fail_call(n)` (1-based, counted from that moment) fails
/// transiently. Writes (`set`, `set_many`, `compare_and_swap`, `increment`, `delete`) fail *after*
/// applying, reads before.
pub struct FlakyKv {
    pub inner: MemoryKv,
    calls: Cell<u64>,
    fail_at: Cell<Option<u64>>,
    /// Fail every call whose pseudo-random draw is below this per-mille rate.
    rate_per_mille: Cell<u64>,
    seed: Cell<u64>,
}

impl FlakyKv {
    pub fn redis_quirk() -> Self {
        Self::wrap(MemoryKv::with_redis_cas_quirk())
    }
    fn wrap(inner: MemoryKv) -> Self {
        Self {
            inner,
            calls: Cell::new(0),
            fail_at: Cell::new(None),
            rate_per_mille: Cell::new(0),
            seed: Cell::new(1),
        }
    }
    pub fn fail_call(&self, n: u64) {
        self.fail_at.set(Some(self.calls.get() + n));
    }
    pub fn fail_rate(&self, per_mille: u64, seed: u64) {
        self.rate_per_mille.set(per_mille);
        self.seed.set(seed | 1);
    }
    fn should_fail(&self) -> bool {
        let c = self.calls.get() + 1;
        self.calls.set(c);
        if self.fail_at.get() == Some(c) {
            return true;
        }
        let rate = self.rate_per_mille.get();
        if rate == 0 {
            return false;
        }
        // xorshift64
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        x % 1000 < rate
    }
    fn err() -> StoreError {
        StoreError::Transient("injected: database is locked".into())
    }
}

impl KeyValue for FlakyKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.should_fail() {
            return Err(Self::err());
        }
        self.inner.get(key)
    }
    fn batch_reads(&self) -> bool {
        self.inner.batch_reads()
    }
    /// One call, failing as one (a `get-many` is one round trip).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if self.should_fail() {
            return Err(Self::err());
        }
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let fail = self.should_fail();
        self.inner.set(key, value)?;
        if fail { Err(Self::err()) } else { Ok(()) }
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let fail = self.should_fail();
        self.inner.delete(key)?;
        if fail { Err(Self::err()) } else { Ok(()) }
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let fail = self.should_fail();
        self.inner.set_many(entries)?;
        if fail { Err(Self::err()) } else { Ok(()) }
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let fail = self.should_fail();
        self.inner.delete_many(keys)?;
        if fail { Err(Self::err()) } else { Ok(()) }
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let fail = self.should_fail();
        let v = self.inner.increment(key, delta)?;
        if fail { Err(Self::err()) } else { Ok(v) }
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        let fail = self.should_fail();
        let v = self.inner.compare_and_swap(key, expected, new)?;
        if fail { Err(Self::err()) } else { Ok(v) }
    }
}

/// An [`crate::env::Env`] shareable between threads (tests of concurrent advancers).
pub struct SharedEnv {
    now: std::sync::atomic::AtomicI64,
    seed: std::sync::atomic::AtomicU64,
}

impl SharedEnv {
    pub fn at(now: i64) -> Self {
        Self {
            now: std::sync::atomic::AtomicI64::new(now),
            seed: std::sync::atomic::AtomicU64::new(7),
        }
    }
    pub fn advance_ms(&self, ms: i64) {
        self.now.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl crate::env::Env for SharedEnv {
    fn now_ms(&self) -> i64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn random_u64(&self) -> u64 {
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pause_ms(&self, _ms: u64) {}
}

/// Which store call a [`Hooked`] store is about to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Get,
    Set,
    Delete,
    Increment,
    Swap,
    /// A batch is one call (as `wasi:keyvalue/batch` is one call to the runtime); its keys
    /// come joined by commas.
    GetMany,
    SetMany,
    DeleteMany,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Get => "get",
            Call::Set => "set",
            Call::Delete => "delete",
            Call::Increment => "increment",
            Call::Swap => "swap",
            Call::GetMany => "get_many",
            Call::SetMany => "set_many",
            Call::DeleteMany => "delete_many",
        }
    }
}

/// A store that runs `before(call, key)` ahead of every call it passes on to `inner`: a
/// second replica cutting in at a chosen call, or store calls that take (fake) time.
pub struct Hooked<'a, F: Fn(Call, &str)> {
    pub inner: &'a dyn KeyValue,
    pub before: F,
}

impl<F: Fn(Call, &str)> KeyValue for Hooked<'_, F> {
    fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (self.before)(Call::Get, k);
        self.inner.get(k)
    }
    fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        (self.before)(Call::Set, k);
        self.inner.set(k, v)
    }
    fn delete(&self, k: &str) -> Result<(), StoreError> {
        (self.before)(Call::Delete, k);
        self.inner.delete(k)
    }
    fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
        (self.before)(Call::Increment, k);
        self.inner.increment(k, d)
    }
    fn compare_and_swap(&self, k: &str, e: &[u8], n: &[u8]) -> Result<CasOutcome, StoreError> {
        (self.before)(Call::Swap, k);
        self.inner.compare_and_swap(k, e, n)
    }
    fn batch_reads(&self) -> bool {
        self.inner.batch_reads()
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        (self.before)(Call::GetMany, &keys.join(","));
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        (self.before)(Call::SetMany, &keys.join(","));
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        (self.before)(Call::DeleteMany, &keys.join(","));
        self.inner.delete_many(keys)
    }
}
