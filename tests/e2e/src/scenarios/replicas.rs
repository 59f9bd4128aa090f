//! Scale-out: several instances of the app's `spin.toml` on one real `redis-server`, all
//! running the advancer, with mixed traffic through both doors and every replica.
//! Afterwards nothing is lost, duplicated or done twice.
//!
//! On our host: three apps in spin-compat mode (the real runtime's Redis quirk R2: every
//! swap answers `cas-failed`) on one shared frozen time, ticked together. On real Spin:
//! `spin up` instances, each with its own cron trigger firing on the wall clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use crate::bodies::{add_body, sig_body, vm_body};
use crate::real_spin::{RealSpin, SpinStore};
use crate::{
    Answer, Door, ORG, OTHER_ORG, REAL_DEADLINE, REAL_POLL, Target, assert_clean_error,
    check_operation, first_version, http_client, operation_path, real_options, redis_kv, seed_at,
    start_app_with,
};
use serde_json::json;
use spin_local_host::KvSetup;
use spin_local_kv::testing::RedisServer;

/// Replicas on our host.
pub const LOCAL_REPLICAS: usize = 3;
const FINAL: [&str; 3] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/// Apps on one Redis. Fields drop in order: the apps before the server.
pub struct Cluster {
    targets: Vec<Target>,
    doors: Vec<Door>,
    _store: SharedStore,
}

/// `replicas` real `spin up` instances of `opts`, started together: each compiles the
/// components if the cache is cold.
fn start_together(replicas: usize, opts: &crate::real_spin::SpinOptions) -> Vec<Target> {
    std::thread::scope(|s| {
        let starting: Vec<_> = (0..replicas)
            .map(|_| s.spawn(|| RealSpin::start(opts)))
            .collect();
        starting
            .into_iter()
            .map(|h| match h.join().expect("starter thread") {
                Ok(spin) => Target::Real(spin),
                Err(e) => panic!("spin up did not start ({e:#})"),
            })
            .collect()
    })
}

/// What the replicas share: a Redis server, or a state directory with one SQLite file
/// (removed on drop).
enum SharedStore {
    /// Kept only to outlive the apps (dropped after them).
    Redis {
        _server: RedisServer,
    },
    Sqlite(PathBuf),
    /// A local DynamoDB (moto), kept only to outlive the apps.
    Dynamo {
        _server: crate::moto::MotoServer,
    },
}

impl Drop for SharedStore {
    fn drop(&mut self) {
        if let SharedStore::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Cluster {
    /// [`LOCAL_REPLICAS`] apps on our host, in spin-compat mode, clocks frozen together.
    pub fn local() -> Cluster {
        Cluster::local_with(&[])
    }

    /// [`Cluster::local`] with Spin variables set in every replica (e.g. `due_shards`).
    pub fn local_with(variables: &[(&str, &str)]) -> Cluster {
        let redis = RedisServer::start();
        let targets = (0..LOCAL_REPLICAS)
            .map(|_| Target::Local(start_app_with(redis_kv(&redis), true, None, variables)))
            .collect();
        Cluster::seeded(targets, SharedStore::Redis { _server: redis })
    }

    /// [`LOCAL_REPLICAS`] apps on our host on one SQLite file (as processes of one machine
    /// share Spin's default store), in spin-compat mode, with Spin variables set.
    pub fn local_sqlite_with(variables: &[(&str, &str)]) -> Cluster {
        let dir = crate::real_spin::fresh_dir("catalog-e2e-cluster").expect("a state dir");
        let targets = (0..LOCAL_REPLICAS)
            .map(|_| {
                Target::Local(start_app_with(
                    KvSetup::RuntimeConfig,
                    true,
                    Some(dir.clone()),
                    variables,
                ))
            })
            .collect();
        Cluster::seeded(targets, SharedStore::Sqlite(dir))
    }

    /// `replicas` real `spin up` instances on one new `redis-server`, each with its own
    /// cron trigger, with the e2e timings.
    pub fn real(replicas: usize) -> Cluster {
        Cluster::real_with(replicas, &[])
    }

    /// [`Cluster::real`] with Spin variables set in every replica (e.g. `due_shards`).
    pub fn real_with(replicas: usize, variables: &[(&str, &str)]) -> Cluster {
        Cluster::real_driven(replicas, variables, None)
    }

    /// `replicas` real `spin up` instances, each with its own cron trigger, on one local
    /// DynamoDB (moto; R12), batch reads on (the default), with Spin variables set.
    pub fn real_dynamo(replicas: usize, variables: &[(&str, &str)]) -> Cluster {
        RealSpin::require_binary();
        let moto = crate::moto::MotoServer::start();
        let mut opts = real_options();
        for (name, value) in variables {
            opts = opts.variable(name, value);
        }
        opts.store = SpinStore::Dynamo {
            endpoint: moto.endpoint.clone(),
        };
        let targets = start_together(replicas, &opts);
        Cluster::seeded(targets, SharedStore::Dynamo { _server: moto })
    }

    /// [`Cluster::real_with`]; with `Some(pace)`, the replicas run no cron trigger and an
    /// external scheduler calls each one's tick route at that pace (a platform without cron).
    pub fn real_driven(
        replicas: usize,
        variables: &[(&str, &str)],
        without_cron: Option<crate::real_spin::Pace>,
    ) -> Cluster {
        RealSpin::require_binary();
        let redis = RedisServer::start();
        let mut opts = real_options();
        opts.without_cron = without_cron;
        for (name, value) in variables {
            opts = opts.variable(name, value);
        }
        opts.store = SpinStore::Redis {
            url: redis.url.clone(),
        };
        let targets = start_together(replicas, &opts);
        Cluster::seeded(targets, SharedStore::Redis { _server: redis })
    }

    fn seeded(targets: Vec<Target>, store: SharedStore) -> Cluster {
        let http = http_client();
        // Seeded through one replica, used through all: the store is shared.
        let creds = seed_at(&http, &targets[0].base_url(), ORG);
        seed_at(&http, &targets[1 % targets.len()].base_url(), OTHER_ORG);
        let doors = targets
            .iter()
            .map(|t| Door::new(t.base_url(), creds.clone()))
            .collect();
        Cluster {
            targets,
            doors,
            _store: store,
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    fn now(&self) -> u64 {
        self.targets[0].now_secs()
    }

    /// Moves every replica's clock to the same instant, `secs` later (real time just runs).
    fn advance(&self, secs: u64) {
        if self.targets[0].is_real() {
            return;
        }
        let t = self.now() + secs;
        for a in &self.targets {
            a.local().clock().set_unix(t);
        }
    }

    /// Fires the advancer of every replica at once (one thread each); on real Spin their
    /// crons fire by themselves, so this only lets a moment pass.
    fn tick_all(&self) {
        if self.targets[0].is_real() {
            std::thread::sleep(REAL_POLL);
            return;
        }
        std::thread::scope(|s| {
            for (i, t) in self.targets.iter().enumerate() {
                s.spawn(move || {
                    t.local()
                        .fire_cron("advancer")
                        .unwrap_or_else(|e| panic!("replica {i}: tick failed: {e}"))
                });
            }
        });
    }

    /// Calls `done` until it holds, with 3 (moved) seconds and a tick of every replica in
    /// between, at most `max_rounds` times; on real Spin until twice [`REAL_DEADLINE`] (a
    /// cluster has more to do). Returns whether it held.
    fn until(&self, max_rounds: u32, mut done: impl FnMut() -> bool) -> bool {
        if self.targets[0].is_real() {
            let deadline = Instant::now() + 2 * REAL_DEADLINE;
            loop {
                if done() {
                    return true;
                }
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(REAL_POLL);
            }
        }
        for _ in 0..max_rounds {
            if done() {
                return true;
            }
            self.advance(3);
            self.tick_all();
        }
        done()
    }

    pub fn door(&self, i: usize) -> &Door {
        &self.doors[i % self.doors.len()]
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

pub fn three_replicas_on_one_store_lose_and_repeat_nothing(c: &Cluster) {
    let acked = Mutex::new(Acked::default());

    // 1. Images of both source types, created through different replicas at once.
    let created: Vec<(String, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let acked = &acked;
                s.spawn(move || {
                    let (body, action, kind) = if i % 2 == 0 {
                        (sig_body(&format!("sig-{i}")), "copy-existing-image", "SIG")
                    } else {
                        (vm_body(&format!("vm-{i}")), "import-custom-vm", "VM")
                    };
                    let a = c
                        .door(i)
                        .rest("POST", &format!("/images?action={action}"), Some(body));
                    assert_eq!(
                        a.status,
                        201,
                        "create via replica {}: {}",
                        i % c.doors.len(),
                        a.body
                    );
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
            let (acked, sig) = (&acked, &sig);
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
        for r in 0..c.doors.len() {
            let acked = &acked;
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
    let imported = c.until(39, || {
        vms.iter()
            .all(|(i, v)| status(c, i, v) == "IMPORT_COMPLETE")
    });
    assert!(imported, "imports did not complete");
    for (image, version) in &vms {
        let wins: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|r| {
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
    settle(c, &acked);
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
                    let victim = &victim;
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
    settle(c, &acked);
    verify(c, &lock(&acked));
}

/// Ticks every replica at once until every acknowledged operation is final.
fn settle(c: &Cluster, acked: &Mutex<Acked>) {
    let ops: Vec<String> = lock(acked).ops.iter().cloned().collect();
    let settled = c.until(79, || {
        ops.iter().all(|op| {
            let a = c.door(0).rest("GET", op, None);
            FINAL.contains(&a.str("status").as_str())
        })
    });
    assert!(settled, "operations still open after 80 rounds of ticks");
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
pub fn racing_deletes_of_one_version_start_one_operation(c: &Cluster) {
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
        c.until(20, || status(c, &image, &version) == "AVAILABLE");
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (1..3)
                .map(|r| {
                    let (image, version) = (&image, &version);
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
