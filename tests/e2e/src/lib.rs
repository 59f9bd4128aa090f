//! The harness of the end-to-end tests: the app's own `spin.toml`, served by the local
//! host on a loopback port with a frozen clock and the cron advancer fired on demand, or
//! by the real `spin up` ([`real_spin`]) in real time with shortened timings.
//!
//! Every scenario (in [`scenarios`]) takes a [`Harness`] and runs on either target. On the
//! local host it runs in four setups ({default, spin-compat} × {SQLite, Redis}): the
//! `scenarios!` macro of each test file expands one test per setup. On real Spin the
//! `real_spin` test target runs them on SQLite and on Redis.

pub mod bodies;
pub mod demo;
pub mod kill;
pub mod moto;
pub mod real_spin;
pub mod scenarios;
pub mod scheduler;

mod apps;
mod checks;
mod harness;
mod request;
mod rpc;
mod target;

use std::path::PathBuf;
use std::time::Duration;

pub use apps::{Door, redis_kv, seed_at, start_app, start_app_with};
pub use checks::{assert_clean_error, check_operation, operation_path};
pub use harness::{Harness, first_version};
pub use request::{Answer, http_client, try_send};
pub use rpc::{form, rpc_headers};
pub use target::{StoreServer, Target, real_options, start_real, start_real_driven};

pub const ADMIN_TOKEN: &str = "e2e-admin-token";
pub const ORG: &str = "org-e2e";
pub const OTHER_ORG: &str = "org-other";
/// 2026-11-01T00:00:00Z: the frozen start of every test.
pub const T0_SECS: u64 = 1_793_491_200;

/// On real Spin: how long a scenario waits for background work (in real time).
pub const REAL_DEADLINE: Duration = Duration::from_secs(60);
/// On real Spin: the pause between two looks at a resource while waiting.
pub const REAL_POLL: Duration = Duration::from_millis(200);
/// On real Spin: the provisioning timings (Spin variables), shortened so an operation
/// takes a few cron ticks (every 2 s, as `spin.toml` says) instead of a minute.
pub const REAL_TIMINGS: [(&str, &str); 5] = [
    ("step_ms", "300"),
    ("poll_ms", "300"),
    ("backoff_ms", "300"),
    ("bucket_ms", "300"),
    ("skew_ms", "300"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Redis,
    /// A local DynamoDB (moto's server, R12): on the real runtime only.
    Dynamo,
}

/// The repository's `spin.toml`.
pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// Expands each scenario `fn name(h: &Harness)` into four tests, one per setup.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::{Backend, Harness};
                #[test]
                fn sqlite() {
                    super::$name(&Harness::start(Backend::Sqlite, false));
                }
                #[test]
                fn sqlite_spin_compat() {
                    super::$name(&Harness::start(Backend::Sqlite, true));
                }
                #[test]
                fn redis() {
                    super::$name(&Harness::start(Backend::Redis, false));
                }
                #[test]
                fn redis_spin_compat() {
                    super::$name(&Harness::start(Backend::Redis, true));
                }
            }
        )*
    };
}
