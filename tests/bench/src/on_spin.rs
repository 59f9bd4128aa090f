//! `bench --spin [--manifest PATH] [--quick] [--out FILE]`: the request rows on the real
//! Spin runtime and on our host in `--spin-compat` mode, side by side.
//!
//! Runtime fact R5 (docs/runtime-facts.md) is a timing fact of Spin's HTTP server, so only
//! the real runtime can show whether a build is free of it, and only running both shows
//! whether our host's spin-compat mode reproduces it. Each runtime serves the manifest plus
//! the empty guest (the trivial route) on a fresh SQLite store; every row is measured over
//! 2 keep-alive connections and with `Connection: close` (a new connection per request),
//! and its p50 is given as a ratio to the trivial route's p50 in the same runtime and
//! mode. Key-value calls cannot be counted on real Spin, so there is no KV column.
//!
//! Both run the default variables (the rate limits on, as users run them) but the end-to-end
//! tests' short engine timings; the rows keep each org under its request limit
//! ([`crate::pacing::Pacer`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use catalog_e2e::real_spin::{RealSpin, SpinOptions};
use serde_json::Value;
use spin_local_host::{App, KvSetup};
use spin_local_kv::KvStore;
use std::sync::Arc;

use crate::loadgen::{self, Connections, Report, Target};
use crate::pacing::{Pacer, unix_now};
use crate::{ADMIN, Config, bench_manifest, rpc_signed};

const WORKERS: usize = 2;
/// Images in the bench org: one full page of `GET /images?size=10`.
const IMAGES: usize = 10;
/// How long the set-up's copies may take to finish (real time: the cron fires every 2 s).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);

/// One row measured both ways.
struct Measured {
    name: String,
    keep_alive: Report,
    close: Report,
}

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("catalog-bench-spin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = bench_manifest(&dir, &cfg.manifest, false)?;
    let per_worker = if cfg.quick { 100 } else { 2000 };

    let real = {
        let mut opts = SpinOptions::new(manifest.clone())
            .variable("admin_token", ADMIN)
            .variable("secrets_key", catalog_model::secrets::TEST_KEY);
        // Short steps, so the set-up's copies settle in seconds.
        for (name, value) in catalog_e2e::REAL_TIMINGS {
            opts = opts.variable(name, value);
        }
        eprintln!("real Spin: starting spin up (compiles every component first)");
        let spin = RealSpin::start(&opts)?;
        // Dropping `spin` stops its process group, also on error.
        let store = || crate::bigorg::spin_store(spin.state_dir());
        measure_rows(&spin.base_url(), per_worker, cfg.quick, &store)
            .map_err(|e| e.context(format!("on real Spin; its log:\n{}", spin.log_tail(20))))?
    };

    let host = {
        let options = crate::spin_compat_options(&manifest, KvSetup::TempSqlite);
        eprintln!("our host (spin-compat): starting");
        let app = App::start(options)?;
        let store = || app.store("default");
        let rows = measure_rows(&app.base_url(), per_worker, cfg.quick, &store).map_err(|e| {
            let logs = app.logs();
            let tail = logs[logs.len().saturating_sub(20)..].join("\n");
            e.context(format!("on our host (spin-compat); its log:\n{tail}"))
        });
        app.shutdown();
        rows?
    };

    let report = render(&cfg.manifest, &real, &host, per_worker);
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Seeds the bench org, makes [`IMAGES`] gallery copies and waits until they settled (so
/// the cron's ticks are idle while the rows run), seeds the two listing orgs straight into
/// the runtime's store (`store`), then measures every row both ways.
fn measure_rows(
    base: &str,
    per_worker: usize,
    quick: bool,
    store: &dyn Fn() -> anyhow::Result<Arc<dyn KvStore>>,
) -> anyhow::Result<Vec<Measured>> {
    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let http = reqwest::blocking::Client::new();
    let creds = demo::seed(&http, base, ADMIN, "bench").map_err(anyhow::Error::msg)?;
    let auth = (
        "authorization".to_owned(),
        format!("Bearer {}", creds.token),
    );
    let made: Vec<(String, String, String)> = (0..IMAGES)
        .map(|i| crate::sig_image(&http, base, &creds.token, &format!("spin-bench-{i}")))
        .collect::<anyhow::Result<_>>()?;
    wait_settled(&http, base, &creds.token, &made)?;
    let (image, version, operation) = made[0].clone();

    let rest = |path: String| Target {
        headers: vec![auth.clone()],
        ..Target::get(path)
    };
    let fixed: Vec<(&str, Target)> = vec![
        ("trivial route (empty guest)", Target::get("/bench/empty")),
        ("GET /healthz", Target::get("/healthz")),
        ("GET image", rest(format!("/imagemgmt/v1/images/{image}"))),
        (
            "GET version",
            rest(format!("/imagemgmt/v1/images/{image}/versions/{version}")),
        ),
        (
            "GET images?size=10 (a page of 10)",
            rest("/imagemgmt/v1/images?size=10".into()),
        ),
        (
            "GET operation",
            rest(format!("/imagemgmt/v1/operations/{operation}")),
        ),
        (
            "GET openapi.json",
            Target::get("/imagemgmt/v1/openapi.json"),
        ),
    ];
    let mut rows = Vec::new();
    let mut pacer = Pacer::default();
    for (name, target) in &fixed {
        let make = |_, _| target.clone();
        rows.push(measure(addr, name, per_worker, &make, &mut pacer)?);
    }
    // Signed like the SDK signs, a fresh nonce each (the signature covers it).
    let list = || rpc_signed(base, &creds, "ListImage", &[("PageSize", "10")], unix_now());
    let make = |_, _| list();
    rows.push(measure(
        addr,
        "RPC ListImage",
        per_worker,
        &make,
        &mut pacer,
    )?);
    // Last, the listing rows: a page of an org of 10 images, then of one of 10 000.
    for (name, token) in &crate::listing_orgs(&http, base, &*store()?, quick)? {
        let page = Target {
            headers: vec![("authorization".to_owned(), format!("Bearer {token}"))],
            ..Target::get("/imagemgmt/v1/images?size=10")
        };
        let make = |_, _| page.clone();
        rows.push(measure(addr, name, per_worker, &make, &mut pacer)?);
    }
    Ok(rows)
}

/// One row over keep-alive connections, then with `Connection: close`; any error or
/// non-2xx answer fails the bench (a 429 among them: the pacer keeps each org under its
/// limit).
fn measure(
    addr: SocketAddr,
    name: &str,
    per_worker: usize,
    make: &(dyn Fn(usize, usize) -> Target + Sync),
    pacer: &mut Pacer,
) -> anyhow::Result<Measured> {
    let mut reports = Vec::new();
    for connections in [Connections::KeepAlive, Connections::Close] {
        let n = (WORKERS * (20 + per_worker)) as u64;
        let report = pacer.run(&make(0, 0), n, || {
            // Warm-up: instantiate, fill caches, open connections.
            loadgen::run_with(addr, connections, WORKERS, 20, make)?;
            loadgen::run_with(addr, connections, WORKERS, per_worker, make)
        })?;
        reports.push(report.logged_clean(&format!("{name} ({connections:?})"))?);
    }
    let close = reports.pop().expect("two reports");
    let keep_alive = reports.pop().expect("two reports");
    Ok(Measured {
        name: name.to_owned(),
        keep_alive,
        close,
    })
}

/// Waits (real time) until every set-up copy's operation has succeeded.
fn wait_settled(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    made: &[(String, String, String)],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    for (_, _, op) in made {
        loop {
            let body: Value = http
                .get(format!("{base}/imagemgmt/v1/operations/{op}"))
                .bearer_auth(token)
                .send()?
                .json()?;
            match body["status"].as_str() {
                Some("SUCCEEDED") => break,
                Some("FAILED") => anyhow::bail!("set-up copy {op} failed: {body}"),
                _ if Instant::now() > deadline => {
                    anyhow::bail!("set-up copy {op} unfinished after {SETTLE_TIMEOUT:?}: {body}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    Ok(())
}

/// The commit of the manifest's work tree and whether it has changes: the build measured,
/// provided the components were built from that tree.
fn describe(manifest: &Path) -> String {
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest.parent().unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            let note = if dirty {
                " plus uncommitted changes"
            } else {
                ""
            };
            format!("`{}` (commit `{commit}`{note})", manifest.display())
        }
        None => format!("`{}`", manifest.display()),
    }
}

fn render(manifest: &Path, real: &[Measured], host: &[Measured], per_worker: usize) -> String {
    let mut s = format!(
        "App: {}. Real Spin: `spin up` (SQLite store); our host: `--spin-compat` (SQLite store); both with the default variables (rate limits on: each org's requests paced under its limit) and short engine timings. \
         \"p50 vs trivial\": against the trivial route's p50 in the same runtime and mode.\n\n",
        describe(manifest)
    );
    let modes = [
        (Connections::KeepAlive, "2 keep-alive connections"),
        (
            Connections::Close,
            "Connection: close, 2 clients, a new connection per request (the time includes the connect)",
        ),
    ];
    for (mode, title) in modes {
        let pick = |m: &Measured| match mode {
            Connections::KeepAlive => m.keep_alive.clone(),
            Connections::Close => m.close.clone(),
        };
        s.push_str(&format!(
            "### Requests: {title}, {WORKERS} x {per_worker} requests a row\n\n\
             | endpoint | real Spin: req/s | p50 | p99 | p50 vs trivial | our host (spin-compat): req/s | p50 | p99 | p50 vs trivial |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        ));
        let cells = |rows: &[Measured], i: usize| {
            let r = pick(&rows[i]);
            let base = pick(&rows[0]).p50.as_secs_f64().max(1e-9);
            format!(
                "{:.0} | {:.2} ms | {:.2} ms | {:.2}x",
                r.rps(),
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.p50.as_secs_f64() / base
            )
        };
        for i in 0..real.len().min(host.len()) {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                real[i].name,
                cells(real, i),
                cells(host, i)
            ));
        }
        // The listing rows are the last two: the large org's p50 against the small one's.
        let ratio = |rows: &[Measured]| match rows {
            [.., small, large] => format!(
                "{:.2}x",
                pick(large).p50.as_secs_f64() / pick(small).p50.as_secs_f64().max(1e-9)
            ),
            _ => String::new(),
        };
        if let (Some(small), Some(large)) = (real.len().checked_sub(2), real.len().checked_sub(1)) {
            s.push_str(&format!(
                "\n{} against {}, p50: real Spin {}, our host {}.\n",
                real[large].name,
                real[small].name,
                ratio(real),
                ratio(host)
            ));
        }
        s.push('\n');
    }
    s
}
