//! `bench [--quick] [--out FILE] [--manifest PATH]`: the app's and the host's figures,
//! in one run.
//!
//! Serves the repository's `spin.toml` (or `--manifest`'s) plus two baseline components
//! through the local host (SQLite store, as `./dev up`), then measures, over keep-alive
//! connections: requests/s and p50/p99 of each endpoint as ratios against an empty Spin
//! handler measured in the same run; the key-value operations each request costs; the
//! cost of an idle cron tick with few and with many settled versions; and each
//! component's size. Absolute numbers depend on the machine; the ratios are what to
//! compare. `--spin` measures request rows on the real Spin runtime instead
//! ([`on_spin`]); `--engine` the background engine's throughput with 1, 2 and 3 replicas and
//! its fairness between orgs, on real Spin and on our host ([`engine`]); `--calls` the store
//! calls per request and per transition on DynamoDB against Redis, on both ([`calls`]).

mod bigorg;
mod calls;
mod engine;
mod isolation;
mod kvops;
mod loadgen;
mod on_spin;
mod pacing;
mod pages;
mod ticks;
mod verify;

use std::path::{Path, PathBuf};
use std::time::Duration;

use catalog_e2e::demo;
use loadgen::{Report, Target};
use serde_json::{Value, json};
use spin_local_host::{App, AppOptions, KvSetup, test_guests};
use ticks::{TickCost, render_ticks, tick_costs};

const ADMIN: &str = "bench-admin";

struct Config {
    quick: bool,
    /// Only the cron tick costs (idle and with 100 due), skipping the request figures.
    ticks_only: bool,
    out: Option<PathBuf>,
    /// The request rows on real Spin and on our host in spin-compat mode ([`on_spin`]).
    spin: bool,
    /// The engine's throughput with replicas and its fairness, on both runtimes ([`engine`]).
    engine: bool,
    /// Store calls per request and per transition, DynamoDB against Redis ([`calls`]).
    calls: bool,
    /// A quiet org's latency while a noisy one publishes and searches ([`isolation`]).
    isolation: bool,
    /// The app to measure (default: the repository's `spin.toml`); its relative
    /// component paths are relative to its directory.
    manifest: PathBuf,
}

/// Operations due at once in the "busy tick" figures (and the bench's tick cap, so one
/// tick takes them all: the app's default cap is 50).
const DUE: usize = 100;

fn main() {
    let mut cfg = Config {
        quick: false,
        ticks_only: false,
        out: None,
        spin: false,
        engine: false,
        calls: false,
        isolation: false,
        manifest: repo().join("spin.toml"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => cfg.quick = true,
            "--ticks" => cfg.ticks_only = true,
            "--verify" => {
                // Only the signature verification cost (native, no app).
                match verify::cost(20_000) {
                    Ok((v, p)) => {
                        println!(
                            "ACS3 verification: {:.1} us per request; parsing the same request's parameters: {:.1} us ({:.1}x)",
                            v.as_secs_f64() * 1e6,
                            p.as_secs_f64() * 1e6,
                            v.as_secs_f64() / p.as_secs_f64().max(1e-12)
                        );
                        std::process::exit(0);
                    }
                    Err(e) => {
                        eprintln!("bench --verify failed: {e:#}");
                        std::process::exit(1);
                    }
                }
            }
            "--out" => cfg.out = args.next().map(PathBuf::from),
            "--spin" => cfg.spin = true,
            "--engine" => cfg.engine = true,
            "--calls" => cfg.calls = true,
            "--isolation" => cfg.isolation = true,
            "--manifest" => match args.next() {
                Some(m) => cfg.manifest = PathBuf::from(m),
                None => {
                    eprintln!("--manifest needs a path");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: bench [--quick] [--ticks] [--verify] [--spin] [--engine] [--calls] [--isolation] [--manifest PATH] [--out FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    let result = if cfg.calls {
        calls::run(&cfg.manifest, cfg.out.as_deref())
    } else if cfg.isolation {
        isolation::run(&cfg)
    } else if cfg.engine {
        engine::run(&cfg)
    } else if cfg.spin {
        on_spin::run(&cfg)
    } else {
        run(&cfg)
    };
    if let Err(e) = result {
        eprintln!("bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `manifest` with absolute component paths and baseline routes added, written into
/// `dir`: `/bench/empty` (an empty handler) and, with `kv_probe`, `/bench/kv` (one
/// key-value read).
fn bench_manifest(dir: &Path, manifest: &Path, kv_probe: bool) -> anyhow::Result<PathBuf> {
    let manifest = manifest.canonicalize()?;
    let root = manifest
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", manifest.display()))?;
    let mut text = std::fs::read_to_string(&manifest)?.replace(
        "source = \"target/",
        &format!("source = \"{}/target/", root.display()),
    );
    text.push_str(&format!(
        r#"
[[trigger.http]]
route = "/bench/empty"
component = "bench-empty"

[component.bench-empty]
source = "{}"
"#,
        test_guests::EMPTY
    ));
    if kv_probe {
        text.push_str(&format!(
            r#"

[[trigger.http]]
route = "/bench/kv"
component = "bench-kv"

[component.bench-kv]
source = "{}"
key_value_stores = ["default"]
"#,
            test_guests::PROBE
        ));
    }
    let path = dir.join("spin.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

struct Row {
    name: String,
    report: Report,
    kv_ops: u64,
}

fn run(cfg: &Config) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("catalog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = bench_manifest(&dir, &cfg.manifest, true)?;
    // The request rows run the default rate limits, paced under them (`pacing`).
    let app = start_app(&manifest, RateLimits::Default)?;
    let base = app.base_url();
    let addr = app.local_addr();
    let http = reqwest::blocking::Client::new();
    let creds = demo::seed(&http, &base, ADMIN, "bench").map_err(anyhow::Error::msg)?;
    let auth = (
        "authorization".to_owned(),
        format!("Bearer {}", creds.token),
    );

    let (workers, per_worker) = if cfg.quick { (2, 150) } else { (2, 2000) };
    let mut rows = Vec::new();
    let mut pacer = pacing::Pacer::default();
    // `probe`: one request like the row's, whose store calls are counted (and whose org's
    // request limit the row is paced under).
    let mut measure = |name: &str,
                       probe: &Target,
                       make: &(dyn Fn(usize, usize) -> Target + Sync)|
     -> anyhow::Result<()> {
        let n = (workers * (20 + per_worker) + 1) as u64;
        let (kv_ops, report) = pacer.run(probe, n, || -> anyhow::Result<_> {
            // Warm-up: instantiate, fill caches, open connections.
            loadgen::run(addr, workers, 20, make)?;
            let before = app.kv_ops();
            loadgen::Conn::connect(addr)?.send(probe)?;
            let kv_ops = app.kv_ops() - before;
            Ok((kv_ops, loadgen::run(addr, workers, per_worker, make)?))
        })?;
        let report = report.logged_clean(name)?;
        rows.push(Row {
            name: name.to_owned(),
            report,
            kv_ops,
        });
        Ok(())
    };

    let empty = Target::get("/bench/empty");
    if cfg.ticks_only {
        // Only the tick figures.
        let ticks = tick_costs(&app, &http, &base, &creds, cfg.quick)?;
        let report = render_ticks(&ticks);
        println!("{report}");
        if let Some(out) = &cfg.out {
            std::fs::write(out, &report)?;
        }
        app.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    measure("empty handler (baseline)", &empty, &|_, _| empty.clone())?;
    let health = Target::get("/healthz");
    measure("GET /healthz", &health, &|_, _| health.clone())?;
    let kv = Target::get("/bench/kv?op=w.get,default,health%3Alast-tick");
    measure("one KV read (probe guest)", &kv, &|_, _| kv.clone())?;

    // One image per worker, so Add Version measures the request, not one hot record.
    let images: Vec<(String, String)> = (0..workers.max(1))
        .map(|i| {
            sig_image(&http, &base, &creds.token, &format!("bench-{i}")).map(|(i, v, _)| (i, v))
        })
        .collect::<anyhow::Result<_>>()?;
    let (img0, ver0) = images[0].clone();
    let get_version = Target {
        headers: vec![auth.clone()],
        ..Target::get(format!("/imagemgmt/v1/images/{img0}/versions/{ver0}"))
    };
    measure("GET version", &get_version, &|_, _| get_version.clone())?;
    // The RPC door: signed POSTs, a fresh nonce each (the signature covers it). ListImage of
    // one image with thousands of versions is in the tick table.
    let rpc =
        |action: &str, params: &[(&str, &str)]| rpc_target(&app, &base, &creds, action, params);
    let list_probe = rpc("ListImage", &[("PageSize", "10")]);
    measure("RPC ListImage", &list_probe, &|_, _| {
        rpc("ListImage", &[("PageSize", "10")])
    })?;
    // Each capture needs an instance of its own (a running capture refuses a second).
    let captures = workers * (20 + per_worker) + 1;
    for i in 0..captures {
        let resp = http
            .put(format!("{base}/admin/v1/orgs/bench/instances/cbi-{i}"))
            .bearer_auth(ADMIN)
            .json(&json!({"instanceType": "CloudDesktop", "osType": "WINDOWS"}))
            .send()?;
        anyhow::ensure!(resp.status().is_success(), "instance: {}", resp.status());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let capture = || {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("cbi-{i}");
        rpc(
            "CreateImageByInstance",
            &[
                ("InstanceId", id.as_str()),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", id.as_str()),
            ],
        )
    };
    let capture_probe = capture();
    measure("RPC CreateImageByInstance", &capture_probe, &|_, _| {
        capture()
    })?;

    let add = |image: &str| Target {
        method: "POST",
        path: format!("/imagemgmt/v1/images/{image}/versions"),
        headers: vec![
            auth.clone(),
            ("content-type".into(), "application/json".into()),
        ],
        body: add_version_body().to_string().into_bytes(),
    };
    let add_probe = add(&img0);
    measure("POST Add Version", &add_probe, &|w, _| add(&images[w].0))?;

    // A page of an org's images, in an org of 10 and of 10 000 (`--quick`: 1 000).
    let listing = listing_orgs(&http, &base, &*app.store("default")?, cfg.quick)?;
    for (name, token) in &listing {
        let page = Target {
            headers: vec![("authorization".to_owned(), format!("Bearer {token}"))],
            ..Target::get("/imagemgmt/v1/images?size=10")
        };
        measure(name, &page, &|_, _| page.clone())?;
    }

    let sizes = component_sizes(&app);
    app.shutdown();
    // The per-endpoint counts and the tick figures start from a fresh store: the thousands
    // of operations the rows above left running would otherwise be settled first, which
    // is not what is measured.
    // Lifted here, so each count is the request's own: with the default limit the limiter
    // adds one `increment` to one request in 22 (`ratelimit::sample_unit`), at random.
    let app = start_app(&manifest, RateLimits::Lifted)?;
    let base = app.base_url();
    let creds = demo::seed(&http, &base, ADMIN, "bench").map_err(anyhow::Error::msg)?;
    let per_endpoint = kvops::per_endpoint(&app, &creds.token)?;
    let ticks = tick_costs(&app, &http, &base, &creds, cfg.quick)?;

    let mut report = render(&rows, &ticks, &sizes, workers, per_worker);
    report.push_str(&listing_ratio(&rows, &listing));
    report.push_str(&kvops::render(&per_endpoint));
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report)?;
    }
    app.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The two orgs of the listing rows, seeded straight into `store` ([`bigorg`]): their row
/// names and REST tokens, the small org first.
pub(crate) fn listing_orgs(
    http: &reqwest::blocking::Client,
    base: &str,
    store: &dyn spin_local_kv::KvStore,
    quick: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (org, n) in [
        ("list-small", bigorg::SMALL),
        ("list-large", bigorg::large(quick)),
    ] {
        let creds = demo::seed(http, base, ADMIN, org).map_err(anyhow::Error::msg)?;
        bigorg::seed_images(store, org, n)?;
        // The runtime lists what was written: the whole org counted, a full first page.
        let page: Value = http
            .get(format!("{base}/imagemgmt/v1/images?size=10"))
            .bearer_auth(&creds.token)
            .send()?
            .json()?;
        anyhow::ensure!(
            page["totalElements"] == json!(n) && page["numberOfElements"] == json!(10),
            "the seeded org {org} lists as {page}"
        );
        out.push((format!("GET /images?size=10, org of {n}"), creds.token));
    }
    Ok(out)
}

/// The listing rows compared: the large org's figures against the small one's, measured in
/// the same run.
fn listing_ratio(rows: &[Row], listing: &[(String, String)]) -> String {
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    let (Some(small), Some(large)) = (
        listing.first().and_then(|l| find(&l.0)),
        listing.get(1).and_then(|l| find(&l.0)),
    ) else {
        return String::new();
    };
    format!(
        "\n{} against {}: p50 {:.2}x, req/s {:.2}x, KV ops {} against {}.\n",
        large.name,
        small.name,
        large.report.p50.as_secs_f64() / small.report.p50.as_secs_f64().max(1e-9),
        large.report.rps() / small.report.rps().max(1e-9),
        large.kv_ops,
        small.kv_ops,
    )
}

/// Whether the per-org request limits are the defaults or lifted.
#[derive(Clone, Copy, PartialEq)]
enum RateLimits {
    Default,
    Lifted,
}

/// The app of `manifest` as the bench runs it: SQLite store, tick cap = [`DUE`], the
/// builder quota at its highest (above the captures the bench starts, so all run at once),
/// room for the versions and operations the rows leave, and the rate limits as asked.
fn start_app(manifest: &Path, limits: RateLimits) -> anyhow::Result<App> {
    let mut options = AppOptions::new(manifest);
    options.kv = KvSetup::TempSqlite;
    options.variables.insert("admin_token".into(), ADMIN.into());
    options.variables.insert(
        "secrets_key".into(),
        catalog_model::secrets::TEST_KEY.into(),
    );
    options.variables.insert("tick_cap".into(), DUE.to_string());
    options
        .variables
        .insert("builder_quota".into(), "5000".into());
    // The Add Version row grows two images to 2 000 versions each (full run), past the
    // default quota; the most the contract allows leaves room.
    options
        .variables
        .insert("quota_versions".into(), "4096".into());
    // The capture and Add Version rows leave thousands of operations running in one org.
    options
        .variables
        .insert("quota_operations".into(), "5000".into());
    if limits == RateLimits::Lifted {
        for limit in ["rest_rate_limit", "rpc_rate_limit"] {
            options.variables.insert(limit.into(), "0".into());
        }
    }
    App::start(options)
}

/// Our host serving `manifest` on `kv` as `spin up` would: spin-compat, the cron on its
/// schedule in real time, the bench's admin token and sealing key, and the end-to-end tests'
/// short engine timings (so set-up operations settle in seconds).
pub(crate) fn spin_compat_options(manifest: &Path, kv: KvSetup) -> AppOptions {
    let mut options = AppOptions::new(manifest);
    options.kv = kv;
    options.spin_compat = true;
    options.cron = spin_local_host::CronMode::Scheduled;
    options.variables.insert("admin_token".into(), ADMIN.into());
    options.variables.insert(
        "secrets_key".into(),
        catalog_model::secrets::TEST_KEY.into(),
    );
    for (name, value) in catalog_e2e::REAL_TIMINGS {
        options.variables.insert(name.into(), value.into());
    }
    options
}

fn add_version_body() -> Value {
    json!({"osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}})
}

/// Creates a gallery-copy image; returns its id, its first version and its operation.
pub(crate) fn sig_image(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<(String, String, String)> {
    let resp = http
        .post(format!(
            "{base}/imagemgmt/v1/images?action=copy-existing-image"
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"streamName": name, "osType": "WINDOWS",
            "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
            "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}}))
        .send()?;
    let operation = resp
        .headers()
        .get("operation-location")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let body: Value = resp.json()?;
    let image = body["id"].as_str().unwrap_or_default().to_owned();
    let version = body["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        !image.is_empty() && !version.is_empty() && !operation.is_empty(),
        "create image: {body}"
    );
    Ok((image, version, operation))
}

/// A signed RPC POST (as the SDK signs it, a fresh nonce each), dated by the app's clock.
fn rpc_target(
    app: &App,
    base: &str,
    creds: &demo::Credentials,
    action: &str,
    params: &[(&str, &str)],
) -> Target {
    rpc_signed(base, creds, action, params, app.clock().unix_seconds())
}

/// A signed RPC POST dated `now_secs` (real Spin has no clock of ours to read).
fn rpc_signed(
    base: &str,
    creds: &demo::Credentials,
    action: &str,
    params: &[(&str, &str)],
    now_secs: u64,
) -> Target {
    Target {
        method: "POST",
        path: "/".into(),
        headers: catalog_e2e::rpc_headers(
            base,
            &creds.access_key_id,
            &creds.access_key_secret,
            action,
            params,
            now_secs,
        ),
        body: catalog_e2e::form(params).into_bytes(),
    }
}

fn component_sizes(app: &App) -> Vec<(String, u64)> {
    let mut sizes: Vec<(String, u64)> = app
        .manifest()
        .components
        .iter()
        .filter(|(id, _)| !id.starts_with("bench-"))
        .map(|(id, c)| {
            let size = std::fs::metadata(&c.source).map(|m| m.len()).unwrap_or(0);
            (id.clone(), size)
        })
        .collect();
    sizes.sort();
    sizes
}

fn render(
    rows: &[Row],
    ticks: &[TickCost],
    sizes: &[(String, u64)],
    workers: usize,
    per_worker: usize,
) -> String {
    let base = &rows[0].report;
    let mut s = String::new();
    s.push_str(&format!(
        "### Requests ({workers} keep-alive connections x {per_worker} requests; ratios against the empty handler)\n\n"
    ));
    s.push_str("| endpoint | req/s | req/s vs empty | p50 | p50 vs empty | p99 | p99 vs empty | KV ops/request |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        s.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} ms | {:.2}x | {:.2} ms | {:.2}x | {} |\n",
            r.name,
            r.report.rps(),
            r.report.rps() / base.rps(),
            r.report.p50.as_secs_f64() * 1e3,
            ratio(r.report.p50, base.p50),
            r.report.p99.as_secs_f64() * 1e3,
            ratio(r.report.p99, base.p99),
            r.kv_ops,
        ));
    }
    s.push('\n');
    s.push_str(&render_ticks(ticks));
    s.push_str("\n### Components (release .wasm)\n\n| component | bytes |\n|---|---:|\n");
    for (id, size) in sizes {
        s.push_str(&format!("| {id} | {size} |\n"));
    }
    s
}
