//! The `aws_dynamo` emulation: R12 in docs/runtime-facts.md (measured with Spin 4.0.2
//! against moto 5.2.6 by tests/dynamo/probe.sh) in spin-compat mode, a plain store without.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use spin_local_kv::{
    BackendConfig, CONDITIONAL_CHECK_FAILED, CasBase, DUPLICATE_KEYS_MESSAGE, Faults,
    ITEM_TOO_LARGE_MESSAGE, KvError, KvStore, MAX_GET_MANY_KEYS, StoreOptions, SwapError,
    open_labeled,
};

mod common;

use common::{Fixture, Kind, keys};

fn compat_with_window(f: &Fixture, window: Duration) -> Arc<dyn KvStore> {
    let options = StoreOptions {
        spin_compat: true,
        dynamo_increment_window: window,
        ..StoreOptions::default()
    };
    f.open_with(&options, &Faults::new())
}

fn compat(f: &Fixture) -> Arc<dyn KvStore> {
    compat_with_window(f, Duration::ZERO)
}

fn is_lost_race(e: &KvError) -> bool {
    e.0.contains("TransactionCanceledException") && e.0.contains(CONDITIONAL_CHECK_FAILED)
}

#[test]
fn r12_increment_stores_decimal_text_and_increment_by_zero_creates_the_key() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    assert_eq!(s.increment("c", 1).unwrap(), 1);
    assert_eq!(s.increment("c", 5).unwrap(), 6);
    assert_eq!(s.increment("c", 0).unwrap(), 6);
    assert_eq!(s.increment("c", -10).unwrap(), -4);
    assert_eq!(s.get("c").unwrap(), Some(b"-4".to_vec()));
    // increment(key, 0) on a missing key writes "0".
    assert_eq!(s.increment("zero", 0).unwrap(), 0);
    assert!(s.exists("zero").unwrap());
    assert_eq!(s.get("zero").unwrap(), Some(b"0".to_vec()));
}

#[test]
fn r12_increment_on_text_is_a_parse_error_and_poisons_nothing() {
    let f = Fixture::new(Kind::Dynamo);
    let faults = Faults::new();
    let options = StoreOptions {
        spin_compat: true,
        ..StoreOptions::default()
    };
    let s = f.open_with(&options, &faults);
    s.set("t", b"hello").unwrap();
    let e = s.increment("t", 1).unwrap_err();
    assert_eq!(e, KvError("ParseIntError { kind: InvalidDigit }".into()));
    assert!(!e.is_host_panic());
    assert!(!faults.poisoned());
    assert_eq!(s.get("t").unwrap(), Some(b"hello".to_vec()));
    // Spin's SQLite encoding (8 little-endian bytes) is not a counter here.
    s.set("le", &7i64.to_le_bytes()).unwrap();
    assert!(s.increment("le", 1).unwrap_err().0.contains("Error"));
    assert_eq!(s.increment("other", 1).unwrap(), 1);
}

#[test]
fn r12_two_racing_increments_one_fails_with_conditional_check_failed_and_writes_nothing() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat_with_window(&f, Duration::from_millis(200));
    s.increment("n", 10).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                s.increment("n", 1)
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let lost: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(won, vec![&11], "{results:?}");
    assert_eq!(lost.len(), 1);
    assert!(is_lost_race(lost[0]), "{}", lost[0]);
    assert!(lost[0].0.starts_with("ServiceError(ServiceError { source: TransactionCanceledException(TransactionCanceledException { message: Some(\"Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]\")"));
    // The loser wrote nothing; a retry succeeds.
    assert_eq!(s.get("n").unwrap(), Some(b"11".to_vec()));
    assert_eq!(s.increment("n", 1).unwrap(), 12);
}

#[test]
fn r12_two_racing_creators_of_a_counter_one_fails() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat_with_window(&f, Duration::from_millis(200));
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                s.increment("new", 1)
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().any(|r| r.as_ref().is_err_and(is_lost_race)));
    assert_eq!(s.get("new").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn r12_increment_storm_loses_no_write_and_counts_only_successes() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat_with_window(&f, Duration::from_millis(2));
    let barrier = Arc::new(Barrier::new(10));
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let s = Arc::clone(&s);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..20).map(|_| s.increment("storm", 1)).collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let successes = results.iter().filter(|r| r.is_ok()).count();
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(!errors.is_empty(), "no increment lost a race");
    assert!(errors.iter().all(|e| is_lost_race(e)));
    let final_value = s.increment("storm", 0).unwrap();
    assert_eq!(final_value, successes as i64);
    // Every success saw its own value.
    let mut seen: Vec<i64> = results.into_iter().filter_map(Result::ok).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=final_value).collect::<Vec<_>>());
}

#[test]
fn r12_lost_and_stale_swaps_are_cas_failed_and_write_nothing() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    s.set("k", b"three").unwrap();
    // Lost: read, someone sets, swap.
    let seen = s.cas_current("k").unwrap().unwrap();
    s.set("k", b"other").unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Value(seen), b"mine"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"other".to_vec()));
    // Stale: read, another swap wins, swap.
    let seen = s.cas_current("k").unwrap().unwrap();
    s.swap("k", &CasBase::Value(seen.clone()), b"winner")
        .unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Value(seen), b"loser"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"winner".to_vec()));
    // Deleted meanwhile.
    s.delete("k").unwrap();
    assert_eq!(
        s.swap("k", &CasBase::Value(b"winner".to_vec()), b"x"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), None);
}

#[test]
fn r12_swap_from_absent_creates_only_while_absent_unlike_r1() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    assert_eq!(s.cas_current("new").unwrap(), None);
    s.swap("new", &CasBase::Absent, b"one").unwrap();
    assert_eq!(s.get("new").unwrap(), Some(b"one".to_vec()));
    assert_eq!(s.cas_current("raced").unwrap(), None);
    s.set("raced", b"other").unwrap();
    assert_eq!(
        s.swap("raced", &CasBase::Absent, b"mine"),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("raced").unwrap(), Some(b"other".to_vec()));
    // Never read: a blind write, on an existing key and on a new one.
    s.swap("raced", &CasBase::NotRead, b"three").unwrap();
    s.swap("fresh", &CasBase::NotRead, b"fresh").unwrap();
    assert_eq!(s.get("raced").unwrap(), Some(b"three".to_vec()));
    assert_eq!(s.get("fresh").unwrap(), Some(b"fresh".to_vec()));
}

#[test]
fn r12_a_swap_that_fails_for_any_reason_is_cas_failed() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    s.set("k", b"v").unwrap();
    let huge = vec![b'x'; 409_600];
    assert_eq!(
        s.swap("k", &CasBase::Value(b"v".to_vec()), &huge),
        Err(SwapError::CasFailed)
    );
    assert_eq!(s.get("k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn r12_get_many_answers_found_keys_and_refuses_duplicates_and_more_than_100_keys() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    s.set("gm1", b"v1").unwrap();
    assert_eq!(
        s.get_many(&keys(&["gm1", "gm-missing"])).unwrap(),
        vec![("gm1".to_string(), Some(b"v1".to_vec()))]
    );
    let dup = s.get_many(&keys(&["gm1", "gm1"])).unwrap_err();
    assert!(dup.0.contains("ValidationException"), "{dup}");
    assert!(dup.0.contains(DUPLICATE_KEYS_MESSAGE), "{dup}");
    assert_eq!(s.get_many(&[]).unwrap(), Vec::new());

    let hundred: Vec<(String, Vec<u8>)> = (1..=100)
        .map(|i| (format!("k{i}"), b"v".to_vec()))
        .collect();
    s.set_many(&hundred).unwrap();
    let asked: Vec<String> = hundred.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(s.get_many(&asked).unwrap().len(), MAX_GET_MANY_KEYS);
    let mut too_many = asked.clone();
    too_many.push("k101".into());
    let e = s.get_many(&too_many).unwrap_err();
    assert!(
        e.0.contains("Value at 'requestItems.image-catalog.member.keys' failed to satisfy constraint: Member must have length less than or equal to 100"),
        "{e}"
    );
}

#[test]
fn r12_set_many_takes_duplicates_and_26_entries_delete_many_refuses_duplicates() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    s.set_many(&[("d".into(), b"a".to_vec()), ("d".into(), b"b".to_vec())])
        .unwrap();
    assert_eq!(s.get("d").unwrap(), Some(b"b".to_vec()));
    let entries: Vec<(String, Vec<u8>)> =
        (1..=26).map(|i| (format!("t{i}"), b"x".to_vec())).collect();
    s.set_many(&entries).unwrap();
    let names: Vec<String> = entries.into_iter().map(|(k, _)| k).collect();
    s.delete_many(&names).unwrap();
    assert_eq!(s.get_keys().unwrap(), keys(&["d"]));
    // A duplicate fails the whole batch: nothing deleted.
    s.set("k30", b"v").unwrap();
    let e = s.delete_many(&keys(&["k30", "k30"])).unwrap_err();
    assert!(e.0.contains(DUPLICATE_KEYS_MESSAGE), "{e}");
    assert_eq!(s.get("k30").unwrap(), Some(b"v".to_vec()));
    s.delete_many(&keys(&["k30", "never"])).unwrap();
    assert_eq!(s.get("k30").unwrap(), None);
}

#[test]
fn r12_items_over_the_size_limit_are_refused() {
    let f = Fixture::new(Kind::Dynamo);
    let s = compat(&f);
    s.set("big400", &vec![b'x'; 400_000]).unwrap();
    assert_eq!(s.get("big400").unwrap().map(|v| v.len()), Some(400_000));
    for n in [409_600, 512_000] {
        let e = s.set("big", &vec![b'x'; n]).unwrap_err();
        assert!(e.0.contains(ITEM_TOO_LARGE_MESSAGE), "{e}");
        assert!(e.0.contains("ValidationException"), "{e}");
    }
    assert_eq!(s.get("big").unwrap(), None);
    let e = s
        .set_many(&[
            ("a".into(), b"1".to_vec()),
            ("big".into(), vec![b'x'; 409_600]),
        ])
        .unwrap_err();
    assert!(e.0.contains(ITEM_TOO_LARGE_MESSAGE), "{e}");
    assert_eq!(s.get("a").unwrap(), None);
}

#[test]
fn correct_mode_has_no_race_and_no_limits() {
    let f = Fixture::new(Kind::Dynamo);
    let s = f.open_with(
        &StoreOptions {
            dynamo_increment_window: Duration::from_millis(50),
            ..StoreOptions::default()
        },
        &Faults::new(),
    );
    s.set("a", &vec![b'x'; 500_000]).unwrap();
    assert_eq!(
        s.get_many(&keys(&["a", "a", "missing"]))
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.is_some()))
            .collect::<Vec<_>>(),
        vec![
            ("a".to_string(), true),
            ("a".to_string(), true),
            ("missing".to_string(), false)
        ]
    );
    s.delete_many(&keys(&["a", "a"])).unwrap();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || s.increment("n", 1))
        })
        .collect();
    for r in racers {
        r.join().unwrap().unwrap();
    }
    assert_eq!(s.get("n").unwrap(), Some(b"4".to_vec()));
}

#[test]
fn labels_naming_one_table_share_its_keys_other_tables_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws_dynamo.db");
    let table = |t: &str| BackendConfig::AwsDynamo {
        path: path.clone(),
        table: t.into(),
    };
    let options = StoreOptions {
        spin_compat: true,
        ..StoreOptions::default()
    };
    let faults = Faults::new();
    let a = open_labeled(&table("one"), "default", &options, &faults).unwrap();
    let b = open_labeled(&table("one"), "other", &options, &faults).unwrap();
    let c = open_labeled(&table("two"), "default", &options, &faults).unwrap();
    a.set("k", b"v").unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(c.get("k").unwrap(), None);
}
