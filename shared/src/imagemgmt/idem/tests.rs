//! Lifetimes of idempotency keys: replayed within 24 hours of their first use, fresh after,
//! and gone from the store once the advancer has run the purge their first use scheduled.

use super::*;
use crate::env::{Env, FakeEnv};
use crate::store::{CasOutcome, KeyValue, MemoryKv};

/// Two hours before a day boundary (a day is `TTL_MS` of Unix time).
const T0: i64 = 20_000 * TTL_MS - 2 * 3600 * 1000;

fn post(body: &str) -> ApiRequest {
    ApiRequest {
        method: "POST".into(),
        path: "/imagemgmt/v1/images".into(),
        query: String::new(),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

fn answer(n: u16) -> ApiResponse {
    ApiResponse {
        status: 201,
        headers: vec![("operation-location".into(), format!("/op/{n}"))],
        body: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

/// Runs a keyed request the way the door does: `start`, then (when it owns the key) its
/// answer `n`, recorded by `finish`. Returns what the client got.
fn send(st: &Store<'_>, s: &Settings, key: &str, body: &str, n: u16) -> (u16, String) {
    match start(st, s, "o1", key, &post(body)).unwrap() {
        Begin::Proceed(c) => {
            let r = answer(n);
            finish(st, &c, &r);
            (r.status, String::from_utf8(r.body).unwrap())
        }
        Begin::Replay(r) => (r.status, String::from_utf8(r.body).unwrap()),
        Begin::Refuse(p) => (p.status, p.code),
    }
}

/// Ticks the advancer until its cursor has caught up with the clock.
fn catch_up(st: &Store<'_>, s: &Settings) {
    while crate::advancer::tick(st, s, 1_000).more {}
}

fn idem_keys(kv: &MemoryKv) -> Vec<String> {
    kv.keys()
        .into_iter()
        .filter(|k| k.starts_with("org/o1/idem/"))
        .collect()
}

#[test]
fn a_key_is_replayed_for_24_hours_then_purged_and_fresh() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    assert_eq!(send(&st, &s, "k", "a", 1), (201, "{\"n\":1}".into()));
    let (record, claim) = lifetime_keys("o1", &hashed("k"), day_of(T0));
    assert_eq!(idem_keys(&kv), vec![record.clone(), claim.clone()]);
    // One purge entry for both keys, due when the lifetime ends.
    let bucket = due::bucket_of(&s, T0 + TTL_MS);
    let lane = due::Lane::Housekeeping.prefix();
    assert_eq!(st.counter_read(&keys::due_count(lane, bucket)).unwrap(), 1);

    env.advance_ms(TTL_MS - 1);
    catch_up(&st, &s);
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":1}".into()));
    assert_eq!(
        send(&st, &s, "k", "b", 2),
        (422, "IDEMPOTENCY_KEY_REUSED".into())
    );
    assert_eq!(idem_keys(&kv).len(), 2);

    env.advance_ms(10_000);
    catch_up(&st, &s);
    assert!(idem_keys(&kv).is_empty(), "{:?}", idem_keys(&kv));
    // Only the due index's own positions are left of it.
    let positions = due::position_keys(&s);
    assert!(
        kv.keys().iter().all(|k| positions.contains(k)),
        "{:?}",
        kv.keys()
    );

    // The key is fresh: a new election, a new answer, replayed again.
    assert_eq!(send(&st, &s, "k", "b", 3), (201, "{\"n\":3}".into()));
    assert_eq!(send(&st, &s, "k", "b", 4), (201, "{\"n\":3}".into()));
}

#[test]
fn a_lifetime_begun_yesterday_still_decides_today() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    send(&st, &s, "k", "a", 1);
    env.advance_ms(3 * 3600 * 1000);
    assert_eq!(day_of(env.now_ms()), day_of(T0) + 1);
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":1}".into()));
    assert_eq!(
        send(&st, &s, "k", "b", 2),
        (422, "IDEMPOTENCY_KEY_REUSED".into())
    );
    // Nothing was elected today.
    let (_, today_claim) = lifetime_keys("o1", &hashed("k"), day_of(env.now_ms()));
    assert!(kv.get(&today_claim).unwrap().is_none());
}

#[test]
fn a_reuse_after_expiry_is_a_new_lifetime_that_the_old_purge_leaves_alone() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    send(&st, &s, "k", "a", 1);
    // Past the lifetime, before the advancer ran its purge: fresh at once.
    env.advance_ms(TTL_MS + 1);
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":2}".into()));
    let reused = env.now_ms();
    let (old, old_claim) = lifetime_keys("o1", &hashed("k"), day_of(T0));
    let (new, new_claim) = lifetime_keys("o1", &hashed("k"), day_of(reused));
    assert_eq!(idem_keys(&kv).len(), 4);
    // The old purge runs (twice, as racing advancers may): only the old lifetime goes.
    env.advance_ms(10_000);
    catch_up(&st, &s);
    for k in [&old, &old_claim] {
        assert!(kv.get(k).unwrap().is_none(), "{k}");
    }
    st.delete(&old).unwrap();
    st.delete(&old_claim).unwrap();
    assert_eq!(idem_keys(&kv), vec![new.clone(), new_claim.clone()]);
    assert_eq!(send(&st, &s, "k", "a", 3), (201, "{\"n\":2}".into()));
    // And the new lifetime has its own purge.
    env.advance_ms(TTL_MS);
    catch_up(&st, &s);
    assert!(idem_keys(&kv).is_empty());
}

#[test]
fn a_takeover_of_an_abandoned_claim_keeps_the_lifetime_and_its_purge() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    let Begin::Proceed(c) = start(&st, &s, "o1", "k", &post("a")).unwrap() else {
        panic!("first use owns the key");
    };
    let failed = ApiResponse {
        status: 503,
        headers: vec![],
        body: vec![],
    };
    finish(&st, &c, &failed);
    env.advance_ms(3_600_000);
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":2}".into()));
    assert_eq!(send(&st, &s, "k", "a", 3), (201, "{\"n\":2}".into()));
    // One purge entry in all, at the end of the lifetime that began at T0.
    env.advance_ms(TTL_MS - 3_600_000 + 10_000);
    catch_up(&st, &s);
    assert!(idem_keys(&kv).is_empty());
}

#[test]
fn a_first_request_that_died_unwritten_holds_its_key_until_its_day_ends() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    // Elected, then gone before writing its record (and before scheduling its purge).
    let (_, claim) = lifetime_keys("o1", &hashed("k"), day_of(T0));
    st.counter_next(&claim).unwrap();
    assert_eq!(
        send(&st, &s, "k", "a", 1),
        (409, "IDEMPOTENCY_KEY_IN_FLIGHT".into())
    );
    env.advance_ms(2 * 3600 * 1000);
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":2}".into()));
}

/// A store whose calls on keys under `prefix` fail, every time.
struct Failing<'a> {
    inner: &'a MemoryKv,
    prefix: &'static str,
}

impl Failing<'_> {
    fn check(&self, key: &str) -> Result<(), StoreError> {
        if key.starts_with(self.prefix) {
            return Err(StoreError::Transient("injected".into()));
        }
        Ok(())
    }
}

impl KeyValue for Failing<'_> {
    fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check(k)?;
        self.inner.get(k)
    }
    fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        self.check(k)?;
        self.inner.set(k, v)
    }
    fn delete(&self, k: &str) -> Result<(), StoreError> {
        self.check(k)?;
        self.inner.delete(k)
    }
    fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
        self.check(k)?;
        self.inner.increment(k, d)
    }
    fn compare_and_swap(&self, k: &str, e: &[u8], n: &[u8]) -> Result<CasOutcome, StoreError> {
        self.check(k)?;
        self.inner.compare_and_swap(k, e, n)
    }
}

#[test]
fn a_purge_that_cannot_be_scheduled_does_not_stop_the_request() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let failing = Failing {
        inner: &kv,
        prefix: "due/",
    };
    let st = Store::new(&failing, &env);
    assert_eq!(send(&st, &s, "k", "a", 1), (201, "{\"n\":1}".into()));
    assert_eq!(send(&st, &s, "k", "a", 2), (201, "{\"n\":1}".into()));
    // Its keys stay behind (nothing will purge them), and nothing else was written.
    assert_eq!(idem_keys(&kv).len(), 2);
    assert!(kv.keys().iter().all(|k| !k.starts_with("due/")));
}
