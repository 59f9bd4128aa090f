//! Per-org rate limits (`catalog_model::ratelimit`) on our host: an app of its own with low
//! limits (`rest_rate_limit`, `rpc_rate_limit`) and the clock frozen at the start of a
//! window, so every request falls in that window. Org A spends its budget on each door and
//! is refused (REST `429` problem+json with `Retry-After`, RPC `400 Throttling.User`) while
//! org B, in the same window, is served; once the clock passes the window's end, A is served
//! again, and the advancer purges the old window's counters.

use catalog_model::keys;
use spin_local_host::{App, AppOptions, KvSetup};
use spin_local_kv::testing::RedisServer;

use crate::{
    ADMIN_TOKEN, Answer, Backend, Door, T0_SECS, http_client, manifest, redis_kv, seed_at,
};

/// Requests an org may send per door and window in the limited app.
pub const LIMIT: usize = 5;
/// Image records an org's searches may read per window in the limited app (its orgs hold
/// no image, so each search spends 1).
pub const SCAN_LIMIT: usize = 2;
/// Operations an org may run at once in the limited app.
pub const OPERATIONS_LIMIT: usize = 2;
/// The limited app's window, in seconds ([`T0_SECS`] is the start of one).
pub const WINDOW_S: u64 = 10;

/// An app with low limits, in spin-compat mode, and two orgs. Fields drop in order: the
/// app before the Redis server.
pub struct Limited {
    pub app: App,
    /// The org that spends its budget.
    pub a: Door,
    /// The org that does not.
    pub b: Door,
    _redis: Option<RedisServer>,
}

impl Limited {
    /// Starts the app on `backend` with [`LIMIT`] requests per [`WINDOW_S`] seconds on each
    /// door, the clock frozen at [`T0_SECS`], and seeds two orgs (through the admin API,
    /// which is not limited).
    pub fn start(backend: Backend) -> Limited {
        assert!(
            backend != Backend::Dynamo,
            "DynamoDB (moto) runs on the real runtime only"
        );
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let mut options = AppOptions::new(manifest());
        options.kv = match &redis {
            Some(server) => redis_kv(server),
            None => KvSetup::TempSqlite,
        };
        options.spin_compat = true;
        for (name, value) in [
            ("admin_token", ADMIN_TOKEN.to_owned()),
            ("secrets_key", catalog_model::secrets::TEST_KEY.to_owned()),
            ("rate_window_s", WINDOW_S.to_string()),
            ("rest_rate_limit", LIMIT.to_string()),
            ("rpc_rate_limit", LIMIT.to_string()),
            ("scan_rate_limit", SCAN_LIMIT.to_string()),
            ("quota_operations", OPERATIONS_LIMIT.to_string()),
        ] {
            options.variables.insert(name.into(), value);
        }
        let app = App::start(options).unwrap_or_else(|e| {
            panic!("the app did not start ({e:#}); build the components first: ./dev test")
        });
        app.clock().set_unix(T0_SECS);
        let http = http_client();
        let base = app.base_url();
        let a = Door::new(base.clone(), seed_at(&http, &base, "org-limited"));
        let b = Door::new(base.clone(), seed_at(&http, &base, "org-unhurried"));
        Limited {
            app,
            a,
            b,
            _redis: redis,
        }
    }

    fn now(&self) -> u64 {
        self.app.clock().unix_seconds()
    }

    fn list_images(&self, door: &Door) -> Answer {
        door.rest("GET", "/images", None)
    }

    fn list_image(&self, door: &Door) -> Answer {
        door.rpc("ListImage", &[], self.now())
    }

    /// Whether the store holds `key` (a counter of the limiter).
    fn stored(&self, key: &str) -> bool {
        self.app
            .store("default")
            .and_then(|s| s.exists(key).map_err(|e| anyhow::anyhow!("{e:?}")))
            .unwrap_or_else(|e| panic!("reading {key}: {e:#}"))
    }
}

fn assert_rest_throttled(what: &str, a: &Answer, retry_after: &str) {
    assert_eq!(a.status, 429, "{what}: {}", a.body);
    assert_eq!(a.body["code"], "TOO_MANY_REQUESTS", "{what}: {}", a.body);
    assert_eq!(a.body["status"], 429, "{what}: {}", a.body);
    assert_eq!(a.header("retry-after"), Some(retry_after), "{what}");
    assert_eq!(
        a.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
}

fn assert_rpc_throttled(what: &str, a: &Answer) {
    assert_eq!(a.status, 400, "{what}: {}", a.body);
    assert_eq!(a.body["Code"], "Throttling.User", "{what}: {}", a.body);
    assert_eq!(a.body["Success"], false, "{what}: {}", a.body);
    let message = a.body["Message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Request was denied due to user flow control."),
        "{what}: {message}"
    );
    assert!(
        a.body["RequestId"].as_str().is_some_and(|r| !r.is_empty()),
        "{what}: {}",
        a.body
    );
}

/// Org A spends its budget on both doors and is refused until the window ends, while org B
/// is served in the same window; the old window's counters are purged afterwards.
pub fn one_org_is_throttled_while_another_is_served(l: &Limited) {
    // REST: LIMIT requests pass, the next is refused for the rest of the window.
    for i in 0..LIMIT {
        let r = l.list_images(&l.a);
        assert_eq!(r.status, 200, "REST request {i} of org A: {}", r.body);
    }
    // The clock is frozen at the window's start: the whole window is left.
    assert_rest_throttled("org A over its REST limit", &l.list_images(&l.a), "10");
    // Org B, in the same window, is served; A is still refused.
    for i in 0..LIMIT {
        let r = l.list_images(&l.b);
        assert_eq!(r.status, 200, "REST request {i} of org B: {}", r.body);
    }
    assert_rest_throttled("org A again", &l.list_images(&l.a), "10");

    // RPC: the door has its own budget, so A starts afresh there.
    for i in 0..LIMIT {
        let r = l.list_image(&l.a);
        assert_eq!(r.status, 200, "RPC request {i} of org A: {}", r.body);
    }
    assert_rpc_throttled("org A over its RPC limit", &l.list_image(&l.a));
    let r = l.list_image(&l.b);
    assert_eq!(r.status, 200, "RPC request of org B: {}", r.body);
    // A write is refused too, before it does anything.
    let r = l.a.rest(
        "POST",
        "/images?action=copy-existing-image",
        Some(crate::bodies::sig_body("throttled")),
    );
    assert_rest_throttled("a write of org A", &r, "10");

    // Six seconds on, four are left.
    l.app
        .clock()
        .advance(std::time::Duration::from_secs(WINDOW_S - 4));
    assert_rest_throttled("org A later in the window", &l.list_images(&l.a), "4");

    // The next window: A is served again on both doors.
    l.app.clock().advance(std::time::Duration::from_secs(4));
    let r = l.list_images(&l.a);
    assert_eq!(r.status, 200, "org A in the next window: {}", r.body);
    let r = l.list_image(&l.a);
    assert_eq!(r.status, 200, "org A's RPC in the next window: {}", r.body);

    // The first window's counters go once that window and one more are over.
    let window = i64::try_from(T0_SECS / WINDOW_S).expect("window index");
    let counters = [
        keys::rate_counter(&l.a.creds.org, "rest", window),
        keys::rate_counter(&l.a.creds.org, "rpc", window),
        keys::rate_counter(&l.b.creds.org, "rest", window),
        keys::rate_counter(&l.b.creds.org, "rpc", window),
    ];
    for k in &counters {
        assert!(l.stored(k), "{k} is counted");
    }
    for _ in 0..10 {
        l.app.clock().advance(std::time::Duration::from_secs(3));
        l.app
            .fire_cron("advancer")
            .unwrap_or_else(|e| panic!("advancer tick failed: {e:?}"));
    }
    for k in &counters {
        assert!(!l.stored(k), "{k} is purged");
    }
}

/// The window of [`real_time`]'s app: long, so the scenario (about a second of requests)
/// falls in one window once it has waited out the end of a nearly spent one.
pub const REAL_WINDOW_S: u64 = 3600;
/// What [`real_time`] needs left of the window before it starts.
const REAL_MARGIN_S: u64 = 60;

/// The variables of an app for [`real_time`]: [`LIMIT`] requests and [`SCAN_LIMIT`]
/// records searched per [`REAL_WINDOW_S`].
pub fn real_time_variables() -> [(&'static str, String); 5] {
    [
        ("rate_window_s", REAL_WINDOW_S.to_string()),
        ("rest_rate_limit", LIMIT.to_string()),
        ("rpc_rate_limit", LIMIT.to_string()),
        ("scan_rate_limit", SCAN_LIMIT.to_string()),
        ("quota_operations", OPERATIONS_LIMIT.to_string()),
    ]
}

/// The quota of operations running at once (`quota_operations`, issue 24): org `busy`
/// (fresh) starts [`OPERATIONS_LIMIT`] gallery copies; while they run, a third and an Add
/// Version are refused with 409 `OPERATION_QUOTA_EXCEEDED` and record nothing, and a
/// deletion is not refused. Five REST requests: within the request limit. The copies must
/// still be running (our host's clock stands still; real Spin's steps take seconds).
pub fn operations_past_the_quota_are_refused(busy: &Door) {
    let made: Vec<Answer> = (0..OPERATIONS_LIMIT)
        .map(|i| {
            busy.rest(
                "POST",
                "/images?action=copy-existing-image",
                Some(crate::bodies::sig_body(&format!("busy-{i}"))),
            )
        })
        .collect();
    for (i, a) in made.iter().enumerate() {
        assert_eq!(a.status, 201, "copy {i}: {}", a.body);
    }
    let (image, _) = crate::first_version(&made[0]);
    let refused = [
        busy.rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(crate::bodies::sig_body("busy-more")),
        ),
        busy.rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(crate::bodies::add_body()),
        ),
    ];
    for r in &refused {
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.body["code"], "OPERATION_QUOTA_EXCEEDED", "{}", r.body);
    }
    let (other, _) = crate::first_version(&made[1]);
    let deleted = busy.rest("DELETE", &format!("/images/{other}"), None);
    assert_eq!(
        deleted.status, 202,
        "a deletion is never refused for the quota: {}",
        deleted.body
    );
}

/// Searches spend a budget of their own (`scan_rate_limit`, issue 24): org `searcher`
/// (fresh, no image) searches [`SCAN_LIMIT`] times, then its next search, sort or filtered
/// `ListImage` is refused (REST `429 SCAN_LIMIT_REACHED` with `Retry-After`, RPC
/// `Throttling.User`) while its pages in the default order, and org `other`'s searches, are
/// served. Within one window; `now` gives the RPC timestamps.
pub fn searches_spend_a_scan_budget_of_their_own(
    searcher: &Door,
    other: &Door,
    now: &dyn Fn() -> u64,
) {
    let search = "/images?search=name%20%24eq%20nothing";
    for i in 0..SCAN_LIMIT {
        let r = searcher.rest("GET", search, None);
        assert_eq!(r.status, 200, "search {i}: {}", r.body);
    }
    for target in [search, "/images?sort=name,asc"] {
        let r = searcher.rest("GET", target, None);
        assert_eq!(r.status, 429, "{target}: {}", r.body);
        assert_eq!(r.body["code"], "SCAN_LIMIT_REACHED", "{}", r.body);
        assert!(
            r.header("retry-after").is_some(),
            "{target}: no Retry-After"
        );
    }
    let filtered = searcher.rpc("ListImage", &[("ImageName", "nothing")], now());
    assert_rpc_throttled("a filtered ListImage past the scan budget", &filtered);
    // Pages read no more than a page: served. That is 5 REST requests and 2 RPC calls,
    // within the request limit.
    let r = searcher.rest("GET", "/images?size=5", None);
    assert_eq!(r.status, 200, "a page: {}", r.body);
    let r = searcher.rpc("ListImage", &[], now());
    assert_eq!(r.status, 200, "an unfiltered ListImage: {}", r.body);
    let r = other.rest("GET", search, None);
    assert_eq!(r.status, 200, "another org's search: {}", r.body);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// [`one_org_is_throttled_while_another_is_served`] on an app that keeps real time (real
/// Spin, [`real_time_variables`]), with orgs `a` and `b` fresh: A is throttled on both doors
/// with the window's remaining seconds in `Retry-After`, while B is served.
pub fn real_time(a: &Door, b: &Door) {
    let left = REAL_WINDOW_S - unix_now() % REAL_WINDOW_S;
    if left < REAL_MARGIN_S {
        std::thread::sleep(std::time::Duration::from_secs(left + 1));
    }
    let started = unix_now();
    for i in 0..LIMIT {
        let r = a.rest("GET", "/images", None);
        assert_eq!(r.status, 200, "REST request {i} of org A: {}", r.body);
    }
    let refused = a.rest("GET", "/images", None);
    let retry_after = refused.header("retry-after").unwrap_or_default().to_owned();
    assert_rest_throttled("org A over its REST limit", &refused, &retry_after);
    // What is left of the window, as the app saw it (its clock is this machine's).
    let seconds: u64 = retry_after.parse().unwrap_or_default();
    let left = REAL_WINDOW_S - started % REAL_WINDOW_S;
    assert!(
        (left.saturating_sub(REAL_MARGIN_S)..=left).contains(&seconds),
        "Retry-After {retry_after}, with {left} s of the window left"
    );
    for i in 0..LIMIT {
        let r = b.rest("GET", "/images", None);
        assert_eq!(r.status, 200, "REST request {i} of org B: {}", r.body);
    }
    for i in 0..LIMIT {
        let r = a.rpc("ListImage", &[], unix_now());
        assert_eq!(r.status, 200, "RPC request {i} of org A: {}", r.body);
    }
    assert_rpc_throttled(
        "org A over its RPC limit",
        &a.rpc("ListImage", &[], unix_now()),
    );
    let r = b.rpc("ListImage", &[], unix_now());
    assert_eq!(r.status, 200, "RPC request of org B: {}", r.body);
}

/// The REST limit of [`a_sampled_limit_holds_within_ten_percent`]'s app: high enough to be
/// counted by sampling (`ratelimit::sample_unit`: one request in 10).
pub const SAMPLED_LIMIT: usize = 9_000;

/// The variables of that app: [`SAMPLED_LIMIT`] REST requests per [`REAL_WINDOW_S`].
pub fn sampled_variables() -> [(&'static str, String); 2] {
    [
        ("rate_window_s", REAL_WINDOW_S.to_string()),
        ("rest_rate_limit", SAMPLED_LIMIT.to_string()),
    ]
}

/// The sampled limit (issue 25): org `a` sends GETs on two connections until one is
/// refused, all in one window; it was refused within 10 % of [`SAMPLED_LIMIT`], and org `b`
/// is served right after. `real_time`: wait out a nearly spent window first.
pub fn a_sampled_limit_holds_within_ten_percent(a: &Door, b: &Door, real_time: bool) {
    if real_time {
        let left = REAL_WINDOW_S - unix_now() % REAL_WINDOW_S;
        if left < REAL_MARGIN_S {
            std::thread::sleep(std::time::Duration::from_secs(left + 1));
        }
    }
    let refused = std::sync::atomic::AtomicBool::new(false);
    let passed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !refused.load(std::sync::atomic::Ordering::SeqCst) {
                    let r = a.rest("GET", "/images?size=1", None);
                    match r.status {
                        200 => {
                            let n = passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            assert!(n < SAMPLED_LIMIT * 2, "never refused");
                        }
                        429 => refused.store(true, std::sync::atomic::Ordering::SeqCst),
                        other => panic!("a GET answered {other}: {}", r.body),
                    }
                }
            });
        }
    });
    let passed = passed.into_inner();
    let (lo, hi) = (SAMPLED_LIMIT * 9 / 10, SAMPLED_LIMIT * 11 / 10);
    assert!(
        (lo..=hi).contains(&passed),
        "refused after {passed} requests, with a limit of {SAMPLED_LIMIT}"
    );
    // Refused from now on, with no store call but the token's read; another org is served.
    assert_rest_throttled_any(&a.rest("GET", "/images?size=1", None));
    let r = b.rest("GET", "/images?size=1", None);
    assert_eq!(r.status, 200, "another org: {}", r.body);
}

fn assert_rest_throttled_any(a: &Answer) {
    let retry_after = a.header("retry-after").unwrap_or_default().to_owned();
    assert_rest_throttled("over the sampled limit", a, &retry_after);
}
