//! The same semantic suite against every backend, then the spin-compat quirks R1–R4
//! and R8, and the fault injector.

use std::sync::Arc;

use spin_local_kv::testing::RedisServer;
use spin_local_kv::{
    BackendConfig, CasBase, Faults, HOST_PANIC_MESSAGE, INJECTED_MESSAGE, KvError, KvStore,
    LOCKED_MESSAGE, POISONED_MESSAGE, StoreOptions, SwapError, open, open_labeled,
};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Memory,
    Sqlite,
    Redis,
}

/// One backend instance private to a test (temp file, or its own redis-server).
struct Fixture {
    kind: Kind,
    config: BackendConfig,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisServer>,
}

impl Fixture {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Memory => Self {
                kind,
                config: BackendConfig::Memory,
                _dir: None,
                _redis: None,
            },
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("state").join("sqlite_key_value.db");
                Self {
                    kind,
                    config: BackendConfig::Sqlite { path },
                    _dir: Some(dir),
                    _redis: None,
                }
            }
            Kind::Redis => {
                let server = RedisServer::start();
                Self {
                    kind,
                    config: BackendConfig::Redis {
                        url: server.url.clone(),
                    },
                    _dir: None,
                    _redis: Some(server),
                }
            }
        }
    }

    fn open_with(&self, options: &StoreOptions, faults: &Faults) -> Arc<dyn KvStore> {
        open(&self.config, options, faults).expect("open store")
    }

    fn correct(&self) -> Arc<dyn KvStore> {
        self.open_with(&StoreOptions::default(), &Faults::default())
    }

    fn compat(&self, faults: &Faults) -> Arc<dyn KvStore> {
        let options = StoreOptions {
            spin_compat: true,
            ..StoreOptions::default()
        };
        self.open_with(&options, faults)
    }

    /// What `increment` leaves under the key, per backend (R3's encodings).
    fn counter_bytes(&self, n: i64) -> Vec<u8> {
        match self.kind {
            Kind::Memory | Kind::Sqlite => n.to_le_bytes().to_vec(),
            Kind::Redis => n.to_string().into_bytes(),
        }
    }
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

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

/// Which of `n` `set` calls fail under `faults`.
fn pattern(s: &dyn KvStore, n: usize) -> Vec<bool> {
    (0..n)
        .map(|i| s.set(&format!("k{i}"), b"v").is_err())
        .collect()
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

#[test]
fn r8_compat_get_many_is_correct_off_redis() {
    for kind in [Kind::Memory, Kind::Sqlite] {
        let s = Fixture::new(kind).compat(&Faults::new());
        s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(s.get_many(&keys(&["a"])).unwrap(), vec![kv("a", b"1")]);
        assert_eq!(
            s.get_many(&keys(&["b", "a"])).unwrap(),
            vec![kv("b", b"2"), kv("a", b"1")]
        );
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

// ---- backend specifics ----

#[test]
fn sqlite_labels_share_one_file_in_spins_table() {
    let f = Fixture::new(Kind::Sqlite);
    let BackendConfig::Sqlite { path } = &f.config else {
        unreachable!()
    };
    let options = StoreOptions::default();
    let a = open_labeled(&f.config, "a", &options, &Faults::new()).unwrap();
    let b = open_labeled(&f.config, "b", &options, &Faults::new()).unwrap();
    a.set("k", b"in a").unwrap();
    b.set("k", b"in b").unwrap();
    b.set("only-b", b"x").unwrap();
    assert_eq!(a.get("k").unwrap(), Some(b"in a".to_vec()));
    assert_eq!(a.get_keys().unwrap(), keys(&["k"]));
    assert_eq!(b.get_keys().unwrap(), keys(&["k", "only-b"]));
    a.increment("n", 3).unwrap();

    // The file is what Spin itself reads: its table, WAL mode, 8-byte counters.
    let conn = rusqlite::Connection::open(path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let mut rows: Vec<(String, String, Vec<u8>)> = conn
        .prepare("SELECT store, key, value FROM spin_key_value")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("a".into(), "k".into(), b"in a".to_vec()),
            ("a".into(), "n".into(), 3i64.to_le_bytes().to_vec()),
            ("b".into(), "k".into(), b"in b".to_vec()),
            ("b".into(), "only-b".into(), b"x".to_vec()),
        ]
    );
    // `open` is the `default` label.
    f.correct().set("d", b"1").unwrap();
    let default_label: String = conn
        .query_row(
            "SELECT store FROM spin_key_value WHERE key = 'd'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(default_label, "default");
}

#[test]
fn sqlite_persists_across_opens() {
    let f = Fixture::new(Kind::Sqlite);
    f.correct().set("k", b"kept").unwrap();
    assert_eq!(f.correct().get("k").unwrap(), Some(b"kept".to_vec()));
}

#[test]
fn sqlite_concurrent_connections_count_exactly() {
    let f = Arc::new(Fixture::new(Kind::Sqlite));
    // Each thread its own connection: the busy timeout and BEGIN IMMEDIATE make the
    // writers queue instead of failing with "database is locked".
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = f.correct();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    s.increment("hits", 1).unwrap();
                }
                let seen = s.cas_current("slot").unwrap();
                let base = match seen {
                    None => CasBase::Absent,
                    Some(v) => CasBase::Value(v),
                };
                s.swap("slot", &base, b"x").is_ok()
            })
        })
        .collect();
    let winners = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|&won| won)
        .count();
    assert!(winners >= 1);
    assert_eq!(f.correct().increment("hits", 0).unwrap(), 1600);
}

#[test]
fn sqlite_bad_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    // The parent "directory" is a file: no panic, an error.
    let config = BackendConfig::Sqlite {
        path: file.join("kv.db"),
    };
    assert!(open(&config, &StoreOptions::default(), &Faults::new()).is_err());
}

#[test]
fn redis_uses_raw_keys_like_spin() {
    let f = Fixture::new(Kind::Redis);
    let BackendConfig::Redis { url } = &f.config else {
        unreachable!()
    };
    let options = StoreOptions::default();
    let a = open_labeled(&f.config, "a", &options, &Faults::new()).unwrap();
    let b = open_labeled(&f.config, "b", &options, &Faults::new()).unwrap();
    a.set("k", b"v").unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
    let mut conn = ::redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let raw: Vec<u8> = ::redis::cmd("GET").arg("k").query(&mut conn).unwrap();
    assert_eq!(raw, b"v");
}

#[test]
fn redis_unreachable_is_an_error_not_a_hang() {
    // A port nothing listens on (a stopped server's).
    let url = RedisServer::start().url.clone();
    let s = open(
        &BackendConfig::Redis { url },
        &StoreOptions::default(),
        &Faults::new(),
    )
    .unwrap();
    assert!(s.get("k").is_err());
    assert!(
        open(
            &BackendConfig::Redis {
                url: "not a url".into()
            },
            &StoreOptions::default(),
            &Faults::new()
        )
        .is_err()
    );
}
