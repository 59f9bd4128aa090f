//! The running app: engine, components, HTTP server, cron scheduler, and the blocking
//! handle tests and the CLI use.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use spin_local_kv::{BackendConfig, Faults, KvStore, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::clock::{Clock, WasiWallClock};
use crate::host::cron_bindings::{SpinCronPre, fermyon::spin_cron::cron_types};
use crate::host::{ComponentPolicy, HostState, KvRegistry, OpenError};
use crate::logs::{Logs, Stream};
use crate::manifest::Manifest;
use crate::routes::Router;
use crate::variables::{AppVariables, VariableSources};

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

/// Why a cron tick did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickError {
    /// No `[[trigger.cron]]` uses this component.
    NotCron(String),
    /// The guest returned `Err(error::other(..))`.
    Guest(String),
    /// The guest trapped (or could not be instantiated).
    Trap(String),
}

impl std::fmt::Display for TickError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TickError::NotCron(c) => write!(f, "component {c:?} has no cron trigger"),
            TickError::Guest(m) => write!(f, "cron handler returned an error: {m}"),
            TickError::Trap(m) => write!(f, "cron handler trapped: {m}"),
        }
    }
}

impl std::error::Error for TickError {}

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

/// One engine per process: compiled code is shared by every app of a test binary.
fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e.clone());
    }
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
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

// ---------------------------------------------------------------- HTTP

async fn serve(listener: TcpListener, inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    inner.logs.line(Stream::Stderr, format!("accept failed: {e}"));
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        // No TCP_NODELAY: the real Spin does not set it (runtime fact R5).
        let inner = inner.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let inner = inner.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(inner, req, client).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn empty(status: u16) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

async fn handle(
    inner: Arc<Inner>,
    req: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    // Spin refuses a header value that is not UTF-8 with an empty 500 before routing (R9).
    if req
        .headers()
        .values()
        .any(|v| std::str::from_utf8(v.as_bytes()).is_err())
    {
        inner.logs.line(
            Stream::Stderr,
            "Error processing request: invalid utf-8 sequence in a header value".into(),
        );
        return empty(500);
    }
    let path = req.uri().path().to_string();
    let Some(m) = inner.router.route(&path) else {
        return empty(404);
    };
    let Some(rt) = inner.components.get(&m.component) else {
        return empty(500);
    };
    let Some(proxy) = rt.proxy.clone() else {
        return empty(500);
    };
    let (mut parts, body) = req.into_parts();
    let local = inner.local_addr.to_string();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(&local)
        .to_string();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    // The guest gets the authority in the URI and no `host` header (runtime fact R7).
    parts.uri = match hyper::Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(pq.as_str())
        .build()
    {
        Ok(uri) => uri,
        Err(_) => return empty(400),
    };
    parts.headers.remove(hyper::header::HOST);
    for (name, value) in m.spin_headers("http", &host, &pq, client) {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            parts.headers.insert(n, v);
        }
    }
    let req = hyper::Request::from_parts(parts, body);

    let id = rt.policy.id.clone();
    let mut store = new_store(&inner, rt);
    let (sender, receiver) = oneshot::channel();
    let spin_compat = inner.spin_compat;
    let prepared = (|| {
        let req = wasmtime_wasi_http::WasiHttpView::http(store.data_mut())
            .new_incoming_request(Scheme::Http, req)?;
        let opened_store = store.data().opened_store.clone();
        let mut http = wasmtime_wasi_http::WasiHttpView::http(store.data_mut());
        let out = if spin_compat {
            // Judged at `set`, while the guest waits: was its body complete by then (R5)?
            http.new_response_outparam_from_callback(move |resp| {
                let opened = opened_store.load(std::sync::atomic::Ordering::Relaxed);
                let _ = sender.send(resp.map(|r| crate::head_first::like_spin(r, opened)));
            })?
        } else {
            http.new_response_outparam(sender)?
        };
        Ok::<_, wasmtime::Error>((req, out))
    })();
    let (req, out) = match prepared {
        Ok(p) => p,
        Err(e) => {
            inner.logs.error(&id, &format!("{e:#}"));
            return empty(500);
        }
    };
    let logs = inner.logs.clone();
    let task_id = id.clone();
    let task = tokio::spawn(async move {
        let result = async {
            let proxy = proxy.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        }
        .await;
        if let Err(e) = &result {
            logs.error(&task_id, &format!("{e:?}"));
        }
        result.is_ok()
    });
    match receiver.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            inner
                .logs
                .error(&id, &format!("guest answered with error code {e:?}"));
            empty(500)
        }
        // The guest ended (or trapped) without setting a response.
        Err(_) => {
            if let Ok(true) = task.await {
                inner
                    .logs
                    .error(&id, "guest returned without setting a response");
            }
            empty(500)
        }
    }
}

// ---------------------------------------------------------------- cron

async fn tick(inner: Arc<Inner>, component: String) -> Result<(), TickError> {
    let rt = inner
        .components
        .get(&component)
        .ok_or_else(|| TickError::NotCron(component.clone()))?;
    let pre = rt
        .cron
        .clone()
        .ok_or_else(|| TickError::NotCron(component.clone()))?;
    let mut store = new_store(&inner, rt);
    let metadata = cron_types::Metadata {
        timestamp: inner.clock.unix_seconds(),
    };
    let result = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance.call_handle_cron_event(&mut store, metadata).await
    }
    .await;
    let outcome = match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cron_types::Error::Other(m))) => Err(TickError::Guest(m)),
        Err(e) => Err(TickError::Trap(format!("{e:?}"))),
    };
    if let Err(e) = &outcome {
        inner.logs.error(&component, &e.to_string());
    }
    if let Some(t) = inner.ticks.get(&component) {
        t.send_modify(|n| *n += 1);
    }
    outcome
}

/// Fires `component` at each schedule point the clock reaches. With a frozen test
/// clock it waits for the clock to move; with the real clock it sleeps.
async fn schedule_loop(
    inner: Arc<Inner>,
    component: String,
    schedule: crate::cron::Schedule,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changed = inner.clock.subscribe();
    // None: a `set` made before this task first ran still anchors the schedule.
    let mut seen_anchor = None;
    let mut last = inner.clock.now();
    loop {
        if let Some((n, t)) = inner.clock.anchor()
            && Some(n) != seen_anchor
        {
            seen_anchor = Some(n);
            last = t;
        }
        let now = inner.clock.now();
        // The clock went back: schedule from the new time.
        if now < last {
            last = now;
        }
        let Some(next) = crate::cron::next_after(&schedule, last) else {
            return;
        };
        if now >= next {
            // Errors are logged by `tick`; the schedule goes on.
            let _ = tick(inner.clone(), component.clone()).await;
            last = next;
            continue;
        }
        let wait = if inner.clock.is_frozen() {
            Duration::from_secs(3600)
        } else {
            next.duration_since(now).unwrap_or(Duration::ZERO)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.changed() => {}
            _ = shutdown.changed() => return,
        }
    }
}
