//! The advancer: one cron tick reads the due index from its cursor and advances each due
//! operation by exactly one transition (lifecycle.md "The advancer").
//!
//! Order of writes for one transition, chosen so that a crash or a racing replica never loses
//! nor repeats a transition:
//! 1. compute the next state from the stored operation (the provider is deterministic, so a
//!    racing advancer computes the same transition);
//! 2. project it onto version, assets and image (idempotent: guarded by the operation's `seq`);
//! 3. schedule the next due entry;
//! 4. compare-and-swap the operation, re-checking the `seq` it started from: a lost race is a
//!    no-op, never a blind retry (the loser re-projects the winner's state).

use crate::catalog::{self, Asset, AssetError, Image, RegionDistribution, StatusEntry, Version};
use crate::due::{self, Cursor, DueEntry, DueKind};
use crate::keys;
use crate::ops::{self, OpKind, OpStatus, Operation, Settings};
use crate::records::Store;
use crate::records::{self, Change, UpdateError};
use crate::sim::{Provider, Simulation, Simulator};
use crate::store::StoreError;
use crate::vocab::{ImageStatus, VersionStatus};

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Operations moved by one transition.
    pub advanced: u32,
    /// Entries with nothing to do (stale, replayed, not due, or a lost race).
    pub skipped: u32,
    /// Purge entries carried out.
    pub purged: u32,
    /// Buckets passed.
    pub buckets: u32,
    /// The tick stopped at its cap or bucket limit: more work waits.
    pub more: bool,
    /// A store error stopped the tick (the cursor stays before the failed entry).
    pub error: Option<String>,
}

enum Done {
    Advanced,
    Skipped,
    Purged,
}

/// One tick: processes at most `cap` due entries. Never panics; a store error ends the tick
/// early and is reported (the entry is retried next tick).
pub fn tick(st: &Store<'_>, settings: &Settings, cap: u32) -> TickReport {
    let mut report = TickReport::default();
    if let Err(e) = run(st, settings, cap, &mut report) {
        report.error = Some(e.to_string());
    }
    report
}

fn run(
    st: &Store<'_>,
    settings: &Settings,
    cap: u32,
    report: &mut TickReport,
) -> Result<(), StoreError> {
    let now = st.now_ms();
    let cursor = match st.get::<Cursor>(&keys::due_cursor())? {
        Some(c) => c.value,
        None => {
            // Normally created by the first `schedule`. If its creator died between election
            // and write, create it here: a blind write of an *earlier* position is safe (it
            // only makes the advancer look at already-processed buckets again).
            let start = due::bucket_of(settings, now.saturating_sub(due::CURSOR_LOOKBACK_MS));
            st.put_new(
                &keys::due_cursor(),
                &Cursor {
                    bucket: start,
                    done: 0,
                },
            )?;
            return Ok(());
        }
    };
    let last = due::last_readable_bucket(settings, now);
    let mut pos = cursor;
    let mut processed: u32 = 0;
    // Loaded at the first due operation only: an idle tick does not pay for it.
    let mut sim: Option<(Simulation, Settings)> = None;
    let mut failure: Option<StoreError> = None;

    'buckets: while pos.bucket <= last {
        if report.buckets >= settings.max_buckets_per_tick || processed >= cap {
            report.more = true;
            break;
        }
        let count = st.counter_read(&keys::due_count(pos.bucket))?;
        if pos.done < count {
            let room = i64::from(cap - processed);
            let upto = count.min(pos.done + room);
            let slots: Vec<String> = (pos.done + 1..=upto)
                .map(|n| keys::due_slot(pos.bucket, n))
                .collect();
            let raw = match st.retry(|| st.kv().get_many(&slots)) {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for (slot_key, bytes) in slots.iter().zip(raw) {
                let outcome = match bytes.map(|b| records::decode::<DueEntry>(slot_key, &b)) {
                    // Elected but not (yet) written, or already processed and deleted.
                    None => Ok(Done::Skipped),
                    Some(Ok(e)) => process(st, settings, &mut sim, &e.value),
                    Some(Err(e)) => Err(e),
                };
                let outcome = match outcome {
                    // One unreadable record must not stop the queue forever: skip it.
                    Err(e @ StoreError::Corrupt(_)) => {
                        report.error = Some(e.to_string());
                        Ok(Done::Skipped)
                    }
                    other => other,
                };
                match outcome {
                    Ok(d) => {
                        match d {
                            Done::Advanced => report.advanced += 1,
                            Done::Skipped => report.skipped += 1,
                            Done::Purged => report.purged += 1,
                        }
                        // The slot served its purpose; failing to delete it only leaves garbage.
                        let _ = st.delete(slot_key);
                        pos.done += 1;
                        processed += 1;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'buckets;
                    }
                }
            }
            if pos.done < count {
                report.more = true;
                break;
            }
        }
        // Bucket finished: its counter is no longer needed.
        let _ = st.delete(&keys::due_count(pos.bucket));
        pos = Cursor {
            bucket: pos.bucket + 1,
            done: 0,
        };
        report.buckets += 1;
    }

    if pos != cursor {
        // Only ever forward: a slower replica must not move the cursor back.
        let target = pos;
        let r = st.update::<Cursor, ()>(&keys::due_cursor(), |c| {
            if (target.bucket, target.done) > (c.bucket, c.done) {
                Change::Write(target)
            } else {
                Change::Unchanged
            }
        });
        match r {
            Ok(_) | Err(UpdateError::Contended) | Err(UpdateError::NotFound) => {}
            Err(UpdateError::Store(e)) => return Err(e),
            Err(UpdateError::Aborted(())) => {}
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn process(
    st: &Store<'_>,
    settings: &Settings,
    sim: &mut Option<(Simulation, Settings)>,
    entry: &DueEntry,
) -> Result<Done, StoreError> {
    match &entry.kind {
        DueKind::Purge { keys } => {
            for k in keys {
                st.delete(k)?;
            }
            Ok(Done::Purged)
        }
        DueKind::Operation { org, id } => {
            if sim.is_none() {
                let s = Simulation::load(st)?;
                let eff = s.apply(settings);
                *sim = Some((s, eff));
            }
            let Some((simulation, effective)) = sim.as_ref() else {
                return Ok(Done::Skipped);
            };
            let provider = Simulator {
                st: *st,
                sim: simulation.clone(),
            };
            if advance_one(st, effective, &provider, org, id)? {
                Ok(Done::Advanced)
            } else {
                Ok(Done::Skipped)
            }
        }
    }
}

/// Advances one operation by one transition if it is due. `Ok(false)`: nothing to do
/// (settled, not due, gone, or another advancer did it).
pub fn advance_one(
    st: &Store<'_>,
    settings: &Settings,
    provider: &dyn Provider,
    org: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let key = keys::operation(org, id);
    let Some(stored) = st.get::<Operation>(&key)? else {
        return Ok(false);
    };
    let op = stored.value;
    let now = st.now_ms();
    if op.status.is_terminal() || op.due_at.0 > now {
        return Ok(false);
    }
    let outcome = provider.outcome(&op)?;
    let Some(next) = ops::transition(&op, settings, now, || outcome) else {
        return Ok(false);
    };
    project(st, &next)?;
    if !next.status.is_terminal() {
        due::schedule(
            st,
            settings,
            next.due_at.0,
            &DueKind::Operation {
                org: org.to_owned(),
                id: id.to_owned(),
            },
        )?;
    }
    let from = (op.seq, op.status);
    let r = st.update::<Operation, ()>(&key, |cur| {
        // Re-check the state this transition starts from: anything else means another
        // advancer already moved it.
        if (cur.seq, cur.status) == from {
            Change::Write(next.clone())
        } else {
            Change::Abort(())
        }
    });
    match r {
        Ok(_) => Ok(true),
        Err(UpdateError::Aborted(())) | Err(UpdateError::NotFound) => {
            // Lost the race: make sure the records show the winner's state, not ours.
            if let Some(winner) = st.get::<Operation>(&key)? {
                project(st, &winner.value)?;
            }
            Ok(false)
        }
        Err(UpdateError::Contended) => Err(StoreError::Transient(format!(
            "operation {id} too contended"
        ))),
        Err(UpdateError::Store(e)) => Err(e),
    }
}

fn store_err<E>(r: Result<impl Sized, UpdateError<E>>) -> Result<(), StoreError> {
    match r {
        Ok(_) | Err(UpdateError::NotFound) | Err(UpdateError::Aborted(_)) => Ok(()),
        Err(UpdateError::Store(e)) => Err(e),
        Err(UpdateError::Contended) => Err(StoreError::Transient("record too contended".into())),
    }
}

/// Shows `op`'s state on its version(s), assets and image. Idempotent: a record that already
/// shows a later transition of the same operation is left alone; the same transition is
/// rewritten (so a replica that lost the race converges on the winner's state).
pub fn project(st: &Store<'_>, op: &Operation) -> Result<(), StoreError> {
    let view = ops::view(op);
    let org = op.org_id.as_str();
    let image_key = keys::image(org, &op.target.image_id);
    let whole_image = op.kind == OpKind::Delete && op.target.version_id.is_none();
    let version_ids: Vec<String> = match &op.target.version_id {
        Some(v) => vec![v.clone()],
        None => match st.get::<Image>(&image_key)? {
            Some(img) => img.value.version_ids,
            None => vec![],
        },
    };

    if view.gone {
        for vid in &version_ids {
            let vkey = keys::version(org, vid);
            if let Some(v) = st.get::<Version>(&vkey)? {
                for aid in &v.value.asset_ids {
                    st.delete(&keys::asset(org, aid))?;
                }
            }
            for aid in &op.target.asset_ids {
                st.delete(&keys::asset(org, aid))?;
            }
            st.delete(&vkey)?;
        }
        let gone: Vec<String> = version_ids.clone();
        let r = st.update::<Image, ()>(&image_key, |img| {
            let mut img = img.clone();
            img.version_ids.retain(|v| !gone.contains(v));
            img.distributed_version_ids.retain(|v| !gone.contains(v));
            img.version_count = u32::try_from(img.version_ids.len()).unwrap_or(u32::MAX);
            img.updated_at = op.updated_at;
            Change::Write(img)
        });
        match r {
            Ok(img) if whole_image || img.value.version_ids.is_empty() => {
                // The last version takes its image with it.
                st.delete(&image_key)?;
            }
            Ok(_) => refresh_image(st, op, &[])?,
            other => store_err(other)?,
        }
        return Ok(());
    }

    // Copies first, then versions, then the image; the operation itself is written last
    // (by the caller). So a client never sees a version in a status its copies do not show
    // yet, and an operation's final status means every record already shows it (a version
    // may show its new status one transition before its operation does).
    let mut asset_ids: Vec<String> = op.target.asset_ids.clone();
    if whole_image {
        for vid in &version_ids {
            if let Some(v) = st.get::<Version>(&keys::version(org, vid))? {
                asset_ids.extend(v.value.asset_ids);
            }
        }
    }
    let driven = view.asset_status.map(|s| (s, view.new_error.clone()));
    for aid in &asset_ids {
        if let Some((status, err)) = &driven {
            update_asset(st, op, aid, *status, err.as_ref().map(|e| &e.0))?;
        }
    }
    for (aid, status, err) in &view.replica_statuses {
        let err = err.as_ref().filter(|_| view.new_error.is_some());
        update_asset(st, op, aid, *status, err)?;
    }
    for vid in &version_ids {
        let vkey = keys::version(org, vid);
        let r = st.update::<Version, ()>(&vkey, |v| {
            if v.operation_id.as_deref() == Some(op.id.as_str()) && v.op_seq > op.seq {
                return Change::Unchanged;
            }
            let mut v = v.clone();
            v.operation_id = Some(op.id.clone());
            v.op_seq = op.seq;
            if let Some(s) = view.version_status {
                v.status = s;
            }
            if let Some(s) = view.version_state {
                v.state = s;
            }
            let entry_asset = view.asset_status;
            let last = v.status_history.last().map(|e| (e.status, e.asset_status));
            if last != Some((v.status, entry_asset)) {
                v.status_history.push(StatusEntry {
                    status: v.status,
                    asset_status: entry_asset,
                    at: op.updated_at,
                });
            }
            v.allowed_actions = catalog::allowed_actions(v.status);
            for (region, status, progress) in &view.region_statuses {
                match v.regions.iter_mut().find(|r| &r.region_id == region) {
                    Some(r) => {
                        r.status = *status;
                        r.progress = *progress;
                        r.operation_id = Some(op.id.clone());
                    }
                    None => v.regions.push(RegionDistribution {
                        region_id: region.clone(),
                        status: *status,
                        progress: *progress,
                        operation_id: Some(op.id.clone()),
                    }),
                }
            }
            v.updated_at = op.updated_at;
            Change::Write(v)
        });
        store_err(r)?;
    }

    refresh_image(st, op, &version_ids)
}

fn update_asset(
    st: &Store<'_>,
    op: &Operation,
    id: &str,
    status: crate::vocab::AssetStatus,
    new_error: Option<&ops::OpError>,
) -> Result<(), StoreError> {
    let key = keys::asset(&op.org_id, id);
    let r = st.update::<Asset, ()>(&key, |a| {
        let same_op = a.operation_id.as_deref() == Some(op.id.as_str());
        if same_op && a.op_seq > op.seq {
            return Change::Unchanged;
        }
        let first_time = !same_op || a.op_seq < op.seq;
        let mut a = a.clone();
        a.status = status;
        if let (Some(e), true) = (new_error, first_time) {
            a.error_code = Some(e.code.clone());
            a.error_details = Some(e.message.clone());
            a.errors_history.push(AssetError {
                error_code: e.code.clone(),
                error_details: e.message.clone(),
                status,
                attempt: op.attempt,
                at: op.updated_at,
            });
        }
        if a.status == crate::vocab::AssetStatus::Available {
            a.state = Some(crate::vocab::VersionState::Published);
        }
        a.operation_id = Some(op.id.clone());
        a.op_seq = op.seq;
        a.updated_at = op.updated_at;
        Change::Write(a)
    });
    store_err(r)
}

/// Recomputes the image status from its versions' recorded statuses, after reading afresh the versions
/// `op` just changed and any without a recorded status (read inside the compare-and-swap loop, so a
/// concurrent change of another version is never overwritten with a stale status: whoever
/// changes a version refreshes after it). Never reads every version of a large image.
fn refresh_image(st: &Store<'_>, op: &Operation, touched: &[String]) -> Result<(), StoreError> {
    let org = op.org_id.as_str();
    let image_key = keys::image(org, &op.target.image_id);
    let whole_image_delete = op.kind == OpKind::Delete && op.target.version_id.is_none();
    let mut read_error: Option<StoreError> = None;
    let r = st.update::<Image, ()>(&image_key, |img| {
        let deleting = if whole_image_delete {
            !op.status.is_terminal() || op.status == OpStatus::Succeeded
        } else {
            img.status == ImageStatus::Deleting
        };
        let stale: Vec<&String> = img
            .version_ids
            .iter()
            .filter(|id| touched.contains(id) || !img.version_statuses.contains_key(*id))
            .collect();
        let keys: Vec<String> = stale.iter().map(|v| keys::version(org, v)).collect();
        let fresh = match st.get_many::<Version>(&keys) {
            Ok(v) => v,
            Err(e) => {
                read_error = Some(e);
                return Change::Abort(());
            }
        };
        let mut known = img.version_statuses.clone();
        for (id, v) in stale.into_iter().zip(fresh) {
            match v {
                Some(v) if v.value.stream_id == img.id => {
                    known.insert(id.clone(), v.value.status);
                }
                // Not (yet, or any more) stored: no status to count.
                _ => {
                    known.remove(id);
                }
            }
        }
        let listed: std::collections::HashSet<&String> = img.version_ids.iter().collect();
        known.retain(|id, _| listed.contains(id));
        let statuses: Vec<VersionStatus> = img
            .version_ids
            .iter()
            .filter_map(|id| known.get(id).copied())
            .collect();
        let status = catalog::derive_image_status(deleting, &statuses);
        if status == img.status && known == img.version_statuses {
            return Change::Unchanged;
        }
        let mut img = img.clone();
        if status != img.status {
            img.status = status;
            img.updated_at = op.updated_at;
        }
        img.version_statuses = known;
        Change::Write(img)
    });
    if let Some(e) = read_error {
        return Err(e);
    }
    store_err(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::AssetDetails;
    use crate::env::{Env, FakeEnv};
    use crate::ops::{Event, Target};
    use crate::sim::{FailRule, GalleryImage, Vm};
    use crate::store::KeyValue;
    use crate::store::MemoryKv;
    use crate::testutil::{FlakyKv, SharedEnv};

    use crate::vocab::*;

    const ORG: &str = "org1";
    const T0: i64 = 1_800_000_000_000;

    /// Writes an image with one version and one asset, like the REST service does, and starts
    /// an operation of `kind` on them. Returns the operation id.
    fn start_on_new_version(
        st: &Store<'_>,
        s: &Settings,
        kind: OpKind,
        source: &str,
        replicas: usize,
    ) -> (String, String, String, Vec<String>) {
        let now = st.now();
        let (vs, as_) = ops::initial_statuses(kind);
        let image_id = st.new_id("img-");
        let version_id = st.new_id("ver-");
        let asset_id = st.new_id("ast-");
        let op_id = ops::new_op_id(st);
        let mk_asset = |id: &str, status| Asset {
            id: id.to_owned(),
            org_id: ORG.into(),
            image_id: image_id.clone(),
            version_id: version_id.clone(),
            provider_instance_id: Some("pi-1".into()),
            provider_label: Some(ProviderLabel::Azure),
            asset_details: AssetDetails::default(),
            status,
            state: None,
            error_code: None,
            error_details: None,
            errors_history: vec![],
            created_at: now,
            updated_at: now,
            operation_id: Some(op_id.clone()),
            op_seq: 0,
        };
        let replica_ids: Vec<String> = (0..replicas).map(|_| st.new_id("ast-")).collect();
        let mut all_assets = vec![asset_id.clone()];
        all_assets.extend(replica_ids.iter().cloned());
        st.put_new(
            &keys::asset(ORG, &asset_id),
            &mk_asset(&asset_id, as_.unwrap_or(AssetStatus::ImportComplete)),
        )
        .unwrap();
        for r in &replica_ids {
            st.put_new(
                &keys::asset(ORG, r),
                &mk_asset(r, AssetStatus::PublishInProgress),
            )
            .unwrap();
        }
        let version = Version {
            id: version_id.clone(),
            stream_id: image_id.clone(),
            org_id: ORG.into(),
            name: "1.0.0".into(),
            description: None,
            os: None,
            version_type: VersionType::Major,
            version_history: vec![],
            source_type: SourceType::AzureSig,
            source_version_id: None,
            state: VersionState::NotReady,
            status: vs.unwrap_or(VersionStatus::Available),
            last_triggered_action: Some(LastTriggeredAction::Import),
            markers: vec![],
            created_at: now,
            updated_at: now,
            operation_id: Some(op_id.clone()),
            status_history: vec![],
            allowed_actions: vec![],
            asset_ids: all_assets,
            regions: vec![],
            partner_image: None,
            op_seq: 0,
        };
        st.put_new(&keys::version(ORG, &version_id), &version)
            .unwrap();
        let image = Image {
            id: image_id.clone(),
            org_id: ORG.into(),
            name: "img".into(),
            description: None,
            os: None,
            os_type: OsType::Windows,
            gpu_type: GpuType::None,
            multi_session: false,
            source_type: SourceType::AzureSig,
            source_stream_id: None,
            source_version_id: None,
            status: ImageStatus::Pending,
            markers: vec![],
            version_count: 1,
            created_at: now,
            updated_at: now,
            version_ids: vec![version_id.clone()],
            version_statuses: Default::default(),
            distributed_version_ids: vec![],
            tags: vec![],
            extra: Default::default(),
        };
        st.put_new(&keys::image(ORG, &image_id), &image).unwrap();
        let target = Target {
            image_id: image_id.clone(),
            version_id: Some(version_id.clone()),
            asset_ids: vec![asset_id.clone()],
            replica_asset_ids: replica_ids.clone(),
            regions: if kind == OpKind::Distribute {
                vec!["cn-a".into(), "cn-b".into()]
            } else {
                vec![]
            },
            source_id: Some(source.into()),
            provider_instance_id: Some("pi-1".into()),
        };
        ops::start(st, s, &op_id, ORG, kind, target).unwrap();
        (op_id, image_id, version_id, replica_ids)
    }

    fn grant(st: &Store<'_>, gallery: &str, to: &[&str]) {
        st.put_new(
            &keys::gallery_image(ORG, gallery),
            &GalleryImage {
                id: gallery.into(),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
                granted_to: to.iter().map(|s| (*s).to_owned()).collect(),
                prepared_by: None,
                metadata: Default::default(),
                app_scan: Default::default(),
            },
        )
        .unwrap();
    }

    fn op(st: &Store<'_>, id: &str) -> Operation {
        ops::get(st, ORG, id).unwrap().unwrap()
    }

    fn version(st: &Store<'_>, id: &str) -> Option<Version> {
        st.get::<Version>(&keys::version(ORG, id))
            .unwrap()
            .map(|s| s.value)
    }

    fn image(st: &Store<'_>, id: &str) -> Option<Image> {
        st.get::<Image>(&keys::image(ORG, id))
            .unwrap()
            .map(|s| s.value)
    }

    fn asset(st: &Store<'_>, id: &str) -> Asset {
        st.get::<Asset>(&keys::asset(ORG, id))
            .unwrap()
            .unwrap()
            .value
    }

    /// Ticks every second of fake time until the operation settles (or a minute passes).
    fn settle(kv: &dyn KeyValue, env: &FakeEnv, s: &Settings, id: &str) -> i64 {
        let st = &Store::new(kv, env);
        let start = env.now_ms();
        for _ in 0..600 {
            env.advance_ms(1000);
            let r = tick(st, s, s.tick_cap);
            assert_eq!(r.error, None);
            if op(st, id).status.is_terminal() {
                return env.now_ms() - start;
            }
        }
        panic!("operation {id} did not settle: {:?}", op(st, id));
    }

    fn assert_no_transition_twice(o: &Operation) {
        let mut seen = std::collections::HashSet::new();
        for h in &o.history {
            assert!(
                seen.insert((h.step.clone(), h.attempt, h.event)),
                "twice in history: {h:?} in {:?}",
                o.history
            );
        }
    }

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
        let (id, img, ver, _) =
            start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
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
        let (id, img, ver, _) =
            start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
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

    #[test]
    fn purge_entries_delete_their_keys_when_due() {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        Store::new(&kv, &env).put_new("rpc/nonce/x", &1u8).unwrap();
        due::schedule_purge(
            &Store::new(&kv, &env),
            &s,
            T0 + 10_000,
            vec!["rpc/nonce/x".into()],
        )
        .unwrap();
        env.advance_ms(5_000);
        tick(&Store::new(&kv, &env), &s, 10);
        assert!(kv.get("rpc/nonce/x").unwrap().is_some(), "not yet due");
        env.advance_ms(10_000);
        let r = tick(&Store::new(&kv, &env), &s, 10);
        assert_eq!(r.purged, 1);
        assert!(kv.get("rpc/nonce/x").unwrap().is_none());
    }

    #[test]
    fn an_unreadable_entry_is_skipped_not_a_roadblock() {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        Store::new(&kv, &env).put_new("gone-later", &1u8).unwrap();
        due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["x".into()]).unwrap();
        due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["gone-later".into()]).unwrap();
        // Corrupt the first slot.
        kv.set(&keys::due_slot(due::bucket_of(&s, T0), 1), b"garbage")
            .unwrap();
        env.advance_ms(10_000);
        let r = tick(&Store::new(&kv, &env), &s, 10);
        assert_eq!((r.skipped, r.purged), (1, 1));
        assert!(r.error.is_some());
        assert!(kv.get("gone-later").unwrap().is_none());
    }

    #[test]
    fn a_lost_cursor_is_recreated_behind_now() {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec!["k".into()]).unwrap();
        Store::new(&kv, &env).put_new("k", &1u8).unwrap();
        kv.delete(&keys::due_cursor()).unwrap();
        env.advance_ms(10_000);
        tick(&Store::new(&kv, &env), &s, 10);
        let r = tick(&Store::new(&kv, &env), &s, 10);
        assert_eq!(
            r.purged, 1,
            "the entry written before the loss is still found"
        );
    }

    #[test]
    fn a_tick_does_at_most_cap_entries_and_the_rest_waits() {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        for i in 0..7 {
            due::schedule_purge(&Store::new(&kv, &env), &s, T0, vec![format!("k{i}")]).unwrap();
        }
        env.advance_ms(5_000);
        let r = tick(&Store::new(&kv, &env), &s, 3);
        assert_eq!((r.purged, r.more), (3, true));
        let r = tick(&Store::new(&kv, &env), &s, 3);
        assert_eq!((r.purged, r.more), (3, true));
        let r = tick(&Store::new(&kv, &env), &s, 3);
        assert_eq!(r.purged, 1);
        let r = tick(&Store::new(&kv, &env), &s, 3);
        assert_eq!(r.purged, 0);
    }

    fn idle_tick_cost(settled: usize) -> u64 {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        due::ensure_cursor(&Store::new(&kv, &env), &s).unwrap();
        let mut o = ops::transition(
            &{
                let (id, ..) =
                    start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Delete, "", 0);
                op(&Store::new(&kv, &env), &id)
            },
            &s,
            i64::MAX,
            || ops::Outcome::Done { failed: vec![] },
        )
        .unwrap();
        // Many settled operations (and their records) in the store.
        for i in 0..settled {
            o.id = format!("tid-{i}");
            Store::new(&kv, &env)
                .put_new(&keys::operation(ORG, &o.id), &o)
                .unwrap();
        }
        // Catch the cursor up, then measure one idle tick one cron period later.
        env.advance_ms(120_000);
        while tick(&Store::new(&kv, &env), &s, 1000).more {}
        env.advance_ms(5_000);
        let before = kv.ops();
        let r = tick(&Store::new(&kv, &env), &s, 1000);
        assert_eq!(r.advanced + r.purged, 0);
        kv.ops() - before
    }

    #[test]
    fn an_idle_tick_costs_a_handful_of_calls_whatever_the_store_holds() {
        let small = idle_tick_cost(100);
        let large = idle_tick_cost(100_000);
        assert_eq!(small, large);
        assert!(large <= 10, "idle tick cost {large} store calls");
    }

    /// A store that, at its `at`-th call, runs a whole tick of a second advancer in between
    /// (another replica acting between two calls of the first).
    struct Interleaved<'a> {
        inner: &'a dyn KeyValue,
        env: &'a FakeEnv,
        settings: &'a Settings,
        calls: std::cell::Cell<u64>,
        at: u64,
        busy: std::cell::Cell<bool>,
    }

    impl Interleaved<'_> {
        fn maybe_race(&self) {
            let c = self.calls.get() + 1;
            self.calls.set(c);
            if c == self.at && !self.busy.replace(true) {
                // The other replica ticks, time passes, it ticks again: it may move the
                // operation twice while the first advancer is in the middle of one move.
                tick(
                    &Store::new(self.inner, self.env),
                    self.settings,
                    self.settings.tick_cap,
                );
                let s = self.settings;
                self.env
                    .advance_ms((s.step_ms + s.bucket_ms + s.skew_ms) as i64);
                tick(
                    &Store::new(self.inner, self.env),
                    self.settings,
                    self.settings.tick_cap,
                );
            }
        }
    }

    impl KeyValue for Interleaved<'_> {
        fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.maybe_race();
            self.inner.get(k)
        }
        fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
            self.maybe_race();
            self.inner.set(k, v)
        }
        fn delete(&self, k: &str) -> Result<(), StoreError> {
            self.maybe_race();
            self.inner.delete(k)
        }
        fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
            self.maybe_race();
            self.inner.increment(k, d)
        }
        fn compare_and_swap(
            &self,
            k: &str,
            e: &[u8],
            n: &[u8],
        ) -> Result<crate::store::CasOutcome, StoreError> {
            self.maybe_race();
            self.inner.compare_and_swap(k, e, n)
        }
    }

    /// Runs a copy to its end with a second advancer cutting in at store call `at` of every
    /// tick of the first; returns the final operation and version.
    fn interleaved_run(base: &dyn KeyValue, at: u64) -> (Operation, Version) {
        let (env, s) = (FakeEnv::at(T0), Settings::default());
        grant(&Store::new(base, &env), "gal-1", &["pi-1"]);
        let (id, _, ver, _) = start_on_new_version(
            &Store::new(base, &env),
            &s,
            OpKind::CopyFromGallery,
            "gal-1",
            0,
        );
        for _ in 0..120 {
            env.advance_ms(1000);
            let kv = Interleaved {
                inner: base,
                env: &env,
                settings: &s,
                calls: std::cell::Cell::new(0),
                at,
                busy: std::cell::Cell::new(false),
            };
            tick(&Store::new(&kv, &env), &s, s.tick_cap);
            if op(&Store::new(base, &env), &id).status.is_terminal() {
                break;
            }
        }
        (
            op(&Store::new(base, &env), &id),
            version(&Store::new(base, &env), &ver).unwrap(),
        )
    }

    fn check_interleaved(make: impl Fn() -> Box<dyn KeyValue>) {
        let reference = interleaved_run(make().as_ref(), u64::MAX);
        let steps = |o: &Operation| -> Vec<(String, u32, Event)> {
            o.history
                .iter()
                .map(|h| (h.step.clone(), h.attempt, h.event))
                .collect()
        };
        for at in 1..40 {
            let (o, v) = interleaved_run(make().as_ref(), at);
            assert_eq!(o.status, OpStatus::Succeeded, "race at call {at}");
            assert_no_transition_twice(&o);
            assert_eq!(steps(&o), steps(&reference.0), "race at call {at}");
            assert_eq!(v.status, VersionStatus::Available, "race at call {at}");
            let shown: Vec<_> = v.status_history.iter().map(|e| e.status).collect();
            let want: Vec<_> = reference
                .1
                .status_history
                .iter()
                .map(|e| e.status)
                .collect();
            assert_eq!(shown, want, "race at call {at}");
        }
    }

    #[test]
    fn two_advancers_interleaved_never_double_advance_nor_lose_a_transition() {
        check_interleaved(|| Box::new(MemoryKv::new()));
    }

    #[test]
    fn two_advancers_interleaved_on_redis_semantics() {
        check_interleaved(|| Box::new(MemoryKv::with_redis_cas_quirk()));
    }

    #[test]
    fn transient_failures_anywhere_never_double_advance_nor_lose_a_transition() {
        for seed in 1..40u64 {
            let kv = FlakyKv::redis_quirk();
            let (env, s) = (FakeEnv::at(T0), Settings::default());
            grant(&Store::new(&kv.inner, &env), "gal-1", &["pi-1"]);
            let (id, _, ver, _) = start_on_new_version(
                &Store::new(&kv.inner, &env),
                &s,
                OpKind::CopyFromGallery,
                "gal-1",
                0,
            );
            kv.fail_rate(150, seed);
            for _ in 0..300 {
                env.advance_ms(1000);
                tick(&Store::new(&kv, &env), &s, s.tick_cap);
                if op(&Store::new(&kv.inner, &env), &id).status.is_terminal() {
                    break;
                }
            }
            let o = op(&Store::new(&kv.inner, &env), &id);
            assert_eq!(o.status, OpStatus::Succeeded, "seed {seed}: {o:?}");
            assert_no_transition_twice(&o);
            assert_eq!(
                version(&Store::new(&kv.inner, &env), &ver).unwrap().status,
                VersionStatus::Available
            );
        }
    }

    #[test]
    fn concurrent_advancer_threads_agree() {
        let kv = MemoryKv::with_redis_cas_quirk();
        let env = SharedEnv::at(T0);
        let s = Settings::default();
        grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
        let ids: Vec<String> = (0..20)
            .map(|_| {
                start_on_new_version(
                    &Store::new(&kv, &env),
                    &s,
                    OpKind::CopyFromGallery,
                    "gal-1",
                    0,
                )
                .0
            })
            .collect();
        for _ in 0..60 {
            env.advance_ms(1000);
            std::thread::scope(|sc| {
                for _ in 0..3 {
                    sc.spawn(|| tick(&Store::new(&kv, &env), &s, s.tick_cap));
                }
            });
        }
        for id in &ids {
            let o = op(&Store::new(&kv, &env), id);
            assert_eq!(o.status, OpStatus::Succeeded);
            assert_no_transition_twice(&o);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_outcomes() {
        let run = |seed: u64| -> Vec<OpStatus> {
            let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
            grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
            let sim = Simulation {
                seed,
                failure_rate: 0.3,
                max_attempts: Some(1),
                ..Simulation::default()
            };
            Store::new(&kv, &env)
                .put_new(&keys::simulation(), &sim)
                .unwrap();
            let ids: Vec<String> = (0..12)
                .map(|_| {
                    start_on_new_version(
                        &Store::new(&kv, &env),
                        &s,
                        OpKind::CopyFromGallery,
                        "gal-1",
                        0,
                    )
                    .0
                })
                .collect();
            for _ in 0..60 {
                env.advance_ms(1000);
                tick(&Store::new(&kv, &env), &s, 100);
            }
            ids.iter()
                .map(|id| op(&Store::new(&kv, &env), id).status)
                .collect()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert!(a.contains(&OpStatus::Failed) && a.contains(&OpStatus::Succeeded));
    }
}
