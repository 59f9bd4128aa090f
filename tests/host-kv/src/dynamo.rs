//! Spin's `aws_dynamo` store type, emulated locally (no network client): the items of one
//! DynamoDB table (partition key `PK`, value `VAL`) in a SQLite file, shared by every label
//! and process that names the same table.
//!
//! Correct mode: a plain store whose counters are decimal text. spin-compat mode: what Spin
//! 4.0.2's `aws_dynamo` backend did against DynamoDB (moto 5.2.6), R12 in
//! docs/runtime-facts.md:
//! - `increment` reads, then writes conditioned on the value it read; a writer in between
//!   makes it fail with DynamoDB's `TransactionCanceledException … [ConditionalCheckFailed]`
//!   and write nothing (`StoreOptions::dynamo_increment_window` widens the gap for tests);
//! - `swap` is conditioned on what `current()` saw (created only if still absent); any
//!   failure of it is `cas-failed`;
//! - `get-many`: found keys only (in the order asked); more than 100 keys or a duplicate
//!   key is a `ValidationException`; `delete-many` with a duplicate key too; `set-many`
//!   takes duplicates (the last wins) and any number of entries;
//! - an item over 405 000 bytes (key, value and attribute names, moto's limit) is refused.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{CasBase, KeyValues, KvError, KvStore, SwapError};

/// Items larger than this (attribute names included) are refused: moto 5.2.6's limit
/// (DynamoDB documents 400 KB); measured: 400 000 value bytes stored, 409 600 refused.
pub const MAX_ITEM_BYTES: usize = 405_000;
/// `BatchGetItem` takes at most this many keys.
pub const MAX_GET_MANY_KEYS: usize = 100;
/// The text of a lost `increment` race (without its request id and raw response).
pub const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";
/// The message of a batch with a key twice.
pub const DUPLICATE_KEYS_MESSAGE: &str = "Provided list of item keys contains duplicates";
/// The message of an item over [`MAX_ITEM_BYTES`].
pub const ITEM_TOO_LARGE_MESSAGE: &str = "Item size has exceeded the maximum allowed size";

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct DynamoStore {
    conn: Mutex<Connection>,
    table: String,
    compat: bool,
    /// spin-compat: a pause between an increment's read and its conditional write.
    window: Duration,
}

fn err(e: rusqlite::Error) -> KvError {
    KvError(e.to_string())
}

/// How the AWS SDK's `SdkError` prints a DynamoDB error (Spin hands the guest its `Debug`
/// text), with a fixed request id and the raw response shortened.
fn service_error(code: &str, message: &str, source: &str) -> KvError {
    KvError(format!(
        "ServiceError(ServiceError {{ source: {source}, raw: Response {{ status: StatusCode(400), \
         headers: Headers {{ headers: {{\"x-amzn-errortype\": HeaderValue {{ _private: H0(\"{code}\") }}}} }}, \
         body: SdkBody {{ inner: Once(Some(b\"{{\\\"__type\\\": \\\"com.amazonaws.dynamodb.v20120810#{code}\\\", \
         \\\"message\\\": \\\"{message}\\\"}}\")), retryable: true }}, \
         extensions: Extensions {{ extensions_02x: Extensions, extensions_1x: Extensions }} }} }})"
    ))
}

fn metadata(code: &str, message: &str) -> String {
    format!(
        "ErrorMetadata {{ code: Some(\"{code}\"), message: Some(\"{message}\"), \
         extras: Some({{\"aws_request_id\": \"spin-local-aws-dynamo\"}}) }}"
    )
}

/// A `ValidationException` as the guest sees it.
pub fn validation_error(message: &str) -> KvError {
    let meta = metadata("ValidationException", message);
    service_error(
        "ValidationException",
        message,
        &format!("Unhandled(Unhandled {{ source: {meta}, meta: {meta} }})"),
    )
}

/// A lost conditional write (`TransactWriteItems` cancelled) as the guest sees it.
pub fn conditional_check_failed() -> KvError {
    let message = "Transaction cancelled, please refer cancellation reasons for specific \
                   reasons [ConditionalCheckFailed]";
    let meta = metadata("TransactionCanceledException", message);
    service_error(
        "TransactionCanceledException",
        message,
        &format!(
            "TransactionCanceledException(TransactionCanceledException {{ message: Some(\"{message}\"), \
             cancellation_reasons: Some([CancellationReason {{ item: None, code: Some(\"ConditionalCheckFailed\"), \
             message: Some(\"The conditional request failed\") }}]), meta: {meta} }})"
        ),
    )
}

/// Spin's parse of a stored counter: UTF-8 decimal text; errors print as Rust's `Debug`.
fn parse_counter(bytes: &[u8]) -> Result<i64, KvError> {
    let text = std::str::from_utf8(bytes).map_err(|e| KvError(format!("{e:?}")))?;
    text.parse::<i64>().map_err(|e| KvError(format!("{e:?}")))
}

impl DynamoStore {
    pub(crate) fn open(
        path: &Path,
        table: &str,
        compat: bool,
        window: Duration,
    ) -> Result<Self, KvError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                KvError(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| KvError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dynamo_items (
                tbl TEXT NOT NULL,
                pk  TEXT NOT NULL,
                val BLOB NOT NULL,
                PRIMARY KEY (tbl, pk)
            )",
        )
        .map_err(err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            table: table.to_owned(),
            compat,
            window,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self, conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        conn.query_row(
            "SELECT val FROM dynamo_items WHERE tbl = ?1 AND pk = ?2",
            params![self.table, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)
    }

    fn put(&self, conn: &Connection, key: &str, value: &[u8]) -> Result<(), KvError> {
        conn.execute(
            "INSERT INTO dynamo_items (tbl, pk, val) VALUES (?1, ?2, ?3)
             ON CONFLICT (tbl, pk) DO UPDATE SET val = excluded.val",
            params![self.table, key, value],
        )
        .map_err(err)?;
        Ok(())
    }

    fn remove(&self, conn: &Connection, key: &str) -> Result<(), KvError> {
        conn.execute(
            "DELETE FROM dynamo_items WHERE tbl = ?1 AND pk = ?2",
            params![self.table, key],
        )
        .map_err(err)?;
        Ok(())
    }

    /// Writes `value` only if the key still holds `expected` (`None`: still absent).
    /// Whether it wrote.
    fn conditional_put(
        &self,
        conn: &Connection,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, KvError> {
        let changed = match expected {
            Some(old) => conn.execute(
                "UPDATE dynamo_items SET val = ?4 WHERE tbl = ?1 AND pk = ?2 AND val = ?3",
                params![self.table, key, old, value],
            ),
            None => conn.execute(
                "INSERT INTO dynamo_items (tbl, pk, val) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tbl, pk) DO NOTHING",
                params![self.table, key, value],
            ),
        }
        .map_err(err)?;
        Ok(changed == 1)
    }

    /// spin-compat: DynamoDB's item size limit (moto's: names and values).
    fn check_size(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        if self.compat && "PK".len() + key.len() + "VAL".len() + value.len() > MAX_ITEM_BYTES {
            return Err(validation_error(ITEM_TOO_LARGE_MESSAGE));
        }
        Ok(())
    }

    fn has_duplicates(keys: &[String]) -> bool {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        !keys.iter().all(|k| seen.insert(k.as_str()))
    }

    fn transaction<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let out = f(&tx)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }
}

impl KvStore for DynamoStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.read(&self.conn(), key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.check_size(key, value)?;
        self.put(&self.conn(), key, value)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.remove(&self.conn(), key)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.get(key)?.is_some())
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT pk FROM dynamo_items WHERE tbl = ?1 ORDER BY pk")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![self.table], |r| r.get(0))
            .map_err(err)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        if !self.compat {
            return self.transaction(|tx| {
                let current = match self.read(tx, key)? {
                    None => 0,
                    Some(bytes) => parse_counter(&bytes)?,
                };
                let new = crate::add(current, delta)?;
                self.put(tx, key, new.to_string().as_bytes())?;
                Ok(new)
            });
        }
        // As Spin: a consistent read, then a write conditioned on the value read (its
        // decimal text) or on the key being absent. Another writer in between wins.
        let old = match self.get(key)? {
            None => None,
            Some(bytes) => Some(parse_counter(&bytes)?),
        };
        let new = crate::add(old.unwrap_or(0), delta)?;
        if !self.window.is_zero() {
            std::thread::sleep(self.window);
        }
        let expected = old.map(|n| n.to_string().into_bytes());
        if self.conditional_put(
            &self.conn(),
            key,
            expected.as_deref(),
            new.to_string().as_bytes(),
        )? {
            Ok(new)
        } else {
            Err(conditional_check_failed())
        }
    }

    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.get(key)
    }

    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError> {
        // Spin reports any failure of the swap's write as `cas-failed`.
        let failed = |e: KvError| {
            if self.compat {
                SwapError::CasFailed
            } else {
                SwapError::Store(e)
            }
        };
        self.check_size(key, value).map_err(failed)?;
        let conn = self.conn();
        let applied = match base {
            CasBase::NotRead => self.put(&conn, key, value).map(|()| true),
            CasBase::Absent => self.conditional_put(&conn, key, None, value),
            CasBase::Value(old) => self.conditional_put(&conn, key, Some(old), value),
        }
        .map_err(failed)?;
        if applied {
            Ok(())
        } else {
            Err(SwapError::CasFailed)
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        if self.compat && !keys.is_empty() {
            if keys.len() > MAX_GET_MANY_KEYS {
                return Err(validation_error(&format!(
                    "1 validation error detected: Value at 'requestItems.{}.member.keys' failed \
                     to satisfy constraint: Member must have length less than or equal to \
                     {MAX_GET_MANY_KEYS}",
                    self.table
                )));
            }
            if Self::has_duplicates(keys) {
                return Err(validation_error(DUPLICATE_KEYS_MESSAGE));
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push((k.clone(), self.read(&tx, k)?));
        }
        tx.commit().map_err(err)?;
        if self.compat {
            // BatchGetItem answers the items it found.
            out.retain(|(_, v)| v.is_some());
        }
        Ok(out)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        for (k, v) in entries {
            self.check_size(k, v)?;
        }
        self.transaction(|tx| entries.iter().try_for_each(|(k, v)| self.put(tx, k, v)))
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if self.compat && Self::has_duplicates(keys) {
            return Err(validation_error(DUPLICATE_KEYS_MESSAGE));
        }
        self.transaction(|tx| keys.iter().try_for_each(|k| self.remove(tx, k)))
    }
}
