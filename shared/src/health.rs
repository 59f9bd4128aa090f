//! The heartbeat the cron component leaves and `GET /healthz` shows, with the advancer's
//! cumulative work (transitions and purges since the store was created), so an operator sees
//! the engine move and a benchmark can count its throughput on any runtime.

use crate::advancer::{self, TickReport};
use crate::api::{ApiResponse, Problem};
use crate::keys;
use crate::records::Store;
use crate::settings::Settings;
use crate::store::{KeyValue, StoreError, read_counter};
use serde::{Deserialize, Serialize};

pub const APP_NAME: &str = "image-catalog";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// The trigger's scheduled time (Unix seconds) from the cron metadata.
    pub timestamp: u64,
    /// When the tick ran, by the component's wall clock (Unix milliseconds).
    pub ran_at_ms: i64,
    /// The ordinal of this tick since the store was created.
    pub count: i64,
}

/// Records one tick: bumps the counter and stores the latest tick.
pub fn record_tick(st: &Store<'_>, timestamp: u64) -> Result<Tick, StoreError> {
    let count = st.kv().increment(keys::TICK_COUNT, 1)?;
    let tick = Tick {
        timestamp,
        ran_at_ms: st.now_ms(),
        count,
    };
    let json = serde_json::to_vec(&tick).map_err(|e| StoreError::Transient(e.to_string()))?;
    st.kv().set(keys::LAST_TICK, &json)?;
    Ok(tick)
}

/// The latest tick, if any (an unreadable value counts as none).
pub fn last_tick(kv: &dyn KeyValue) -> Result<Option<Tick>, StoreError> {
    Ok(kv
        .get(keys::LAST_TICK)?
        .and_then(|raw| serde_json::from_slice(&raw).ok()))
}

/// The advancer's work since the store was created, as `GET /healthz` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Engine {
    /// Transitions made (the sum of every tick's `advanced`).
    pub advanced: i64,
    /// Purge entries carried out (the sum of every tick's `purged`).
    pub purged: i64,
}

/// Adds a tick's work to the cumulative counters ([`keys::ENGINE_ADVANCED`],
/// [`keys::ENGINE_PURGED`]) with the store's atomic `increment`, so replicas ticking at once
/// all count. A figure of 0 costs no call: an idle tick costs nothing extra. Not retried: an
/// `increment` whose answer was lost may have landed, and a retry would count it twice.
pub fn record_work(st: &Store<'_>, report: &TickReport) -> Result<(), StoreError> {
    for (key, n) in [
        (keys::ENGINE_ADVANCED, report.advanced),
        (keys::ENGINE_PURGED, report.purged),
    ] {
        if n > 0 {
            st.kv().increment(key, i64::from(n))?;
        }
    }
    Ok(())
}

/// One tick of the engine exactly as every driver runs it (the cron component, and
/// `POST /admin/v1/engine/tick` where no cron trigger runs): the heartbeat, one
/// [`advancer::tick`] of at most `settings.tick_cap` entries per shard and lane, and its
/// work added to the counters. `timestamp` is the trigger's time in Unix seconds.
///
/// The report is what the tick did, even when it stopped early; the `Err` says why it did
/// (the heartbeat failed and nothing was worked, a store error stopped the tick, or its
/// work could not be counted). A stopped tick loses nothing: its entries stay due.
pub fn tick(
    st: &Store<'_>,
    settings: &Settings,
    timestamp: u64,
) -> (TickReport, Result<(), String>) {
    if let Err(e) = record_tick(st, timestamp) {
        return (TickReport::default(), Err(e.to_string()));
    }
    let report = advancer::tick(st, settings, settings.tick_cap);
    let counted = record_work(st, &report);
    let outcome = match (&report.error, counted) {
        (Some(e), _) => Err(format!("tick stopped early: {e}")),
        (None, Err(e)) => Err(format!("counting the tick's work: {e}")),
        (None, Ok(())) => Ok(()),
    };
    (report, outcome)
}

/// The cumulative counters, read with `get` (`store::read_counter`: a read path writes
/// nothing); an absent one is 0.
pub fn engine(kv: &dyn KeyValue) -> Result<Engine, StoreError> {
    Ok(Engine {
        advanced: read_counter(kv, keys::ENGINE_ADVANCED)?,
        purged: read_counter(kv, keys::ENGINE_PURGED)?,
    })
}

/// What `GET /healthz` shows of the store: the latest tick and the engine's counters. Each
/// read retries a transient error as every record read does (SQLite's "database is
/// locked" comes and goes while the advancer writes, R4): a busy store is not an
/// unreachable one. Every read here changes nothing, so a retry is always safe.
pub fn read(st: &Store<'_>) -> Result<(Option<Tick>, Engine), StoreError> {
    let tick = st.retry(|| last_tick(st.kv()))?;
    let engine = st.retry(|| engine(st.kv()))?;
    Ok((tick, engine))
}

/// Who reads `GET /healthz`: anyone may learn whether the app is up; the engine's figures
/// (tick times, transitions, purges) are an operator's, shown only with the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Anonymous,
    Operator,
    /// A credential was sent and it is not the admin token (or `Authorization` twice).
    Refused,
}

impl Viewer {
    /// The viewer of a request with these headers, given the configured admin token.
    pub fn of(headers: &[(String, String)], admin_token: Option<&str>) -> Viewer {
        match crate::api::single_header(headers, "authorization") {
            Ok(None) => Viewer::Anonymous,
            Ok(Some(v)) if crate::auth::is_secret(crate::auth::bearer_token(v), admin_token) => {
                Viewer::Operator
            }
            _ => Viewer::Refused,
        }
    }
}

/// The answer of `GET /healthz` for `viewer`, from what [`read`] returned: `200` with
/// `status: ok` when the store answers, `503` with `status: degraded` when it does not; the
/// operator also sees the app, the store, the last tick and the engine's counters. A
/// refused credential is the admin API's `401` problem.
pub fn report(
    viewer: Viewer,
    read: Result<(Option<Tick>, Engine), StoreError>,
    store_label: &str,
    version: &str,
) -> ApiResponse {
    use serde_json::json;
    if viewer == Viewer::Refused {
        return Problem::new(
            401,
            "UNAUTHORIZED",
            "the details of /healthz need the admin token; send none for the status",
        )
        .into();
    }
    let (status, store, cron, engine) = match read {
        Ok((last_tick, engine)) => (
            200,
            json!({"label": store_label, "reachable": true}),
            json!({"lastTick": last_tick}),
            json!(engine),
        ),
        Err(_) => (
            503,
            json!({"label": store_label, "reachable": false, "error": "STORE_UNREACHABLE"}),
            json!({"lastTick": null}),
            json!(null),
        ),
    };
    let word = if status == 200 { "ok" } else { "degraded" };
    let body = match viewer {
        Viewer::Operator => json!({
            "app": APP_NAME,
            "version": version,
            "status": word,
            "store": store,
            "cron": cron,
            "engine": engine,
        }),
        _ => json!({ "status": word }),
    };
    ApiResponse::json(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::MemoryKv;

    #[test]
    fn a_store_busy_for_a_moment_is_read_through() {
        use crate::testutil::FlakyKv;
        let kv = FlakyKv::redis_quirk();
        let env = FakeEnv::at(1_000);
        record_tick(&Store::new(&kv.inner, &env), 1).unwrap();
        // The tick's read, then the counter's, each fail once, as SQLite's "database is
        // locked" (R4) does while the advancer writes.
        kv.fail_call(1);
        let st = Store::new(&kv, &env);
        let tick = st.retry(|| last_tick(st.kv()));
        assert_eq!(tick.unwrap().map(|t| t.count), Some(1));
        kv.fail_call(1);
        assert_eq!(read(&st).unwrap().0.map(|t| t.count), Some(1));
        kv.fail_call(2);
        assert_eq!(read(&st).unwrap().1, Engine::default());
        // A store that stays down is reported.
        kv.fail_rate(1000, 7);
        assert!(read(&st).is_err());
    }

    #[test]
    fn ticks_are_counted_and_the_latest_is_kept() {
        let kv = MemoryKv::new();
        let env = FakeEnv::at(1_000);
        assert_eq!(last_tick(&kv).unwrap(), None);
        record_tick(&Store::new(&kv, &env), 1).unwrap();
        env.advance_ms(5_000);
        let second = record_tick(&Store::new(&kv, &env), 6).unwrap();
        assert_eq!(second.count, 2);
        assert_eq!(last_tick(&kv).unwrap(), Some(second));
    }

    #[test]
    fn ticks_add_their_work_and_an_idle_tick_costs_no_call() {
        let kv = MemoryKv::new();
        let env = FakeEnv::at(1_000);
        let st = Store::new(&kv, &env);
        assert_eq!(engine(&kv).unwrap(), Engine::default());
        let before = kv.ops();
        record_work(&st, &TickReport::default()).unwrap();
        assert_eq!(kv.ops(), before, "an idle tick touches no counter");
        let busy = TickReport {
            advanced: 7,
            skipped: 3,
            ..TickReport::default()
        };
        record_work(&st, &busy).unwrap();
        assert_eq!(kv.ops(), before + 1, "only the non-zero figure is counted");
        let purging = TickReport {
            advanced: 5,
            purged: 2,
            ..TickReport::default()
        };
        record_work(&st, &purging).unwrap();
        assert_eq!(
            engine(&kv).unwrap(),
            Engine {
                advanced: 12,
                purged: 2
            }
        );
    }

    #[test]
    fn a_failing_count_is_reported() {
        let kv = MemoryKv::new();
        let env = FakeEnv::at(0);
        kv.fail_next(1);
        let busy = TickReport {
            advanced: 1,
            ..TickReport::default()
        };
        assert!(record_work(&Store::new(&kv, &env), &busy).is_err());
        assert_eq!(engine(&kv).unwrap().advanced, 0);
        kv.fail_next(1);
        assert!(engine(&kv).is_err());
    }

    #[test]
    fn a_failing_store_is_reported_not_hidden() {
        let kv = MemoryKv::new();
        kv.fail_next(1);
        assert!(record_tick(&Store::new(&kv, &FakeEnv::at(0)), 1).is_err());
        assert_eq!(last_tick(&kv).unwrap(), None);
    }

    fn headers(auth: &[&str]) -> Vec<(String, String)> {
        auth.iter()
            .map(|v| ("authorization".to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn anyone_sees_the_status_only_the_admin_token_sees_the_engine() {
        let admin = Some("s3cret");
        let read = || {
            Ok((
                None,
                Engine {
                    advanced: 7,
                    purged: 1,
                },
            ))
        };
        let shown = |r: ApiResponse| (r.status, r.json_body());
        let (status, body) = shown(report(Viewer::of(&[], admin), read(), "default", "1.0"));
        assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
        let op = Viewer::of(&headers(&["bearer s3cret"]), admin);
        assert_eq!(op, Viewer::Operator);
        let (status, body) = shown(report(op, read(), "default", "1.0"));
        assert_eq!(status, 200);
        assert_eq!(body["engine"]["advanced"], 7);
        assert_eq!(body["app"], APP_NAME);
        for refused in [
            headers(&["Bearer nope"]),
            headers(&["Basic s3cret"]),
            headers(&["Bearer s3cret", "Bearer s3cret"]),
        ] {
            let v = Viewer::of(&refused, admin);
            assert_eq!(v, Viewer::Refused, "{refused:?}");
            let (status, body) = shown(report(v, read(), "default", "1.0"));
            assert_eq!(status, 401);
            assert!(body.get("engine").is_none());
        }
        // No admin token configured: nobody is an operator.
        assert_eq!(Viewer::of(&headers(&["Bearer "]), None), Viewer::Refused);
        let down = Err(StoreError::Transient("locked".into()));
        assert_eq!(
            shown(report(Viewer::Anonymous, down, "default", "1.0")),
            (503, serde_json::json!({"status": "degraded"}))
        );
    }
}
