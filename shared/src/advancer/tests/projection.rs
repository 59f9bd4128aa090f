//! Every kind end to end through ticks: what its states show on versions, assets and image.

use super::*;

#[test]
fn a_granted_copy_becomes_available_within_a_minute() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (id, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    assert_eq!(op(&Store::new(&kv, &env), &id).status, OpStatus::Pending);
    let took = settle(&kv, &env, &s, &id);
    assert!(took < 30_000, "took {took} ms");
    let o = op(&Store::new(&kv, &env), &id);
    assert_eq!(o.status, OpStatus::Succeeded);
    assert_no_transition_twice(&o);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(v.status, VersionStatus::Available);
    assert_eq!(v.state, VersionState::Published);
    let shown: Vec<_> = v
        .status_history
        .iter()
        .map(|e| (e.status, e.asset_status))
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                VersionStatus::ReplicationInProgress,
                Some(AssetStatus::Replicating)
            ),
            (
                VersionStatus::ValidationInProgress,
                Some(AssetStatus::ValidationInProgress)
            ),
            (VersionStatus::Available, Some(AssetStatus::Available)),
        ]
    );
    assert!(v.allowed_actions.contains(&"CLONE".to_owned()));
    assert_eq!(
        asset(&Store::new(&kv, &env), &v.asset_ids[0]).status,
        AssetStatus::Available
    );
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::Available
    );
}

/// An image with thousands of versions: a transition of one of them reads that version
/// (and any without a recorded status), never the others, whose recorded statuses still
/// count towards the image's status.
#[test]
fn a_transition_reads_its_own_version_not_every_version_of_the_image() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (id, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    // 2 000 older versions with recorded statuses but no readable record: had a refresh
    // read them, they would no longer count.
    let older: Vec<String> = (0..2000).map(|i| format!("ver-old-{i}")).collect();
    Store::new(&kv, &env)
        .update::<Image, ()>(&keys::image(ORG, &img), |i| {
            let mut i = i.clone();
            for o in &older {
                i.version_statuses.insert(o.clone(), VersionStatus::Failed);
            }
            let mut ids = older.clone();
            ids.extend(i.version_ids.iter().cloned());
            i.version_ids = ids;
            Change::Write(i)
        })
        .unwrap();
    // Before the new version is done, the failed older ones make the image IN_PROGRESS,
    // not FAILED and not PENDING.
    for _ in 0..60 {
        if version(&Store::new(&kv, &env), &ver).unwrap().status != VersionStatus::Pending {
            break;
        }
        env.advance_ms(1000);
        tick(&Store::new(&kv, &env), &s, s.tick_cap);
    }
    let mid = image(&Store::new(&kv, &env), &img).unwrap();
    assert_eq!(mid.status, ImageStatus::InProgress);
    assert_eq!(mid.version_statuses.len(), 2001);
    settle(&kv, &env, &s, &id);
    let done = image(&Store::new(&kv, &env), &img).unwrap();
    assert_eq!(done.status, ImageStatus::Available);
    assert_eq!(done.version_statuses.len(), 2001);
    assert_eq!(
        done.version_statuses.get(&ver),
        Some(&VersionStatus::Available)
    );
}

#[test]
fn a_copy_without_access_fails_in_the_background_with_an_error_code() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-other"]);
    let (id, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    settle(&kv, &env, &s, &id);
    let o = op(&Store::new(&kv, &env), &id);
    assert_eq!(o.status, OpStatus::Failed);
    assert_eq!(o.attempt, s.max_attempts);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(v.status, VersionStatus::Failed);
    let a = asset(&Store::new(&kv, &env), &v.asset_ids[0]);
    assert_eq!(a.status, AssetStatus::ReplicationFailed);
    assert_eq!(a.error_code.as_deref(), Some("SOURCE_IMAGE_ACCESS_DENIED"));
    assert_eq!(a.errors_history.len() as u32, s.max_attempts);
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::Failed
    );
}

#[test]
fn retry_pending_shows_on_the_asset_while_waiting() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let (id, _, ver, _) =
        start_on_new_version(&Store::new(&kv, &env), &s, OpKind::ImportVm, "vm-x", 0);
    // No such VM: the first step fails, then waits for its retry.
    let mut seen_pending = false;
    for _ in 0..30 {
        env.advance_ms(1000);
        tick(&Store::new(&kv, &env), &s, 10);
        let v = version(&Store::new(&kv, &env), &ver).unwrap();
        let a = asset(&Store::new(&kv, &env), &v.asset_ids[0]);
        seen_pending |= a.status == AssetStatus::ImportRetryPending;
        if op(&Store::new(&kv, &env), &id).status.is_terminal() {
            break;
        }
    }
    assert!(seen_pending);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(
        asset(&Store::new(&kv, &env), &v.asset_ids[0])
            .error_code
            .as_deref(),
        Some("VM_NOT_FOUND")
    );
}

#[test]
fn import_ends_import_complete_and_image_follows() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    Store::new(&kv, &env)
        .put_new(
            &keys::vm(ORG, "vm-1"),
            &Vm {
                id: "vm-1".into(),
                provider_instance_id: Some("pi-1".into()),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
            },
        )
        .unwrap();
    let (id, img, ver, _) =
        start_on_new_version(&Store::new(&kv, &env), &s, OpKind::ImportVm, "vm-1", 0);
    // Due after one step, read once its bucket ended and the skew allowance passed.
    env.advance_ms(s.step_ms as i64 + s.bucket_ms as i64 + s.skew_ms as i64);
    tick(&Store::new(&kv, &env), &s, 10);
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::InProgress
    );
    settle(&kv, &env, &s, &id);
    assert_eq!(
        version(&Store::new(&kv, &env), &ver).unwrap().status,
        VersionStatus::ImportComplete
    );
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::ImportComplete
    );
}

#[test]
fn publish_with_a_failing_replica_is_partially_available() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let (id, img, ver, replicas) =
        start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Publish, "vm-1", 2);
    let sim = Simulation {
        failing_steps: vec![FailRule {
            source_id: "vm-1".into(),
            step: "replicating".into(),
            attempts: None,
            subject: Some(replicas[1].clone()),
            code: Some("REPLICA_QUOTA".into()),
            stall: false,
        }],
        ..Simulation::default()
    };
    Store::new(&kv, &env)
        .put_new(&keys::simulation(), &sim)
        .unwrap();
    settle(&kv, &env, &s, &id);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(v.status, VersionStatus::PartiallyAvailable);
    assert_eq!(v.state, VersionState::PartiallyPublished);
    assert_eq!(
        asset(&Store::new(&kv, &env), &replicas[0]).status,
        AssetStatus::Available
    );
    let failed = asset(&Store::new(&kv, &env), &replicas[1]);
    assert_eq!(failed.status, AssetStatus::ReplicationFailed);
    assert_eq!(failed.error_code.as_deref(), Some("REPLICA_QUOTA"));
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::PartiallyAvailable
    );
}

#[test]
fn a_stalled_step_times_out() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let sim = Simulation {
        failing_steps: vec![FailRule {
            source_id: "gal-1".into(),
            step: "replicating".into(),
            attempts: None,
            subject: None,
            code: None,
            stall: true,
        }],
        max_attempts: Some(1),
        step_timeout_ms: Some(10_000),
        ..Simulation::default()
    };
    Store::new(&kv, &env)
        .put_new(&keys::simulation(), &sim)
        .unwrap();
    let (id, _, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    settle(&kv, &env, &s, &id);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    let a = asset(&Store::new(&kv, &env), &v.asset_ids[0]);
    assert_eq!(a.status, AssetStatus::ReplicationFailedTimeout);
    assert_eq!(v.status, VersionStatus::Failed);
}

#[test]
fn deleting_the_last_version_takes_the_image_with_it() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let (id, img, ver, _) = start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
    let asset_id = version(&Store::new(&kv, &env), &ver).unwrap().asset_ids[0].clone();
    settle(&kv, &env, &s, &id);
    assert_eq!(op(&Store::new(&kv, &env), &id).status, OpStatus::Succeeded);
    assert!(version(&Store::new(&kv, &env), &ver).is_none());
    assert!(image(&Store::new(&kv, &env), &img).is_none());
    assert!(
        Store::new(&kv, &env)
            .get::<Asset>(&keys::asset(ORG, &asset_id))
            .unwrap()
            .is_none()
    );
}

#[test]
fn deleting_one_of_two_versions_keeps_the_image() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let (id, img, ver, _) = start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
    // A second, available version of the same image.
    let mut other = version(&Store::new(&kv, &env), &ver).unwrap();
    other.id = "ver-other".into();
    other.status = VersionStatus::Available;
    other.operation_id = None;
    Store::new(&kv, &env)
        .put_new(&keys::version(ORG, "ver-other"), &other)
        .unwrap();
    Store::new(&kv, &env)
        .update::<Image, ()>(&keys::image(ORG, &img), |i| {
            let mut i = i.clone();
            i.version_ids.push("ver-other".into());
            Change::Write(i)
        })
        .unwrap();
    settle(&kv, &env, &s, &id);
    let i = image(&Store::new(&kv, &env), &img).unwrap();
    assert_eq!(i.version_ids, vec!["ver-other".to_owned()]);
    assert_eq!(i.version_count, 1);
    assert_eq!(i.status, ImageStatus::Available);
}

#[test]
fn deleting_a_whole_image_shows_deleting_then_removes_everything() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (copy, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    settle(&kv, &env, &s, &copy);
    let asset_id = version(&Store::new(&kv, &env), &ver).unwrap().asset_ids[0].clone();
    let target = Target {
        image_id: img.clone(),
        ..Target::default()
    };
    let id = ops::new_op_id(&Store::new(&kv, &env));
    ops::start(&Store::new(&kv, &env), &s, &id, ORG, OpKind::Delete, target).unwrap();
    env.advance_ms((s.step_ms + s.bucket_ms + s.skew_ms) as i64);
    tick(&Store::new(&kv, &env), &s, 10);
    let o = op(&Store::new(&kv, &env), &id);
    if !o.status.is_terminal() {
        assert_eq!(
            image(&Store::new(&kv, &env), &img).unwrap().status,
            ImageStatus::Deleting
        );
    }
    settle(&kv, &env, &s, &id);
    assert_eq!(op(&Store::new(&kv, &env), &id).status, OpStatus::Succeeded);
    assert!(image(&Store::new(&kv, &env), &img).is_none());
    assert!(version(&Store::new(&kv, &env), &ver).is_none());
    assert!(
        Store::new(&kv, &env)
            .get::<Asset>(&keys::asset(ORG, &asset_id))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_failing_whole_image_delete_shows_deleting_while_it_retries() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (copy, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    settle(&kv, &env, &s, &copy);
    // Listed in the org's index, as every image made by a door is.
    catalog::listing::index_image(&Store::new(&kv, &env), ORG, &img).unwrap();
    let listed = |hide_deleting| {
        catalog::index::View::open(&Store::new(&kv, &env), ORG, hide_deleting)
            .unwrap()
            .total
    };
    assert_eq!((listed(false), listed(true)), (1, 1));
    let sim = Simulation {
        failing_steps: vec![FailRule {
            source_id: "img-doomed".into(),
            step: "deleting".into(),
            attempts: None,
            subject: None,
            code: None,
            stall: false,
        }],
        ..Simulation::default()
    };
    Store::new(&kv, &env)
        .put_new(&keys::simulation(), &sim)
        .unwrap();
    let target = Target {
        image_id: img.clone(),
        source_id: Some("img-doomed".into()),
        ..Target::default()
    };
    let id = ops::new_op_id(&Store::new(&kv, &env));
    ops::start(&Store::new(&kv, &env), &s, &id, ORG, OpKind::Delete, target).unwrap();
    env.advance_ms((s.step_ms + s.bucket_ms + s.skew_ms) as i64);
    tick(&Store::new(&kv, &env), &s, 10);
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::Deleting
    );
    // Being deleted: the RPC door's listing neither shows nor counts it.
    assert_eq!((listed(false), listed(true)), (1, 0));
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(
        asset(&Store::new(&kv, &env), &v.asset_ids[0]).status,
        AssetStatus::DeletionRetryPending
    );
    settle(&kv, &env, &s, &id);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(v.status, VersionStatus::Failed);
    assert_eq!(
        asset(&Store::new(&kv, &env), &v.asset_ids[0]).status,
        AssetStatus::DeletionFailed
    );
    assert_eq!(
        image(&Store::new(&kv, &env), &img).unwrap().status,
        ImageStatus::Failed
    );
    // The delete failed: the image is listed and counted again.
    assert_eq!((listed(false), listed(true)), (1, 1));
}

#[test]
fn distribute_moves_each_region_to_available() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let (id, _, ver, _) =
        start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Distribute, "", 0);
    env.advance_ms(s.step_ms as i64 + s.bucket_ms as i64 + s.skew_ms as i64);
    tick(&Store::new(&kv, &env), &s, 10);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert!(
        v.regions
            .iter()
            .all(|r| r.status == catalog::RegionStatus::Distributing && r.progress > 0)
    );
    settle(&kv, &env, &s, &id);
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(v.regions.len(), 2);
    assert!(
        v.regions
            .iter()
            .all(|r| r.status == catalog::RegionStatus::Available && r.progress == 100)
    );
    assert_eq!(
        v.status,
        VersionStatus::Available,
        "the version is untouched"
    );
}

/// A store whose image records fail while `down` is set (reads and swaps alike).
struct ImagesDown<'a> {
    inner: &'a MemoryKv,
    down: std::cell::Cell<bool>,
}

impl ImagesDown<'_> {
    fn check(&self, key: &str) -> Result<(), StoreError> {
        if self.down.get() && key.contains("/image/") {
            return Err(StoreError::Unavailable("images down".into()));
        }
        Ok(())
    }
}

impl KeyValue for ImagesDown<'_> {
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
        self.inner.increment(k, d)
    }
    fn compare_and_swap(
        &self,
        k: &str,
        e: &[u8],
        n: &[u8],
    ) -> Result<crate::store::CasOutcome, StoreError> {
        self.check(k)?;
        self.inner.compare_and_swap(k, e, n)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.inner.set_many(entries)
    }
}

/// Ticks (a second apart) until operation `id` makes its next transition; the keys of the
/// image records that tick touched.
fn next_transition(kv: &dyn KeyValue, env: &FakeEnv, s: &Settings, id: &str) -> Vec<String> {
    let seq = op(&Store::new(kv, env), id).seq;
    for _ in 0..60 {
        env.advance_ms(1000);
        let touched = std::cell::RefCell::new(Vec::new());
        let h = Hooked {
            inner: kv,
            before: |_: Call, k: &str| {
                if k.contains("/image/") {
                    touched.borrow_mut().push(k.to_owned());
                }
            },
        };
        tick(&Store::new(&h, env), s, s.tick_cap);
        if op(&Store::new(kv, env), id).seq != seq {
            return touched.into_inner();
        }
    }
    panic!("operation {id} did not move");
}

/// A copy's move from replicating to validating changes nothing the image shows, so it
/// neither reads nor writes the image; the moves before and after it refresh the image.
#[test]
fn a_move_the_image_cannot_see_leaves_the_image_alone() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (id, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    let st = Store::new(&kv, &env);
    let steps = [
        (
            VersionStatus::ReplicationInProgress,
            ImageStatus::InProgress,
            true,
        ),
        (
            VersionStatus::ValidationInProgress,
            ImageStatus::InProgress,
            false,
        ),
        (VersionStatus::Available, ImageStatus::Available, true),
    ];
    for (shows, image_shows, refreshed) in steps {
        let touched = next_transition(&kv, &env, &s, &id);
        assert_eq!(version(&st, &ver).unwrap().status, shows);
        assert_eq!(image(&st, &img).unwrap().status, image_shows, "{shows:?}");
        assert_eq!(!touched.is_empty(), refreshed, "{shows:?}: {touched:?}");
    }
    assert_eq!(op(&st, &id).status, OpStatus::Succeeded);
}

/// A transition whose image refresh failed is repeated, and the repeat refreshes the image
/// although the version already shows the status it writes.
#[test]
fn a_repeated_transition_refreshes_the_image_it_missed() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (id, img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    let st = Store::new(&kv, &env);
    next_transition(&kv, &env, &s, &id);
    next_transition(&kv, &env, &s, &id);
    let down = ImagesDown {
        inner: &kv,
        down: std::cell::Cell::new(true),
    };
    // The last move writes the version, then fails at the image: the operation stays.
    let seq = op(&st, &id).seq;
    for _ in 0..60 {
        if version(&st, &ver).unwrap().status == VersionStatus::Available {
            break;
        }
        env.advance_ms(1000);
        tick(&Store::new(&down, &env), &s, s.tick_cap);
    }
    assert_eq!(version(&st, &ver).unwrap().status, VersionStatus::Available);
    assert_eq!(op(&st, &id).seq, seq);
    assert_eq!(image(&st, &img).unwrap().status, ImageStatus::InProgress);
    down.down.set(false);
    let touched = next_transition(&down, &env, &s, &id);
    assert!(!touched.is_empty());
    assert_eq!(image(&st, &img).unwrap().status, ImageStatus::Available);
    assert_eq!(op(&st, &id).status, OpStatus::Succeeded);
}
