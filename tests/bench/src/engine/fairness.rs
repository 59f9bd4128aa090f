//! Fairness: one replica with the default timings of `spin.toml` (`step_ms` 2 000, cron every
//! 2 s, its `tick_cap` and `tick_budget_ms`) on Redis; orgs A and B in the same shard. First B's gallery copies
//! alone ([`SAMPLES`], [`STAGGER`] apart): each one's time from its creation to its
//! operation's `SUCCEEDED` (written after the version is `AVAILABLE`). Then A queues its
//! burst of copies, and right after, B creates as many again: their times. The target of
//! issue 12: B's copies behind the burst within their own time plus two ticks (4 s): the
//! slowest behind the burst against the slowest alone.

use std::path::Path;
use std::time::{Duration, Instant};

use catalog_e2e::demo;
use catalog_model::due::shard_of;
use serde_json::Value;
use spin_local_kv::testing::RedisServer;

use super::SHARDS;
use super::replicas::{Driver, Replica, Runtime, engine_counts};
use crate::ADMIN;

/// One cron period.
const TICK: Duration = Duration::from_secs(2);
/// How long B's copy may take before the run fails.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Threads sending A's burst.
const SENDERS: usize = 4;
/// B's copies each time, started [`STAGGER`] apart: a copy's time depends on where its
/// creation falls in the 2 s buckets and ticks, so one sample alone says little.
const SAMPLES: usize = 3;
const STAGGER: Duration = Duration::from_millis(700);

pub struct Fair {
    /// B's copies alone, then behind A's burst: each one's time, sorted.
    pub alone: Vec<Duration>,
    pub behind: Vec<Duration>,
    /// How long A's burst took to send.
    pub burst: Duration,
    /// Transitions of one gallery copy (counted while B's first copy ran alone).
    pub per_copy: i64,
    /// A's burst transitions still to make when B's copy settled (about: the counter lags a
    /// tick).
    pub a_left: i64,
    /// Transitions the engine made while B's second copy waited.
    pub advanced_meanwhile: i64,
}

/// Orgs A and B of one shard.
fn orgs() -> (String, String) {
    let a = "fair-a".to_owned();
    let shard = shard_of(&a, SHARDS);
    let b = (0..)
        .map(|i| format!("fair-b{i}"))
        .find(|b| shard_of(b, SHARDS) == shard)
        .expect("some org shares the shard");
    (a, b)
}

pub fn run(runtime: Runtime, manifest: &Path, dir: &Path, n: usize) -> anyhow::Result<Fair> {
    let redis = RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let vars = vec![
        ("admin_token".to_owned(), ADMIN.to_owned()),
        (
            "secrets_key".to_owned(),
            catalog_model::secrets::TEST_KEY.to_owned(),
        ),
        // A's burst is `n` new images (2 000 in the full run), past the default image quota.
        ("quota_images".to_owned(), n.max(1000).to_string()),
        // …all running at once.
        (
            "quota_operations".to_owned(),
            n.clamp(256, 5000).to_string(),
        ),
    ];
    let replica = Replica::start(
        runtime,
        manifest,
        &redis.url,
        &vars,
        &dir.join(format!("{runtime:?}")),
        Driver::Cron,
    )?;
    let base = replica.base_url();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (a, b) = orgs();
    let token_a = demo::seed(&http, &base, ADMIN, &a)
        .map_err(anyhow::Error::msg)?
        .token;
    let token_b = demo::seed(&http, &base, ADMIN, &b)
        .map_err(anyhow::Error::msg)?
        .token;
    let settle = |name: &str| settle_times(&http, &base, &token_b, name);
    let (c0, _) = engine_counts(&http, &base)?;
    let alone = settle("b-alone").map_err(|e| e.context(replica.log_tail(20)))?;
    eprintln!("  B alone: {}", spread(&alone));
    // The last transition's tick has counted it a moment after: a copy's transitions.
    std::thread::sleep(TICK + TICK / 4);
    let (c1, _) = engine_counts(&http, &base)?;
    let per_copy = (c1 - c0) / SAMPLES as i64;

    let started = Instant::now();
    let a_ops = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SENDERS)
            .map(|w| {
                let (http, base, token) = (&http, &base, &token_a);
                s.spawn(move || -> anyhow::Result<Vec<String>> {
                    (w..n)
                        .step_by(SENDERS)
                        .map(|i| crate::sig_image(http, base, token, &format!("a{i}")).map(|m| m.2))
                        .collect()
                })
            })
            .collect();
        let mut ops = Vec::new();
        for h in handles {
            ops.extend(
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a sender panicked")))?,
            );
        }
        anyhow::Ok(ops)
    })?;
    let burst = started.elapsed();
    eprintln!("  A queued {n} copies in {:.2} s", burst.as_secs_f64());
    let (before, _) = engine_counts(&http, &base)?;
    let behind = settle("b-behind").map_err(|e| e.context(replica.log_tail(20)))?;
    let (after, _) = engine_counts(&http, &base)?;
    eprintln!("  B behind A's burst: {}", spread(&behind));
    anyhow::ensure!(
        a_ops.len() == n,
        "A's burst made {} operations",
        a_ops.len()
    );
    // A's transitions still queued when B settled (B's own counted as done).
    let a_done = after - c1 - per_copy * SAMPLES as i64;
    let a_total = per_copy * i64::try_from(n)?;
    Ok(Fair {
        alone,
        behind,
        burst,
        per_copy,
        a_left: (a_total - a_done).max(0),
        advanced_meanwhile: after - before,
    })
}

fn operation_status(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    op: &str,
) -> anyhow::Result<String> {
    let body: Value = http
        .get(format!("{base}/imagemgmt/v1/operations/{op}"))
        .bearer_auth(token)
        .send()?
        .json()?;
    body["status"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("operation {op}: {body}"))
}

/// Creates [`SAMPLES`] gallery copies [`STAGGER`] apart and polls their operations (every
/// 100 ms) until each succeeded: each one's time from just before its request to the first
/// answer that shows it done, sorted.
fn settle_times(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut pending = Vec::new();
    for i in 0..SAMPLES {
        if i > 0 {
            std::thread::sleep(STAGGER);
        }
        let started = Instant::now();
        let (_, _, op) = crate::sig_image(http, base, token, &format!("{name}-{i}"))?;
        pending.push((started, op));
    }
    let mut times = Vec::new();
    while !pending.is_empty() {
        let mut left = Vec::new();
        for (started, op) in pending {
            match operation_status(http, base, token, &op)?.as_str() {
                "SUCCEEDED" => times.push(started.elapsed()),
                "FAILED" => anyhow::bail!("{name}'s copy {op} failed"),
                _ if started.elapsed() > SETTLE_TIMEOUT => {
                    anyhow::bail!("{name}'s copy {op} unfinished after {SETTLE_TIMEOUT:?}")
                }
                _ => left.push((started, op)),
            }
        }
        pending = left;
        std::thread::sleep(Duration::from_millis(100));
    }
    times.sort();
    Ok(times)
}

/// `min / median / max` in seconds.
fn spread(times: &[Duration]) -> String {
    let s = |i: usize| times.get(i).map_or(0.0, Duration::as_secs_f64);
    format!(
        "{:.1} / {:.1} / {:.1} s",
        s(0),
        s(times.len() / 2),
        s(times.len().saturating_sub(1))
    )
}

fn worst(times: &[Duration]) -> Duration {
    times.last().copied().unwrap_or_default()
}

/// The default of variable `name` in `manifest` (`name = { default = "…" }`).
pub fn manifest_default(manifest: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} = {{")))
        .and_then(|l| l.split('"').nth(1))
        .unwrap_or("?")
        .to_owned()
}

/// The manifest's cron triggers as the report names them: how many (each is a tick of its
/// own in every replica) and the first one's schedule, e.g. "2 cron ticks a replica on
/// `*/2 * * * * *`".
pub fn manifest_cron(manifest: &Path) -> String {
    cron_of(&std::fs::read_to_string(manifest).unwrap_or_default())
}

fn cron_of(text: &str) -> String {
    let ticks = text
        .lines()
        .filter(|l| l.trim() == "[[trigger.cron]]")
        .count();
    let schedule = text
        .lines()
        .find(|l| l.trim_start().starts_with("cron_expression"))
        .and_then(|l| l.split('"').nth(1))
        .unwrap_or("?");
    format!("{ticks} cron ticks a replica on `{schedule}`")
}

pub fn render(fair: &[(Runtime, Fair)], n: usize, manifest: &Path) -> String {
    let default = |name: &str| manifest_default(manifest, name);
    let mut s = format!(
        "### Fairness: org B's gallery copies alone, then right after org A queued {n} (same shard; 1 replica, the defaults of spin.toml: step_ms {}, bucket_ms {}, tick_cap {}, tick_budget_ms {}, {}; {SAMPLES} copies of B each time, {:.1} s apart)\n\n\
         | runtime | B alone: min / median / max | B behind A's burst: min / median / max | difference of the maxima | in ticks (2 s) | within own time + 2 ticks | A's burst sent in | A's transitions left when B settled | transitions while B waited |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|\n",
        default("step_ms"),
        default("bucket_ms"),
        default("tick_cap"),
        default("tick_budget_ms"),
        manifest_cron(manifest),
        STAGGER.as_secs_f64()
    );
    for (runtime, f) in fair {
        let (alone, behind) = (worst(&f.alone), worst(&f.behind));
        let diff = behind.as_secs_f64() - alone.as_secs_f64();
        s.push_str(&format!(
            "| {} | {} | {} | {:+.2} s | {:+.2} | {} | {:.1} s | {} of {} | {} |\n",
            runtime.name(),
            spread(&f.alone),
            spread(&f.behind),
            diff,
            diff / TICK.as_secs_f64(),
            if behind <= alone + 2 * TICK {
                "yes"
            } else {
                "no"
            },
            f.burst.as_secs_f64(),
            f.a_left,
            f.per_copy * n as i64,
            f.advanced_meanwhile
        ));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_counts_the_manifests_cron_triggers() {
        let text = "[[trigger.cron]]\ncomponent = \"advancer\"\ncron_expression = \"*/2 * * * * *\"\n\n[[trigger.cron]]\ncron_expression = \"*/2 * * * * *\"\n";
        assert_eq!(
            super::cron_of(text),
            "2 cron ticks a replica on `*/2 * * * * *`"
        );
        assert_eq!(super::cron_of(""), "0 cron ticks a replica on `?`");
    }
}
