//! Starting an app: loading `spin.toml`, resolving variables, compiling the components
//! (once per process), binding the listener and spawning the server and the schedules.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use spin_local_kv::{BackendConfig, Faults};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::cron::schedule_loop;
use super::request::serve;
use super::{App, AppOptions, ComponentRt, CronMode, Inner, KvSetup};
use crate::clock::Clock;
use crate::host::cron_bindings::SpinCronPre;
use crate::host::{ComponentPolicy, HostState, KvRegistry};
use crate::logs::Logs;
use crate::manifest::Manifest;
use crate::routes::Router;
use crate::variables::{AppVariables, VariableSources};

/// One engine per process: compiled code is shared by every app of a test binary.
fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e.clone());
    }
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // Compiled components are kept in wasmtime's on-disk cache (the user's cache directory,
    // or SPIN_LOCAL_CACHE_DIR), keyed by the component's bytes and the compiler's settings:
    // each test binary, `spin-local` process and benchmark replica would otherwise compile
    // every component again, which in a debug build takes longer than most tests.
    if std::env::var_os("SPIN_LOCAL_NO_CACHE").is_none() {
        let mut cache = wasmtime::CacheConfig::new();
        if let Some(dir) = std::env::var_os("SPIN_LOCAL_CACHE_DIR") {
            cache.with_directory(PathBuf::from(dir));
        }
        match wasmtime::Cache::new(cache) {
            Ok(c) => {
                config.cache(Some(c));
            }
            // No cache is only slower.
            Err(e) => eprintln!("spin-local: no compilation cache: {e:#}"),
        }
    }
    let engine = Engine::new(&config)?;
    Ok(ENGINE.get_or_init(|| engine).clone())
}

/// Compiles `path` once per process (keyed by path, size and mtime).
fn load_component(engine: &Engine, id: &str, path: &Path) -> Result<Component> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static CACHE: OnceLock<Mutex<HashMap<Key, Component>>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| {
        anyhow!(
            "component {id:?}: cannot read {}: {e} (build the components first, e.g. `cargo build --target wasm32-wasip2 --release`)",
            path.display()
        )
    })?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    // Held while compiling so parallel tests compile each file once.
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = cache.get(&key) {
        return Ok(c.clone());
    }
    let component = Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component {id:?}: cannot load {}", path.display()))?;
    cache.insert(key, component.clone());
    Ok(component)
}

impl App {
    /// Loads the manifest, compiles the components, binds the listener and starts
    /// serving (and scheduling cron, in [`CronMode::Scheduled`]).
    pub fn start(options: AppOptions) -> Result<App> {
        let manifest = Manifest::load(&options.manifest)?;
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        let file_stores =
            crate::runtime_config::load(options.runtime_config_file.as_deref(), &state_dir)?;
        let mut temp = None;
        let stores: HashMap<String, BackendConfig> = match &options.kv {
            KvSetup::RuntimeConfig => file_stores.into_iter().collect(),
            KvSetup::Memory => file_stores
                .into_keys()
                .map(|l| (l, BackendConfig::Memory))
                .collect(),
            KvSetup::TempSqlite => {
                let dir =
                    tempfile::tempdir().context("cannot create a temporary state directory")?;
                let path = dir.path().join("sqlite_key_value.db");
                temp = Some(dir);
                file_stores
                    .into_keys()
                    .map(|l| (l, BackendConfig::Sqlite { path: path.clone() }))
                    .collect()
            }
            KvSetup::Backend(b) => file_stores.into_keys().map(|l| (l, b.clone())).collect(),
        };
        let mut store_options = options.store_options.clone();
        store_options.spin_compat |= options.spin_compat;
        let spin_compat = store_options.spin_compat;
        let kv = Arc::new(KvRegistry::new(stores, store_options, Faults::new()));

        // Variables.
        let dotenv_path = options
            .dotenv_file
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".env"));
        let dotenv = match std::fs::read_to_string(&dotenv_path) {
            Ok(text) => crate::variables::parse_dotenv(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && options.dotenv_file.is_none() => {
                HashMap::new()
            }
            Err(e) => bail!("cannot read {}: {e}", dotenv_path.display()),
        };
        let app_vars = AppVariables::resolve(
            &manifest,
            &VariableSources {
                overrides: options.variables.clone(),
                env: options.process_env.clone(),
                dotenv,
            },
        )?;

        // Components.
        let engine = engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        crate::host::add_to_linker(&mut linker)?;
        let http_ids: HashSet<&str> = manifest.http.iter().map(|t| t.component.as_str()).collect();
        let cron_ids: HashSet<&str> = manifest.cron.iter().map(|t| t.component.as_str()).collect();
        let mut components = HashMap::new();
        for id in manifest.triggered_components() {
            let decl = &manifest.components[id];
            let mut variables = HashMap::new();
            for (name, template) in &decl.variables {
                let value = crate::variables::expand(template, &app_vars).with_context(|| {
                    format!(
                        "{}: [component.{id}.variables] {name}",
                        manifest.path.display()
                    )
                })?;
                variables.insert(name.clone(), value);
            }
            let component = load_component(&engine, id, &decl.source)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {id:?} imports something this host does not provide")
                })?;
            let proxy = if http_ids.contains(id) {
                Some(ProxyPre::new(pre.clone()).map_err(anyhow::Error::from).with_context(|| {
                    format!("component {id:?} has an HTTP trigger but does not export wasi:http/incoming-handler")
                })?)
            } else {
                None
            };
            let cron = if cron_ids.contains(id) {
                Some(SpinCronPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                    format!("component {id:?} has a cron trigger but does not export handle-cron-event (world fermyon:spin-cron/spin-cron)")
                })?)
            } else {
                None
            };
            let mut env: Vec<(String, String)> = decl.environment.clone().into_iter().collect();
            env.extend(options.guest_env.iter().cloned());
            components.insert(
                id.to_string(),
                ComponentRt {
                    policy: Arc::new(ComponentPolicy {
                        id: id.to_string(),
                        allowed_stores: decl.key_value_stores.iter().cloned().collect(),
                        variables,
                    }),
                    env,
                    proxy,
                    cron,
                },
            );
        }
        let router = Router::build(
            manifest
                .http
                .iter()
                .filter_map(|t| t.route.as_deref().map(|r| (r, t.component.as_str()))),
        )?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("spin-local")
            .build()
            .context("cannot start the async runtime")?;
        let std_listener = std::net::TcpListener::bind(options.listen)
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        std_listener.set_nonblocking(true)?;
        let local_addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let ticks = manifest
            .cron
            .iter()
            .map(|t| (t.component.clone(), watch::channel(0u64).0))
            .collect();
        let inner = Arc::new(Inner {
            engine,
            router,
            components,
            kv,
            clock: Clock::new(),
            logs: Logs::new(options.quiet),
            ticks,
            local_addr,
            spin_compat,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        runtime.spawn(serve(listener, inner.clone(), shutdown_rx.clone()));
        if options.cron == CronMode::Scheduled {
            for t in &manifest.cron {
                let schedule = crate::cron::parse_schedule(&t.cron_expression)?;
                runtime.spawn(schedule_loop(
                    inner.clone(),
                    t.component.clone(),
                    schedule,
                    shutdown_rx.clone(),
                ));
            }
        }
        Ok(App {
            inner,
            runtime: Some(runtime),
            shutdown,
            manifest,
            _temp: temp,
        })
    }
}
