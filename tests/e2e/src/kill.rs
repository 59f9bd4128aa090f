//! The traffic and the checks of the kill tests, shared by our host (`faults.rs`) and real
//! Spin (`real_spin.rs`): four threads send Add Version until the host is killed; after a
//! restart on the same store, nothing acknowledged may be missing.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bodies::{add_body, sig_body};
use crate::{Door, check_operation, first_version, operation_path};

/// What the app acknowledged before the kill.
pub struct Acked {
    pub image: String,
    pub versions: BTreeSet<String>,
    pub ops: BTreeSet<String>,
}

/// Creates an image, then sends Add Version from four threads until the host is gone;
/// `kill` runs once 12 versions were acknowledged (or after 60 s).
pub fn add_versions_until_killed(door: &Door, kill: impl FnOnce() + Send) -> Acked {
    let created = door.rest(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_body("killed")),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let (image, first) = first_version(&created);
    let versions = Mutex::new(BTreeSet::from([first]));
    let ops = Mutex::new(BTreeSet::from_iter(operation_path(&created)));
    let count = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (image, versions, ops, count) = (&image, &versions, &ops, &count);
            s.spawn(move || {
                // Until the host is gone: then the connection fails and the thread stops.
                while let Ok(a) = door.try_rest(
                    "POST",
                    &format!("/images/{image}/versions"),
                    Some(add_body()),
                ) {
                    // A dying host may abandon a request (an empty 500): only a 201
                    // counts as acknowledged.
                    if a.status != 201 {
                        continue;
                    }
                    versions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(a.str("versionId"));
                    ops.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(operation_path(&a));
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // Kill once traffic is flowing (requests in flight are abandoned mid-way).
        let deadline = Instant::now() + Duration::from_secs(60);
        while count.load(Ordering::SeqCst) < 12 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        kill();
    });
    Acked {
        image,
        versions: versions.into_inner().unwrap_or_default(),
        ops: ops.into_inner().unwrap_or_default(),
    }
}

/// After the restart and once the operations settled: every acknowledged version is
/// listed and every acknowledged operation succeeded with a clean history. Returns the
/// versions listed.
pub fn check_nothing_lost(door: &Door, acked: &Acked) -> BTreeSet<String> {
    let listed = door.rest(
        "GET",
        &format!("/images/{}/versions?size=100", acked.image),
        None,
    );
    let versions: BTreeSet<String> = listed.body["content"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    for v in &acked.versions {
        assert!(
            versions.contains(v),
            "acknowledged version {v} lost with the host"
        );
    }
    for op in &acked.ops {
        assert_eq!(
            check_operation(&door.rest("GET", op, None).body),
            "SUCCEEDED",
            "{op}"
        );
    }
    versions
}
