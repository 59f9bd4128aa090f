//! `bench [--quick] [--out FILE]`: the app's and the host's figures, in one run.
//!
//! Serves the repository's `spin.toml` plus two baseline components through the local
//! host (SQLite store, as `./dev up`), then measures, over keep-alive connections:
//! requests/s and p50/p99 of each endpoint as ratios against an empty Spin handler
//! measured in the same run; the key-value operations each request costs; the cost of an
//! idle cron tick with few and with many settled versions; and each component's size.
//! Absolute numbers depend on the machine; the ratios are what to compare.

mod loadgen;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use loadgen::{Report, Target};
use serde_json::{Value, json};
use spin_local_host::{App, AppOptions, KvSetup, test_guests};

const ADMIN: &str = "bench-admin";

struct Config {
    quick: bool,
    out: Option<PathBuf>,
}

fn main() {
    let mut cfg = Config {
        quick: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => cfg.quick = true,
            "--out" => cfg.out = args.next().map(PathBuf::from),
            _ => {
                eprintln!("usage: bench [--quick] [--out FILE]");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(&cfg) {
        eprintln!("bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The app's manifest with absolute component paths and two baseline routes added:
/// `/bench/empty` (an empty handler) and `/bench/kv` (one key-value read).
fn bench_manifest(dir: &Path) -> anyhow::Result<PathBuf> {
    let root = repo().canonicalize()?;
    let mut text = std::fs::read_to_string(root.join("spin.toml"))?.replace(
        "source = \"target/",
        &format!("source = \"{}/target/", root.display()),
    );
    text.push_str(&format!(
        r#"
[[trigger.http]]
route = "/bench/empty"
component = "bench-empty"

[[trigger.http]]
route = "/bench/kv"
component = "bench-kv"

[component.bench-empty]
source = "{empty}"

[component.bench-kv]
source = "{probe}"
key_value_stores = ["default"]
"#,
        empty = test_guests::EMPTY,
        probe = test_guests::PROBE,
    ));
    let path = dir.join("spin.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

struct Row {
    name: String,
    report: Report,
    kv_ops: Option<u64>,
}

fn run(cfg: &Config) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("catalog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut options = AppOptions::new(bench_manifest(&dir)?);
    options.kv = KvSetup::TempSqlite;
    options.variables.insert("admin_token".into(), ADMIN.into());
    let app = App::start(options)?;
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
    let mut measure = |name: &str,
                       kv_probe: Option<&Target>,
                       make: &(dyn Fn(usize, usize) -> Target + Sync)|
     -> anyhow::Result<()> {
        // Warm-up: instantiate, fill caches, open connections.
        loadgen::run(addr, workers, 20, make)?;
        let kv_ops = match kv_probe {
            Some(t) => {
                let before = app.kv_ops();
                let mut conn = loadgen::Conn::connect(addr)?;
                conn.send(t)?;
                Some(app.kv_ops() - before)
            }
            None => None,
        };
        let report = loadgen::run(addr, workers, per_worker, make)?;
        eprintln!(
            "{name}: {:.0} req/s, p50 {:?}, p99 {:?}, errors {}, non-2xx {}",
            report.rps(),
            report.p50,
            report.p99,
            report.errors,
            report.non_2xx
        );
        anyhow::ensure!(
            report.errors == 0 && report.non_2xx == 0,
            "{name}: failed requests"
        );
        rows.push(Row {
            name: name.to_owned(),
            report,
            kv_ops,
        });
        Ok(())
    };

    let empty = Target::get("/bench/empty");
    measure("empty handler (baseline)", Some(&empty), &|_, _| {
        empty.clone()
    })?;
    let health = Target::get("/healthz");
    measure("GET /healthz", Some(&health), &|_, _| health.clone())?;
    let kv = Target::get("/bench/kv?op=w.get,default,health%3Alast-tick");
    measure("one KV read (probe guest)", Some(&kv), &|_, _| kv.clone())?;

    // One image per worker, so Add Version measures the request, not one hot record.
    let images: Vec<(String, String)> = (0..workers.max(1))
        .map(|i| sig_image(&http, &base, &creds.token, &format!("bench-{i}")))
        .collect::<anyhow::Result<_>>()?;
    let (img0, ver0) = images[0].clone();
    let get_version = Target {
        headers: vec![auth.clone()],
        ..Target::get(format!("/imagemgmt/v1/images/{img0}/versions/{ver0}"))
    };
    measure("GET version", Some(&get_version), &|_, _| {
        get_version.clone()
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
    measure("POST Add Version", Some(&add_probe), &|w, _| {
        add(&images[w].0)
    })?;

    let ticks = idle_tick_costs(&app, cfg.quick)?;
    let sizes = component_sizes(&app);

    let report = render(&rows, &ticks, &sizes, workers, per_worker);
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report)?;
    }
    app.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn add_version_body() -> Value {
    json!({"osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}})
}

/// Creates a gallery-copy image; returns (image id, first version id).
fn sig_image(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let body: Value = http
        .post(format!(
            "{base}/imagemgmt/v1/images?action=copy-existing-image"
        ))
        .bearer_auth(token)
        .json(
            &json!({"streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1", "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}}),
        )
        .send()?
        .json()?;
    let image = body["id"].as_str().unwrap_or_default().to_owned();
    let version = body["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        !image.is_empty() && !version.is_empty(),
        "create image: {body}"
    );
    Ok((image, version))
}

struct TickCost {
    settled: usize,
    kv_ops: u64,
    median: Duration,
}

/// An idle tick (nothing due) with `n` settled versions in the store, for a small and a
/// large `n`: the due index must make both cost the same handful of key-value calls.
fn idle_tick_costs(app: &App, quick: bool) -> anyhow::Result<Vec<TickCost>> {
    let store = app.store("default")?;
    // Settle everything the load above started (time moves; nothing sleeps).
    for _ in 0..200 {
        app.clock().advance(Duration::from_secs(3));
        app.fire_cron("advancer")
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    // A settled version and its finished operation, as the app stored them.
    let template = find_settled(app)?;
    let mut costs = Vec::new();
    let mut stored = 0usize;
    for target in [100usize, if quick { 10_000 } else { 100_000 }] {
        let mut batch = Vec::new();
        while stored < target {
            for (key, value) in &template {
                batch.push((format!("{key}-x{stored}"), value.clone()));
            }
            stored += 1;
            if batch.len() >= 5_000 || stored == target {
                store.set_many(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
                batch.clear();
            }
        }
        let mut times = Vec::new();
        let mut ops = Vec::new();
        for _ in 0..21 {
            app.clock().advance(Duration::from_secs(2));
            let before = app.kv_ops();
            let t0 = Instant::now();
            app.fire_cron("advancer")
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            times.push(t0.elapsed());
            ops.push(app.kv_ops() - before);
        }
        times.sort();
        ops.sort();
        costs.push(TickCost {
            settled: target,
            kv_ops: ops[ops.len() / 2],
            median: times[times.len() / 2],
        });
    }
    Ok(costs)
}

/// The raw records of one settled version (version + its operation), to copy under new
/// keys: the steady state of a catalog whose work is done.
fn find_settled(app: &App) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    use catalog_model::catalog::keys;
    let store = app.store("default")?;
    let err = |e: spin_local_host::KvError| anyhow::anyhow!("{e}");
    // Listing keys is fine here: this is the benchmark's set-up, not a hot path.
    let prefix = keys::version("bench", "");
    for key in store.get_keys().map_err(err)? {
        if !key.starts_with(&prefix) {
            continue;
        }
        let Some(raw) = store.get(&key).map_err(err)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&raw);
        if !text.contains("\"status\":\"AVAILABLE\"") {
            continue;
        }
        let Some(op_id) = text
            .split("\"operationId\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let op_key = keys::operation("bench", op_id);
        let op = store.get(&op_key).map_err(err)?;
        return Ok(std::iter::once((key, raw.clone()))
            .chain(op.map(|v| (op_key, v)))
            .collect());
    }
    anyhow::bail!("no settled version found in the store")
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
            r.kv_ops.map(|n| n.to_string()).unwrap_or_default(),
        ));
    }
    s.push_str("\n### Idle cron tick (nothing due; median of 21 ticks)\n\n| settled versions in the store | KV ops per tick | time per tick |\n|---:|---:|---:|\n");
    for t in ticks {
        s.push_str(&format!(
            "| {} | {} | {:.2} ms |\n",
            t.settled,
            t.kv_ops,
            t.median.as_secs_f64() * 1e3
        ));
    }
    s.push_str("\n### Components (release .wasm)\n\n| component | bytes |\n|---|---:|\n");
    for (id, size) in sizes {
        s.push_str(&format!("| {id} | {size} |\n"));
    }
    s
}
