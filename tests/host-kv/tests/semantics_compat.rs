//! The spin-compat quirks R1–R4 and R8, backend by backend.

use spin_local_kv::{
    CasBase, Faults, HOST_PANIC_MESSAGE, KvError, LOCKED_MESSAGE, POISONED_MESSAGE, StoreOptions,
    SwapError,
};

mod common;

use common::{Fixture, Kind, keys, pattern};

// ---- spin-compat quirks ----

/// R1 on the 8-byte backends: a swap from an absent or unread base writes blindly.
fn r1_blind_swap_from_absent(f: &Fixture) {
    let s = f.compat(&Faults::new());
    assert_eq!(s.cas_current("k").unwrap(), None);
    s.set("k", b"theirs").unwrap();
    s.swap("k", &CasBase::Absent, b"mine").unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"mine".to_vec()));
    s.set("k", b"theirs again").unwrap();
    s.swap("k", &CasBase::NotRead, b"mine again").unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"mine again".to_vec()));
    // A swap from a value still compares, and a successful one reports success.
    assert_eq!(
        s.swap("k", &CasBase::Value(b"stale".to_vec()), b"x"),
        Err(SwapError::CasFailed)
    );
    s.swap("k", &CasBase::Value(b"mine again".to_vec()), b"y")
        .unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn r1_memory() {
    r1_blind_swap_from_absent(&Fixture::new(Kind::Memory));
}

#[test]
fn r1_sqlite() {
    r1_blind_swap_from_absent(&Fixture::new(Kind::Sqlite));
}

#[test]
fn r2_redis_every_swap_reports_cas_failed() {
    let f = Fixture::new(Kind::Redis);
    let s = f.compat(&Faults::new());
    s.set("k", b"v1").unwrap();
    // The write lands, yet the guest is told it failed.
    assert_eq!(
        s.swap("k", &CasBase::Value(b"v1".to_vec()), b"v2"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(
        s.swap("k", &CasBase::NotRead, b"v3"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"v3".to_vec()));
    // A stale swap is still not applied, from a value or from absent (no R1 on Redis).
    assert_eq!(
        s.swap("k", &CasBase::Value(b"v1".to_vec()), b"stale"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"v3".to_vec()));
    assert_eq!(
        s.swap("k", &CasBase::Absent, b"stale"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"v3".to_vec()));
}

/// R3 on the 8-byte backends: a non-counter increment poisons every store of the handle.
/// Each of these errors is a host panic: the host traps the guest instead of showing it.
fn r3_poisoning(f: &Fixture) {
    let faults = Faults::new();
    let s = f.compat(&faults);
    let other = f.compat(&faults);
    s.set("text", b"abc").unwrap();
    s.set("n", &f.counter_bytes(1)).unwrap();
    assert!(!faults.poisoned());
    let first = s.increment("text", 1).unwrap_err();
    assert_eq!(first.0, POISONED_MESSAGE);
    assert!(first.is_host_panic(), "{first}");
    assert!(faults.poisoned());
    for result in [s.get("n"), other.get("n"), s.get("text")] {
        let e = result.unwrap_err();
        assert!(e.is_host_panic(), "{e}");
    }
    for e in [
        s.increment("n", 1).unwrap_err(),
        s.set("n", b"x").unwrap_err(),
        s.get_many(&keys(&["n"])).unwrap_err(),
    ] {
        assert!(e.is_host_panic(), "{e}");
    }
    assert!(matches!(
        s.swap("n", &CasBase::NotRead, b"x"),
        Err(SwapError::Store(e)) if e.is_host_panic()
    ));
    // clear() stops injected faults only; the process stays poisoned.
    faults.clear();
    assert!(s.get("n").is_err());
    // Another handle (another process) is unaffected.
    let fresh = f.compat(&Faults::new());
    assert_eq!(fresh.increment("fresh", 1).unwrap(), 1);
}

#[test]
fn r3_memory() {
    r3_poisoning(&Fixture::new(Kind::Memory));
}

#[test]
fn r3_sqlite() {
    let f = Fixture::new(Kind::Sqlite);
    r3_poisoning(&f);
    // The failed increment wrote nothing.
    assert_eq!(f.correct().get("text").unwrap(), Some(b"abc".to_vec()));
}

#[test]
fn r3_redis_is_only_an_error() {
    let f = Fixture::new(Kind::Redis);
    let faults = Faults::new();
    let s = f.compat(&faults);
    s.set("text", b"abc").unwrap();
    let e = s.increment("text", 1).unwrap_err();
    assert!(!e.is_host_panic(), "{e}");
    assert!(!faults.poisoned());
    assert_eq!(s.get("text").unwrap(), Some(b"abc".to_vec()));
    assert_eq!(s.increment("n", 2).unwrap(), 2);
}

fn locked(rate: f64, seed: u64) -> StoreOptions {
    StoreOptions {
        spin_compat: true,
        locked_rate: rate,
        locked_seed: seed,
        ..StoreOptions::default()
    }
}

#[test]
fn r4_sqlite_locked_fraction_without_side_effects() {
    let f = Fixture::new(Kind::Sqlite);
    let faults = Faults::new();
    let s = f.open_with(&locked(0.25, 42), &faults);
    let results: Vec<Result<(), KvError>> =
        (0..400).map(|i| s.set(&format!("k{i}"), b"v")).collect();
    let failed: Vec<bool> = results.iter().map(Result::is_err).collect();
    let count = failed.iter().filter(|&&x| x).count();
    assert!((60..140).contains(&count), "{count} of 400 locked at 0.25");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.0, LOCKED_MESSAGE);
        // The guest sees it (no trap): the app retries it.
        assert!(!e.is_host_panic());
    }
    // R4 is a quirk, not an injected fault.
    assert_eq!(faults.injected(), 0);
    assert_eq!(faults.ops(), 400);
    let check = f.correct();
    for (i, &was_failed) in failed.iter().enumerate() {
        assert_eq!(check.get(&format!("k{i}")).unwrap().is_none(), was_failed);
    }
    // Deterministic from the seed.
    let again = f.open_with(&locked(0.25, 42), &Faults::new());
    assert_eq!(pattern(&*again, 400), failed);
    let other_seed = f.open_with(&locked(0.25, 43), &Faults::new());
    assert_ne!(pattern(&*other_seed, 400), failed);
    let always = f.open_with(&locked(1.0, 1), &Faults::new());
    assert_eq!(always.get("k1"), Err(KvError(LOCKED_MESSAGE.into())));
}

#[test]
fn r4_only_in_compat_mode_and_only_on_sqlite() {
    let sqlite = Fixture::new(Kind::Sqlite);
    let correct = StoreOptions {
        spin_compat: false,
        locked_rate: 1.0,
        locked_seed: 1,
        ..StoreOptions::default()
    };
    assert!(
        pattern(&*sqlite.open_with(&correct, &Faults::new()), 20)
            .iter()
            .all(|&x| !x)
    );
    let memory = Fixture::new(Kind::Memory);
    assert!(
        pattern(&*memory.open_with(&locked(1.0, 1), &Faults::new()), 20)
            .iter()
            .all(|&x| !x)
    );
}

/// What a guest of Spin 4.0.2 on Redis gets from `get-many` with two or more keys
/// (measured with the probe guest).
const KEYS_ARITY_MESSAGE: &str = "An error was signalled by the server - ResponseError: \
    wrong number of arguments for 'keys' command";

fn kv(key: &str, value: &[u8]) -> (String, Option<Vec<u8>>) {
    (key.to_string(), Some(value.to_vec()))
}

#[test]
fn r8_redis_get_many_sends_keys() {
    let f = Fixture::new(Kind::Redis);
    let faults = Faults::new();
    let s = f.compat(&faults);
    s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
        .unwrap();
    // Two or more keys: every call fails, whether the keys exist or not.
    for asked in [
        &["a", "b"][..],
        &["a", "missing"],
        &["x", "y", "z"],
        &["a", "a"],
    ] {
        assert_eq!(
            s.get_many(&keys(asked)),
            Err(KvError(KEYS_ARITY_MESSAGE.into())),
            "{asked:?}"
        );
    }
    // One existing key: the real host panics; the error says so and is no guest error.
    let panic = s.get_many(&keys(&["a"])).unwrap_err();
    assert!(panic.is_host_panic(), "{panic}");
    assert_eq!(panic.0, HOST_PANIC_MESSAGE);
    // One missing key matches nothing: an empty answer, not the key with `none`.
    assert_eq!(s.get_many(&keys(&["missing"])).unwrap(), Vec::new());
    // The key is a pattern: two matching names come back as one (name, name) pair.
    let pairs = s.get_many(&keys(&["*"])).unwrap();
    assert!(
        pairs == vec![kv("a", b"b")] || pairs == vec![kv("b", b"a")],
        "{pairs:?}"
    );
    s.set("c", b"3").unwrap();
    assert!(s.get_many(&keys(&["*"])).unwrap_err().is_host_panic());
    // No keys: nothing is sent, nothing answered.
    assert_eq!(s.get_many(&[]).unwrap(), Vec::new());
    // The panic broke nothing: later calls work, nothing is poisoned.
    assert!(!faults.poisoned());
    assert_eq!(s.get("a").unwrap(), Some(b"1".to_vec()));
    // set-many and delete-many are fine on the real runtime too.
    s.delete_many(&keys(&["a", "c", "missing"])).unwrap();
    assert_eq!(s.get_keys().unwrap(), keys(&["b"]));
}

#[test]
fn r8_correct_mode_on_redis_answers_get_many() {
    let f = Fixture::new(Kind::Redis);
    let s = f.correct();
    s.set("a", b"1").unwrap();
    assert_eq!(s.get_many(&keys(&["a"])).unwrap(), vec![kv("a", b"1")]);
    assert_eq!(
        s.get_many(&keys(&["missing", "a"])).unwrap(),
        vec![("missing".to_string(), None), kv("a", b"1")]
    );
}

/// Off Redis, `get-many` works in compat mode: on memory in the order asked; on SQLite in
/// Spin's own shape (`sqlite_get_many_answers_as_spin_in_compat_mode`).
#[test]
fn r8_compat_get_many_works_off_redis() {
    for kind in [Kind::Memory, Kind::Sqlite] {
        let s = Fixture::new(kind).compat(&Faults::new());
        s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(s.get_many(&keys(&["a"])).unwrap(), vec![kv("a", b"1")]);
        let mut both = s.get_many(&keys(&["b", "a"])).unwrap();
        if kind == Kind::Memory {
            assert_eq!(both, vec![kv("b", b"2"), kv("a", b"1")]);
        }
        both.sort();
        assert_eq!(both, vec![kv("a", b"1"), kv("b", b"2")]);
    }
}

#[test]
fn compat_successful_swaps_report_success_off_redis() {
    for kind in [Kind::Memory, Kind::Sqlite] {
        let s = Fixture::new(kind).compat(&Faults::new());
        s.set("k", b"v1").unwrap();
        s.swap("k", &CasBase::Value(b"v1".to_vec()), b"v2").unwrap();
        assert_eq!(s.get("k").unwrap(), Some(b"v2".to_vec()));
    }
}

/// Spin's SQLite `get-many` (docs/runtime-facts.md, beside R8): missing keys left out,
/// duplicates removed, its own order; the app reorders by key (`answer_in_order`).
#[test]
fn sqlite_get_many_answers_as_spin_in_compat_mode() {
    let f = Fixture::new(Kind::Sqlite);
    let s = f.compat(&Faults::new());
    s.set("a", b"1").unwrap();
    s.set("b", b"2").unwrap();
    assert_eq!(
        s.get_many(&keys(&["b", "missing", "a", "b"])).unwrap(),
        vec![
            ("a".to_string(), Some(b"1".to_vec())),
            ("b".to_string(), Some(b"2".to_vec())),
        ]
    );
    // Correct mode answers every asked key, in order.
    assert_eq!(
        f.correct()
            .get_many(&keys(&["b", "missing"]))
            .unwrap()
            .len(),
        2
    );
}
