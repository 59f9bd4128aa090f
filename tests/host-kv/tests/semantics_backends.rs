//! Backend specifics: SQLite's file as Spin reads it, Redis's raw keys, and errors
//! instead of panics or hangs.

use std::sync::Arc;

use spin_local_kv::testing::RedisServer;
use spin_local_kv::{BackendConfig, CasBase, Faults, StoreOptions, open, open_labeled};

mod common;

use common::{Fixture, Kind, keys};

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
