//! How to start an app: [`AppOptions`] and the choices it holds.
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use spin_local_kv::{BackendConfig, StoreOptions};

#[cfg(doc)]
use super::App;

/// Where the key-value stores live.
#[derive(Debug, Clone, Default)]
pub enum KvSetup {
    /// Spin's behaviour: the runtime config file if given, and `default` as SQLite in
    /// the state directory.
    RuntimeConfig,
    /// Every store label a fresh in-memory store (the default for tests).
    #[default]
    Memory,
    /// Every store label in one SQLite file in a fresh temporary directory, removed
    /// with the app.
    TempSqlite,
    /// Every store label on this backend (e.g. a test Redis).
    Backend(BackendConfig),
}

/// How cron triggers fire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CronMode {
    /// Only when [`App::fire_cron`] is called (tests).
    #[default]
    Manual,
    /// On their schedules, following [`App::clock`] (real time unless a test moves it).
    Scheduled,
}

/// How to start an app. [`AppOptions::new`] gives the test defaults: ephemeral
/// loopback port, in-memory stores, manual cron, no process environment.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest: PathBuf,
    pub listen: SocketAddr,
    pub kv: KvSetup,
    /// A Spin runtime config file (`[key_value_store.LABEL]`): its labels exist; with
    /// [`KvSetup::RuntimeConfig`] its backends are used too.
    pub runtime_config_file: Option<PathBuf>,
    /// Spin's `--state-dir` (default: `.spin` beside the manifest).
    pub state_dir: Option<PathBuf>,
    /// Reproduce the real runtime's quirks R1–R5 and R8 (key-value: `spin_local_kv`;
    /// R5, the response head sent before the body: `head_first`).
    pub spin_compat: bool,
    /// Further store options (e.g. the R4 "database is locked" rate).
    pub store_options: StoreOptions,
    /// Values for app variables by name (highest precedence, like `--variable`).
    pub variables: BTreeMap<String, String>,
    /// The environment `SPIN_VARIABLE_*` are read from; `None` = the process's.
    pub process_env: Option<HashMap<String, String>>,
    /// The dotenv file; `None` = `.env` beside the manifest, if present.
    pub dotenv_file: Option<PathBuf>,
    /// Environment variables of every guest (`spin up --env`).
    pub guest_env: Vec<(String, String)>,
    pub cron: CronMode,
    /// Keep guest output and host errors out of the process's stdout/stderr
    /// (they are still in [`App::logs`]).
    pub quiet: bool,
}

impl AppOptions {
    pub fn new(manifest: impl Into<PathBuf>) -> AppOptions {
        AppOptions {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kv: KvSetup::Memory,
            runtime_config_file: None,
            state_dir: None,
            spin_compat: false,
            store_options: StoreOptions::default(),
            variables: BTreeMap::new(),
            process_env: Some(HashMap::new()),
            dotenv_file: None,
            guest_env: Vec::new(),
            cron: CronMode::Manual,
            quiet: true,
        }
    }
}
