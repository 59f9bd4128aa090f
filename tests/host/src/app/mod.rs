//! The running app: engine, components, HTTP server, cron scheduler, and the blocking
//! handle tests and the CLI use.
//!
//! By concern: `options` (how to start an app), `start` (loading `spin.toml` and
//! compiling the components), `request` (serving HTTP), `cron` (ticks and schedules).
mod cron;
mod options;
mod request;
mod start;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use spin_local_kv::{Faults, KvStore};
use tokio::sync::watch;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::clock::{Clock, WasiWallClock};
use crate::host::cron_bindings::SpinCronPre;
use crate::host::{ComponentPolicy, HostState, KvRegistry, OpenError};
use crate::logs::{Logs, Stream};
use crate::manifest::Manifest;
use crate::routes::Router;

use self::cron::tick;

pub use self::cron::TickError;
pub use self::options::{AppOptions, CronMode, KvSetup};

struct ComponentRt {
    policy: Arc<ComponentPolicy>,
    env: Vec<(String, String)>,
    proxy: Option<ProxyPre<HostState>>,
    cron: Option<SpinCronPre<HostState>>,
}

struct Inner {
    engine: Engine,
    router: Router,
    components: HashMap<String, ComponentRt>,
    kv: Arc<KvRegistry>,
    clock: Clock,
    logs: Logs,
    /// Completed cron ticks per component (successful or not).
    ticks: HashMap<String, watch::Sender<u64>>,
    local_addr: SocketAddr,
    /// Write responses with Spin's timing (R5, `head_first`).
    spin_compat: bool,
}

/// A running app. Dropping it stops the server and the scheduler.
pub struct App {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: watch::Sender<bool>,
    manifest: Manifest,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.inner.local_addr)
            .finish()
    }
}

impl App {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The wall clock the guests and cron metadata see.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The fault injector of every store of this app.
    pub fn faults(&self) -> &Faults {
        self.inner.kv.faults()
    }

    /// Store calls made so far (by guests and by [`App::store`] users).
    pub fn kv_ops(&self) -> u64 {
        self.faults().ops()
    }

    /// Guest output and host errors so far, as printed.
    pub fn logs(&self) -> Vec<String> {
        self.inner.logs.lines()
    }

    /// `(route, component)` pairs, as `spin up` prints them.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.inner.router.describe()
    }

    /// Direct access to a store, e.g. to seed or inspect data in a test.
    pub fn store(&self, label: &str) -> Result<Arc<dyn KvStore>> {
        self.inner.kv.open(label).map_err(|e| match e {
            OpenError::NoSuchStore | OpenError::AccessDenied => {
                anyhow!("no store labelled {label:?}")
            }
            OpenError::Other(m) => anyhow!("cannot open store {label:?}: {m}"),
        })
    }

    /// Runs one cron tick of `component` to completion, with the clock's timestamp.
    pub fn fire_cron(&self, component: &str) -> Result<(), TickError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| TickError::Trap("app stopped".into()))?;
        runtime.block_on(tick(self.inner.clone(), component.to_string()))
    }

    /// Completed ticks (successful or not) of `component` so far.
    pub fn cron_ticks(&self, component: &str) -> u64 {
        self.inner
            .ticks
            .get(component)
            .map(|t| *t.borrow())
            .unwrap_or(0)
    }

    /// Waits until `component` completed at least `n` ticks; false on timeout.
    /// (For scheduled mode: advance the clock, then wait for the ticks it caused.)
    pub fn wait_for_ticks(&self, component: &str, n: u64, timeout: Duration) -> bool {
        let (Some(runtime), Some(sender)) =
            (self.runtime.as_ref(), self.inner.ticks.get(component))
        else {
            return false;
        };
        let mut rx = sender.subscribe();
        runtime.block_on(async move {
            tokio::time::timeout(timeout, rx.wait_for(|&v| v >= n))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }

    /// Blocks until Ctrl-C (the CLI's `up`).
    pub fn wait_for_ctrl_c(&self) -> Result<()> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| anyhow!("app stopped"))?;
        runtime.block_on(tokio::signal::ctrl_c())?;
        Ok(())
    }

    /// Stops serving and scheduling; in-flight requests are abandoned.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

fn new_store(inner: &Inner, rt: &ComponentRt) -> Store<HostState> {
    let id = &rt.policy.id;
    let mut wasi = WasiCtx::builder();
    wasi.stdout(inner.logs.guest_stream(id, Stream::Stdout))
        .stderr(inner.logs.guest_stream(id, Stream::Stderr))
        .wall_clock(WasiWallClock(inner.clock.clone()))
        .envs(&rt.env);
    Store::new(
        &inner.engine,
        HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            kv: inner.kv.clone(),
            policy: rt.policy.clone(),
            opened_store: Default::default(),
        },
    )
}
