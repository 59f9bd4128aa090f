//! The harness of the end-to-end tests: the app's own `spin.toml`, served by the local
//! host on a loopback port with a frozen clock and the cron advancer fired on demand, or
//! by the real `spin up` ([`real_spin`]) in real time with shortened timings.
//!
//! Every scenario (in [`scenarios`]) takes a [`Harness`] and runs on either target. On the
//! local host it runs in four setups ({default, spin-compat} × {SQLite, Redis}): the
//! `scenarios!` macro of each test file expands one test per setup. On real Spin the
//! `real_spin` test target runs them on SQLite and on Redis.

pub mod demo;
pub mod kill;
pub mod real_spin;
pub mod scenarios;

/// Request bodies the scenarios send: the demo inventory's gallery image and VM.
pub mod bodies {
    use serde_json::{Value, json};

    /// Create an image from the gallery image `g-1` (`AZURE_SIG`).
    pub fn sig_body(name: &str) -> Value {
        json!({
            "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
            "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        })
    }

    /// Create an image from the customer VM `vm-1` (`AZURE_CUSTOM_VM`).
    pub fn vm_body(name: &str) -> Value {
        json!({
            "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
            "sourceStreamType": "AZURE_CUSTOM_VM", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}}
        })
    }

    /// Add a MAJOR version copied from `g-1`.
    pub fn add_body() -> Value {
        json!({
            "osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
            "versionType": "MAJOR", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        })
    }
}

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spin_local_host::{App, AppOptions, BackendConfig, KvSetup};
use spin_local_kv::testing::RedisServer;

use crate::real_spin::{RealSpin, SpinOptions, SpinStore};

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
}

/// Where the app runs.
pub enum Target {
    /// Our host: frozen clock moved by the test, cron fired on demand, faults injectable.
    Local(App),
    /// `spin up`: real time, its own cron trigger, nothing injectable.
    Real(RealSpin),
}

impl Target {
    pub fn base_url(&self) -> String {
        match self {
            Target::Local(app) => app.base_url(),
            Target::Real(spin) => spin.base_url(),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Target::Real(_))
    }

    /// The app's clock in Unix seconds (what RPC calls are dated with).
    pub fn now_secs(&self) -> u64 {
        match self {
            Target::Local(app) => app.clock().unix_seconds(),
            Target::Real(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
        }
    }

    /// Our host, for what only it can do (move the clock, inject faults, count calls).
    pub fn local(&self) -> &App {
        match self {
            Target::Local(app) => app,
            Target::Real(_) => {
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
            Target::Real(spin) => wait_for_next_tick(&spin.base_url()),
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
            Target::Real(_) => {
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

/// The count of the last cron tick `/healthz` shows (0: none yet).
fn tick_count(http: &reqwest::blocking::Client, base: &str) -> i64 {
    http.get(format!("{base}/healthz"))
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
    let mut opts = SpinOptions::new(manifest()).variable("admin_token", ADMIN_TOKEN);
    for (name, value) in REAL_TIMINGS {
        opts = opts.variable(name, value);
    }
    opts
}

/// Starts `spin up` with [`real_options`] (plus `variables`) on a fresh store of
/// `backend`: a fresh state directory for SQLite, a new `redis-server` for Redis
/// (returned, to be dropped after the app).
pub fn start_real(backend: Backend, variables: &[(&str, &str)]) -> (Target, Option<RedisServer>) {
    RealSpin::require_binary();
    let redis = (backend == Backend::Redis).then(RedisServer::start);
    let mut opts = real_options();
    for (name, value) in variables {
        opts = opts.variable(name, value);
    }
    if let Some(server) = &redis {
        opts.store = SpinStore::Redis {
            url: server.url.clone(),
        };
    }
    let spin = RealSpin::start(&opts).unwrap_or_else(|e| {
        panic!("spin up did not start ({e:#}); build the components first: ./dev test")
    });
    (Target::Real(spin), redis)
}

/// One running app plus what a test needs to drive it: two orgs with a token each.
pub struct Harness {
    target: Arc<Target>,
    pub http: reqwest::blocking::Client,
    /// The test org and its REST token.
    pub org: String,
    pub token: String,
    /// Another org (for isolation checks) and its REST token.
    pub other_org: String,
    pub other_token: String,
    // Dropped after the app: the server outlives the host's connections.
    _redis: Option<RedisServer>,
}

/// The repository's `spin.toml`.
pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `body[key]` as a string ("" if absent).
    pub fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or_default().to_owned()
    }
}

impl Harness {
    /// Starts the app on our host on `backend`, in spin-compat mode if asked, seeds two
    /// orgs ([`ORG`], [`OTHER_ORG`]) with a token each and the demo inventory, and freezes
    /// the clock at [`T0_SECS`].
    pub fn start(backend: Backend, spin_compat: bool) -> Harness {
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let kv = match &redis {
            Some(server) => redis_kv(server),
            None => KvSetup::TempSqlite,
        };
        let app = start_app(kv, spin_compat, None);
        Harness::seeded(Arc::new(Target::Local(app)), redis, ORG, OTHER_ORG)
    }

    /// Starts a `spin up` of its own on `backend` (see [`start_real`]), seeded like
    /// [`Harness::start`].
    pub fn start_real(backend: Backend) -> Harness {
        let (target, redis) = start_real(backend, &[]);
        Harness::seeded(Arc::new(target), redis, ORG, OTHER_ORG)
    }

    /// A harness on an app already running (shared by several scenarios): two fresh orgs
    /// named after `label`, so scenarios on one app do not see each other's records.
    pub fn on(target: Arc<Target>, label: &str) -> Harness {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let org = format!("org-{label}-{n}");
        let other = format!("other-{label}-{n}");
        Harness::seeded(target, None, &org, &other)
    }

    fn seeded(
        target: Arc<Target>,
        redis: Option<RedisServer>,
        org: &str,
        other_org: &str,
    ) -> Harness {
        let mut h = Harness {
            target,
            http: http_client(),
            org: org.to_owned(),
            token: String::new(),
            other_org: other_org.to_owned(),
            other_token: String::new(),
            _redis: redis,
        };
        h.token = h.seed_org(org);
        h.other_token = h.seed_org(other_org);
        h
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn base_url(&self) -> String {
        self.target.base_url()
    }

    /// Our host (panics on real Spin): for scenarios that move the clock or inject faults.
    pub fn local(&self) -> &App {
        self.target.local()
    }

    /// The app's clock in Unix seconds: RPC calls are dated with it.
    pub fn now_secs(&self) -> u64 {
        self.target.now_secs()
    }

    /// Creates `org` with the demo inventory; returns a REST bearer token for it.
    pub fn seed_org(&self, org: &str) -> String {
        demo::seed(&self.http, &self.base_url(), ADMIN_TOKEN, org)
            .unwrap_or_else(|e| panic!("seeding {org}: {e}"))
            .token
    }

    /// An admin call that must succeed.
    pub fn admin(&self, method: &str, path: &str, body: Value) -> Answer {
        let a = self.send(method, path, Some(ADMIN_TOKEN), &[], Some(body));
        assert!(
            (200..300).contains(&a.status),
            "admin {method} {path}: {} {}",
            a.status,
            a.body
        );
        a
    }

    /// A REST call as the test org.
    pub fn rest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.send(
            method,
            &format!("/imagemgmt/v1{path}"),
            Some(&self.token),
            &[],
            body,
        )
    }

    /// Any request: `bearer` becomes `Authorization: Bearer …`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{}", self.base_url(), path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("request reached the app");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Lets background work happen (see [`Target::tick`]): our host moves the clock by
    /// `secs` and fires the advancer once; real Spin waits for its next cron tick.
    pub fn tick(&self, secs: u64) {
        self.target.tick(secs);
    }

    /// See [`Target::until`].
    pub fn until(&self, max_ticks: u32, done: impl FnMut() -> bool) -> bool {
        self.target.until(max_ticks, done)
    }

    /// Ticks every few (moved) seconds until `done` holds for the REST resource at
    /// `path`, at most `max_ticks` times (on real Spin: polls until [`REAL_DEADLINE`]);
    /// returns the last answer.
    pub fn tick_until(&self, path: &str, max_ticks: u32, done: impl Fn(&Answer) -> bool) -> Answer {
        let mut last = None;
        self.until(max_ticks, || {
            let a = self.rest("GET", path, None);
            let ok = done(&a);
            last = Some(a);
            ok
        });
        let last = last.expect("looked at least once");
        assert!(
            done(&last),
            "not reached after {max_ticks} ticks: {}",
            last.body
        );
        last
    }

    /// Creates an image from the gallery (`AZURE_SIG`) and returns the 201 body.
    pub fn sig_image(&self, name: &str) -> Answer {
        let a = self.rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
                "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
                "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                    "sourceImageVersionId": "g-1",
                    "isClientAccessLicenseApplicable": true, "multiSession": true}}
            })),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    /// Creates an image from a customer VM (`AZURE_CUSTOM_VM`) and returns the 201 body.
    pub fn vm_image(&self, name: &str) -> Answer {
        let a = self.rest(
            "POST",
            "/images?action=import-custom-vm",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
                "sourceStreamType": "AZURE_CUSTOM_VM", "providerInstanceId": "pi-1",
                "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}}
            })),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    /// Add Version with a gallery source.
    pub fn add_sig_version(&self, image: &str, extra: Value) -> Answer {
        let mut body = json!({
            "osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
            "versionType": "MAJOR", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.rest("POST", &format!("/images/{image}/versions"), Some(body))
    }
}

/// The first version of a created image: `(image id, version id)`.
pub fn first_version(created: &Answer) -> (String, String) {
    let image = created.str("id");
    let version = created.body["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!image.is_empty() && !version.is_empty(), "{}", created.body);
    (image, version)
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

// ---------------------------------------------------------------- several apps, one store
//
// Helpers for the scale-out, fault and hostile-input tests: apps started by hand (several
// on one store, or restarted on the same file), and a client per app for both doors.

/// Starts the app's `spin.toml` on `kv` with the e2e admin token, clock frozen at [`T0_SECS`].
pub fn start_app(kv: KvSetup, spin_compat: bool, state_dir: Option<PathBuf>) -> App {
    let mut options = AppOptions::new(manifest());
    options.kv = kv;
    options.spin_compat = spin_compat;
    options.state_dir = state_dir;
    options
        .variables
        .insert("admin_token".into(), ADMIN_TOKEN.into());
    let app = App::start(options).unwrap_or_else(|e| {
        panic!("the app did not start ({e:#}); build the components first: ./dev test")
    });
    app.clock().set_unix(T0_SECS);
    app
}

/// The store setup of a real Redis server.
pub fn redis_kv(server: &RedisServer) -> KvSetup {
    KvSetup::Backend(BackendConfig::Redis {
        url: server.url.clone(),
    })
}

/// An HTTP client with the e2e timeout.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Seeds `org` through the app at `base`; returns its credentials for both doors.
pub fn seed_at(http: &reqwest::blocking::Client, base: &str, org: &str) -> demo::Credentials {
    demo::seed(http, base, ADMIN_TOKEN, org).unwrap_or_else(|e| panic!("seeding {org}: {e}"))
}

/// Sends one request to `base` and reads the answer whole; `Err` when the connection
/// failed (a stopped host), so tests that kill hosts can tell "no answer" from an answer.
pub fn try_send(
    http: &reqwest::blocking::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = http.request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().map_err(|e| e.to_string())?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A client of one app (one replica) for one org, for both doors.
#[derive(Clone)]
pub struct Door {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub creds: demo::Credentials,
}

impl Door {
    pub fn new(base: String, creds: demo::Credentials) -> Door {
        Door {
            base,
            http: http_client(),
            creds,
        }
    }

    /// A REST call (`path` below `/imagemgmt/v1`); `Err` if the host did not answer.
    pub fn try_rest(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let auth = format!("Bearer {}", self.creds.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        try_send(
            &self.http,
            &self.base,
            method,
            &format!("/imagemgmt/v1{path}"),
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
    }

    /// A REST call that must reach the app.
    pub fn rest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.try_rest(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
    }

    /// A signed RPC call (ACS3-HMAC-SHA256, as the SDK signs it) with form `params`,
    /// dated `now_secs` (the app's frozen clock); `Err` if the host did not answer.
    pub fn try_rpc(
        &self,
        action: &str,
        params: &[(&str, &str)],
        now_secs: u64,
    ) -> Result<Answer, String> {
        let headers = rpc_headers(
            &self.base,
            &self.creds.access_key_id,
            &self.creds.access_key_secret,
            action,
            params,
            now_secs,
        );
        let body = form(params);
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        try_send(
            &self.http,
            &self.base,
            "POST",
            "/",
            &refs,
            Some(body.into_bytes()),
        )
    }

    pub fn rpc(&self, action: &str, params: &[(&str, &str)], now_secs: u64) -> Answer {
        self.try_rpc(action, params, now_secs)
            .unwrap_or_else(|e| panic!("{action}: no answer: {e}"))
    }
}

/// `k=v&…`, RFC 3986-encoded.
pub fn form(params: &[(&str, &str)]) -> String {
    use catalog_model::appstream::sign::rfc3986_encode;
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                rfc3986_encode(k.as_bytes()),
                rfc3986_encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The headers of a signed RPC POST to `/` of `base` (what the official SDK sends).
pub fn rpc_headers(
    base: &str,
    key_id: &str,
    secret: &str,
    action: &str,
    params: &[(&str, &str)],
    now_secs: u64,
) -> Vec<(String, String)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NONCE: AtomicU64 = AtomicU64::new(0);
    // At least 8 characters, as ACS3 asks, whatever the process id.
    let nonce = format!(
        "nonce-{:08}-{}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::SeqCst)
    );
    let date = catalog_model::time::iso8601_s(now_secs as i64 * 1000);
    let (headers, _body) = catalog_model::appstream::sign::sign_form_post(
        base.trim_start_matches("http://"),
        key_id,
        secret,
        action,
        params,
        &date,
        &nonce,
    );
    // The HTTP client writes `host` itself (signed with the same authority).
    let headers: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    headers
}

/// The operation path (below `/imagemgmt/v1`) an accepted REST answer names.
pub fn operation_path(a: &Answer) -> Option<String> {
    a.header("operation-location")
        .map(|l| l.trim_start_matches("/imagemgmt/v1").to_owned())
}

/// An error answer must be a problem (RFC 9457) with the same status in its body: never
/// Spin's empty 500.
pub fn assert_clean_error(what: &str, a: &Answer) {
    let ctype = a.header("content-type").unwrap_or_default();
    assert!(
        a.body.is_object(),
        "{what}: {} with a body that is not a JSON object: {:?}",
        a.status,
        a.body
    );
    if ctype.contains("problem+json") {
        assert_eq!(a.body["status"], a.status, "{what}: {}", a.body);
    }
}

/// Checks one operation record: a final status and no step entered twice for the same
/// attempt; at most one terminal event. Returns the status.
pub fn check_operation(op: &Value) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut terminal = 0;
    for e in op["history"].as_array().cloned().unwrap_or_default() {
        let key = (
            e["step"].to_string(),
            e["attempt"].to_string(),
            e["event"].to_string(),
        );
        assert!(seen.insert(key), "history entry twice: {e} in {op}");
        if e["event"] == "SUCCEEDED" || e["event"] == "FAILED" {
            terminal += 1;
        }
    }
    let status = op["status"].as_str().unwrap_or_default().to_owned();
    if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str()) {
        assert!(terminal <= 1, "more than one final event: {op}");
    }
    status
}
