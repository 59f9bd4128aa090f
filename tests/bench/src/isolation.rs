//! `bench --isolation [--quick]`: no tenant stalls another (issue 24, item 5).
//!
//! A noisy org at its image quota runs its largest allowed publish (16 replicas, the
//! default `quota_replicas`), one after another, while eight of its clients search its
//! images (`GET /images?search=…`, which reads the whole org) without pause. A quiet org's
//! `GET` of its own image is measured idle, then under that load; the row is the ratio of
//! the two p50s. The searching clients wait as `Retry-After` says when refused, as an SDK
//! does; a client that ignores it sends cheap refused requests as fast as it can, which the
//! per-org request limit (`rest_rate_limit`) bounds, not the scan budget
//! (`BENCH_ISOLATION_FLOOD=1` measures that client instead). Real Spin and our host (spin-compat), each on SQLite and on one Redis,
//! with the default variables (rate limits and quotas included) but the short engine
//! timings of the end-to-end tests, so the publishes advance during the window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use catalog_e2e::real_spin::{RealSpin, SpinOptions, SpinStore};
use serde_json::{Value, json};
use spin_local_host::{App, KvSetup};
use spin_local_kv::testing::RedisServer;
use spin_local_kv::{BackendConfig, KvStore};

use crate::loadgen::{self, Conn, Report, Target};
use crate::{ADMIN, Config, bench_manifest};

/// The noisy org's searching clients (the eight).
const SEARCHERS: usize = 8;
/// Replicas in one publish: the default `quota_replicas`, the most one version may have.
const REPLICAS: usize = 16;
/// The noisy org's images: the default `quota_images`.
const QUOTA_IMAGES: usize = 1000;
/// Clients of the quiet org.
const QUIET_WORKERS: usize = 2;
/// Publishes ready for the window; more than it can run.
const PUBLISHES: usize = 24;
/// How long the set-up's operations may take (real time).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);

/// One runtime and store, measured.
struct Row {
    runtime: &'static str,
    store: &'static str,
    idle: Report,
    loaded: Report,
    /// The noisy org's searches answered 200 and 429 during the loaded window.
    searches_ok: usize,
    searches_throttled: usize,
    /// Publishes of 16 replicas started during the loaded window.
    publishes: usize,
}

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("catalog-bench-iso-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = bench_manifest(&dir, &cfg.manifest, false)?;
    // The loaded window spans at least one whole rate window (10 s by default), so a
    // budget spent and refilled is in it.
    let window = Duration::from_secs(if cfg.quick { 12 } else { 40 });
    let publishes = PUBLISHES;
    let mut rows = Vec::new();
    for redis in [false, true] {
        let store_name = if redis { "Redis" } else { "SQLite" };
        // Each runtime gets a fresh store: a Redis server of its own.
        let server = || -> anyhow::Result<Option<RedisServer>> {
            if redis {
                Ok(Some(
                    RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?,
                ))
            } else {
                Ok(None)
            }
        };
        {
            let server = server()?;
            let mut opts = SpinOptions::new(manifest.clone())
                .variable("admin_token", ADMIN)
                .variable("secrets_key", catalog_model::secrets::TEST_KEY);
            for (name, value) in catalog_e2e::REAL_TIMINGS {
                opts = opts.variable(name, value);
            }
            if let Some(s) = &server {
                opts.store = SpinStore::Redis { url: s.url.clone() };
            }
            eprintln!("isolation: real Spin on {store_name}");
            let spin = RealSpin::start(&opts)?;
            let store = || -> anyhow::Result<Arc<dyn KvStore>> {
                match &server {
                    Some(s) => redis_store(&s.url),
                    None => crate::bigorg::spin_store(spin.state_dir()),
                }
            };
            let m = measure(&spin.base_url(), &store, window, publishes)
                .map_err(|e| e.context(format!("real Spin; its log:\n{}", spin.log_tail(20))))?;
            rows.push(m.row("real Spin", store_name));
        }
        {
            let server = server()?;
            let kv = match &server {
                Some(s) => KvSetup::Backend(BackendConfig::Redis { url: s.url.clone() }),
                None => KvSetup::TempSqlite,
            };
            let mut options = crate::spin_compat_options(&manifest, kv);
            if server.is_some() {
                // As the README asks of a Redis store (R8), and as real Spin runs it here.
                options
                    .variables
                    .insert("store_batch_reads".into(), "false".into());
            }
            eprintln!("isolation: our host (spin-compat) on {store_name}");
            let app = App::start(options)?;
            let store = || app.store("default");
            let m = measure(&app.base_url(), &store, window, publishes);
            app.shutdown();
            rows.push(m?.row("our host (spin-compat)", store_name));
        }
    }
    let report = render(&rows, window, publishes);
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn redis_store(url: &str) -> anyhow::Result<Arc<dyn KvStore>> {
    spin_local_kv::open(
        &BackendConfig::Redis {
            url: url.to_owned(),
        },
        &spin_local_kv::StoreOptions::default(),
        &spin_local_kv::Faults::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// What one runtime measured, before it is named.
struct Measured {
    idle: Report,
    loaded: Report,
    searches_ok: usize,
    searches_throttled: usize,
    publishes: usize,
}

impl Measured {
    fn row(self, runtime: &'static str, store: &'static str) -> Row {
        Row {
            runtime,
            store,
            idle: self.idle,
            loaded: self.loaded,
            searches_ok: self.searches_ok,
            searches_throttled: self.searches_throttled,
            publishes: self.publishes,
        }
    }
}

fn measure(
    base: &str,
    store: &dyn Fn() -> anyhow::Result<Arc<dyn KvStore>>,
    window: Duration,
    publishes: usize,
) -> anyhow::Result<Measured> {
    let idle_window = window / 4;
    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let http = reqwest::blocking::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: Value| -> anyhow::Result<()> {
        let r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(())
    };

    // The quiet org: one settled image.
    let quiet = demo::seed(&http, base, ADMIN, "quiet").map_err(anyhow::Error::msg)?;
    let (image, _, op) = crate::sig_image(&http, base, &quiet.token, "quiet-image")?;
    wait_op(&http, base, &quiet.token, &op)?;

    // The noisy org: at its image quota, `publishes` of them imported from a VM and waiting
    // to be published, and 16 provider instances to publish to.
    let noisy = demo::seed(&http, base, ADMIN, "noisy").map_err(anyhow::Error::msg)?;
    for i in 0..REPLICAS {
        admin(
            reqwest::Method::PUT,
            &format!("/admin/v1/orgs/noisy/provider-instances/pi-r{i:02}"),
            json!({"providerLabel": "AZURE", "region": "westeurope"}),
        )?;
    }
    crate::bigorg::seed_images(&*store()?, "noisy", QUOTA_IMAGES - publishes)?;
    let mut imported = Vec::new();
    for i in 0..publishes {
        let r: Value = http
            .post(format!(
                "{base}/imagemgmt/v1/images?action=import-custom-vm"
            ))
            .bearer_auth(&noisy.token)
            .json(&json!({
                "streamName": format!("noisy-vm-{i}"), "osType": "WINDOWS", "gpuType": "NONE",
                "sourceStreamType": "AZURE_CUSTOM_VM", "providerInstanceId": "pi-1",
                "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}},
            }))
            .send()?
            .json()?;
        let image = r["id"].as_str().unwrap_or_default().to_owned();
        let version = r["versions"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(!version.is_empty(), "import-custom-vm answered {r}");
        imported.push((image, version));
    }
    for (image, version) in &imported {
        wait_version(
            &http,
            base,
            &noisy.token,
            image,
            version,
            &["IMPORT_COMPLETE"],
        )?;
    }

    let quiet_get = Target {
        headers: vec![(
            "authorization".to_owned(),
            format!("Bearer {}", quiet.token),
        )],
        ..Target::get(format!("/imagemgmt/v1/images/{image}"))
    };
    let run_quiet = |window: Duration| -> anyhow::Result<Report> {
        loadgen::run(addr, QUIET_WORKERS, 20, |_, _| quiet_get.clone())?;
        timed(addr, &quiet_get, window)?.logged_clean("quiet org GET image")
    };
    let idle = run_quiet(idle_window)?;

    let flood = flooding();
    let stop = AtomicBool::new(false);
    let (ok, throttled, started) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let search = Target {
        headers: vec![(
            "authorization".to_owned(),
            format!("Bearer {}", noisy.token),
        )],
        ..Target::get("/imagemgmt/v1/images?search=name%20%24eq%20noisy-vm-0&size=10")
    };
    let loaded = std::thread::scope(|s| -> anyhow::Result<Report> {
        let mut noise = Vec::new();
        for _ in 0..SEARCHERS {
            let (stop, ok, throttled, search) = (&stop, &ok, &throttled, &search);
            noise.push(s.spawn(move || -> anyhow::Result<()> {
                let mut conn = Conn::connect(addr)?;
                while !stop.load(Ordering::Relaxed) {
                    match conn.send(search)? {
                        200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        429 if flood => {
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        429 => {
                            throttled.fetch_add(1, Ordering::Relaxed);
                            // As a client does: wait as long as `Retry-After` says (a client
                            // ignoring it is bounded by the request limit instead).
                            let wait = Duration::from_secs(conn.retry_after_s.unwrap_or(1));
                            let until = Instant::now() + wait;
                            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        other => anyhow::bail!("a search answered {other}"),
                    }
                }
                Ok(())
            }));
        }
        let (stop, started, http, noisy, imported) = (&stop, &started, &http, &noisy, &imported);
        noise.push(s.spawn(move || -> anyhow::Result<()> {
            let replicas: Vec<Value> = (0..REPLICAS)
                .map(|i| json!({"providerInstanceId": format!("pi-r{i:02}")}))
                .collect();
            for (image, version) in imported {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = http
                    .post(format!(
                        "{base}/imagemgmt/v1/images/{image}/versions/{version}?action=publish"
                    ))
                    .bearer_auth(&noisy.token)
                    .json(&json!({ "replicas": replicas }))
                    .send()?;
                anyhow::ensure!(r.status().is_success(), "publish: {}", r.status());
                started.fetch_add(1, Ordering::Relaxed);
                wait_version(http, base, &noisy.token, image, version, &["AVAILABLE"])?;
            }
            Ok(())
        }));
        // The noise gets going before the window opens.
        std::thread::sleep(Duration::from_millis(500));
        let loaded = run_quiet(window);
        stop.store(true, Ordering::Relaxed);
        for h in noise {
            h.join()
                .map_err(|_| anyhow::anyhow!("a noise thread panicked"))??;
        }
        loaded
    })?;
    Ok(Measured {
        idle,
        loaded,
        searches_ok: ok.into_inner(),
        searches_throttled: throttled.into_inner(),
        publishes: started.into_inner(),
    })
}

fn wait_op(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    op: &str,
) -> anyhow::Result<()> {
    wait(
        http,
        &format!("{base}/imagemgmt/v1/operations/{op}"),
        token,
        &["SUCCEEDED"],
    )
}

fn wait_version(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    image: &str,
    version: &str,
    want: &[&str],
) -> anyhow::Result<()> {
    let url = format!("{base}/imagemgmt/v1/images/{image}/versions/{version}");
    wait(http, &url, token, want)
}

/// Polls `url` (real time) until its `status` is one of `want`.
fn wait(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    want: &[&str],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let body: Value = http.get(url).bearer_auth(token).send()?.json()?;
        let status = body["status"].as_str().unwrap_or_default();
        if want.contains(&status) {
            return Ok(());
        }
        anyhow::ensure!(
            !status.contains("FAIL") && Instant::now() < deadline,
            "{url}: still {status} after waiting for {want:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `BENCH_ISOLATION_FLOOD=1`: the searchers ignore `Retry-After` (a hostile client).
fn flooding() -> bool {
    std::env::var("BENCH_ISOLATION_FLOOD").is_ok_and(|v| v == "1")
}

fn render(rows: &[Row], window: Duration, publishes: usize) -> String {
    let clients = if flooding() {
        "ignoring `Retry-After` when refused: a hostile client"
    } else {
        "waiting as `Retry-After` says when refused"
    };
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let mut s = format!(
        "### No tenant stalls another: a quiet org's GET image while a noisy org publishes and searches\n\n\
         The noisy org holds {QUOTA_IMAGES} images (its default quota) and runs up to {publishes} publishes of \
         {REPLICAS} replicas one after another, while {SEARCHERS} of its clients search its images without pause ({clients}). \
         The quiet org's {QUIET_WORKERS} clients send GETs without pause for {:?} idle, then for {window:?} under that load. \
         Default variables but the short engine timings of the end-to-end tests.\n\n\
         | runtime | store | idle p50 | idle p99 | loaded p50 | loaded p99 | loaded p50 vs idle | noisy searches: 200 | 429 | publishes in the window |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        window / 4
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2}x | {} | {} | {} |\n",
            r.runtime,
            r.store,
            ms(r.idle.p50),
            ms(r.idle.p99),
            ms(r.loaded.p50),
            ms(r.loaded.p99),
            r.loaded.p50.as_secs_f64() / r.idle.p50.as_secs_f64().max(1e-9),
            r.searches_ok,
            r.searches_throttled,
            r.publishes
        ));
    }
    s.push('\n');
    s
}

/// [`QUIET_WORKERS`] keep-alive clients sending `target` without pause for `window`.
fn timed(addr: SocketAddr, target: &Target, window: Duration) -> anyhow::Result<Report> {
    let start = Instant::now();
    let results: Vec<anyhow::Result<(Vec<Duration>, usize)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..QUIET_WORKERS)
            .map(|_| {
                s.spawn(move || -> anyhow::Result<(Vec<Duration>, usize)> {
                    let mut conn = Conn::connect(addr)?;
                    let (mut took, mut non_2xx) = (Vec::new(), 0);
                    while start.elapsed() < window {
                        let t = Instant::now();
                        let status = conn.send(target)?;
                        took.push(t.elapsed());
                        non_2xx += usize::from(!(200..300).contains(&status));
                    }
                    Ok((took, non_2xx))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client panicked")))
            })
            .collect()
    });
    let (mut all, mut non_2xx) = (Vec::new(), 0);
    for r in results {
        let (took, n) = r?;
        all.extend(took);
        non_2xx += n;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
    };
    Ok(Report {
        requests: all.len(),
        errors: 0,
        non_2xx,
        elapsed: start.elapsed(),
        p50: pct(0.5).unwrap_or_default(),
        p99: pct(0.99).unwrap_or_default(),
    })
}
