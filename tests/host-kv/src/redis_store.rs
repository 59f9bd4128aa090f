//! The Redis backend: Spin's `redis` store type. Like Spin, keys are the raw keys of
//! the Redis database (no per-label namespace) and counters are INCRBY decimal text.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::{Client, Connection, RedisError, RedisResult};

use crate::{CasBase, HOST_PANIC_MESSAGE, KeyValues, KvError, KvStore, SwapError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds every command, so a stuck server fails the call instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for reuse; more may be open while calls run in parallel.
const POOL_IDLE: usize = 8;

/// Compare-and-swap in one atomic script. ARGV[1]: "absent" | "value" | "any";
/// ARGV[2]: the expected value; ARGV[3]: the new value. Returns 1 when written.
const CAS_SCRIPT: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif ARGV[1] == 'value' then
  if current ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

pub(crate) struct RedisStore {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    /// spin-compat R2 (every swap reports `cas-failed`, applied or not) and R8
    /// (`get_many` sends `KEYS`).
    compat: bool,
}

fn err(e: RedisError) -> KvError {
    KvError(format!("redis: {e}"))
}

impl RedisStore {
    /// Checks the URL; connects lazily (and again after a broken connection).
    pub(crate) fn open(url: &str, compat: bool) -> Result<Self, KvError> {
        let client = Client::open(url).map_err(err)?;
        Ok(Self {
            client,
            idle: Mutex::new(Vec::new()),
            compat,
        })
    }

    fn connect(&self) -> Result<Connection, KvError> {
        let conn = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(err)?;
        conn.set_read_timeout(Some(IO_TIMEOUT)).map_err(err)?;
        conn.set_write_timeout(Some(IO_TIMEOUT)).map_err(err)?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection; a connection that failed at the transport level
    /// is dropped rather than returned to the pool.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T, KvError> {
        self.with_raw(f)?.map_err(err)
    }

    /// [`Self::with`], leaving the command's own error to the caller.
    fn with_raw<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<RedisResult<T>, KvError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&mut conn);
        let broken = matches!(&result, Err(e) if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.is_unrecoverable_error());
        if !broken {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < POOL_IDLE {
                idle.push(conn);
            }
        }
        Ok(result)
    }

    /// R8: Spin sends `KEYS k1 k2 ...` instead of `MGET` and reads the reply as
    /// (key, value) pairs, so Redis decides, as on the real runtime: two or more keys
    /// are refused (Spin passes the server's error on in the redis crate's words, without
    /// our "redis: " prefix); one key is a glob pattern whose matching key names the
    /// redis crate splits into pairs, and an odd number of names hits its
    /// `unreachable!()` (the host panics: an existing plain key is one name).
    fn get_many_like_spin(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        let names: Vec<Vec<u8>> = self
            .with_raw(|c| redis::cmd("KEYS").arg(keys).query(c))?
            .map_err(|e| KvError(e.to_string()))?;
        if names.len() % 2 == 1 {
            return Err(KvError(HOST_PANIC_MESSAGE.into()));
        }
        Ok(names
            .chunks_exact(2)
            .map(|pair| {
                let key = String::from_utf8_lossy(&pair[0]).into_owned();
                (key, Some(pair[1].clone()))
            })
            .collect())
    }
}

impl KvStore for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.with(|c| redis::cmd("SET").arg(key).arg(value).query(c))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.with(|c| redis::cmd("DEL").arg(key).query::<i64>(c))
            .map(drop)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.with(|c| redis::cmd("EXISTS").arg(key).query::<i64>(c))
            .map(|n| n > 0)
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        // As Spin: every key of the database.
        let mut keys: Vec<String> = self.with(|c| redis::cmd("KEYS").arg("*").query(c))?;
        keys.sort();
        Ok(keys)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        // A non-integer value is Redis' own error (R3 on Redis: no poisoning).
        self.with(|c| redis::cmd("INCRBY").arg(key).arg(delta).query(c))
    }

    fn cas_current(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.get(key)
    }

    fn swap(&self, key: &str, base: &CasBase, value: &[u8]) -> Result<(), SwapError> {
        let (mode, expected): (&str, &[u8]) = match base {
            CasBase::Absent => ("absent", &[]),
            CasBase::Value(v) => ("value", v),
            CasBase::NotRead => ("any", &[]),
        };
        let written: i64 = self
            .with(|c| {
                redis::cmd("EVAL")
                    .arg(CAS_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(mode)
                    .arg(expected)
                    .arg(value)
                    .query(c)
            })
            .map_err(SwapError::Store)?;
        // R2: Spin's trailing UNWATCH is rejected, so even a landed write reports failure.
        if written == 1 && !self.compat {
            Ok(())
        } else {
            Err(SwapError::CasFailed)
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<KeyValues, KvError> {
        // Spin sends nothing for an empty batch either (measured: no KEYS reached Redis).
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if self.compat {
            return self.get_many_like_spin(keys);
        }
        let values: Vec<Option<Vec<u8>>> = self.with(|c| redis::cmd("MGET").arg(keys).query(c))?;
        if values.len() != keys.len() {
            return Err(KvError(format!(
                "redis: MGET answered {} values for {} keys",
                values.len(),
                keys.len()
            )));
        }
        Ok(keys.iter().cloned().zip(values).collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let mut cmd = redis::cmd("MSET");
            for (k, v) in entries {
                cmd.arg(k).arg(v);
            }
            cmd.query(c)
        })
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with(|c| redis::cmd("DEL").arg(keys).query::<i64>(c))
            .map(drop)
    }
}
