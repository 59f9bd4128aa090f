//! What the `semantics_*` test files share: one private backend per test ([`Fixture`])
//! and small helpers.
// Each test file uses a part of it.
#![allow(dead_code)]

use std::sync::Arc;

use spin_local_kv::testing::RedisServer;
use spin_local_kv::{BackendConfig, Faults, KvStore, StoreOptions, open};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Memory,
    Sqlite,
    Redis,
    /// The local emulation of Spin's `aws_dynamo` store.
    Dynamo,
}

/// One backend instance private to a test (temp file, or its own redis-server).
pub struct Fixture {
    kind: Kind,
    pub config: BackendConfig,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisServer>,
}

impl Fixture {
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Memory => Self {
                kind,
                config: BackendConfig::Memory,
                _dir: None,
                _redis: None,
            },
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("state").join("sqlite_key_value.db");
                Self {
                    kind,
                    config: BackendConfig::Sqlite { path },
                    _dir: Some(dir),
                    _redis: None,
                }
            }
            Kind::Dynamo => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("state").join("aws_dynamo.db");
                Self {
                    kind,
                    config: BackendConfig::AwsDynamo {
                        path,
                        table: "image-catalog".into(),
                    },
                    _dir: Some(dir),
                    _redis: None,
                }
            }
            Kind::Redis => {
                let server = RedisServer::start();
                Self {
                    kind,
                    config: BackendConfig::Redis {
                        url: server.url.clone(),
                    },
                    _dir: None,
                    _redis: Some(server),
                }
            }
        }
    }

    pub fn open_with(&self, options: &StoreOptions, faults: &Faults) -> Arc<dyn KvStore> {
        open(&self.config, options, faults).expect("open store")
    }

    pub fn correct(&self) -> Arc<dyn KvStore> {
        self.open_with(&StoreOptions::default(), &Faults::default())
    }

    pub fn compat(&self, faults: &Faults) -> Arc<dyn KvStore> {
        let options = StoreOptions {
            spin_compat: true,
            ..StoreOptions::default()
        };
        self.open_with(&options, faults)
    }

    /// What `increment` leaves under the key, per backend (R3's encodings).
    pub fn counter_bytes(&self, n: i64) -> Vec<u8> {
        match self.kind {
            Kind::Memory | Kind::Sqlite => n.to_le_bytes().to_vec(),
            Kind::Redis | Kind::Dynamo => n.to_string().into_bytes(),
        }
    }
}

pub fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Which of `n` `set` calls fail under `faults`.
pub fn pattern(s: &dyn KvStore, n: usize) -> Vec<bool> {
    (0..n)
        .map(|i| s.set(&format!("k{i}"), b"v").is_err())
        .collect()
}
