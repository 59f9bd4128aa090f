//! Scale-out: three instances of the app's `spin.toml` on one real `redis-server`, in
//! spin-compat mode (the real runtime's Redis quirk R2: every swap answers `cas-failed`),
//! all running the advancer on one shared frozen time, with mixed traffic through both
//! doors and all three replicas. Afterwards nothing is lost, duplicated or done twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use catalog_e2e::bodies::{add_body, sig_body, vm_body};
use catalog_e2e::{
    Answer, Door, ORG, OTHER_ORG, assert_clean_error, check_operation, first_version, http_client,
    operation_path, redis_kv, seed_at, start_app,
};
use serde_json::json;
use spin_local_host::App;
use spin_local_kv::testing::RedisServer;

const REPLICAS: usize = 3;
const FINAL: [&str; 3] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/// Three apps on one Redis. Fields drop in order: the apps before the server.
struct Cluster {
    apps: Vec<App>,
    doors: Vec<Door>,
    _redis: RedisServer,
}

impl Cluster {
    fn start() -> Cluster {
        let redis = RedisServer::start();
        let apps: Vec<App> = (0..REPLICAS)
            .map(|_| start_app(redis_kv(&redis), true, None))
            .collect();
        let http = http_client();
        // Seeded through one replica, used through all: the store is shared.
        let creds = seed_at(&http, &apps[0].base_url(), ORG);
        seed_at(&http, &apps[1].base_url(), OTHER_ORG);
        let doors = apps
            .iter()
            .map(|a| Door::new(a.base_url(), creds.clone()))
            .collect();
        Cluster {
            apps,
            doors,
            _redis: redis,
        }
    }

    fn now(&self) -> u64 {
        self.apps[0].clock().unix_seconds()
    }

    /// Moves every replica's clock to the same instant, `secs` later.
    fn advance(&self, secs: u64) {
        let t = self.now() + secs;
        for a in &self.apps {
            a.clock().set_unix(t);
        }
    }

    /// Fires the advancer of every replica at once (one thread each).
    fn tick_all(&self) {
        std::thread::scope(|s| {
            for (i, app) in self.apps.iter().enumerate() {
                s.spawn(move || {
                    app.fire_cron("advancer")
                        .unwrap_or_else(|e| panic!("replica {i}: tick failed: {e}"))
                });
            }
        });
    }

    fn door(&self, i: usize) -> &Door {
        &self.doors[i % REPLICAS]
    }
}

/// What the clients were told: every acknowledged record and operation.
#[derive(Default)]
struct Acked {
    /// image id -> (source type, version ids acknowledged)
    images: BTreeMap<String, (String, BTreeSet<String>)>,
    /// operation paths (`/operations/…`)
    ops: BTreeSet<String>,
    deleted_versions: BTreeSet<String>,
    /// RPC captures: image ids
    captures: BTreeSet<String>,
    /// clean refusals seen (e.g. a 503 under contention), for the log
    refused: Vec<String>,
}

/// A 2xx is recorded by the caller; anything else must be a clean 4xx or a 503 problem.
fn refused(acked: &Mutex<Acked>, what: &str, a: &Answer) {
    assert_clean_error(what, a);
    assert!(
        a.status < 500 || a.status == 503,
        "{what}: {} {}",
        a.status,
        a.body
    );
    lock(acked)
        .refused
        .push(format!("{what}: {} {}", a.status, a.body["code"]));
}

fn lock(m: &Mutex<Acked>) -> std::sync::MutexGuard<'_, Acked> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn status(c: &Cluster, image: &str, version: &str) -> String {
    c.door(0)
        .rest("GET", &format!("/images/{image}/versions/{version}"), None)
        .str("status")
}

#[test]
fn three_replicas_on_one_redis_lose_and_repeat_nothing() {
    let c = Cluster::start();
    let acked = Mutex::new(Acked::default());

    // 1. Images of both source types, created through different replicas at once.
    let created: Vec<(String, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (c, acked) = (&c, &acked);
                s.spawn(move || {
                    let (body, action, kind) = if i % 2 == 0 {
                        (sig_body(&format!("sig-{i}")), "copy-existing-image", "SIG")
                    } else {
                        (vm_body(&format!("vm-{i}")), "import-custom-vm", "VM")
                    };
                    let a = c
                        .door(i)
                        .rest("POST", &format!("/images?action={action}"), Some(body));
                    assert_eq!(a.status, 201, "create via replica {}: {}", i % 3, a.body);
                    let (image, version) = first_version(&a);
                    let mut g = lock(acked);
                    g.images.insert(
                        image.clone(),
                        (kind.to_owned(), BTreeSet::from([version.clone()])),
                    );
                    if let Some(op) = operation_path(&a) {
                        g.ops.insert(op);
                    }
                    (image, version, kind.to_owned())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("creator"))
            .collect()
    });
    let sig: Vec<String> = created
        .iter()
        .filter(|c| c.2 == "SIG")
        .map(|c| c.0.clone())
        .collect();
    let vms: Vec<(String, String)> = created
        .iter()
        .filter(|c| c.2 == "VM")
        .map(|c| (c.0.clone(), c.1.clone()))
        .collect();

    // 2. Add Version from six threads through rotating replicas, RPC captures of one
    // instance racing through all three replicas, and every replica's advancer ticking
    // on the shared moving time — all at once.
    std::thread::scope(|s| {
        for w in 0..6usize {
            let (c, acked, sig) = (&c, &acked, &sig);
            s.spawn(move || {
                for k in 0..4usize {
                    let image = &sig[(w + k) % sig.len()];
                    let a = c.door(w + k).rest(
                        "POST",
                        &format!("/images/{image}/versions"),
                        Some(add_body()),
                    );
                    if a.status != 201 {
                        refused(acked, "add version", &a);
                        continue;
                    }
                    let mut g = lock(acked);
                    if let Some((_, versions)) = g.images.get_mut(image) {
                        versions.insert(a.str("versionId"));
                    }
                    if let Some(op) = operation_path(&a) {
                        g.ops.insert(op);
                    }
                }
            });
        }
        let now = c.now();
        for r in 0..REPLICAS {
            let (c, acked) = (&c, &acked);
            s.spawn(move || {
                let a = c.door(r).rpc(
                    "CreateImageByInstance",
                    &[
                        ("InstanceId", "ecd-demo"),
                        ("InstanceType", "CloudDesktop"),
                        ("ImageName", &format!("capture-{r}")),
                    ],
                    now,
                );
                if a.status == 200 {
                    let image = a.body["Data"]["ImageId"].as_str().unwrap_or_default();
                    let task = a.body["Data"]["TaskId"].as_str().unwrap_or_default();
                    assert!(!image.is_empty() && !task.is_empty(), "{}", a.body);
                    let mut g = lock(acked);
                    g.captures.insert(image.to_owned());
                    g.ops.insert(format!("/operations/{task}"));
                } else {
                    assert!(a.status < 500, "capture: {} {}", a.status, a.body);
                    assert_eq!(
                        a.body["Code"], "ImageCreateByInstance.TaskExist",
                        "{}",
                        a.body
                    );
                }
            });
        }
        let c = &c;
        s.spawn(move || {
            for _ in 0..6 {
                c.advance(2);
                c.tick_all();
            }
        });
    });
    assert_eq!(
        lock(&acked).captures.len(),
        1,
        "exactly one of three racing captures of one instance is accepted"
    );

    // 3. Publish each imported VM version through two replicas at once: one wins.
    for round in 0..40 {
        if vms
            .iter()
            .all(|(i, v)| status(&c, i, v) == "IMPORT_COMPLETE")
        {
            break;
        }
        assert!(round < 39, "imports did not complete");
        c.advance(3);
        c.tick_all();
    }
    for (image, version) in &vms {
        let wins: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|r| {
                    let c = &c;
                    s.spawn(move || {
                        c.door(r).rest(
                            "POST",
                            &format!("/images/{image}/versions/{version}?action=publish"),
                            Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
                        )
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("publisher"))
                .collect()
        });
        let ok: Vec<&Answer> = wins.iter().filter(|a| a.status == 201).collect();
        assert_eq!(ok.len(), 1, "one publish of two wins: {wins:?}");
        for a in wins.iter().filter(|a| a.status != 201) {
            refused(&acked, "second publish", a);
        }
        if let Some(op) = operation_path(ok[0]) {
            lock(&acked).ops.insert(op);
        }
    }

    // 4. Every gallery copy reaches AVAILABLE; then delete one added version per image
    // through two replicas at once.
    settle(&c, &acked);
    for image in &sig {
        let victim = {
            let g = lock(&acked);
            let (_, versions) = &g.images[image];
            // Any version but the first keeps the image alive.
            versions.iter().nth(1).cloned()
        };
        let Some(victim) = victim else { continue };
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (1..3)
                .map(|r| {
                    let (c, victim) = (&c, &victim);
                    s.spawn(move || {
                        c.door(r).rest(
                            "DELETE",
                            &format!("/images/{image}/versions/{victim}"),
                            None,
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("deleter")).collect()
        });
        let accepted: Vec<&Answer> = answers.iter().filter(|a| a.status == 202).collect();
        assert!(!accepted.is_empty(), "a delete is accepted: {answers:?}");
        for a in answers.iter().filter(|a| a.status != 202) {
            refused(&acked, "second delete", a);
        }
        let mut g = lock(&acked);
        for a in accepted {
            if let Some(op) = operation_path(a) {
                g.ops.insert(op);
            }
        }
        g.deleted_versions.insert(victim);
    }
    settle(&c, &acked);
    verify(&c, &lock(&acked));
}

/// Ticks every replica at once until every acknowledged operation is final.
fn settle(c: &Cluster, acked: &Mutex<Acked>) {
    let ops: Vec<String> = lock(acked).ops.iter().cloned().collect();
    for _ in 0..80 {
        let open = ops
            .iter()
            .filter(|op| {
                let a = c.door(0).rest("GET", op, None);
                !FINAL.contains(&a.str("status").as_str())
            })
            .count();
        if open == 0 {
            return;
        }
        c.advance(3);
        c.tick_all();
    }
    panic!("operations still open after 80 rounds of ticks");
}

fn verify(c: &Cluster, acked: &Acked) {
    eprintln!(
        "replicas: {} images, {} operations, {} captures, {} clean refusals: {:?}",
        acked.images.len(),
        acked.ops.len(),
        acked.captures.len(),
        acked.refused.len(),
        acked.refused
    );
    for door in &c.doors {
        // Every operation final, the same through every replica, no step twice.
        for op in &acked.ops {
            let a = door.rest("GET", op, None);
            assert_eq!(a.status, 200, "{op} via {}: {}", door.base, a.body);
            let status = check_operation(&a.body);
            assert_eq!(status, "SUCCEEDED", "{op}: {}", a.body);
        }
        // Versions: every acknowledged one listed (unless deleted), numbers unique.
        for (image, (_, versions)) in &acked.images {
            let list = door.rest("GET", &format!("/images/{image}/versions?size=100"), None);
            assert_eq!(list.status, 200, "{}", list.body);
            let content = list.body["content"].as_array().cloned().unwrap_or_default();
            let ids: BTreeSet<String> = content
                .iter()
                .filter_map(|v| v["id"].as_str().map(str::to_owned))
                .collect();
            let names: Vec<String> = content
                .iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect();
            let unique: BTreeSet<&String> = names.iter().collect();
            assert_eq!(
                unique.len(),
                names.len(),
                "duplicate version numbers: {names:?}"
            );
            let expected: BTreeSet<String> = versions
                .difference(&acked.deleted_versions)
                .cloned()
                .collect();
            assert_eq!(ids, expected, "versions of {image} via {}", door.base);
            assert_eq!(list.body["totalElements"], expected.len());
            let img = door.rest("GET", &format!("/images/{image}"), None);
            assert_eq!(img.body["versionCount"], expected.len(), "{}", img.body);
            for v in &acked.deleted_versions {
                if versions.contains(v) {
                    let gone = door.rest("GET", &format!("/images/{image}/versions/{v}"), None);
                    assert_eq!(gone.status, 404, "deleted version: {}", gone.body);
                }
            }
        }
        // Counts reconcile: REST lists the REST images and the RPC captures.
        let all = door.rest("GET", "/images?size=100", None);
        let listed: BTreeSet<String> = all.body["content"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect();
        let expected: BTreeSet<String> = acked
            .images
            .keys()
            .chain(acked.captures.iter())
            .cloned()
            .collect();
        assert_eq!(listed, expected, "image list via {}", door.base);
        assert_eq!(all.body["totalElements"], expected.len());
        // The RPC door sees every capture, AVAILABLE.
        let list = door.rpc("ListImage", &[("PageSize", "100")], c.now());
        assert_eq!(list.status, 200, "{}", list.body);
        for id in &acked.captures {
            let found = list.body["Data"]
                .as_array()
                .and_then(|d| d.iter().find(|i| i["ImageId"] == id.as_str()).cloned())
                .unwrap_or_else(|| panic!("capture {id} not listed: {}", list.body));
            assert_eq!(found["Status"], "AVAILABLE", "{found}");
        }
    }
}

/// Two replicas deleting the same version at once: one delete is accepted, the other is
/// refused (as a second delete is when sent after the first), and one delete operation runs.
#[test]
fn racing_deletes_of_one_version_start_one_operation() {
    let c = Cluster::start();
    let mut doubles = Vec::new();
    for i in 0..3 {
        let created = c.door(i).rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(sig_body(&format!("del-{i}"))),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let (image, _) = first_version(&created);
        let added = c.door(i).rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(add_body()),
        );
        assert_eq!(added.status, 201, "{}", added.body);
        let version = added.str("versionId");
        for _ in 0..20 {
            if status(&c, &image, &version) == "AVAILABLE" {
                break;
            }
            c.advance(3);
            c.tick_all();
        }
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (1..3)
                .map(|r| {
                    let (c, image, version) = (&c, &image, &version);
                    s.spawn(move || {
                        c.door(r).rest(
                            "DELETE",
                            &format!("/images/{image}/versions/{version}"),
                            None,
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("deleter")).collect()
        });
        let accepted = answers.iter().filter(|a| a.status == 202).count();
        if accepted != 1 {
            doubles.push(format!(
                "{image}/{version}: {:?}",
                answers
                    .iter()
                    .map(|a| (a.status, a.header("operation-location").map(str::to_owned)))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        doubles.is_empty(),
        "racing deletes both accepted: {doubles:?}"
    );
}
