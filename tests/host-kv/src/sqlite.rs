//! The SQLite backend: Spin's `spin` store type, one table shared by every label.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::{CasBase, Faults, KeyValues, KvError, KvStore, SwapError};

/// How long a call waits for another connection (thread or process) holding the write
/// lock before it fails with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct SqliteStore {
    conn: Mutex<Connection>,
    label: String,
    compat: bool,
    faults: Faults,
}

fn err(e: rusqlite::Error) -> KvError {
    KvError(e.to_string())
}

impl SqliteStore {
    pub(crate) fn open(
        path: &Path,
        label: &str,
        compat: bool,
        faults: Faults,
    ) -> Result<Self, KvError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                KvError(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| KvError(format!("cannot open {}: {e}", path.display())))?;
        // The busy timeout first: the statements below may meet another opener.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL lets readers proceed while one writer (thread or process) commits.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
        )
        .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            label: label.to_owned(),
            compat,
            faults,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A write transaction taken up front (`BEGIN IMMEDIATE`): a read-then-write
    /// transaction that starts as a reader may fail at once, busy timeout or not, when
    /// another connection commits in between.
    fn write_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let out = f(&tx)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }

    fn read(conn: &Connection, label: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        conn.query_row(
            "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
            params![label, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)
    }

    fn upsert(conn: &Connection, label: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        conn.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            params![label, key, value],
        )
        .map_err(err)?;
        Ok(())
    }

    fn remove(conn: &Connection, label: &str, key: &str) -> Result<(), KvError> {
        conn.execute(
            "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
            params![label, key],
        )
        .map_err(err)?;
        Ok(())
    }
}

impl KvStore for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Self::read(&self.conn(), &self.label, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        Self::upsert(&self.conn(), &self.label, key, value)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        Self::remove(&self.conn(), &self.label, key)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                params![self.label, key],
                |r| r.get(0),
            )
            .map_err(err)
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![self.label], |r| r.get(0))
            .map_err(err)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.write_tx(|tx| {
            let current = match Self::read(tx, &self.label, key)? {
                None => 0,
                Some(bytes) => crate::decode_counter(&bytes)
                    .ok_or_else(|| crate::not_a_counter(key, self.compat, &self.faults))?,
            };
            let new = crate::add(current, delta)?;
            Self::upsert(tx, &self.label, key, &new.to_le_bytes())?;
            Ok(new)
        })
    }

    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.get(key)
    }

    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError> {
        let applied = self
            .write_tx(|tx| {
                let matches = match base {
                    CasBase::NotRead => true,
                    // R1: Spin upserts when `current()` saw nothing.
                    CasBase::Absent if self.compat => true,
                    CasBase::Absent => Self::read(tx, &self.label, key)?.is_none(),
                    CasBase::Value(expected) => {
                        Self::read(tx, &self.label, key)?.as_ref() == Some(expected)
                    }
                };
                if matches {
                    Self::upsert(tx, &self.label, key, value)?;
                }
                Ok(matches)
            })
            .map_err(SwapError::Store)?;
        if applied {
            Ok(())
        } else {
            Err(SwapError::CasFailed)
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        let mut conn = self.conn();
        // One read transaction: every value from the same snapshot.
        let tx = conn.transaction().map_err(err)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push((k.clone(), Self::read(&tx, &self.label, k)?));
        }
        tx.commit().map_err(err)?;
        if self.compat {
            // As Spin's SQLite backend (docs/runtime-facts.md): missing keys left out,
            // duplicates removed, its own order (here: the keys sorted).
            out.retain(|(_, v)| v.is_some());
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(out)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        self.write_tx(|tx| {
            entries
                .iter()
                .try_for_each(|(k, v)| Self::upsert(tx, &self.label, k, v))
        })
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.write_tx(|tx| {
            keys.iter()
                .try_for_each(|k| Self::remove(tx, &self.label, k))
        })
    }
}
