//! The cron tick figures: an idle tick and one with [`DUE`] operations due, at growing
//! store sizes, and `ListImage` of one image of those sizes (our host only: the clock is
//! moved and the advancer fired on demand).

use std::time::{Duration, Instant};

use catalog_e2e::demo;
use serde_json::{Value, json};
use spin_local_host::App;

use crate::{DUE, add_version_body, loadgen, rpc_target, sig_image};

pub struct TickCost {
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
/// 10 000), all belonging to [`DUE`] images (up to 1 000 versions an image, in sealed pages
/// as the app keeps them: the image record names the pages and their summaries): idle (nothing
/// due), and with [`DUE`] operations due at once, an Add Version on each of those images, so
/// every transition refreshes an image with thousands of versions. The due index must keep
/// the idle tick independent of the store's size; the image's recorded version statuses
/// keep a transition from reading every version.
pub fn tick_costs(
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
        .map(|i| sig_image(http, base, token, &format!("big-{i}")).map(|(img, _, _)| img))
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
            .get(&catalog_model::keys::image("bench", &images[0]))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .map_or(0, |r| r.len());
        eprintln!(
            "ticks at {target} settled versions: {} busy ticks; an image record is {biggest} bytes",
            busy.len()
        );
    }
    Ok(costs)
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
    use catalog_model::keys;
    let store = app.store("default")?;
    let err = |e: spin_local_host::KvError| anyhow::anyhow!("{e}");
    let (version, op) = match template {
        [v, o] => (
            serde_json::from_slice::<Value>(&v.1)?,
            serde_json::from_slice::<Value>(&o.1)?,
        ),
        _ => anyhow::bail!("the settled template needs a version and its operation"),
    };
    // The pages' creation span: the template's (every copy has its `createdAt`).
    let made =
        serde_json::from_value::<catalog_model::catalog::Version>(version["v"].clone())?.created_at;
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
        // Older than the image's own versions, so in sealed pages before its own.
        crate::pages::page_in(store.as_ref(), "bench", img, &ids, made)?;
    }
    Ok(())
}

/// At most this many KV calls make an idle tick (a tick with one transition costs more):
/// the heartbeat (2), four calls for each shard of the due index (8 by default), and 5 for
/// each of the two cursor lanes (`catalog_model::due`, "Idle cost"), with room for Redis'
/// read-back.
const IDLE_MAX_OPS: u64 = 2 + 5 * catalog_model::settings::DEFAULT_DUE_SHARDS as u64 + 12;

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
    use catalog_model::keys;
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

pub fn render_ticks(ticks: &[TickCost]) -> String {
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
