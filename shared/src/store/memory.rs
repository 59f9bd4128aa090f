//! [`MemoryKv`], the in-memory test double of the storage port (tests and the `testing`
//! feature only; components never compile it).

use super::{CasOutcome, KeyValue, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// An in-memory store with correct semantics, for the model's unit tests.
///
/// `redis_cas_quirk` reproduces R2 (every swap reports `Unknown`, also when it landed),
/// and `fail_next` makes the next N calls fail transiently, so the model's retry and
/// read-back paths are tested without a host.
#[derive(Default)]
pub struct MemoryKv {
    inner: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    data: BTreeMap<String, Vec<u8>>,
    redis_cas_quirk: bool,
    /// Batch reads go one `get` each, as on Spin's Redis (R8).
    no_batch_reads: bool,
    fail_next: u32,
    ops: u64,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every successful swap reports [`CasOutcome::Unknown`] (Spin's Redis backend, R2).
    pub fn with_redis_cas_quirk() -> Self {
        let kv = Self::default();
        kv.state().redis_cas_quirk = true;
        kv
    }

    /// A store whose batch reads go one `get` each (Spin's Redis with `store_batch_reads`
    /// off, R8): [`KeyValue::batch_reads`] is `false`.
    pub fn without_batch_reads() -> Self {
        let kv = Self::default();
        kv.state().no_batch_reads = true;
        kv
    }

    /// The next `n` calls fail with [`StoreError::Transient`].
    pub fn fail_next(&self, n: u32) {
        self.state().fail_next = n;
    }

    /// How many calls reached the store (failed ones included).
    pub fn ops(&self) -> u64 {
        self.state().ops
    }

    /// All keys, sorted: for assertions in tests only (no hot path lists keys).
    pub fn keys(&self) -> Vec<String> {
        self.state().data.keys().cloned().collect()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A panic while holding the lock can only come from a failing test; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, StoreError> {
        let mut st = self.state();
        st.ops += 1;
        if st.fail_next > 0 {
            st.fail_next -= 1;
            return Err(StoreError::Transient("injected: database is locked".into()));
        }
        Ok(st)
    }
}

impl KeyValue for MemoryKv {
    fn batch_reads(&self) -> bool {
        !self.state().no_batch_reads
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.begin()?.data.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.begin()?.data.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.begin()?.data.remove(key);
        Ok(())
    }

    /// One call, as `set-many` is one call to the runtime.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut st = self.begin()?;
        for (k, v) in entries {
            st.data.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut st = self.begin()?;
        let current = match st.data.get(key) {
            None => 0,
            Some(bytes) => {
                let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    StoreError::Transient(format!("increment on non-counter key {key}"))
                })?;
                i64::from_le_bytes(arr)
            }
        };
        let next = current.wrapping_add(delta);
        st.data.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        let mut st = self.begin()?;
        if st.data.get(key).map(Vec::as_slice) != Some(expected) {
            return Ok(CasOutcome::Conflict);
        }
        st.data.insert(key.to_owned(), new.to_vec());
        Ok(if st.redis_cas_quirk {
            CasOutcome::Unknown
        } else {
            CasOutcome::Swapped
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_swaps_only_from_the_expected_value() {
        let kv = MemoryKv::new();
        kv.set("k", b"a").unwrap();
        assert_eq!(
            kv.compare_and_swap("k", b"b", b"c").unwrap(),
            CasOutcome::Conflict
        );
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(
            kv.compare_and_swap("k", b"a", b"c").unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"c"[..]));
    }

    #[test]
    fn cas_never_creates_a_missing_key() {
        let kv = MemoryKv::new();
        assert_eq!(
            kv.compare_and_swap("k", b"", b"x").unwrap(),
            CasOutcome::Conflict
        );
        assert_eq!(kv.get("k").unwrap(), None);
    }

    #[test]
    fn redis_quirk_reports_unknown_but_writes() {
        let kv = MemoryKv::with_redis_cas_quirk();
        kv.set("k", b"a").unwrap();
        assert_eq!(
            kv.compare_and_swap("k", b"a", b"b").unwrap(),
            CasOutcome::Unknown
        );
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn increment_counts_from_zero_and_refuses_non_counters() {
        let kv = MemoryKv::new();
        assert_eq!(kv.increment("c", 1).unwrap(), 1);
        assert_eq!(kv.increment("c", 1).unwrap(), 2);
        assert_eq!(kv.increment("c", 0).unwrap(), 2);
        kv.set("s", b"text").unwrap();
        assert!(kv.increment("s", 1).is_err());
    }

    #[test]
    fn set_many_writes_every_entry_in_one_call() {
        let kv = MemoryKv::new();
        kv.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(kv.ops(), 1);
        assert_eq!(kv.keys(), vec!["a", "b"]);
    }

    #[test]
    fn injected_failures_are_transient_and_counted() {
        let kv = MemoryKv::new();
        kv.fail_next(2);
        assert!(matches!(kv.get("k"), Err(StoreError::Transient(_))));
        assert!(matches!(kv.set("k", b"v"), Err(StoreError::Transient(_))));
        assert!(kv.set("k", b"v").is_ok());
        assert_eq!(kv.ops(), 3);
    }
}
