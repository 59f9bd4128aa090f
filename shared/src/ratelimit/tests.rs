//! The per-org fixed window: N requests pass, the next is refused until the window's end,
//! orgs and doors are counted apart, a failing counter lets requests through, old counters
//! are purged; and both doors answer a refusal in their own way.

use super::*;
use crate::api::ApiRequest;
use crate::appstream::{RpcSettings, sign};
use crate::env::{Env, FakeEnv};
use crate::store::MemoryKv;
use serde_json::Value;

/// 2026-11-01T00:00:00Z, the start of a 10-second window.
const T0: Millis = 1_793_491_200_000;

fn settings(limit: u64) -> Settings {
    Settings {
        rate_window_s: 10,
        rest_rate_limit: limit,
        rpc_rate_limit: limit,
        ..Settings::default()
    }
}

/// A caller of org `org` whose credential has no record (nothing to flag).
fn caller(org: &str) -> Caller {
    Caller {
        org: org.to_owned(),
        credential: format!("test/{org}"),
        throttled_until: None,
    }
}

fn checks(st: &Store<'_>, s: &Settings, door: Door, org: &str, n: usize) -> Vec<Verdict> {
    (0..n).map(|_| check(st, s, door, &caller(org))).collect()
}

#[test]
fn n_requests_pass_and_the_next_waits_for_the_windows_end() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0 + 2_500));
    let st = Store::new(&kv, &env);
    let s = settings(3);
    assert_eq!(checks(&st, &s, Door::Rest, "a", 3), vec![Verdict::Pass; 3]);
    // 7.5 s left in the window: rounded up.
    assert_eq!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { retry_after_s: 8 }
    );
    env.advance_ms(7_000);
    assert_eq!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { retry_after_s: 1 }
    );
    // The next window starts afresh.
    env.advance_ms(500);
    assert_eq!(checks(&st, &s, Door::Rest, "a", 3), vec![Verdict::Pass; 3]);
    assert_eq!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { retry_after_s: 10 }
    );
}

#[test]
fn another_org_and_the_other_door_are_counted_apart() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings(2);
    checks(&st, &s, Door::Rest, "a", 2);
    assert!(matches!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { .. }
    ));
    // While org a is throttled, org b is not, nor org a through the RPC door.
    assert_eq!(checks(&st, &s, Door::Rest, "b", 2), vec![Verdict::Pass; 2]);
    assert_eq!(checks(&st, &s, Door::Rpc, "a", 2), vec![Verdict::Pass; 2]);
    assert!(matches!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { .. }
    ));
    assert!(matches!(
        check(&st, &s, Door::Rpc, &caller("a")),
        Verdict::Throttled { .. }
    ));
    // Each door has its own limit.
    let rpc_only = Settings {
        rest_rate_limit: 100,
        ..settings(2)
    };
    assert_eq!(
        check(&st, &rpc_only, Door::Rest, &caller("a")),
        Verdict::Pass
    );
    assert!(matches!(
        check(&st, &rpc_only, Door::Rpc, &caller("a")),
        Verdict::Throttled { .. }
    ));
}

#[test]
fn a_failing_counter_lets_the_request_through() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings(1);
    assert_eq!(check(&st, &s, Door::Rest, &caller("a")), Verdict::Pass);
    assert!(matches!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { .. }
    ));
    // Over the limit, but the count fails (after the store's retries): fail open.
    kv.fail_next(100);
    assert_eq!(check(&st, &s, Door::Rest, &caller("a")), Verdict::Pass);
    kv.fail_next(0);
    // A passing error is retried like every store call, and then counts.
    kv.fail_next(1);
    assert!(matches!(
        check(&st, &s, Door::Rest, &caller("a")),
        Verdict::Throttled { .. }
    ));
    // A first request whose purge cannot be scheduled still passes, and is counted.
    let kv = DueIndexDown(MemoryKv::new());
    let st = Store::new(&kv, &env);
    assert_eq!(check(&st, &s, Door::Rest, &caller("b")), Verdict::Pass);
    assert!(matches!(
        check(&st, &s, Door::Rest, &caller("b")),
        Verdict::Throttled { .. }
    ));
}

/// A store whose due index fails every call (so no purge can be scheduled).
struct DueIndexDown(MemoryKv);

impl DueIndexDown {
    fn guard(key: &str) -> Result<(), crate::store::StoreError> {
        if key.starts_with("due/") {
            return Err(crate::store::StoreError::Transient("due index down".into()));
        }
        Ok(())
    }
}

impl crate::store::KeyValue for DueIndexDown {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        Self::guard(key)?;
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), crate::store::StoreError> {
        Self::guard(key)?;
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), crate::store::StoreError> {
        Self::guard(key)?;
        self.0.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, crate::store::StoreError> {
        Self::guard(key)?;
        self.0.increment(key, delta)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<crate::store::CasOutcome, crate::store::StoreError> {
        Self::guard(key)?;
        self.0.compare_and_swap(key, expected, new)
    }
}

#[test]
fn a_limit_of_zero_is_no_limit_and_no_store_call() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings(0);
    assert_eq!(
        checks(&st, &s, Door::Rest, "a", 50),
        vec![Verdict::Pass; 50]
    );
    assert_eq!(checks(&st, &s, Door::Rpc, "a", 50), vec![Verdict::Pass; 50]);
    assert_eq!(kv.ops(), 0);
}

#[test]
fn a_request_costs_one_increment_and_the_first_of_a_window_schedules_its_purge() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings(100);
    check(&st, &s, Door::Rest, &caller("a"));
    let first = kv.ops();
    assert!(first > 1, "the first request schedules the purge");
    for _ in 0..5 {
        let before = kv.ops();
        check(&st, &s, Door::Rest, &caller("a"));
        assert_eq!(kv.ops() - before, 1);
    }
    let counter = keys::rate_counter("a", "rest", T0 / 10_000);
    assert!(kv.keys().contains(&counter));
    assert!(counter.starts_with("org/a/"));
    // Still there one window after its own (a lagging replica may count in it)…
    env.advance_ms(10_000 + 9_000);
    check(&st, &s, Door::Rest, &caller("a"));
    crate::advancer::tick(&st, &s, 1000);
    assert!(kv.keys().contains(&counter));
    // …and gone once that window is over too.
    env.advance_ms(2_000 + s.skew_ms as i64 + s.bucket_ms as i64);
    crate::advancer::tick(&st, &s, 1000);
    assert!(!kv.keys().contains(&counter), "{:?}", kv.keys());
    // Nothing else of the limiter is left behind once every window is over.
    env.advance_ms(60_000);
    for _ in 0..5 {
        crate::advancer::tick(&st, &s, 1000);
    }
    let left: Vec<_> = kv
        .keys()
        .into_iter()
        .filter(|k| k.contains("/rate/"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn a_scan_spends_its_records_and_may_overshoot_but_never_start_past_the_budget() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0 + 1_000));
    let st = Store::new(&kv, &env);
    let s = Settings {
        scan_rate_limit: 1_000,
        ..settings(100)
    };
    // 600 + 600: the second starts at 600 spent, under the budget, and overshoots it.
    assert_eq!(charge_scan(&st, &s, "a", 600), Verdict::Pass);
    assert_eq!(charge_scan(&st, &s, "a", 600), Verdict::Pass);
    let before = kv.ops();
    assert_eq!(
        charge_scan(&st, &s, "a", 1),
        Verdict::Throttled { retry_after_s: 9 }
    );
    assert_eq!(
        kv.ops() - before,
        1,
        "a charge after the first is one increment"
    );
    // The request budget and another org are apart from it.
    assert_eq!(check(&st, &s, Door::Rest, &caller("a")), Verdict::Pass);
    assert_eq!(charge_scan(&st, &s, "b", 600), Verdict::Pass);
    // A scan larger than the whole budget is still served once a window.
    env.advance_ms(9_000);
    assert_eq!(charge_scan(&st, &s, "a", 5_000), Verdict::Pass);
    assert!(matches!(
        charge_scan(&st, &s, "a", 1),
        Verdict::Throttled { .. }
    ));
    // Its counter is purged like a request counter.
    let counter = keys::rate_counter("a", "scan", (T0 + 10_000) / 10_000);
    assert!(kv.keys().contains(&counter));
    env.advance_ms(30_000);
    for _ in 0..3 {
        crate::advancer::tick(&st, &s, 1000);
    }
    assert!(
        !kv.keys().iter().any(|k| k.contains("/rate/")),
        "{:?}",
        kv.keys()
    );
    // 0: no limit, no store call.
    let free = Settings {
        scan_rate_limit: 0,
        ..s
    };
    let before = kv.ops();
    assert_eq!(charge_scan(&st, &free, "a", 1_000_000), Verdict::Pass);
    assert_eq!(kv.ops(), before);
}

#[test]
fn windows_and_retry_after_at_the_edges() {
    let s = settings(1);
    let w = Window::at(&s, T0);
    assert_eq!((w.end_ms - T0, w.width_ms), (10_000, 10_000));
    assert_eq!(w.retry_after_s(T0), 10);
    assert_eq!(w.retry_after_s(T0 + 9_999), 1);
    assert_eq!(w.retry_after_s(T0 + 9_001), 1);
    assert_eq!(w.retry_after_s(T0 + 9_000), 1);
    assert_eq!(w.retry_after_s(T0 + 8_999), 2);
    assert_eq!(Window::at(&s, T0 + 9_999).index, w.index);
    assert_eq!(Window::at(&s, T0 + 10_000).index, w.index + 1);
    // Before 1970 too (the window index is floored).
    assert_eq!(Window::at(&s, -1).index, -1);
    assert_eq!(Window::at(&s, -1).retry_after_s(-1), 1);
    // A huge window neither overflows nor panics.
    let huge = Settings {
        rate_window_s: u64::MAX,
        ..s
    };
    assert!(Window::at(&huge, T0).retry_after_s(T0) >= 1);
}

// ------------------------------------------------------------------ the doors

fn problem(resp: &crate::api::ApiResponse) -> (u16, Value) {
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

fn header<'a>(resp: &'a crate::api::ApiResponse, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn rest_get(token: &str) -> ApiRequest {
    let mut r = ApiRequest::new("GET", "/imagemgmt/v1/images");
    r.headers = vec![("authorization".into(), format!("Bearer {token}"))];
    r
}

#[test]
fn the_rest_door_answers_429_with_retry_after_for_one_org_only() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0 + 4_000));
    let st = Store::new(&kv, &env);
    let s = settings(3);
    let (a, b) = (
        crate::auth::mint_token(&st, "a").unwrap(),
        crate::auth::mint_token(&st, "b").unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(crate::imagemgmt::handle(&st, &s, &rest_get(&a)).status, 200);
    }
    let r = crate::imagemgmt::handle(&st, &s, &rest_get(&a));
    let (status, body) = problem(&r);
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("TOO_MANY_REQUESTS"))
    );
    assert_eq!(body["status"], 429);
    assert_eq!(header(&r, "retry-after"), Some("6"));
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    assert_eq!(crate::imagemgmt::handle(&st, &s, &rest_get(&b)).status, 200);
    // An unknown token is refused by authentication, and spends nobody's budget.
    assert_eq!(
        crate::imagemgmt::handle(&st, &s, &rest_get("nope")).status,
        401
    );
    assert_eq!(crate::imagemgmt::handle(&st, &s, &rest_get(&b)).status, 200);
    // The public OpenAPI document is not counted.
    let doc = ApiRequest::new("GET", "/imagemgmt/v1/openapi.json");
    assert_eq!(crate::imagemgmt::handle(&st, &s, &doc).status, 200);
    env.advance_ms(6_000);
    assert_eq!(crate::imagemgmt::handle(&st, &s, &rest_get(&a)).status, 200);
}

const AUTHORITY: &str = "appstream.test";

/// A `ListImage` signed as the SDK signs, by `ak`, with a fresh nonce.
fn rpc_list(env: &FakeEnv, ak: &crate::auth::MintedAccessKey, nonce: usize) -> ApiRequest {
    let (headers, body) = sign::sign_form_post(
        AUTHORITY,
        &ak.access_key_id,
        &ak.access_key_secret,
        "ListImage",
        &[],
        &crate::time::iso8601_s(env.now_ms()),
        &format!("ratelimit-nonce-{nonce}"),
    );
    ApiRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers,
        body,
    }
}

#[test]
fn the_rpc_door_answers_throttling_user_for_one_org_only() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let rpc = RpcSettings {
        ops: settings(2),
        secrets: crate::secrets::Secrets::for_tests(),
        ..RpcSettings::default()
    };
    let a = crate::auth::mint_access_key(&st, "a").unwrap();
    let b = crate::auth::mint_access_key(&st, "b").unwrap();
    let send = |ak, n| {
        let r = crate::appstream::handle(&st, &rpc, &rpc_list(&env, ak, n), AUTHORITY);
        problem(&r)
    };
    let first = send(&a, 1);
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(send(&a, 2).0, 200);
    let (status, body) = send(&a, 3);
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "Throttling.User");
    assert_eq!(body["Success"], false);
    let message = body["Message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Request was denied due to user flow control."),
        "{message}"
    );
    assert!(message.contains("10 s"), "{message}");
    assert!(body["RequestId"].as_str().is_some_and(|r| !r.is_empty()));
    // Org b, in the same window, is served.
    assert_eq!(send(&b, 4).0, 200);
    // A refused signature (the body is not the signed one) spends nobody's budget.
    let mut forged = rpc_list(&env, &b, 5);
    forged.body = b"PageSize=5".to_vec();
    let (status, body) = problem(&crate::appstream::handle(&st, &rpc, &forged, AUTHORITY));
    assert_eq!(status, 400);
    assert_ne!(body["Code"], "Throttling.User");
    assert_eq!(send(&b, 6).0, 200);
    assert_eq!(send(&b, 7).1["Code"], "Throttling.User");
    env.advance_ms(10_000);
    assert_eq!(send(&a, 8).0, 200);
}

#[test]
fn a_throttled_or_malformed_rpc_call_leaves_nothing_and_its_nonce_unspent() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let rpc = RpcSettings {
        ops: settings(1),
        secrets: crate::secrets::Secrets::for_tests(),
        ..RpcSettings::default()
    };
    let a = crate::auth::mint_access_key(&st, "a").unwrap();
    let send = |req: &ApiRequest| problem(&crate::appstream::handle(&st, &rpc, req, AUTHORITY));
    assert_eq!(send(&rpc_list(&env, &a, 1)).0, 200);
    let before = kv.keys();
    // 300 throttled calls: no nonce, no purge entry, no record of any kind.
    for n in 0..300 {
        assert_eq!(
            send(&rpc_list(&env, &a, 1_000 + n)).1["Code"],
            "Throttling.User"
        );
    }
    assert_eq!(kv.keys(), before);
    // Next window: a malformed call (unknown PageSize) is refused and records nothing.
    env.advance_ms(10_000);
    let (headers, body) = sign::sign_form_post(
        AUTHORITY,
        &a.access_key_id,
        &a.access_key_secret,
        "ListImage",
        &[("PageSize", "x")],
        &crate::time::iso8601_s(env.now_ms()),
        "ratelimit-malformed",
    );
    let malformed = ApiRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers,
        body,
    };
    let before = kv.keys();
    let (status, body) = send(&malformed);
    assert_eq!(status, 400, "{body}");
    let added: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    // Only the new window's counter and its purge; no nonce.
    assert_eq!(added.len(), 3, "{added:?}");
    assert!(!added.iter().any(|k| k.contains("nonce")), "{added:?}");
    // A throttled call's nonce was never spent: sent again, it is served once, then a replay.
    let throttled = rpc_list(&env, &a, 1_000);
    env.advance_ms(10_000);
    assert_eq!(send(&throttled).0, 200);
    env.advance_ms(10_000);
    assert_eq!(send(&throttled).1["Code"], "SignatureNonceUsed");
}
