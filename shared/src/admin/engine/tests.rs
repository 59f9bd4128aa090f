//! The tick route through [`super::super::handle`], as a scheduler calls it: who may call
//! it, what `seconds` does to the pace, and what the answer says.

use crate::admin::{Config, handle};
use crate::due;
use crate::env::{Env, FakeEnv, Millis};
use crate::records::Store;
use crate::settings::Settings;
use crate::store::{KeyValue, MemoryKv};
use serde_json::Value;

const ADMIN: &str = "admin-secret";
const TICKER: &str = "tick-secret";
const T0: Millis = 1_800_000_000_000;

/// A clock that a pause moves, as real time does in a component.
struct PacedEnv(FakeEnv);

impl Env for PacedEnv {
    fn now_ms(&self) -> Millis {
        self.0.now_ms()
    }
    fn random_u64(&self) -> u64 {
        self.0.random_u64()
    }
    fn pause_ms(&self, ms: u64) {
        self.0.pause_ms(ms);
        self.0
            .advance_ms(Millis::try_from(ms).unwrap_or(Millis::MAX));
    }
}

fn settings() -> Settings {
    Settings {
        poll_ms: 2_000,
        due_shards: 2,
        ..Settings::default()
    }
}

fn config<'a>(
    admin: Option<&'a str>,
    ticker: Option<&'a str>,
    settings: &'a Settings,
    query: &'a str,
) -> Config<'a> {
    Config {
        admin_token: admin,
        tick_token: ticker,
        settings,
        query,
        secrets: &NO_SECRETS,
    }
}

static NO_SECRETS: crate::secrets::Secrets = crate::secrets::Secrets {
    current: None,
    previous: None,
};

fn post(st: &Store<'_>, config: &Config<'_>, path: &str, bearer: &str) -> (u16, Value) {
    let headers = vec![("authorization".to_owned(), format!("Bearer {bearer}"))];
    let r = handle(st, config, "POST", path, &headers, b"");
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, body)
}

fn tick(st: &Store<'_>, s: &Settings, query: &str) -> (u16, Value) {
    let config = config(Some(ADMIN), Some(TICKER), s, query);
    post(st, &config, "/admin/v1/engine/tick", TICKER)
}

/// Schedules purges of `keys` due at `at`, and writes the keys.
fn purges_due(st: &Store<'_>, s: &Settings, at: Millis, keys: &[&str]) {
    for k in keys {
        st.kv().set(k, b"x").unwrap();
    }
    due::schedule_purge(st, s, at, keys.iter().map(|k| (*k).to_owned()).collect()).unwrap();
}

#[test]
fn one_tick_does_the_due_work_and_leaves_the_heartbeat() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings();
    purges_due(&st, &s, T0, &["gone-1", "gone-2"]);
    env.advance_ms(10_000);
    let (status, body) = tick(&st, &s, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticks"], 1);
    assert_eq!(body["purges"], 1, "one purge entry of two keys: {body}");
    assert_eq!(body["failedTicks"], 0);
    assert_eq!(body["transitions"], 0);
    assert_eq!(kv.get("gone-1").unwrap(), None);
    assert_eq!(kv.get("gone-2").unwrap(), None);
    // As the cron component does: /healthz sees the tick and its work.
    let (last, engine) = crate::health::read(&st).unwrap();
    assert_eq!(
        last.map(|t| (t.count, t.timestamp)),
        Some((1, (T0 as u64 + 10_000) / 1000))
    );
    assert_eq!(engine.purged, 1);
    assert_eq!(env.paused_ms(), 0, "one tick never waits");
}

#[test]
fn seconds_keeps_ticking_every_poll_period_until_they_have_passed() {
    let (kv, env) = (MemoryKv::new(), PacedEnv(FakeEnv::at(T0)));
    let st = Store::new(&kv, &env);
    let s = settings();
    // Work that falls due while the call runs is done by one of its later ticks.
    purges_due(&st, &s, T0 + 20_000, &["later"]);
    let (status, body) = tick(&st, &s, "seconds=55");
    assert_eq!(status, 200, "{body}");
    // Ticks at 0, 2, …, 54 s: 28 of them, at the cron trigger's pace of one per period.
    assert_eq!(body["ticks"], 28, "{body}");
    assert_eq!(body["purges"], 1);
    assert_eq!(kv.get("later").unwrap(), None);
    assert_eq!(env.0.paused_ms(), 54_000);
    assert_eq!(body["elapsedMs"], 54_000);
}

#[test]
fn a_clock_that_stands_still_still_ends_the_call() {
    // FakeEnv's pause does not move its clock (a frozen test clock): the tick count bound
    // ends the call all the same.
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = Settings {
        poll_ms: 300,
        ..settings()
    };
    let (status, body) = tick(&st, &s, "seconds=3");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticks"], 10);
    assert_eq!(env.paused_ms(), 9 * 300);
}

#[test]
fn the_tick_token_opens_the_tick_route_and_nothing_else() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings();
    let both = config(Some(ADMIN), Some(TICKER), &s, "");
    for bearer in [ADMIN, TICKER] {
        assert_eq!(post(&st, &both, "/admin/v1/engine/tick", bearer).0, 200);
    }
    assert_eq!(post(&st, &both, "/admin/v1/engine/tick", "guess").0, 401);
    assert_eq!(post(&st, &both, "/admin/v1/orgs/o1/tokens", TICKER).0, 401);
    // Without a tick token, only the admin token opens it.
    let admin_only = config(Some(ADMIN), Some("  "), &s, "");
    assert_eq!(post(&st, &admin_only, "/admin/v1/engine/tick", "  ").0, 401);
    assert_eq!(post(&st, &admin_only, "/admin/v1/engine/tick", "").0, 401);
    assert_eq!(
        post(&st, &admin_only, "/admin/v1/engine/tick", ADMIN).0,
        200
    );
    // With only a tick token, the rest of the admin API stays closed.
    let ticker_only = config(None, Some(TICKER), &s, "");
    assert_eq!(
        post(&st, &ticker_only, "/admin/v1/engine/tick", TICKER).0,
        200
    );
    assert_eq!(
        post(&st, &ticker_only, "/admin/v1/orgs/o1/tokens", TICKER).0,
        503
    );
}

#[test]
fn bad_parameters_are_a_400_naming_them_and_other_methods_a_405() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let s = settings();
    for (query, field) in [
        ("seconds=0", "seconds"),
        ("seconds=61", "seconds"),
        ("seconds=abc", "seconds"),
        ("seconds=", "seconds"),
        ("seconds=5&seconds=6", "seconds"),
        ("secs=5", "secs"),
    ] {
        let (status, body) = tick(&st, &s, query);
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let headers = vec![("authorization".to_owned(), format!("Bearer {ADMIN}"))];
    let get = handle(
        &st,
        &config(Some(ADMIN), None, &s, ""),
        "GET",
        "/admin/v1/engine/tick",
        &headers,
        b"",
    );
    assert_eq!(get.status, 405);
    assert!(
        get.headers.iter().any(|(n, v)| n == "allow" && v == "POST"),
        "{:?}",
        get.headers
    );
    assert_eq!(
        kv.get(crate::keys::LAST_TICK).unwrap(),
        None,
        "no refused call ticked"
    );
}

#[test]
fn a_store_that_fails_every_tick_is_a_503_and_a_partial_failure_is_counted() {
    let (kv, env) = (MemoryKv::new(), PacedEnv(FakeEnv::at(T0)));
    let st = Store::new(&kv, &env);
    let s = settings();
    kv.fail_next(1_000);
    let (status, body) = tick(&st, &s, "seconds=4");
    assert_eq!(status, 503, "{body}");
    kv.fail_next(0);
    // The first tick's heartbeat fails, the second works.
    kv.fail_next(1);
    let (status, body) = tick(&st, &s, "seconds=4");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticks"], 2);
    assert_eq!(body["failedTicks"], 1);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
}
