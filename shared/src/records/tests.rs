//! The record operations over `MemoryKv`: tokens, updates, races, counters.

use super::*;
use crate::env::FakeEnv;
use crate::store::MemoryKv;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rec {
    n: u32,
}

fn env() -> FakeEnv {
    FakeEnv::at(1_700_000_000_000)
}

#[test]
fn put_then_get_returns_value_and_token() {
    let (kv, env) = (MemoryKv::new(), env());
    let token = Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
    let got = Store::new(&kv, &env).get::<Rec>("k").unwrap().unwrap();
    assert_eq!(got.value, Rec { n: 1 });
    assert_eq!(got.token, token);
    assert_eq!(Store::new(&kv, &env).get::<Rec>("absent").unwrap(), None);
}

#[test]
fn update_writes_with_a_new_token() {
    let (kv, env) = (MemoryKv::new(), env());
    let t0 = Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
    let s = Store::new(&kv, &env)
        .update::<Rec, ()>("k", |r| Change::Write(Rec { n: r.n + 1 }))
        .unwrap();
    assert_eq!(s.value.n, 2);
    assert_ne!(s.token, t0);
    assert_eq!(Store::new(&kv, &env).get::<Rec>("k").unwrap().unwrap(), s);
}

#[test]
fn update_never_creates() {
    let (kv, env) = (MemoryKv::new(), env());
    let r = Store::new(&kv, &env).update::<Rec, ()>("k", |_| Change::Write(Rec { n: 9 }));
    assert_eq!(r, Err(UpdateError::NotFound));
    assert!(kv.keys().is_empty());
}

#[test]
fn unchanged_and_abort_write_nothing() {
    let (kv, env) = (MemoryKv::new(), env());
    let t0 = Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
    let s = Store::new(&kv, &env)
        .update::<Rec, ()>("k", |_| Change::Unchanged)
        .unwrap();
    assert_eq!(s.token, t0);
    let r = Store::new(&kv, &env).update::<Rec, &str>("k", |_| Change::Abort("no"));
    assert_eq!(r, Err(UpdateError::Aborted("no")));
    assert_eq!(
        Store::new(&kv, &env)
            .get::<Rec>("k")
            .unwrap()
            .unwrap()
            .token,
        t0
    );
}

#[test]
fn redis_quirk_is_settled_by_reading_the_token_back() {
    // Through a `get` and the swap, and through a swap that reads the value itself.
    for native in [false, true] {
        let (kv, env) = (
            SwapReads::on(MemoryKv::with_redis_cas_quirk(), native),
            env(),
        );
        Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
        let mut calls = 0;
        let s = Store::new(&kv, &env)
            .update::<Rec, ()>("k", |r| {
                calls += 1;
                Change::Write(Rec { n: r.n + 1 })
            })
            .unwrap();
        // One call: the swap landed although the store said "failed"; no double increment.
        assert_eq!(calls, 1, "native: {native}");
        assert_eq!(s.value.n, 2);
        let stored = Store::new(&kv.inner, &env)
            .get::<Rec>("k")
            .unwrap()
            .unwrap();
        assert_eq!(stored.value.n, 2);
        if native {
            // The read-back is the one separate read.
            assert_eq!((kv.gets.get(), kv.fused.get()), (1, 1));
        }
    }
}

#[test]
fn transient_errors_are_retried_with_backoff_then_returned() {
    let (kv, env) = (MemoryKv::new(), env());
    Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
    kv.fail_next(2);
    assert!(Store::new(&kv, &env).get::<Rec>("k").unwrap().is_some());
    assert_eq!(env.paused_ms(), STORE_BACKOFF_MS * 3);
    kv.fail_next(STORE_ATTEMPTS);
    assert!(matches!(
        Store::new(&kv, &env).get::<Rec>("k"),
        Err(StoreError::Transient(_))
    ));
}

#[test]
fn transient_failure_around_a_swap_never_double_applies() {
    // Fail exactly the k-th store call, for every k an update makes: the value moves by
    // exactly one, never two, never zero.
    for fail_at in 1..=6 {
        let (kv, env) = (crate::testutil::FlakyKv::redis_quirk(), env());
        Store::new(&kv, &env).put_new("k", &Rec { n: 0 }).unwrap();
        kv.fail_call(fail_at);
        let r = Store::new(&kv, &env).update::<Rec, ()>("k", |r| Change::Write(Rec { n: r.n + 1 }));
        assert!(r.is_ok(), "fail_at {fail_at}: {r:?}");
        assert_eq!(
            Store::new(&kv, &env)
                .get::<Rec>("k")
                .unwrap()
                .unwrap()
                .value
                .n,
            1
        );
    }
}

#[test]
fn counters_elect_distinct_numbers() {
    let (kv, env) = (MemoryKv::new(), env());
    assert_eq!(Store::new(&kv, &env).counter_read("c").unwrap(), 0);
    assert_eq!(Store::new(&kv, &env).counter_next("c").unwrap(), 1);
    assert_eq!(Store::new(&kv, &env).counter_next("c").unwrap(), 2);
    assert_eq!(Store::new(&kv, &env).counter_read("c").unwrap(), 2);
}

#[test]
fn ids_have_prefix_and_twenty_hex_digits() {
    let env = env();
    let a = Store::new(&MemoryKv::new(), &env).new_id("img-");
    let b = Store::new(&MemoryKv::new(), &env).new_id("img-");
    assert_ne!(a, b);
    let hex = a.strip_prefix("img-").unwrap();
    assert_eq!(hex.len(), 20);
    assert!(
        hex.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn unreadable_records_are_an_error_not_a_panic() {
    let (kv, env) = (MemoryKv::new(), env());
    kv.set("k", b"not json").unwrap();
    assert!(
        Store::new(&kv, &env)
            .get::<Rec>("k")
            .is_err_and(|e| matches!(e, StoreError::Corrupt(_)))
    );
    assert!(matches!(
        Store::new(&kv, &env).update::<Rec, ()>("k", |_| Change::Unchanged),
        Err(UpdateError::Store(_))
    ));
}

/// Bytes read under `k` now, for `update_from`.
fn raw(kv: &MemoryKv, k: &str) -> Vec<u8> {
    kv.get(k).unwrap().unwrap()
}

#[test]
fn an_update_from_current_bytes_costs_only_the_swap() {
    // The swap; on Redis also the read-back that settles it (R2).
    for (kv, calls) in [(MemoryKv::new(), 1), (MemoryKv::with_redis_cas_quirk(), 2)] {
        let env = env();
        let st = Store::new(&kv, &env);
        st.put_new("k", &Rec { n: 1 }).unwrap();
        let seen = st.get_seen::<Rec>("k").unwrap().unwrap();
        assert_eq!(seen.stored.value, Rec { n: 1 });
        let before = kv.ops();
        let s = st
            .update_from::<Rec, ()>("k", Some(seen.raw), |r| Change::Write(Rec { n: r.n + 1 }))
            .unwrap();
        assert_eq!(kv.ops() - before, calls);
        assert_eq!(s.value.n, 2);
        assert_eq!(st.get::<Rec>("k").unwrap().unwrap(), s);
    }
}

#[test]
fn an_update_from_stale_bytes_decides_again_on_the_record_as_it_is() {
    for kv in [MemoryKv::new(), MemoryKv::with_redis_cas_quirk()] {
        let env = env();
        let st = Store::new(&kv, &env);
        st.put_new("k", &Rec { n: 1 }).unwrap();
        let stale = raw(&kv, "k");
        st.update::<Rec, ()>("k", |_| Change::Write(Rec { n: 10 }))
            .unwrap();
        let s = st
            .update_from::<Rec, ()>("k", Some(stale.clone()), |r| {
                Change::Write(Rec { n: r.n + 1 })
            })
            .unwrap();
        assert_eq!(s.value.n, 11);
        // A refusal or "no change" seen on stale bytes is decided again.
        let r = st.update_from::<Rec, &str>("k", Some(stale.clone()), |r| {
            if r.n == 1 {
                Change::Abort("stale")
            } else {
                Change::Unchanged
            }
        });
        assert_eq!(r.unwrap().value.n, 11);
        let r = st.update_from::<Rec, &str>("k", Some(stale), |r| {
            if r.n == 1 {
                Change::Unchanged
            } else {
                Change::Abort("fresh")
            }
        });
        assert_eq!(r, Err(UpdateError::Aborted("fresh")));
    }
}

#[test]
fn an_update_from_bytes_of_a_deleted_record_finds_nothing() {
    let (kv, env) = (MemoryKv::new(), env());
    let st = Store::new(&kv, &env);
    st.put_new("k", &Rec { n: 1 }).unwrap();
    let stale = raw(&kv, "k");
    st.delete("k").unwrap();
    let r = st.update_from::<Rec, ()>("k", Some(stale), |_| Change::Write(Rec { n: 2 }));
    assert_eq!(r, Err(UpdateError::NotFound));
    assert!(kv.keys().is_empty());
}

#[test]
fn put_many_writes_new_records_in_one_call() {
    let (kv, env) = (MemoryKv::new(), env());
    let st = Store::new(&kv, &env);
    let entries = vec![
        st.new_entry("a", &Rec { n: 1 }).unwrap(),
        st.new_entry("b", &Rec { n: 2 }).unwrap(),
    ];
    st.put_many(&entries).unwrap();
    assert_eq!(kv.ops(), 1);
    assert_eq!(st.get::<Rec>("b").unwrap().unwrap().value, Rec { n: 2 });
    st.put_many(&[]).unwrap();
    assert_eq!(kv.ops(), 2, "nothing to write costs nothing");
}

/// A store whose updates can lose a race: with `race` set, the next update sees another
/// writer store `n + 10` between its read and its swap. `native`: its compare-and-swap
/// reads the value itself, as Spin's does (`current()`), so `read_and_swap` is one call;
/// otherwise it is a `get` and then the swap (the port's default). `gets` counts the
/// separate reads, `fused` the one-call updates.
struct SwapReads {
    inner: MemoryKv,
    native: bool,
    gets: std::cell::Cell<u32>,
    fused: std::cell::Cell<u32>,
    race: std::cell::Cell<bool>,
}

impl SwapReads {
    fn on(inner: MemoryKv, native: bool) -> Self {
        SwapReads {
            inner,
            native,
            gets: 0.into(),
            fused: 0.into(),
            race: false.into(),
        }
    }

    fn race_now(&self, k: &str) -> Result<(), StoreError> {
        if self.race.replace(false) {
            let env = FakeEnv::at(0);
            Store::new(&self.inner, &env)
                .update::<Rec, ()>(k, |r| Change::Write(Rec { n: r.n + 10 }))
                .map_err(|_| StoreError::Transient("race".into()))?;
        }
        Ok(())
    }
}

impl KeyValue for SwapReads {
    fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.gets.set(self.gets.get() + 1);
        self.inner.get(k)
    }
    fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        self.inner.set(k, v)
    }
    fn delete(&self, k: &str) -> Result<(), StoreError> {
        self.inner.delete(k)
    }
    fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
        self.inner.increment(k, d)
    }
    fn compare_and_swap(&self, k: &str, e: &[u8], n: &[u8]) -> Result<CasOutcome, StoreError> {
        self.race_now(k)?;
        self.inner.compare_and_swap(k, e, n)
    }
    fn read_and_swap(
        &self,
        k: &str,
        f: &mut crate::store::NextBytes<'_>,
    ) -> Result<crate::store::ReadSwap, StoreError> {
        let read = if self.native {
            self.fused.set(self.fused.get() + 1);
            self.inner.get(k)?
        } else {
            self.get(k)?
        };
        Ok(crate::store::ReadSwap::after(read, f, |cur, new| {
            self.compare_and_swap(k, cur, new)
        }))
    }
}

#[test]
fn a_lost_race_reruns_the_closure_on_the_new_value() {
    for native in [false, true] {
        let env = env();
        let kv = SwapReads::on(MemoryKv::new(), native);
        Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
        kv.race.set(true);
        let mut seen = vec![];
        let s = Store::new(&kv, &env)
            .update::<Rec, ()>("k", |r| {
                seen.push(r.n);
                Change::Write(Rec { n: r.n + 1 })
            })
            .unwrap();
        assert_eq!(seen, vec![1, 11], "native: {native}");
        assert_eq!(s.value.n, 12);
        // Where the swap reads, each round is one call and no other read is made.
        if native {
            assert_eq!((kv.gets.get(), kv.fused.get()), (0, 2));
        }
    }
}

#[test]
fn an_update_reads_through_the_swap_where_the_store_can() {
    let env = env();
    let kv = SwapReads::on(MemoryKv::new(), true);
    Store::new(&kv, &env).put_new("k", &Rec { n: 1 }).unwrap();
    let s = Store::new(&kv, &env)
        .update::<Rec, ()>("k", |r| Change::Write(Rec { n: r.n + 1 }))
        .unwrap();
    assert_eq!(s.value.n, 2);
    assert_eq!((kv.gets.get(), kv.fused.get()), (0, 1));
    // No change and a refusal end it after that one call too, writing nothing.
    let same = Store::new(&kv, &env)
        .update::<Rec, ()>("k", |_| Change::Unchanged)
        .unwrap();
    assert_eq!(same, s);
    let refused = Store::new(&kv, &env).update::<Rec, &str>("k", |_| Change::Abort("no"));
    assert!(matches!(refused, Err(UpdateError::Aborted("no"))));
    assert_eq!((kv.gets.get(), kv.fused.get()), (0, 3));
    assert_eq!(Store::new(&kv, &env).get::<Rec>("k").unwrap().unwrap(), s);
    // Never a creation.
    let absent = Store::new(&kv, &env).update::<Rec, ()>("absent", |_| Change::Write(Rec { n: 9 }));
    assert!(matches!(absent, Err(UpdateError::NotFound)));
    assert_eq!(kv.inner.get("absent").unwrap(), None);
}

#[test]
fn delete_many_names_each_key_once_in_calls_of_at_most_25() {
    use crate::testutil::{Call, Hooked};
    let (kv, env) = (MemoryKv::new(), env());
    let mut keys: Vec<String> = (0..60).map(|i| format!("k{i:02}")).collect();
    for k in &keys {
        kv.set(k, b"x").unwrap();
    }
    keys.push("k07".into());
    let calls = std::cell::RefCell::new(Vec::new());
    let hooked = Hooked {
        inner: &kv,
        before: |c: Call, k: &str| calls.borrow_mut().push((c, k.split(',').count())),
    };
    Store::new(&hooked, &env).delete_many(&keys).unwrap();
    assert_eq!(
        calls.into_inner(),
        vec![
            (Call::DeleteMany, 25),
            (Call::DeleteMany, 25),
            (Call::DeleteMany, 10)
        ]
    );
    assert!(kv.keys().is_empty());
}
