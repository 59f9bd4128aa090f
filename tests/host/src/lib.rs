//! A local Spin host: runs a `spin.toml` (manifest v2) on wasmtime 48 with Spin's
//! semantics for HTTP routing, key-value, variables and cron, plus what tests need
//! (in-process start on an ephemeral port, a controllable clock, cron on demand,
//! key-value fault injection). Where it differs from the real Spin runtime, and what its
//! spin-compat mode reproduces: `docs/runtime-facts.md`.
mod app;
pub mod clock;
pub mod cron;
mod head_first;
mod host;
pub mod logs;
pub mod manifest;
pub mod routes;
pub mod runtime_config;
pub mod variables;

/// Paths of the test guest components built by `build.rs` (for this crate's tests
/// and the app's end-to-end tests).
pub mod test_guests {
    include!(concat!(env!("OUT_DIR"), "/test_guests.rs"));
}

pub use app::{App, AppOptions, CronMode, KvSetup, TickError};
pub use clock::Clock;
pub use logs::Logs;
pub use manifest::Manifest;
pub use spin_local_kv::{BackendConfig, Faults, KvError, KvStore, StoreOptions};
