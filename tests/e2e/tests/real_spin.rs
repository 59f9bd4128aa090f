//! The end-to-end scenarios on the real runtime: `spin up` 4.0.2 with the trigger-cron
//! plugin (see `catalog_e2e::real_spin`), in real time with shortened timings
//! (`catalog_e2e::REAL_TIMINGS`; the cron fires every 2 s as `spin.toml` says).
//!
//! `#[ignore]`d: a plain `cargo test` needs no Spin. `./dev test` runs them with
//! `cargo test -p catalog-e2e --test real_spin -- --ignored` when it has a Spin; without
//! one they fail with `RealSpin::require_binary`'s message.
//!
//! One `spin up` per backend serves every scenario that leaves app-wide state alone, each
//! with fresh orgs (which also saves start-ups); scenarios that change the app-wide
//! simulation, and the heaviest ones ([`BUSY`]), get an app of their own.
//!
//! Also here: the replicas check (`replicas.rs`'s scenarios on three `spin up` instances,
//! each with its own cron, on one `redis-server`, with four shards and with one; and on
//! moto's DynamoDB after the scenarios there), the scheduler's tick calls cut off, a
//! `spin up` killed while it holds a shard's lease (`scenarios::leases`, on SQLite and
//! Redis) and `faults.rs`'s kill test (a `spin up` killed mid-traffic, restarted on the
//! same store).
//!
//! Local only (they stay in the other test targets):
//! - `platform::healthz_shows_the_app_and_the_last_tick`: asserts the moved clock's exact
//!   tick times and that no tick ran before the first (`healthz_shows_a_newer_tick_after_a_tick`
//!   is its real-time counterpart);
//! - `platform::a_failing_store_is_a_clean_503_and_recovers` and `faults.rs` but its kill
//!   test: they inject store faults and count store calls, which only our host can do.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use catalog_e2e::real_spin::Pace;
use catalog_e2e::real_spin::RealSpin;
use catalog_e2e::scenarios::replicas::{self, Cluster};
use catalog_e2e::scenarios::{
    bounds, console, hostile, imagemgmt, leases, platform, ratelimit, signatures,
};
use catalog_e2e::{Backend, Harness, Target, start_real, start_real_driven};

/// Scenarios run at once on one backend (most of their time is spent waiting for ticks).
const WORKERS: usize = 6;

/// On DynamoDB: every app of its own has its own moto server, one Python process whose
/// answers cost far more CPU than Redis' or SQLite's (R12); six of them at once with their
/// apps starve a small machine, and the engine's waits run past their deadline.
const DYNAMO_WORKERS: usize = 3;

/// Scenarios that also get an app of their own: their load (51 operations at once,
/// hundreds of requests) slows the shared app's background work (its cron advances at
/// most `tick_cap` operations a tick) and, on SQLite, makes other scenarios' requests
/// meet "database is locked" (R4).
const BUSY: [&str; 3] = [
    "concurrent_add_version_gives_distinct_numbers",
    "garbage_methods_paths_headers_and_bodies_never_get_a_5xx_or_an_empty_answer",
    "signed_rpc_calls_with_garbage_parameters_never_get_a_5xx",
];

/// Scenarios that measure the serving process: alone in a `spin up` of their own, so no
/// other scenario's requests grow it.
const MEASURED: [&str; 1] = ["huge_bodies_are_refused_unread_in_bounded_memory"];

struct Job {
    name: &'static str,
    run: fn(&Harness),
    own_app: bool,
}

macro_rules! jobs {
    ($module:ident: $($name:ident),* $(,)?) => {
        [$(Job {
            name: concat!(stringify!($module), "::", stringify!($name)),
            run: $module::$name,
            own_app: imagemgmt::NEEDS_OWN_APP.contains(&stringify!($name))
                || BUSY.contains(&stringify!($name))
                || MEASURED.contains(&stringify!($name)),
        }),*]
    };
}

/// Every scenario that needs neither a moved clock nor fault injection.
fn jobs() -> Vec<Job> {
    let mut all = Vec::new();
    all.extend(jobs!(platform:
        healthz_shows_a_newer_tick_after_a_tick,
        unknown_paths_get_a_json_404,
        admin_needs_the_admin_token,
    ));
    all.extend(jobs!(hostile:
        another_org_can_neither_see_nor_change_anything_through_rest,
        another_org_can_neither_see_nor_delete_a_capture_through_rpc,
        oversize_deep_and_non_json_bodies_are_refused,
        garbage_methods_paths_headers_and_bodies_never_get_a_5xx_or_an_empty_answer,
        signed_rpc_calls_with_garbage_parameters_never_get_a_5xx,
        huge_bodies_are_refused_unread_in_bounded_memory,
    ));
    all.extend(jobs!(signatures: ambiguous_rpc_requests_are_refused_with_their_codes));
    all.extend(jobs!(bounds:
        revoked_credentials_are_refused_on_the_next_request,
        oversized_or_foreign_replicas_and_doubled_credentials_are_refused,
        a_deleted_org_is_refused_at_once_and_emptied_by_the_engine,
    ));
    all.extend(jobs!(console: console_files_carry_their_headers_and_stay_on_the_origin));
    all.extend(jobs!(imagemgmt:
        sig_copy_reaches_available,
        custom_vm_import_then_publish,
        version_numbering_major_and_minor,
        deleting_the_last_version_removes_the_image,
        concurrent_add_version_gives_distinct_numbers,
        idempotency_key_replays_the_first_answer,
        errors_are_precise_problems,
        orgs_are_isolated,
        msp_partner_image_data_is_copied,
        shared_images_are_read_only_for_every_org,
        publish_with_a_failing_replica_is_partially_available,
        retry_then_success,
        retries_exhausted_fail_the_version,
        a_stalled_step_times_out,
        conditional_requests_and_head_follow_rfc_9110,
    ));
    // Popped from the end: the apps of their own start first, the slowest waits overlap.
    all.sort_by_key(|j| j.own_app);
    // `E2E_ONLY=part-of-a-name` runs the matching scenarios only (when chasing one).
    if let Ok(only) = std::env::var("E2E_ONLY") {
        all.retain(|j| j.name.contains(&only));
    }
    all
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into())
}

fn log_tail(target: &Target) -> String {
    match target {
        Target::Real(spin) => spin.log_tail(30),
        Target::Local(_) | Target::Remote(_) => String::new(),
    }
}

/// Runs `job` on a fresh org of `shared`, or on an app of its own (driven as `shared` is);
/// `Err`: why it failed.
fn run(
    job: &Job,
    n: usize,
    backend: Backend,
    shared: &Arc<Target>,
    pace: Option<Pace>,
) -> Result<(), String> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let h = if job.own_app {
            Harness::start_real_driven(backend, pace)
        } else {
            Harness::on(shared.clone(), &format!("s{n}"))
        };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| (job.run)(&h)));
        if let Err(payload) = result {
            let mut why = panic_text(payload.as_ref());
            if job.own_app {
                why.push_str(&format!("\n--- its spin up ---\n{}", log_tail(h.target())));
            }
            return Err(why);
        }
        Ok(())
    }));
    outcome.unwrap_or_else(|payload| Err(panic_text(payload.as_ref())))
}

/// Runs every job on `backend`, [`WORKERS`] at a time; fails listing every failed one.
fn run_suite(backend: Backend) {
    RealSpin::require_binary();
    let started = Instant::now();
    let (target, redis) = start_real(backend, &[]);
    eprintln!("{backend:?}: spin up served in {:?}", started.elapsed());
    run_jobs(backend, Arc::new(target), jobs(), None);
    drop(redis);
}

/// Runs `jobs` on `shared` (own-app jobs on apps of their own, driven at `pace`),
/// [`WORKERS`] at a time; fails listing every failed one.
fn run_jobs(backend: Backend, shared: Arc<Target>, jobs: Vec<Job>, pace: Option<Pace>) {
    let started = Instant::now();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::<(&str, Duration, Result<(), String>)>::new());
    std::thread::scope(|s| {
        let workers = if backend == Backend::Dynamo {
            DYNAMO_WORKERS
        } else {
            WORKERS
        };
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((n, job)) = next else { break };
                    let t = Instant::now();
                    let outcome = run(&job, n, backend, &shared, pace);
                    eprintln!(
                        "{backend:?} {}: {} in {:.1?}",
                        job.name,
                        if outcome.is_ok() { "ok" } else { "FAILED" },
                        t.elapsed()
                    );
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((
                        job.name,
                        t.elapsed(),
                        outcome,
                    ));
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let health = Harness::on(shared.clone(), "end").send("GET", "/healthz", None, &[], None);
    eprintln!(
        "{backend:?}: the cron ran {} ticks in {:.1?}",
        health.body["cron"]["lastTick"]["count"],
        started.elapsed()
    );
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, _, r)| r.as_ref().err().map(|why| format!("{name}: {why}")))
        .collect();
    eprintln!(
        "{backend:?}: {} scenarios, {} failed, {:.1?} in all",
        results.len(),
        failed.len(),
        started.elapsed()
    );
    if !failed.is_empty() {
        // Panicking with the app alive keeps its state directory (and logs) for a look.
        let tail = log_tail(&shared);
        panic!(
            "{} of {} scenarios failed on real Spin ({backend:?}):\n\n{}\n\n--- the shared spin up ---\n{tail}",
            failed.len(),
            results.len(),
            failed.join("\n\n")
        );
    }
    if let Target::Real(spin) = &*shared
        && let Some(why) = spin.scheduler_failure()
    {
        panic!("a tick call of the external scheduler failed on {backend:?}: {why}");
    }
    // On DynamoDB a lost increment race used to fail about half the ticks (R12).
    if backend == Backend::Dynamo {
        let failed = failed_ticks(&shared);
        assert!(failed.is_empty(), "failed ticks:\n{}", failed.join("\n"));
    }
    drop(shared);
}

/// The scenarios whose outcome hangs on the engine moving (copies, imports, publishes,
/// retries, timeouts, deletes), run again without the cron trigger. The others answer the
/// same whoever drives the engine, and stay in the cron suites only.
fn engine_jobs() -> Vec<Job> {
    let mut all = Vec::new();
    all.extend(jobs!(platform: healthz_shows_a_newer_tick_after_a_tick));
    all.extend(jobs!(imagemgmt:
        sig_copy_reaches_available,
        custom_vm_import_then_publish,
        deleting_the_last_version_removes_the_image,
        msp_partner_image_data_is_copied,
        publish_with_a_failing_replica_is_partially_available,
        retry_then_success,
        retries_exhausted_fail_the_version,
        a_stalled_step_times_out,
        conditional_requests_and_head_follow_rfc_9110,
    ));
    all.sort_by_key(|j| j.own_app);
    all
}

/// A platform without a cron trigger (SpinKube, edge platforms) on SQLite: every component
/// but the cron one, the engine driven by a tight loop of single-tick calls.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn engine_scenarios_without_cron_on_sqlite() {
    RealSpin::require_binary();
    let pace = Some(Pace::SingleTicks);
    let (target, _redis) = start_real_driven(Backend::Sqlite, &[], pace);
    run_jobs(Backend::Sqlite, Arc::new(target), engine_jobs(), pace);
}

/// Tick calls cut off mid-way by their client, one after another (each asks for 5 s and is
/// abandoned after 0.7 s, so cut calls overlap), then `spin up` itself killed while calls
/// run: 20 copies all succeed, each transition once, once a new `spin up` on the same store
/// is driven again.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn tick_calls_cut_off_or_killed_lose_nothing() {
    use catalog_e2e::real_spin::fresh_dir;
    use catalog_e2e::{Door, ORG, REAL_DEADLINE, REAL_POLL, http_client, real_options, seed_at};
    use leases::{all_final, assert_all_succeeded, gallery_copies};

    RealSpin::require_binary();
    let dir = fresh_dir("catalog-e2e-real-cut").expect("a state dir");
    let mut opts = real_options().without_cron(Pace::CutOff);
    opts.state_dir = Some(dir.clone());
    let mut a = RealSpin::start(&opts).unwrap_or_else(|e| panic!("spin up: {e:#}"));
    let creds = seed_at(&http_client(), &a.base_url(), ORG);
    let ops = gallery_copies(&Door::new(a.base_url(), creds.clone()), 20, "cut");
    // Some calls cut off, and work started, before the kill.
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.scheduler_cuts() < 3 {
        assert!(
            Instant::now() < deadline,
            "no tick call was cut off in 20 s"
        );
        std::thread::sleep(REAL_POLL);
    }
    let cuts = a.scheduler_cuts();
    a.kill();
    let b = RealSpin::start(&opts).unwrap_or_else(|e| panic!("spin up again: {e:#}"));
    let door = Door::new(b.base_url(), creds);
    let deadline = Instant::now() + REAL_DEADLINE;
    while !all_final(&door, &ops) {
        assert!(
            Instant::now() < deadline,
            "copies unfinished after cut-off calls and a kill:\n{}",
            b.log_tail(30)
        );
        std::thread::sleep(REAL_POLL);
    }
    assert_all_succeeded(&door, &ops);
    assert_eq!(b.scheduler_failure(), None, "a tick call failed");
    eprintln!(
        "cut-off tick calls: {cuts} cut before the kill, {} after; 20 copies succeeded",
        b.scheduler_cuts()
    );
    drop(b);
    let _ = std::fs::remove_dir_all(dir);
}

/// The log lines of a real `spin up` that tell of a failed tick (or a lost increment race
/// that reached the app, R12).
fn failed_ticks(target: &Target) -> Vec<String> {
    let Target::Real(spin) = target else {
        return Vec::new();
    };
    [
        "tick stopped early",
        "counting the tick",
        "ConditionalCheckFailed",
    ]
    .iter()
    .flat_map(|needle| spin.log_lines_with(needle))
    .collect()
}

/// The replicas check on `c` (`replicas.rs`: mixed traffic through every replica loses and
/// repeats nothing; racing deletes of one version start one operation), then `also`; on a
/// failure, every replica's log tail before the panic goes on.
fn replicas_check(c: &Cluster, label: &str, also: impl Fn(&Cluster)) {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        replicas::three_replicas_on_one_store_lose_and_repeat_nothing(c);
        // After the first has verified its org's whole catalog: its images are its own.
        replicas::racing_deletes_of_one_version_start_one_operation(c);
        also(c);
    }));
    eprintln!("{label}: {:.1?}", started.elapsed());
    if let Err(payload) = outcome {
        for (i, t) in c.targets().iter().enumerate() {
            eprintln!("--- replica {i} ---\n{}", log_tail(t));
        }
        std::panic::resume_unwind(payload);
    }
}

/// Two replicas without cron on one Redis, each called once "a minute" with `seconds=55`
/// (the CronJob of `deploy/spinkube/`, its idle gaps left out): the replicas check loses and
/// repeats nothing, and every tick call is answered 200.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn replicas_without_cron_on_one_redis() {
    let c = Cluster::real_driven(2, &[], Some(Pace::Seconds(55)));
    replicas_check(&c, "replicas without cron", |c| {
        for t in c.targets() {
            if let Target::Real(spin) = t {
                assert_eq!(spin.scheduler_failure(), None, "a tick call failed");
            }
        }
    });
}

/// On a local DynamoDB (moto's server, `tests/dynamo/moto.py`; R12): the scenarios, then the
/// replicas check on three replicas, each with its own cron triggers (two ticks every 2 s),
/// the defaults of `spin.toml` (batch reads on, eight shards); not one tick fails (a racing
/// increment used to fail about half of them). One test, so the two parts never load the
/// machine at once: moto answers one request at a time (`tests/dynamo/moto.py`), at a far
/// higher CPU cost than Redis.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn scenarios_and_replicas_on_dynamodb() {
    run_suite(Backend::Dynamo);
    let c = Cluster::real_dynamo(3, &[]);
    replicas_check(&c, "replicas on DynamoDB", |c| {
        for (i, t) in c.targets().iter().enumerate() {
            let failed = failed_ticks(t);
            assert!(
                failed.is_empty(),
                "replica {i}: {} failed ticks:\n{}",
                failed.len(),
                failed.join("\n")
            );
        }
    });
}

/// The scenarios that share an app, against an app someone else started and drives
/// (`IMAGE_CATALOG_URL`, with the e2e admin token): SpinKube's node runtime under
/// containerd in `tests/shim/run.sh`.
#[test]
#[ignore = "needs an app at IMAGE_CATALOG_URL: tests/shim/run.sh runs it"]
fn external_app() {
    let base = std::env::var("IMAGE_CATALOG_URL")
        .expect("IMAGE_CATALOG_URL: the base URL of a running app");
    let token = std::env::var("IMAGE_CATALOG_ADMIN_TOKEN").unwrap_or_default();
    assert_eq!(
        token,
        catalog_e2e::ADMIN_TOKEN,
        "start the app with the e2e admin token (IMAGE_CATALOG_ADMIN_TOKEN)"
    );
    let shared: Vec<Job> = jobs().into_iter().filter(|j| !j.own_app).collect();
    run_jobs(
        Backend::Sqlite,
        Arc::new(Target::Remote(base)),
        shared,
        None,
    );
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn scenarios_on_sqlite() {
    run_suite(Backend::Sqlite);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn scenarios_on_redis() {
    run_suite(Backend::Redis);
}

/// Three `spin up` instances, each with its own cron trigger, on one `redis-server`. Batch
/// reads are left on, against the README's advice for Redis: Spin's Redis `get-many` fails
/// (R8), and the app must fall back to one `get` per key without a failed request.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn replicas_on_one_redis() {
    let c = Cluster::real_with(3, &[("store_batch_reads", "true")]);
    replicas_check(&c, "replicas", |_| {});
}

/// Per-org rate limits on real Spin (`ratelimit::real_time`): an app of its own with low
/// limits on each store; one org is throttled on both doors while another is served, and
/// searches spend a budget of their own.
fn one_org_is_throttled_while_another_is_served(backend: Backend) {
    use catalog_e2e::{Door, http_client, seed_at};

    let variables = ratelimit::real_time_variables();
    let variables: Vec<(&str, &str)> = variables.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (target, _redis) = start_real(backend, &variables);
    let base = target.base_url();
    let http = http_client();
    let a = Door::new(base.clone(), seed_at(&http, &base, "org-limited"));
    let b = Door::new(base.clone(), seed_at(&http, &base, "org-unhurried"));
    let searcher = Door::new(base.clone(), seed_at(&http, &base, "org-searching"));
    let other = Door::new(base.clone(), seed_at(&http, &base, "org-browsing"));
    let busy = Door::new(base.clone(), seed_at(&http, &base, "org-busy"));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        ratelimit::real_time(&a, &b);
        // Right after: within the same hour-long window (real_time waited out a nearly
        // spent one).
        ratelimit::searches_spend_a_scan_budget_of_their_own(&searcher, &other, &|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        });
        ratelimit::operations_past_the_quota_are_refused(&busy);
    }));
    if let Err(payload) = outcome {
        eprintln!("--- its spin up ---\n{}", log_tail(&target));
        std::panic::resume_unwind(payload);
    }
}

/// The sampled rate limit on real Spin, in real time (`ratelimit::sampled_variables`): an
/// org is refused within 10 % of its limit, another is served.
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn sampled_rate_limit_on_sqlite() {
    use catalog_e2e::{Door, http_client, seed_at};

    let variables = ratelimit::sampled_variables();
    let variables: Vec<(&str, &str)> = variables.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (target, _redis) = start_real(Backend::Sqlite, &variables);
    let base = target.base_url();
    let http = http_client();
    let a = Door::new(base.clone(), seed_at(&http, &base, "org-sampled"));
    let b = Door::new(base.clone(), seed_at(&http, &base, "org-spared"));
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        ratelimit::a_sampled_limit_holds_within_ten_percent(&a, &b, true)
    }));
    if let Err(payload) = outcome {
        eprintln!("--- its spin up ---\n{}", log_tail(&target));
        std::panic::resume_unwind(payload);
    }
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn rate_limits_on_sqlite() {
    one_org_is_throttled_while_another_is_served(Backend::Sqlite);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn rate_limits_on_redis() {
    one_org_is_throttled_while_another_is_served(Backend::Redis);
}

/// `faults.rs`'s kill test on real Spin: `spin up` killed (SIGKILL, triggers included)
/// while four threads send Add Version; a new `spin up` on the same store shows every
/// acknowledged version and finishes every acknowledged operation.
fn killing_spin_up_mid_traffic_loses_nothing(backend: Backend) {
    use catalog_e2e::real_spin::SpinStore;
    use catalog_e2e::{Door, ORG, http_client, real_options, seed_at};

    RealSpin::require_binary();
    let redis = (backend == Backend::Redis).then(spin_local_kv::testing::RedisServer::start);
    let dir = std::env::temp_dir().join(format!(
        "catalog-e2e-real-kill-{}-{backend:?}",
        std::process::id()
    ));
    let mut opts = real_options();
    opts.state_dir = Some(dir.clone());
    if let Some(server) = &redis {
        opts.store = SpinStore::Redis {
            url: server.url.clone(),
        };
    }
    let mut spin = RealSpin::start(&opts).unwrap_or_else(|e| panic!("spin up: {e:#}"));
    let creds = seed_at(&http_client(), &spin.base_url(), ORG);
    let door = Door::new(spin.base_url(), creds.clone());
    let acked = catalog_e2e::kill::add_versions_until_killed(&door, || spin.kill());
    let spin = RealSpin::start(&opts).unwrap_or_else(|e| panic!("spin up again: {e:#}"));
    let door = Door::new(spin.base_url(), creds);
    let final_status = |op: &String| door.rest("GET", op, None).str("status");
    let deadline = Instant::now() + 2 * catalog_e2e::REAL_DEADLINE;
    while !acked.ops.iter().all(|op| final_status(op) == "SUCCEEDED") {
        assert!(
            Instant::now() < deadline,
            "operations unfinished after the restart:\n{}",
            spin.log_tail(30)
        );
        std::thread::sleep(catalog_e2e::REAL_POLL);
    }
    let versions = catalog_e2e::kill::check_nothing_lost(&door, &acked);
    let image = &acked.image;
    let img = door.rest("GET", &format!("/images/{image}"), None);
    assert_eq!(img.body["versionCount"], versions.len(), "{}", img.body);
    eprintln!(
        "kill ({backend:?}): {} acknowledged before the kill, {} versions after restart",
        acked.versions.len(),
        versions.len()
    );
    drop(spin);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn killing_spin_up_on_sqlite_loses_nothing() {
    killing_spin_up_mid_traffic_loses_nothing(Backend::Sqlite);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn killing_spin_up_on_redis_loses_nothing() {
    killing_spin_up_mid_traffic_loses_nothing(Backend::Redis);
}

/// The replicas check with one shard: the three `spin up` crons race for one lease at every
/// tick (with the default four shards they meet only now and then).
#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn replicas_racing_for_one_shard_on_one_redis() {
    let started = Instant::now();
    let c = Cluster::real_with(3, &leases::ONE_SHARD);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        replicas::three_replicas_on_one_store_lose_and_repeat_nothing(&c);
    }));
    eprintln!("replicas racing for one shard: {:.1?}", started.elapsed());
    if let Err(payload) = outcome {
        for (i, t) in c.targets().iter().enumerate() {
            eprintln!("--- replica {i} ---\n{}", log_tail(t));
        }
        std::panic::resume_unwind(payload);
    }
}

/// A `spin up` killed (SIGKILL) while its cron tick holds the only shard's lease: a second
/// `spin up` on the same store takes the shard over once the lease expires and finishes
/// every operation, each transition once.
fn a_spin_up_killed_holding_a_lease_is_taken_over(backend: Backend) {
    use catalog_e2e::real_spin::{SpinStore, fresh_dir};
    use catalog_e2e::{Door, ORG, REAL_DEADLINE, REAL_POLL, http_client, real_options, seed_at};
    use leases::{
        ONE_SHARD, all_final, assert_all_succeeded, gallery_copies, live_holder, now_ms,
        open_store, shard_state, wait_for_a_lease,
    };

    RealSpin::require_binary();
    let redis = (backend == Backend::Redis).then(spin_local_kv::testing::RedisServer::start);
    // A step a tick (2 s) keeps the operations running long enough to catch a tick.
    let mut opts = real_options().variable("step_ms", "2000");
    for (name, value) in ONE_SHARD {
        opts = opts.variable(name, value);
    }
    let dir = fresh_dir("catalog-e2e-real-lease").expect("a state dir");
    opts.state_dir = Some(dir.clone());
    let store = match &redis {
        Some(server) => {
            opts.store = SpinStore::Redis {
                url: server.url.clone(),
            };
            open_store(&spin_local_kv::BackendConfig::Redis {
                url: server.url.clone(),
            })
        }
        None => open_store(&spin_local_kv::BackendConfig::Sqlite {
            path: dir.join("sqlite_key_value.db"),
        }),
    };
    let start = || RealSpin::start(&opts).unwrap_or_else(|e| panic!("spin up: {e:#}"));
    let mut a = start();
    let creds = seed_at(&http_client(), &a.base_url(), ORG);
    let ops = gallery_copies(&Door::new(a.base_url(), creds.clone()), 60, "killed");

    // Killed the moment a tick is seen holding the lease; if that tick ended before the
    // kill landed (the lease was released), another `spin up` tries again.
    let mut dead = None;
    for _ in 0..5 {
        let seen = wait_for_a_lease(&*store, Duration::from_secs(10));
        a.kill();
        let killed_at = Instant::now();
        let held = live_holder(shard_state(&*store, 0).as_ref(), now_ms());
        if seen.is_some() && held == seen {
            dead = seen.map(|h| (h, killed_at));
            break;
        }
        a = start();
    }
    let (holder, killed_at) = dead.expect("no kill landed while a tick held the lease");
    let b = start();
    let door = Door::new(b.base_url(), creds);
    let deadline = Instant::now() + REAL_DEADLINE;
    while !all_final(&door, &ops) {
        assert!(
            Instant::now() < deadline,
            "operations unfinished after the takeover:\n{}",
            b.log_tail(30)
        );
        std::thread::sleep(REAL_POLL);
    }
    assert_all_succeeded(&door, &ops);
    let state = shard_state(&*store, 0).expect("the shard's state");
    assert!(
        state.lease.as_ref().is_none_or(|l| l.holder != holder),
        "the dead holder's lease outlived the takeover: {state:?}"
    );
    eprintln!(
        "lease takeover ({backend:?}): {} operations finished {:.1?} after the holder was killed",
        ops.len(),
        killed_at.elapsed()
    );
    drop(b);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn a_spin_up_killed_holding_a_lease_is_taken_over_on_redis() {
    a_spin_up_killed_holding_a_lease_is_taken_over(Backend::Redis);
}

#[test]
#[ignore = "needs the real Spin runtime: ./dev test runs it"]
fn a_spin_up_killed_holding_a_lease_is_taken_over_on_sqlite() {
    a_spin_up_killed_holding_a_lease_is_taken_over(Backend::Sqlite);
}
