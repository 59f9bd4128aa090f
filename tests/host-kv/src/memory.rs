//! The in-memory backend (tests): SQLite's semantics without a file.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{CasBase, Faults, KeyValues, KvError, KvStore, SwapError};

pub(crate) struct MemoryStore {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
    /// spin-compat: R1 (blind swap from an absent/unread base) and R3 (poisoning), as
    /// on the SQLite backend this store stands in for.
    compat: bool,
    faults: Faults,
}

impl MemoryStore {
    pub(crate) fn new(compat: bool, faults: Faults) -> Self {
        Self {
            map: Mutex::new(BTreeMap::new()),
            compat,
            faults,
        }
    }

    fn map(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KvStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.map().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.map().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.map().contains_key(key))
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        Ok(self.map().keys().cloned().collect())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut map = self.map();
        let current = match map.get(key) {
            None => 0,
            Some(bytes) => crate::decode_counter(bytes)
                .ok_or_else(|| crate::not_a_counter(key, self.compat, &self.faults))?,
        };
        let new = crate::add(current, delta)?;
        map.insert(key.to_owned(), new.to_le_bytes().to_vec());
        Ok(new)
    }

    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.get(key)
    }

    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError> {
        let mut map = self.map();
        let matches = match base {
            CasBase::NotRead => true,
            // R1: the real runtime upserts when `current()` saw nothing.
            CasBase::Absent => self.compat || !map.contains_key(key),
            CasBase::Value(expected) => map.get(key) == Some(expected),
        };
        if !matches {
            return Err(SwapError::CasFailed);
        }
        map.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        let map = self.map();
        Ok(keys
            .iter()
            .map(|k| (k.clone(), map.get(k).cloned()))
            .collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let mut map = self.map();
        for (k, v) in entries {
            map.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let mut map = self.map();
        for k in keys {
            map.remove(k);
        }
        Ok(())
    }
}
