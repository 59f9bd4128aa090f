//! `bench [--quick] [--out FILE]`: the app's and the host's figures, in one run.
//!
//! Serves the repository's `spin.toml` plus two baseline components through the local
//! host (SQLite store, as `./dev up`), then measures, over keep-alive connections:
//! requests/s and p50/p99 of each endpoint as ratios against an empty Spin handler
//! measured in the same run; the key-value operations each request costs; the cost of an
//! idle cron tick with few and with many settled versions; and each component's size.
//! Absolute numbers depend on the machine; the ratios are what to compare.

mod kvops;
mod loadgen;
mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use loadgen::{Report, Target};
use serde_json::{Value, json};
use spin_local_host::{App, AppOptions, KvSetup, test_guests};

const ADMIN: &str = "bench-admin";

struct Config {
    quick: bool,
    /// Only the cron tick costs (idle and with 100 due), skipping the request figures.
    ticks_only: bool,
    out: Option<PathBuf>,
}

/// Operations due at once in the "busy tick" figures (and the bench's tick cap, so one
/// tick takes them all: the app's default cap is 50).
const DUE: usize = 100;

fn main() {
    let mut cfg = Config {
        quick: false,
        ticks_only: false,
        out: None,
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
            _ => {
                eprintln!("usage: bench [--quick] [--ticks] [--verify] [--out FILE]");
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
    let manifest = bench_manifest(&dir)?;
    let app = start_app(&manifest)?;
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
    // The RPC door: signed POSTs, a fresh nonce each (the signature covers it). ListImage of
    // one image with thousands of versions is in the tick table.
    let rpc =
        |action: &str, params: &[(&str, &str)]| rpc_target(&app, &base, &creds, action, params);
    let list_probe = rpc("ListImage", &[("PageSize", "10")]);
    measure("RPC ListImage", Some(&list_probe), &|_, _| {
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
    measure(
        "RPC CreateImageByInstance",
        Some(&capture_probe),
        &|_, _| capture(),
    )?;

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

    let sizes = component_sizes(&app);
    app.shutdown();
    // The per-endpoint counts and the tick figures start from a fresh store: the thousands
    // of operations the rows above left running would otherwise be settled first, which
    // is not what is measured.
    let app = start_app(&manifest)?;
    let base = app.base_url();
    let creds = demo::seed(&http, &base, ADMIN, "bench").map_err(anyhow::Error::msg)?;
    let per_endpoint = kvops::per_endpoint(&app, &creds.token)?;
    let ticks = tick_costs(&app, &http, &base, &creds, cfg.quick)?;

    let mut report = render(&rows, &ticks, &sizes, workers, per_worker);
    report.push_str(&kvops::render(&per_endpoint));
    println!("{report}");
    if let Some(out) = &cfg.out {
        std::fs::write(out, &report)?;
    }
    app.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The app of `manifest` as the bench runs it: SQLite store, tick cap = [`DUE`], the
/// builder quota lifted so every capture the bench starts runs at once.
fn start_app(manifest: &Path) -> anyhow::Result<App> {
    let mut options = AppOptions::new(manifest);
    options.kv = KvSetup::TempSqlite;
    options.variables.insert("admin_token".into(), ADMIN.into());
    options.variables.insert("tick_cap".into(), DUE.to_string());
    options
        .variables
        .insert("builder_quota".into(), "1000000".into());
    App::start(options)
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
    versions_per_image: usize,
    /// `ListImage` of one of those images (KV calls, median time of 21).
    list_kv_ops: u64,
    list: Duration,
    idle_kv_ops: u64,
    idle: Duration,
    /// A tick with [`DUE`] operations due (median KV calls and time).
    busy_kv_ops: u64,
    busy: Duration,
}

/// Fires the advancer and returns (KV calls, time) of that tick.
fn timed_tick(app: &App) -> anyhow::Result<(u64, Duration)> {
    let before = app.kv_ops();
    let t0 = Instant::now();
    app.fire_cron("advancer")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((app.kv_ops() - before, t0.elapsed()))
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

/// The cron tick with 100, 10 000 and 100 000 settled versions in the store (quick: up to
/// 10 000), all belonging to [`DUE`] images (each image's record lists its versions and
/// their statuses, as the app keeps them: up to 1 000 versions an image): idle (nothing
/// due), and with [`DUE`] operations due at once, an Add Version on each of those images, so
/// every transition refreshes an image with thousands of versions. The due index must keep
/// the idle tick independent of the store's size; the image's recorded version statuses
/// keep a transition from reading every version.
fn tick_costs(
    app: &App,
    http: &reqwest::blocking::Client,
    base: &str,
    creds: &demo::Credentials,
    quick: bool,
) -> anyhow::Result<Vec<TickCost>> {
    let token = creds.token.as_str();
    let store = app.store("default")?;
    // Frozen from here: the DUE Add Versions of a batch are made at one instant, so they
    // fall due together, in the same tick.
    app.clock().set_unix(app.clock().unix_seconds());
    let images: Vec<String> = (0..DUE)
        .map(|i| sig_image(http, base, token, &format!("big-{i}")).map(|(img, _)| img))
        .collect::<anyhow::Result<_>>()?;
    settle(app)?;
    // A settled version and its finished operation, as the app stored them.
    let template = find_settled(app)?;
    let sizes: &[usize] = if quick {
        &[100, 10_000]
    } else {
        &[100, 10_000, 100_000]
    };
    let mut costs = Vec::new();
    let mut stored = DUE;
    for &target in sizes {
        attach_settled_versions(app, &template, &images, stored, target)?;
        stored = stored.max(target);
        let mut idle = Vec::new();
        for _ in 0..21 {
            app.clock().advance(Duration::from_secs(2));
            idle.push(timed_tick(app)?);
        }
        let (list_kv_ops, list) = list_one_image(app, base, creds, &images[0])?;
        // Busy: an Add Version (a gallery copy) on each image, made at one frozen instant;
        // every tick that finds them due advances all of them by one transition (a copy
        // has three). Ticks that find nothing due (a step still running) are not counted.
        let idle_ops = median(idle.iter().map(|t| t.0).collect());
        let mut busy = Vec::new();
        for _batch in 0..2 {
            for img in &images {
                let r = http
                    .post(format!("{base}/imagemgmt/v1/images/{img}/versions"))
                    .bearer_auth(token)
                    .json(&add_version_body())
                    .send()?;
                anyhow::ensure!(r.status().as_u16() == 201, "Add Version: {}", r.status());
            }
            for _ in 0..30 {
                app.clock().advance(Duration::from_secs(2));
                let t = timed_tick(app)?;
                if t.0 > idle_ops + DUE as u64 {
                    busy.push(t);
                }
            }
            settle(app)?;
        }
        anyhow::ensure!(!busy.is_empty(), "no tick found the {DUE} operations due");
        costs.push(TickCost {
            settled: target,
            versions_per_image: target / DUE,
            list_kv_ops,
            list,
            idle_kv_ops: median(idle.iter().map(|t| t.0).collect()),
            idle: median(idle.iter().map(|t| t.1).collect()),
            busy_kv_ops: median(busy.iter().map(|t| t.0).collect()),
            busy: median(busy.iter().map(|t| t.1).collect()),
        });
        let biggest = store
            .get(&catalog_model::catalog::keys::image("bench", &images[0]))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map_or(0, |r| r.len());
        eprintln!(
            "ticks at {target} settled versions: {} busy ticks; an image record is {biggest} bytes",
            busy.len()
        );
    }
    Ok(costs)
}

/// A signed RPC POST (as the SDK signs it, a fresh nonce each), dated by the app's clock.
fn rpc_target(
    app: &App,
    base: &str,
    creds: &demo::Credentials,
    action: &str,
    params: &[(&str, &str)],
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
            app.clock().unix_seconds(),
        ),
        body: catalog_e2e::form(params).into_bytes(),
    }
}

/// `ListImage` of one image (signed as the SDK signs): KV calls of one, median time of 21.
fn list_one_image(
    app: &App,
    base: &str,
    creds: &demo::Credentials,
    image: &str,
) -> anyhow::Result<(u64, Duration)> {
    let mut conn = loadgen::Conn::connect(app.local_addr())?;
    let mut times = Vec::new();
    let mut ops = Vec::new();
    for _ in 0..21 {
        let t = rpc_target(app, base, creds, "ListImage", &[("ImageId", image)]);
        let before = app.kv_ops();
        let t0 = Instant::now();
        let status = conn.send(&t)?;
        times.push(t0.elapsed());
        ops.push(app.kv_ops() - before);
        anyhow::ensure!(status == 200, "ListImage: {status}");
    }
    Ok((median(ops), median(times)))
}

/// Stores copies of the settled `template` (version + operation) as versions `from..to`,
/// dealt round-robin to `images`, and lists them on their image records with their
/// status, as the app would have (the set-up writes records directly: nothing else runs).
fn attach_settled_versions(
    app: &App,
    template: &[(String, Vec<u8>)],
    images: &[String],
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    use catalog_model::catalog::keys;
    let store = app.store("default")?;
    let err = |e: spin_local_host::KvError| anyhow::anyhow!("{e}");
    let (version, op) = match template {
        [v, o] => (
            serde_json::from_slice::<Value>(&v.1)?,
            serde_json::from_slice::<Value>(&o.1)?,
        ),
        _ => anyhow::bail!("the settled template needs a version and its operation"),
    };
    let mut added: Vec<Vec<String>> = vec![Vec::new(); images.len()];
    let mut batch = Vec::new();
    for n in from..to {
        let slot = n % images.len();
        let (vid, oid) = (format!("ver-x{n}"), format!("tid-x{n}"));
        let mut v = version.clone();
        v["v"]["id"] = json!(vid);
        v["v"]["streamId"] = json!(images[slot]);
        v["v"]["operationId"] = json!(oid);
        let mut o = op.clone();
        o["v"]["id"] = json!(oid);
        batch.push((keys::version("bench", &vid), serde_json::to_vec(&v)?));
        batch.push((keys::operation("bench", &oid), serde_json::to_vec(&o)?));
        added[slot].push(vid);
        if batch.len() >= 5_000 {
            store.set_many(&batch).map_err(err)?;
            batch.clear();
        }
    }
    store.set_many(&batch).map_err(err)?;
    for (img, ids) in images.iter().zip(added) {
        let key = keys::image("bench", img);
        let raw = store
            .get(&key)
            .map_err(err)?
            .ok_or_else(|| anyhow::anyhow!("{key} is gone"))?;
        let mut rec: Value = serde_json::from_slice(&raw)?;
        let v = &mut rec["v"];
        // Older than the image's own versions: prepend, as if made before them.
        let mut all: Vec<Value> = ids.iter().map(|i| json!(i)).collect();
        all.extend(v["versionIds"].as_array().cloned().unwrap_or_default());
        v["versionCount"] = json!(all.len());
        v["versionIds"] = Value::Array(all);
        if !v["versionStatuses"].is_object() {
            v["versionStatuses"] = json!({});
        }
        for id in &ids {
            v["versionStatuses"][id] = json!("AVAILABLE");
        }
        rec["t"] = json!(format!("bench-{to}"));
        store.set(&key, &serde_json::to_vec(&rec)?).map_err(err)?;
    }
    Ok(())
}

/// At most this many KV calls make an idle tick (one transition alone costs more).
const IDLE_MAX_OPS: u64 = 12;

/// Ticks until the store has nothing due (time moves; nothing sleeps): an idle tick
/// costs the same few KV calls every time, so three equal small ticks in a row end it.
fn settle(app: &App) -> anyhow::Result<()> {
    let mut last = (u64::MAX, 0);
    for _ in 0..1_000 {
        // One cron period (= one due bucket), so idle ticks read the same keys.
        app.clock().advance(Duration::from_secs(2));
        let (ops, _) = timed_tick(app)?;
        last = if ops == last.0 {
            (ops, last.1 + 1)
        } else {
            (ops, 1)
        };
        // A saturated tick (cap reached) also repeats its count: only a small one is idle.
        if last.1 >= 3 && ops <= IDLE_MAX_OPS {
            return Ok(());
        }
    }
    anyhow::bail!("the advancer did not settle in 1000 ticks")
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
    s.push('\n');
    s.push_str(&render_ticks(ticks));
    s.push_str("\n### Components (release .wasm)\n\n| component | bytes |\n|---|---:|\n");
    for (id, size) in sizes {
        s.push_str(&format!("| {id} | {size} |\n"));
    }
    s
}

fn render_ticks(ticks: &[TickCost]) -> String {
    let mut s = format!(
        "### Cron tick (the versions belong to {DUE} images; idle: median of 21; {DUE} due: an Add Version on each image, median of the ticks that found them due, tick cap {DUE}; ListImage of one image: median of 21)\n\n| settled versions in the store | versions per image | idle: KV ops | idle: time | {DUE} due: KV ops | {DUE} due: time | {DUE} due vs idle (time) | ListImage of one image: KV ops | ListImage: time |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for t in ticks {
        s.push_str(&format!(
            "| {} | {} | {} | {:.2} ms | {} | {:.2} ms | {:.1}x | {} | {:.2} ms |\n",
            t.settled,
            t.versions_per_image,
            t.idle_kv_ops,
            t.idle.as_secs_f64() * 1e3,
            t.busy_kv_ops,
            t.busy.as_secs_f64() * 1e3,
            t.busy.as_secs_f64() / t.idle.as_secs_f64().max(1e-9),
            t.list_kv_ops,
            t.list.as_secs_f64() * 1e3,
        ));
    }
    s
}
