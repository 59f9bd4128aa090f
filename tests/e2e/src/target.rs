//! Where the app runs ([`Target`]: our host or a real `spin up`), how background work is
//! let happen on each, and how a real `spin up` is started.

use std::time::{Duration, Instant};

use serde_json::Value;
use spin_local_host::App;
use spin_local_kv::testing::RedisServer;

use crate::moto::MotoServer;
use crate::real_spin::{Pace, RealSpin, SpinOptions, SpinStore};
use crate::{ADMIN_TOKEN, Backend, REAL_DEADLINE, REAL_POLL, REAL_TIMINGS, http_client, manifest};

/// Where the app runs.
pub enum Target {
    /// Our host: frozen clock moved by the test, cron fired on demand, faults injectable.
    Local(App),
    /// `spin up`: real time, its own cron trigger (or an external scheduler), nothing
    /// injectable.
    Real(RealSpin),
    /// An app started by someone else at this base URL (SpinKube's node runtime under
    /// containerd, `tests/shim/run.sh`), in real time, its engine driven by its own
    /// scheduler: handled as [`Target::Real`].
    Remote(String),
}

impl Target {
    pub fn base_url(&self) -> String {
        match self {
            Target::Local(app) => app.base_url(),
            Target::Real(spin) => spin.base_url(),
            Target::Remote(base) => base.clone(),
        }
    }

    pub fn is_real(&self) -> bool {
        !matches!(self, Target::Local(_))
    }

    /// The app's clock in Unix seconds (what RPC calls are dated with).
    pub fn now_secs(&self) -> u64 {
        match self {
            Target::Local(app) => app.clock().unix_seconds(),
            Target::Real(_) | Target::Remote(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        }
    }

    /// Our host, for what only it can do (move the clock, inject faults, count calls).
    pub fn local(&self) -> &App {
        match self {
            Target::Local(app) => app,
            Target::Real(_) | Target::Remote(_) => {
                panic!("this scenario needs our host (moved clock or fault injection)")
            }
        }
    }

    /// Lets background work happen: on our host, moves the clock by `secs` and fires the
    /// advancer once; on real Spin, waits until the cron has started a newer tick.
    pub fn tick(&self, secs: u64) {
        match self {
            Target::Local(app) => {
                app.clock().advance(Duration::from_secs(secs));
                app.fire_cron("advancer")
                    .unwrap_or_else(|e| panic!("advancer tick failed: {e:?}"));
            }
            Target::Real(_) | Target::Remote(_) => wait_for_next_tick(&self.base_url()),
        }
    }

    /// Calls `done` until it holds: on our host with a tick of 3 (moved) seconds between
    /// calls, at most `max_ticks` ticks; on real Spin every [`REAL_POLL`] until
    /// [`REAL_DEADLINE`]. Returns whether it held.
    pub fn until(&self, max_ticks: u32, mut done: impl FnMut() -> bool) -> bool {
        match self {
            Target::Local(_) => {
                for _ in 0..max_ticks {
                    if done() {
                        return true;
                    }
                    self.tick(3);
                }
                done()
            }
            Target::Real(_) | Target::Remote(_) => {
                let deadline = Instant::now() + REAL_DEADLINE;
                loop {
                    if done() {
                        return true;
                    }
                    if Instant::now() > deadline {
                        return false;
                    }
                    std::thread::sleep(REAL_POLL);
                }
            }
        }
    }
}

/// The count of the last cron tick `/healthz` shows the admin token (0: none yet).
fn tick_count(http: &reqwest::blocking::Client, base: &str) -> i64 {
    http.get(format!("{base}/healthz"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok())
        .and_then(|v| v["cron"]["lastTick"]["count"].as_i64())
        .unwrap_or(0)
}

/// Waits (real time, bounded) until the cron has started a tick after this call.
fn wait_for_next_tick(base: &str) {
    let http = http_client();
    let before = tick_count(&http, base);
    let deadline = Instant::now() + Duration::from_secs(15);
    while tick_count(&http, base) <= before {
        assert!(
            Instant::now() < deadline,
            "no cron tick on {base} within 15 s (the cron fires every 2 s)"
        );
        std::thread::sleep(REAL_POLL);
    }
}

/// `spin up` options for the app's `spin.toml`: the e2e admin token and [`REAL_TIMINGS`]
/// on Spin's default store (a SQLite file in a fresh state directory).
pub fn real_options() -> SpinOptions {
    let mut opts = SpinOptions::new(manifest())
        .variable("admin_token", ADMIN_TOKEN)
        .variable("secrets_key", catalog_model::secrets::TEST_KEY);
    for (name, value) in REAL_TIMINGS {
        opts = opts.variable(name, value);
    }
    opts
}

/// Starts `spin up` with [`real_options`] (plus `variables`) on a fresh store of
/// `backend`: a fresh state directory for SQLite, a new `redis-server` for Redis
/// (returned, to be dropped after the app).
pub fn start_real(backend: Backend, variables: &[(&str, &str)]) -> (Target, Option<StoreServer>) {
    start_real_driven(backend, variables, None)
}

/// [`start_real`], with no cron trigger and the engine driven over HTTP at `pace` when it is
/// `Some` ([`SpinOptions::without_cron`]).
pub fn start_real_driven(
    backend: Backend,
    variables: &[(&str, &str)],
    without_cron: Option<Pace>,
) -> (Target, Option<StoreServer>) {
    RealSpin::require_binary();
    let mut opts = real_options();
    opts.without_cron = without_cron;
    for (name, value) in variables {
        opts = opts.variable(name, value);
    }
    let server = match backend {
        Backend::Sqlite => None,
        Backend::Redis => {
            let server = RedisServer::start();
            opts.store = SpinStore::Redis {
                url: server.url.clone(),
            };
            Some(StoreServer::Redis(server))
        }
        Backend::Dynamo => {
            let server = MotoServer::start();
            opts.store = SpinStore::Dynamo {
                endpoint: server.endpoint.clone(),
            };
            Some(StoreServer::Moto(server))
        }
    };
    let spin = RealSpin::start(&opts).unwrap_or_else(|e| {
        panic!("spin up did not start ({e:#}); build the components first: ./dev test")
    });
    (Target::Real(spin), server)
}

/// The store server a real `spin up` runs on, kept alive until dropped after the app.
pub enum StoreServer {
    Redis(RedisServer),
    Moto(MotoServer),
}
