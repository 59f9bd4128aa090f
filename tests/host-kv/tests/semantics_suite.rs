//! The same semantic suite against every backend (correct mode), and the fault injector
//! (every backend, both modes).

use std::sync::Arc;

use spin_local_kv::{CasBase, Faults, INJECTED_MESSAGE, KvError, StoreOptions, SwapError};

mod common;

use common::{Fixture, Kind, keys, pattern};

// ---- the semantic suite (correct mode) ----

fn basic_ops(f: &Fixture) {
    let s = f.correct();
    assert_eq!(s.get("a").unwrap(), None);
    assert!(!s.exists("a").unwrap());
    s.set("a", b"one").unwrap();
    assert_eq!(s.get("a").unwrap(), Some(b"one".to_vec()));
    assert!(s.exists("a").unwrap());
    s.set("a", b"two").unwrap();
    assert_eq!(s.get("a").unwrap(), Some(b"two".to_vec()));
    // Binary-safe values, including NUL bytes and the empty value.
    s.set("bin", &[0, 255, 0, 10]).unwrap();
    assert_eq!(s.get("bin").unwrap(), Some(vec![0, 255, 0, 10]));
    s.set("empty", b"").unwrap();
    assert_eq!(s.get("empty").unwrap(), Some(Vec::new()));
    assert!(s.exists("empty").unwrap());
    assert_eq!(s.get_keys().unwrap(), keys(&["a", "bin", "empty"]));
    s.delete("a").unwrap();
    assert_eq!(s.get("a").unwrap(), None);
    assert!(!s.exists("a").unwrap());
    s.delete("never-set").unwrap();
    assert_eq!(s.get_keys().unwrap(), keys(&["bin", "empty"]));
}

fn increment_semantics(f: &Fixture) {
    let s = f.correct();
    assert_eq!(s.increment("n", 5).unwrap(), 5);
    assert_eq!(s.increment("n", 0).unwrap(), 5);
    assert_eq!(s.increment("n", -7).unwrap(), -2);
    assert_eq!(s.get("n").unwrap(), Some(f.counter_bytes(-2)));
    assert_eq!(s.increment("m", 0).unwrap(), 0);
    // The stored encoding is the backend's, and a value in it is a counter.
    s.set("pre", &f.counter_bytes(40)).unwrap();
    assert_eq!(s.increment("pre", 2).unwrap(), 42);
}

fn increment_concurrent(f: &Fixture) {
    let s = f.correct();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| s.increment("hits", 1).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seen.sort_unstable();
    // Every increment saw a distinct value: none was lost or duplicated.
    assert_eq!(seen, (1..=1600).collect::<Vec<i64>>());
    assert_eq!(s.get("hits").unwrap(), Some(f.counter_bytes(1600)));
}

fn increment_on_non_counter_is_an_error(f: &Fixture) {
    let s = f.correct();
    s.set("text", b"not a number").unwrap();
    let e = s.increment("text", 1).unwrap_err();
    // An error value for the guest, not a host panic.
    assert!(!e.is_host_panic(), "{e}");
    assert_eq!(s.get("text").unwrap(), Some(b"not a number".to_vec()));
    // Correct mode: nothing is poisoned.
    assert_eq!(s.increment("ok", 1).unwrap(), 1);
}

fn cas_success(f: &Fixture) {
    let s = f.correct();
    s.set("k", b"v1").unwrap();
    let current = s.cas_current("k").unwrap();
    assert_eq!(current, Some(b"v1".to_vec()));
    s.swap("k", &CasBase::Value(b"v1".to_vec()), b"v2").unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"v2".to_vec()));
    // Not read: compares against the value at the time of the swap.
    s.swap("k", &CasBase::NotRead, b"v3").unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"v3".to_vec()));
    // From absent, still absent.
    assert_eq!(s.cas_current("new").unwrap(), None);
    s.swap("new", &CasBase::Absent, b"created").unwrap();
    assert_eq!(s.get("new").unwrap(), Some(b"created".to_vec()));
}

fn cas_stale_fails(f: &Fixture) {
    let s = f.correct();
    s.set("k", b"v1").unwrap();
    let seen = s.cas_current("k").unwrap().unwrap();
    s.set("k", b"other").unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Value(seen), b"v2"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"other".to_vec()));
    // A deleted key is not the value the swap expects either.
    s.delete("k").unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Value(b"other".to_vec()), b"v2"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), None);
}

fn cas_from_absent_fails_when_created_meanwhile(f: &Fixture) {
    let s = f.correct();
    assert_eq!(s.cas_current("k").unwrap(), None);
    s.set("k", b"theirs").unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Absent, b"mine"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"theirs".to_vec()));
}

fn batch_ops(f: &Fixture) {
    let s = f.correct();
    s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
        .unwrap();
    assert_eq!(
        s.get_many(&keys(&["b", "missing", "a"])).unwrap(),
        vec![
            ("b".to_string(), Some(b"2".to_vec())),
            ("missing".to_string(), None),
            ("a".to_string(), Some(b"1".to_vec())),
        ]
    );
    s.delete_many(&keys(&["a", "missing"])).unwrap();
    assert_eq!(s.get_keys().unwrap(), keys(&["b"]));
    // Empty batches are no-ops.
    assert_eq!(s.get_many(&[]).unwrap(), Vec::new());
    s.set_many(&[]).unwrap();
    s.delete_many(&[]).unwrap();
    assert_eq!(s.get_keys().unwrap(), keys(&["b"]));
}

// ---- fault injection (every backend, both modes) ----

fn fault_ops_are_counted(f: &Fixture) {
    let faults = Faults::new();
    let s = f.open_with(&StoreOptions::default(), &faults);
    s.set("k", b"v").unwrap();
    s.get("k").unwrap();
    let _ = s.swap("k", &CasBase::NotRead, b"w");
    s.get_many(&keys(&["k"])).unwrap();
    assert_eq!(faults.ops(), 4);
    assert_eq!(faults.injected(), 0);
}

fn fault_nth_fails_once_without_side_effect(f: &Fixture) {
    for compat in [false, true] {
        let faults = Faults::new();
        let options = StoreOptions {
            spin_compat: compat,
            ..StoreOptions::default()
        };
        let s = f.open_with(&options, &faults);
        s.delete_many(&keys(&["a", "b", "c", "d"])).unwrap();
        faults.fail_nth(3);
        s.set("a", b"1").unwrap();
        s.set("b", b"2").unwrap();
        assert_eq!(s.set("c", b"3"), Err(KvError(INJECTED_MESSAGE.into())));
        s.set("d", b"4").unwrap();
        assert_eq!(s.get("c").unwrap(), None, "an injected failure wrote");
        assert_eq!(s.get("d").unwrap(), Some(b"4".to_vec()));
        assert_eq!(faults.injected(), 1);
        assert_eq!(faults.ops(), 7);

        // A failed swap or increment leaves the value alone too.
        faults.fail_nth(1);
        assert_eq!(
            s.swap("a", &CasBase::Value(b"1".to_vec()), b"x"),
            Err(SwapError::Store(KvError(INJECTED_MESSAGE.into())))
        );
        faults.fail_nth(1);
        assert!(s.increment("n", 1).is_err());
        assert_eq!(s.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.increment("n", 0).unwrap(), 0);
    }
}

fn fault_nth_spans_stores(f: &Fixture) {
    let faults = Faults::new();
    let one = f.open_with(&StoreOptions::default(), &faults);
    let two = f.open_with(&StoreOptions::default(), &faults);
    faults.fail_nth(2);
    one.get("k").unwrap();
    assert_eq!(two.get("k"), Err(KvError(INJECTED_MESSAGE.into())));
    one.get("k").unwrap();
    two.get("k").unwrap();
}

fn fault_rate_is_deterministic(f: &Fixture) {
    let a = Faults::new();
    let s = f.open_with(&StoreOptions::default(), &a);
    a.fail_rate(0.3, 9);
    let first = pattern(&*s, 300);
    let failed = first.iter().filter(|&&x| x).count();
    assert!((50..130).contains(&failed), "{failed} of 300 failed at 0.3");
    assert_eq!(a.injected(), failed as u64);
    a.clear();
    // No side effect: exactly the failed keys are absent.
    for (i, &was_failed) in first.iter().enumerate() {
        assert_eq!(s.get(&format!("k{i}")).unwrap().is_none(), was_failed);
    }

    let b = Faults::new();
    let s2 = f.open_with(&StoreOptions::default(), &b);
    b.fail_rate(0.3, 9);
    assert_eq!(pattern(&*s2, 300), first, "same seed, same failures");
    b.fail_rate(0.3, 10);
    assert_ne!(pattern(&*s2, 300), first, "another seed, other failures");

    b.clear();
    assert!(pattern(&*s2, 100).iter().all(|&x| !x));
    b.fail_rate(1.0, 1);
    assert!(pattern(&*s2, 20).iter().all(|&x| x));
    b.fail_rate(0.0, 1);
    assert!(pattern(&*s2, 20).iter().all(|&x| !x));
}

macro_rules! suite {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn basic_ops() {
                super::basic_ops(&Fixture::new($kind));
            }
            #[test]
            fn increment_semantics() {
                super::increment_semantics(&Fixture::new($kind));
            }
            #[test]
            fn increment_concurrent() {
                super::increment_concurrent(&Fixture::new($kind));
            }
            #[test]
            fn increment_on_non_counter_is_an_error() {
                super::increment_on_non_counter_is_an_error(&Fixture::new($kind));
            }
            #[test]
            fn cas_success() {
                super::cas_success(&Fixture::new($kind));
            }
            #[test]
            fn cas_stale_fails() {
                super::cas_stale_fails(&Fixture::new($kind));
            }
            #[test]
            fn cas_from_absent_fails_when_created_meanwhile() {
                super::cas_from_absent_fails_when_created_meanwhile(&Fixture::new($kind));
            }
            #[test]
            fn batch_ops() {
                super::batch_ops(&Fixture::new($kind));
            }
            #[test]
            fn fault_ops_are_counted() {
                super::fault_ops_are_counted(&Fixture::new($kind));
            }
            #[test]
            fn fault_nth_fails_once_without_side_effect() {
                super::fault_nth_fails_once_without_side_effect(&Fixture::new($kind));
            }
            #[test]
            fn fault_nth_spans_stores() {
                super::fault_nth_spans_stores(&Fixture::new($kind));
            }
            #[test]
            fn fault_rate_is_deterministic() {
                super::fault_rate_is_deterministic(&Fixture::new($kind));
            }
        }
    };
}

suite!(memory, Kind::Memory);
suite!(sqlite, Kind::Sqlite);
suite!(redis, Kind::Redis);
suite!(aws_dynamo, Kind::Dynamo);
