//! `bench --calls [--out FILE]`: store calls per request and per transition on DynamoDB
//! against Redis (issue 23, item 9), on real Spin and on our host, with the defaults of
//! `spin.toml` (rate limits on; batch reads on for DynamoDB, off for Redis as the README
//! asks, R8). moto is slow, so calls are compared, never its speed.
//!
//! The app runs with no cron trigger and nobody else ticking ([`Pace::Manual`]): the bench
//! makes one request at a time, then drives the engine itself with single calls of
//! `POST /admin/v1/engine/tick`, so every call counted is the one measured.
//!
//! What is counted: on real Spin, what reaches the store server: Redis commands (`INFO
//! commandstats`, the `INFO` calls themselves left out) and DynamoDB requests (moto's
//! `GET /__calls`, `tests/dynamo/moto.py`); one guest call may cost several (a compare-and-
//! swap on Redis is `WATCH`, `GET`, `MULTI`, `SET`, `EXEC`, `UNWATCH`; an `increment` on
//! DynamoDB a `GetItem` and a `TransactWriteItems`). On our host: the guest's calls of the key-value
//! interface (`App::kv_ops`, a `get-many` is one).
//!
//! Per transition: gallery copies are started, then the tick route is called until every
//! one is final; the calls of the ticks that advanced something, over the transitions they
//! report (an idle tick in between costs what BENCHMARKS.md's idle tick shows).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use catalog_e2e::moto::MotoServer;
use catalog_e2e::real_spin::{Pace, RealSpin, SpinOptions, SpinStore};
use serde_json::{Value, json};
use spin_local_host::{App, AppOptions, BackendConfig, CronMode, KvSetup};
use spin_local_kv::testing::RedisServer;

use crate::ADMIN;

/// Gallery copies whose transitions are counted.
const COPIES: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Redis,
    Dynamo,
}

/// The counted figures of one runtime on one store.
struct Counts {
    requests: Vec<(String, u64)>,
    per_transition: f64,
    transitions: u64,
}

pub fn run(manifest: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let mut table = Vec::new();
    for runtime in ["real Spin", "our host (spin-compat)"] {
        let mut pair = Vec::new();
        for backend in [Backend::Redis, Backend::Dynamo] {
            eprintln!("calls: {runtime} on {backend:?}");
            let counts = if runtime == "real Spin" {
                on_spin(manifest, backend)?
            } else {
                on_host(manifest, backend)?
            };
            pair.push(counts);
        }
        table.push((runtime, pair));
    }
    let text = render(&table);
    println!("{text}");
    if let Some(path) = out {
        std::fs::write(path, &text)?;
    }
    Ok(())
}

fn variables(backend: Backend) -> Vec<(String, String)> {
    let mut v = vec![
        ("admin_token", ADMIN),
        ("secrets_key", catalog_model::secrets::TEST_KEY),
        // Short steps so the copies end in seconds; the store calls per step are the same.
        ("step_ms", "200"),
        ("poll_ms", "200"),
        ("backoff_ms", "200"),
    ];
    if backend == Backend::Redis {
        v.push(("store_batch_reads", "false"));
    }
    v.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn on_spin(manifest: &Path, backend: Backend) -> anyhow::Result<Counts> {
    let mut opts = SpinOptions::new(manifest.to_path_buf()).without_cron(Pace::Manual);
    opts.variables = variables(backend);
    match backend {
        Backend::Redis => {
            let redis = RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?;
            opts.store = SpinStore::Redis {
                url: redis.url.clone(),
            };
            let spin = RealSpin::start(&opts)?;
            let port = redis.port;
            let counts = measure(&spin.base_url(), &|| redis_commands(port))?;
            drop(spin);
            Ok(counts)
        }
        Backend::Dynamo => {
            let moto = MotoServer::start();
            opts.store = SpinStore::Dynamo {
                endpoint: moto.endpoint.clone(),
            };
            let spin = RealSpin::start(&opts)?;
            let endpoint = moto.endpoint.clone();
            let counts = measure(&spin.base_url(), &|| moto_calls(&endpoint))?;
            drop(spin);
            Ok(counts)
        }
    }
}

fn on_host(manifest: &Path, backend: Backend) -> anyhow::Result<Counts> {
    let dir = std::env::temp_dir().join(format!("catalog-bench-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let redis = (backend == Backend::Redis)
        .then(RedisServer::try_start)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut options = AppOptions::new(manifest);
    options.kv = KvSetup::Backend(match &redis {
        Some(r) => BackendConfig::Redis { url: r.url.clone() },
        None => BackendConfig::AwsDynamo {
            path: dir.join("aws_dynamo.db"),
            table: "image-catalog".into(),
        },
    });
    options.spin_compat = true;
    options.cron = CronMode::Manual;
    for (k, v) in variables(backend) {
        options.variables.insert(k, v);
    }
    let app = App::start(options)?;
    let counts = measure(&app.base_url(), &|| Ok(app.kv_ops()));
    app.shutdown();
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
    counts
}

/// The requests one at a time, then the copies' transitions, counted with `count`.
fn measure(base: &str, count: &dyn Fn() -> anyhow::Result<u64>) -> anyhow::Result<Counts> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let creds = demo::seed(&http, base, ADMIN, "calls").map_err(|e| anyhow::anyhow!("{e}"))?;
    let rest = |method: &str, path: &str, body: Option<Value>| -> anyhow::Result<Value> {
        let mut req = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{base}/imagemgmt/v1{path}"),
            )
            .bearer_auth(&creds.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().unwrap_or(Value::Null);
        anyhow::ensure!(status < 300, "{method} {path}: {status} {v}");
        Ok(v)
    };
    let mut requests = Vec::new();
    let mut counted = |label: &str, f: &dyn Fn() -> anyhow::Result<Value>| {
        let before = count()?;
        let v = f()?;
        requests.push((label.to_owned(), count()? - before));
        anyhow::Ok(v)
    };
    let copy = |name: &str| {
        json!({"streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1", "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}})
    };
    let created = counted("POST copy-existing-image (new image)", &|| {
        rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(copy("calls-0")),
        )
    })?;
    let image = created["id"].as_str().unwrap_or_default().to_owned();
    let version = created["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    counted("GET image", &|| {
        rest("GET", &format!("/images/{image}"), None)
    })?;
    counted("GET version", &|| {
        rest("GET", &format!("/images/{image}/versions/{version}"), None)
    })?;
    counted("GET a page of 10 images", &|| {
        rest("GET", "/images?size=10", None)
    })?;
    counted("POST Add Version", &|| {
        rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(crate::kvops::add_version_body()),
        )
    })?;
    for i in 1..COPIES {
        rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(copy(&format!("calls-{i}"))),
        )?;
    }
    let (per_transition, transitions) = transitions(&http, base, count)?;
    Ok(Counts {
        requests,
        per_transition,
        transitions,
    })
}

/// Calls the tick route until the engine has nothing left to do for a while; returns the
/// calls per transition of the ticks that advanced something, and their transitions.
fn transitions(
    http: &reqwest::blocking::Client,
    base: &str,
    count: &dyn Fn() -> anyhow::Result<u64>,
) -> anyhow::Result<(f64, u64)> {
    let (mut calls, mut moved) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_secs(3) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the copies did not settle in 120 s"
        );
        let before = count()?;
        let answer: Value = http
            .post(format!("{base}/admin/v1/engine/tick"))
            .bearer_auth(ADMIN)
            .send()?
            .json()?;
        let spent = count()? - before;
        let n = answer["transitions"].as_u64().unwrap_or(0);
        anyhow::ensure!(
            answer["failedTicks"].as_u64() == Some(0),
            "a tick failed: {answer}"
        );
        if n > 0 {
            calls += spent;
            moved += n;
            idle_since = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    anyhow::ensure!(moved > 0, "no transition was made");
    Ok((calls as f64 / moved as f64, moved))
}

/// Commands Redis has served, `INFO` itself left out.
fn redis_commands(port: u16) -> anyhow::Result<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(b"INFO commandstats\r\n")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    // A bulk string: `$LEN\r\n` then LEN bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        anyhow::ensure!(n > 0, "Redis closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, rest)) = text.split_once("\r\n") {
            let len: usize = head.trim_start_matches('$').parse()?;
            if rest.len() >= len {
                return Ok(rest[..len]
                    .lines()
                    .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
                    .filter_map(|l| l.split("calls=").nth(1))
                    .filter_map(|c| c.split(',').next()?.parse::<u64>().ok())
                    .sum());
            }
        }
    }
}

/// DynamoDB requests moto has served (`tests/dynamo/moto.py`'s `/__calls`).
fn moto_calls(endpoint: &str) -> anyhow::Result<u64> {
    let v: Value = reqwest::blocking::get(format!("{endpoint}/__calls"))?.json()?;
    Ok(v.as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0))
}

fn render(table: &[(&str, Vec<Counts>)]) -> String {
    let mut out = String::from(
        "### Store calls on DynamoDB against Redis (one request at a time; the engine driven by single tick calls)\n\n\
         Real Spin: what reaches the store server (Redis commands; DynamoDB requests to moto). Our host: the guest's key-value calls.\n\n\
         | what | runtime | Redis | DynamoDB | DynamoDB vs Redis |\n|---|---|---:|---:|---:|\n",
    );
    let labels: Vec<String> = table
        .first()
        .map(|(_, pair)| pair[0].requests.iter().map(|(l, _)| l.clone()).collect())
        .unwrap_or_default();
    for (i, label) in labels.iter().enumerate() {
        for (runtime, pair) in table {
            let (r, d) = (pair[0].requests[i].1, pair[1].requests[i].1);
            out.push_str(&format!(
                "| {label} | {runtime} | {r} | {d} | {:.2}x |\n",
                d as f64 / r.max(1) as f64
            ));
        }
    }
    for (runtime, pair) in table {
        let (r, d) = (&pair[0], &pair[1]);
        out.push_str(&format!(
            "| a transition ({} and {} made) | {runtime} | {:.1} | {:.1} | {:.2}x |\n",
            r.transitions,
            d.transitions,
            r.per_transition,
            d.per_transition,
            d.per_transition / r.per_transition.max(1e-9)
        ));
    }
    out.push('\n');
    out
}
