//! `bench --engine [--quick] [--out FILE]`: the background engine's throughput with 1, 2 and 3
//! replicas on one Redis, and its fairness between orgs, on real Spin and on our host in
//! `--spin-compat` mode (issue 12).
//!
//! **Throughput.** For each runtime, three replicas (each its own process with its own cron
//! every 2 s, as `spin.toml` says) serve one fresh `redis-server`; runs with k = 1, 2, 3 active
//! replicas follow one another on it, the others paused (`SIGSTOP`: a paused replica neither
//! ticks nor serves; each start compiles every component, which on our host takes longer than a
//! run). Each run writes a backlog of `k × per_replica` gallery copies spread over 4 orgs in
//! each of the 8 shards (`shard_of`), through our host in-process on the same Redis with its
//! clock frozen a few seconds ahead and `step_ms` = 1: every operation's first transition is
//! due at that one instant, in one bucket, so nothing is due while the backlog is written (the
//! lead comes from the writer's last measured rate; a writer that falls behind it stops, and
//! once the replicas worked off what it wrote the backlog is written again with a longer lead).
//! Each replica runs two ticks a cron period, as `spin.toml` says (two cron triggers).
//! The replicas run with `step_ms`, `poll_ms` and `backoff_ms` of an hour, so each operation
//! makes exactly one transition in the window, and with `tick_cap` raised so the tick's time
//! budget (`tick_budget_ms`, 1.5 s of the 2 s period) bounds a busy tick rather than the cap.
//! The bench polls the first replica's `/healthz` every 50 ms for the cumulative
//! `engine.advanced` (added up by every replica's ticks) until it grew by the backlog, then
//! checks a tick later that it did not grow past it (nothing advanced twice). Transitions a
//! second: what was advanced after the first count was seen, over the time from that first
//! count to the last (each count lands at the end of a tick, so the first tick's work and time
//! are both left out).
//!
//! The same runs go again with the replicas reaching Redis through [`proxy::DelayProxy`]
//! (each chunk delayed [`DELAY`] each way): a store across a network, where a replica waits
//! on the store rather than the CPU. The machine of BENCHMARKS.md has 2 vCPUs, so CPU-bound
//! replicas cannot add up to 3×; latency-bound ones can.
//!
//! `--quick` (a smoke run that fails on any error) stops at 2 replicas, 1 000 operations a
//! replica, skips the proxy, queues 200 operations in the fairness run and runs the parts
//! after throughput on the real runtime only (unless `BENCH_ENGINE_ONLY` names one).
//! `BENCH_ENGINE_ONLY=spin` (or `host`) runs one runtime only, `BENCH_ENGINE_PARTS=throughput`
//! (or `images`, `driven`, `fairness`) one part only.
//!
//! Beside the figures: the machine's CPU use over each window (from `/proc/stat`, every
//! process on it), which tells a CPU-bound run from a latency-bound one, and the mean round
//! trip of a Redis `PING` sent every 20 ms during the window to the address the replicas
//! use (the proxy's, or Redis itself), which is the latency they actually had.
//!
//! **Images of many versions** ([`images`]): one replica's transitions a second on Add
//! Versions onto images of 1 version and of 1 000, in turns (issue 12, item 4).
//!
//! **Driven over HTTP** ([`driven`]): one replica's rate with no cron trigger, its engine
//! driven by the tick route, against the cron (issue 23, item 9).
//!
//! **Fairness** ([`fairness`]): one replica with the default timings of `spin.toml`.

mod driven;
mod fairness;
mod images;
mod proxy;
mod replicas;
mod seeder;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use catalog_e2e::real_spin::RealSpin;
use catalog_model::due::shard_of;
use spin_local_kv::testing::RedisServer;

use crate::{ADMIN, Config, bench_manifest};
use replicas::{Driver, Replica, Runtime, engine_counts};
use seeder::Seeder;

/// The delay the proxy adds to each chunk, each way.
const DELAY: Duration = Duration::from_micros(500);
/// Shards of the operations index (the default of `spin.toml`).
const SHARDS: u32 = catalog_model::settings::DEFAULT_DUE_SHARDS;
/// Orgs of the backlog in each shard.
const ORGS_PER_SHARD: usize = 4;
/// `tick_cap` of the replicas: high enough that the time budget ends a busy tick.
const TICK_CAP: &str = "100000";
/// A run fails when the counter has not moved for this long.
const STALL: Duration = Duration::from_secs(60);
/// Tries at writing a backlog before it is due (each with a longer lead).
const TRIES: usize = 3;

/// The replicas' variables: one transition per operation in the window, the cap lifted.
fn replica_variables() -> Vec<(String, String)> {
    [
        ("admin_token", ADMIN),
        ("secrets_key", catalog_model::secrets::TEST_KEY),
        ("step_ms", "3600000"),
        ("poll_ms", "3600000"),
        ("backoff_ms", "3600000"),
        ("step_timeout_ms", "7200000"),
        ("tick_cap", TICK_CAP),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// One throughput run.
struct Run {
    replicas: usize,
    ops: usize,
    /// Transitions a second, from the first count seen to the last.
    rate: Option<f64>,
    /// Counts seen (ticks that reported work, as observed).
    steps: usize,
    /// From the first count seen to the last.
    window: Duration,
    /// Ticks that stopped on an error (from the replicas' logs).
    errors: usize,
    /// The machine's CPU busy share over the window (every process; `None` off Linux).
    cpu: Option<f64>,
    /// The mean Redis round trip the replicas' address gave a `PING` during the window.
    rtt: Duration,
}

impl Run {
    /// Transitions a second for a table, `n/a` when one tick did the whole backlog.
    fn rate_text(&self) -> String {
        self.rate.map_or("n/a".to_owned(), |x| format!("{x:.0}"))
    }

    /// This run's rate over `base`, if both were measured.
    fn ratio(&self, base: Option<f64>) -> Option<f64> {
        Some(self.rate? / base?)
    }

    fn cpu_text(&self) -> String {
        self.cpu
            .map_or("n/a".to_owned(), |c| format!("{:.0} %", c * 100.0))
    }
}

/// A ratio for a table (`1.04x`), `n/a` when it was not measured.
fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("n/a".to_owned(), |x| format!("{x:.2}x"))
}

/// `/proc/stat`'s total and idle jiffies (idle and iowait) over every CPU.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total = v.iter().take(8).sum();
    Some((total, v.get(3)? + v.get(4)?))
}

fn busy_between(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<f64> {
    let ((t0, i0), (t1, i1)) = (a?, b?);
    let total = t1.checked_sub(t0).filter(|t| *t > 0)?;
    Some(1.0 - (i1.saturating_sub(i0)) as f64 / total as f64)
}

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        RealSpin::binary().is_some(),
        "no real Spin: set SPIN_BIN to a spin 4.x with the trigger-cron plugin, or put one on PATH (./dev test and .ci/run install the one kept beside the repository)"
    );
    let dir = std::env::temp_dir().join(format!("catalog-bench-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = bench_manifest(&dir, &cfg.manifest, false)?;
    let orgs = backlog_orgs();
    // `BENCH_ENGINE_ONLY=spin|host` runs one runtime (when iterating on the bench itself).
    let only = std::env::var("BENCH_ENGINE_ONLY").unwrap_or_default();
    let runtimes: Vec<Runtime> = [Runtime::Spin, Runtime::Host]
        .into_iter()
        .filter(|r| only.is_empty() || format!("{r:?}").eq_ignore_ascii_case(&only))
        .collect();
    // `BENCH_ENGINE_PARTS=throughput` (or `images`, `driven`, `fairness`) runs one part only.
    let parts = std::env::var("BENCH_ENGINE_PARTS").unwrap_or_default();
    let part = |name: &str| parts.is_empty() || parts == name;
    let stores: Vec<Option<Duration>> = if cfg.quick {
        vec![None]
    } else {
        vec![None, Some(DELAY)]
    };
    let mut out = format!(
        "Machine: {} vCPUs. Throughput replicas: `tick_cap` {TICK_CAP}, `tick_budget_ms` {}, `due_shards` {}, {}; backlog over {} orgs ({ORGS_PER_SHARD} a shard).\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fairness::manifest_default(&manifest, "tick_budget_ms"),
        fairness::manifest_default(&manifest, "due_shards"),
        fairness::manifest_cron(&manifest),
        orgs.len()
    );
    if let Some(delay) = stores
        .iter()
        .flatten()
        .next()
        .filter(|_| part("throughput"))
    {
        out.push_str(&proxy_rtt(*delay)?);
    }
    for &runtime in runtimes.iter().filter(|_| part("throughput")) {
        for delay in &stores {
            let per_replica = match (cfg.quick, delay) {
                (true, _) => 1000,
                (false, None) => 4000,
                (false, Some(_)) => 1000,
            };
            // `--quick` (a smoke run) stops at 2 replicas: each start compiles every component.
            let most = if cfg.quick { 2 } else { 3 };
            eprintln!("engine: {}, store {}", runtime.name(), store_name(*delay));
            let runs = throughput(
                runtime,
                *delay,
                most,
                per_replica,
                &manifest,
                &dir,
                &orgs,
                Driver::Cron,
            )
            .map_err(|e| e.context(format!("throughput on {}", runtime.name())))?;
            out.push_str(&render_runs(runtime, *delay, &runs));
            // The smoke run fails on a tick that stopped on an error, too.
            let failed: usize = runs.iter().map(|r| r.errors).sum();
            anyhow::ensure!(
                !cfg.quick || failed == 0,
                "{failed} tick(s) on {} stopped on an error:\n{out}",
                runtime.name()
            );
        }
    }
    // The smoke run (`--quick`) takes the other parts on the real runtime only: our host's
    // engine is in the throughput part, and its behaviour in the end-to-end tests.
    let smoked = |r: &&Runtime| !cfg.quick || **r == Runtime::Spin || !only.is_empty();
    for &runtime in runtimes.iter().filter(smoked).filter(|_| part("images")) {
        eprintln!("engine: images of many versions on {}", runtime.name());
        let (n, rounds) = if cfg.quick { (600, 1) } else { (2000, 3) };
        let runs = images::run(runtime, &manifest, &dir, &orgs, n, rounds)
            .map_err(|e| e.context(format!("images of many versions on {}", runtime.name())))?;
        out.push_str(&images::render(runtime, &runs));
    }
    for &runtime in runtimes.iter().filter(smoked).filter(|_| part("driven")) {
        eprintln!(
            "engine: driven over HTTP against the cron on {}",
            runtime.name()
        );
        let (n, rounds) = if cfg.quick { (600, 1) } else { (3000, 3) };
        let runs = driven::run(runtime, &manifest, &dir, &orgs, n, rounds)
            .map_err(|e| e.context(format!("driven over HTTP on {}", runtime.name())))?;
        out.push_str(&driven::render(runtime, &runs));
    }
    let fair_n = if cfg.quick { 200 } else { 2000 };
    let mut fair = Vec::new();
    for &runtime in runtimes.iter().filter(smoked).filter(|_| part("fairness")) {
        eprintln!("engine: fairness on {}", runtime.name());
        fair.push((
            runtime,
            fairness::run(runtime, &manifest, &dir.join("fair"), fair_n)
                .map_err(|e| e.context(format!("fairness on {}", runtime.name())))?,
        ));
    }
    if !fair.is_empty() {
        out.push_str(&fairness::render(&fair, fair_n, &manifest));
    }
    println!("{out}");
    if let Some(path) = &cfg.out {
        std::fs::write(path, &out)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A line on what the proxy adds: the mean `PING` round trip direct and through it.
fn proxy_rtt(delay: Duration) -> anyhow::Result<String> {
    let redis = RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let upstream: SocketAddr = ([127, 0, 0, 1], redis.port).into();
    let proxy = proxy::DelayProxy::start(upstream, delay)?;
    let direct = proxy::ping_rtt(upstream, 2_000)?;
    let through = proxy::ping_rtt(([127, 0, 0, 1], proxy.port).into(), 2_000)?;
    Ok(format!(
        "Delay proxy: {:.1} ms each way a chunk; a Redis `PING` round trip takes {:.3} ms direct, {:.3} ms through it.\n\n",
        delay.as_secs_f64() * 1e3,
        direct.as_secs_f64() * 1e3,
        through.as_secs_f64() * 1e3
    ))
}

fn store_name(delay: Option<Duration>) -> String {
    match delay {
        None => "Redis on loopback".into(),
        Some(d) => format!(
            "Redis behind a {:.1} ms-each-way delay proxy",
            d.as_secs_f64() * 1e3
        ),
    }
}

fn describe(r: &Run) -> String {
    format!(
        "{} ops: {} in {:.2} s over {} counts, CPU {}, PING {:.2} ms, {} failed ticks",
        r.ops,
        r.rate
            .map_or("n/a (one tick)".to_owned(), |x| format!("{x:.0}/s")),
        r.window.as_secs_f64(),
        r.steps,
        r.cpu_text(),
        r.rtt.as_secs_f64() * 1e3,
        r.errors
    )
}

/// [`ORGS_PER_SHARD`] orgs in each shard.
fn backlog_orgs() -> Vec<String> {
    let mut per = vec![0usize; SHARDS as usize];
    let mut orgs = Vec::new();
    for i in 0.. {
        let org = format!("eng-{i}");
        let s = shard_of(&org, SHARDS) as usize;
        if per[s] < ORGS_PER_SHARD {
            per[s] += 1;
            orgs.push(org);
        }
        if orgs.len() == SHARDS as usize * ORGS_PER_SHARD {
            break;
        }
    }
    orgs
}

/// The runs with 1 to `most` active replicas of `runtime` on one Redis (behind the delay
/// proxy if `delay`), `k × per_replica` operations each.
#[allow(clippy::too_many_arguments)]
fn throughput(
    runtime: Runtime,
    delay: Option<Duration>,
    most: usize,
    per_replica: usize,
    manifest: &Path,
    dir: &Path,
    orgs: &[String],
    driver: Driver,
) -> anyhow::Result<Vec<Run>> {
    let redis = RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let upstream: SocketAddr = ([127, 0, 0, 1], redis.port).into();
    let proxy = delay
        .map(|d| proxy::DelayProxy::start(upstream, d))
        .transpose()?;
    let url = proxy.as_ref().map_or(redis.url.clone(), |p| p.url());
    let replica_store: SocketAddr = proxy
        .as_ref()
        .map_or(upstream, |p| ([127, 0, 0, 1], p.port).into());
    let starting = Instant::now();
    let tag = format!("{runtime:?}-{}", delay.map_or(0, |d| d.as_micros()));
    // The replicas, started side by side (each start compiles every component).
    let reps: Vec<Replica> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..most)
            .map(|i| {
                let (url, rdir) = (&url, dir.join(format!("{tag}-{i}")));
                s.spawn(move || {
                    Replica::start(runtime, manifest, url, &replica_variables(), &rdir, driver)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a replica's start panicked")))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let seeder = Seeder::start(&redis.url, manifest, orgs)?;
    eprintln!(
        "  {most} replicas and the writer up in {:.1} s",
        starting.elapsed().as_secs_f64()
    );
    let mut seed_per_s = 150.0;
    let mut runs = Vec::new();
    for k in 1..=most {
        for (i, r) in reps.iter().enumerate() {
            r.set_paused(i >= k);
        }
        let n = k * per_replica;
        let run = measure(replica_store, &reps[..k], &seeder, n, &mut seed_per_s)
            .map_err(|e| e.context(format!("{k} replica(s), {n} operations")))?;
        eprintln!("  {k} replica(s): {}", describe(&run));
        runs.push(run);
    }
    seeder.app.shutdown();
    drop(reps);
    drop(proxy);
    Ok(runs)
}

/// One run: the backlog written (due a few seconds later), then the active replicas work it.
fn measure(
    store: SocketAddr,
    reps: &[Replica],
    seeder: &Seeder,
    n: usize,
    seed_per_s: &mut f64,
) -> anyhow::Result<Run> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = reps[0].base_url();
    let (mut start, _) = engine_counts(&http, &base)?;
    // The backlog's one due instant must come after it is written, however loaded the machine.
    // The lead comes from the last write's rate with a margin; a write that finds it would not
    // make it stops early (`Seeder::write`), the replicas work off what it wrote (not
    // measured), and the next try takes the rate just measured with twice the margin.
    let mut margin = 1.8;
    let mut tries = 1;
    let (lead, due) = loop {
        let lead = n as f64 / *seed_per_s * margin + 3.0;
        let due = SystemTime::now() + Duration::from_secs_f64(lead);
        let written = seeder.write(n, due)?;
        *seed_per_s = written.rate();
        if written.ops == n {
            break (lead, due);
        }
        let what = format!(
            "lead {lead:.1} s, {} of {n} written at {:.0}/s",
            written.ops, *seed_per_s
        );
        anyhow::ensure!(
            tries < TRIES,
            "the backlog could not be written before it was due in {TRIES} tries ({what})"
        );
        eprintln!("  the writer stopped early ({what}); again once the replicas worked those");
        let target = i64::try_from(written.ops)?;
        count_until(&http, &base, start, target, due, None, reps)?;
        start += target;
        margin *= 2.0;
        tries += 1;
    };
    let (before, _) = engine_counts(&http, &base)?;
    anyhow::ensure!(
        before == start && SystemTime::now() < due,
        "the backlog became due before it was written (lead {lead:.1} s too short)"
    );
    let target = i64::try_from(n)?;
    let Counted {
        first,
        end,
        steps,
        cpu_start,
        probe,
    } = count_until(&http, &base, start, target, due, Some(store), reps)?;
    let cpu = busy_between(cpu_start, cpu_times());
    let rtt = match probe {
        Some(p) => p.finish()?,
        None => proxy::ping_rtt(store, 50)?,
    };
    // A tick later: nothing was advanced twice.
    std::thread::sleep(Duration::from_millis(2_500));
    let (after, _) = engine_counts(&http, &base)?;
    anyhow::ensure!(
        after - start == target,
        "{} transitions counted for a backlog of {n}: some were repeated",
        after - start
    );
    let errors = reps.iter().map(|r| r.log_count("tick stopped early")).sum();
    let (t1, a1) = first.unwrap_or((end, target));
    let window = end.duration_since(t1);
    let rate = (a1 < target && window > Duration::ZERO)
        .then(|| (target - a1) as f64 / window.as_secs_f64());
    Ok(Run {
        replicas: reps.len(),
        ops: n,
        rate,
        steps,
        window,
        errors,
        cpu,
        rtt,
    })
}

/// What [`count_until`] saw: the first count (when, how many), when the target was reached,
/// the counts seen, and what was started at the first count (CPU times, the store probe).
struct Counted {
    first: Option<(Instant, i64)>,
    end: Instant,
    steps: usize,
    cpu_start: Option<(u64, u64)>,
    probe: Option<proxy::RttProbe>,
}

/// Polls the first replica's `/healthz` every 50 ms until `engine.advanced` grew from `start`
/// by `target` (a backlog due at `due`); starts a round-trip probe of `store` at the first
/// count, if given.
fn count_until(
    http: &reqwest::blocking::Client,
    base: &str,
    start: i64,
    target: i64,
    due: SystemTime,
    store: Option<SocketAddr>,
    reps: &[Replica],
) -> anyhow::Result<Counted> {
    // The backlog is readable once its bucket ended and `skew_ms` passed: a stall counts from
    // then at the earliest.
    let readable = Instant::now()
        + due.duration_since(SystemTime::now()).unwrap_or_default()
        + Duration::from_secs(5);
    let mut first: Option<(Instant, i64)> = None;
    let mut cpu_start = None;
    let mut probe = None;
    let mut last_seen = (Instant::now(), 0i64);
    let mut steps = 0;
    loop {
        let (a, _) = engine_counts(http, base)?;
        let a = a - start;
        let now = Instant::now();
        if a != last_seen.1 {
            steps += 1;
            last_seen = (now, a);
            if first.is_none() {
                first = Some((now, a));
                cpu_start = cpu_times();
                probe = store.map(proxy::RttProbe::start);
            }
        }
        if a >= target {
            return Ok(Counted {
                first,
                end: now,
                steps,
                cpu_start,
                probe,
            });
        }
        if now.duration_since(last_seen.0.max(readable)) > STALL {
            if let Some(p) = probe {
                let _ = p.finish();
            }
            let logs: Vec<String> = reps.iter().map(|r| r.log_tail(15)).collect();
            anyhow::bail!(
                "stalled at {a} of {target} transitions for {STALL:?}; logs:\n{}",
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn render_runs(runtime: Runtime, delay: Option<Duration>, runs: &[Run]) -> String {
    let mut s = format!(
        "### Throughput: {}, {}\n\n| replicas | operations | transitions/s | vs 1 replica | window | counts seen | machine CPU busy | store round trip | failed ticks |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        runtime.name(),
        store_name(delay)
    );
    let one = runs.first().and_then(|r| r.rate);
    for r in runs {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} s | {} | {} | {:.2} ms | {} |\n",
            r.replicas,
            r.ops,
            r.rate_text(),
            ratio_text(r.ratio(one)),
            r.window.as_secs_f64(),
            r.steps,
            r.cpu_text(),
            r.rtt.as_secs_f64() * 1e3,
            r.errors
        ));
    }
    s.push('\n');
    s
}
