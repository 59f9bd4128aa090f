//! Projection: what an operation's state shows on its version(s), assets and image, written
//! idempotently so that any advancer, winner or loser of a race, converges on one state.

use crate::catalog::pages::Moved;
use crate::catalog::{self, Asset, AssetError, Image, RegionDistribution, StatusEntry, Version};
use crate::keys;
use crate::ops::{self, OpKind, OpStatus, Operation};
use crate::records::{Change, Store, UpdateError, decode_seen};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{AssetStatus, ImageStatus};

/// The end of a projection's update. A record that is gone has nothing to show (`None`);
/// a store failure, or an abort carrying one (`Some`), stops the projection. Contention is
/// mapped by [`UpdateError::lift`], like everywhere else.
fn finish<T>(r: Result<T, UpdateError<Option<StoreError>>>) -> Result<(), StoreError> {
    match r.map_err(|e| e.lift(|| None)) {
        Ok(_) | Err(None) => Ok(()),
        Err(Some(e)) => Err(e),
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
            Some(img) => catalog::pages::all_ids(st, org, &img.value)?,
            None => vec![],
        },
    };

    if view.gone {
        // When each version was made: how a version already moved out of the tail is
        // found in its page once its record is gone.
        let mut made: Vec<(String, Option<Timestamp>)> = Vec::new();
        for vid in &version_ids {
            let vkey = keys::version(org, vid);
            let seen = st.get::<Version>(&vkey)?;
            if let Some(v) = &seen {
                for aid in &v.value.asset_ids {
                    st.delete(&keys::asset(org, aid))?;
                }
            }
            for aid in &op.target.asset_ids {
                st.delete(&keys::asset(org, aid))?;
            }
            st.delete(&vkey)?;
            made.push((vid.clone(), seen.map(|v| v.value.created_at)));
        }
        let mut emptied = Vec::new();
        let r = st.update::<Image, Option<StoreError>>(&image_key, |img| {
            emptied.clear();
            let paged: Vec<Moved<'_>> = made
                .iter()
                .filter(|(id, _)| !img.version_ids.contains(id))
                .map(|(id, at)| Moved {
                    id,
                    status: None,
                    created_at: *at,
                })
                .collect();
            let mut img = img.clone();
            img.version_ids.retain(|v| !version_ids.contains(v));
            img.version_statuses.retain(|v, _| !version_ids.contains(v));
            img.distributed_version_ids
                .retain(|v| !version_ids.contains(v));
            if !whole_image && !paged.is_empty() {
                match catalog::pages::refresh(st, &mut img, &paged) {
                    Ok(e) => emptied = e,
                    Err(e) => return Change::Abort(Some(e)),
                }
            }
            img.version_count = catalog::pages::count(&img);
            img.updated_at = op.updated_at;
            Change::Write(img)
        });
        if r.is_ok() {
            catalog::pages::drop_pages(st, org, &op.target.image_id, &emptied);
        }
        match r {
            Ok(img) if whole_image || catalog::pages::count(&img.value) == 0 => {
                // The last version takes its image with it: first its index slot, counters
                // and pages (so a retry after a crash still finds the image, and them),
                // then the record.
                catalog::deletion::release_image(st, org, &img.value.id)?;
                let pages: Vec<String> = img
                    .value
                    .version_pages
                    .iter()
                    .map(|p| p.id.clone())
                    .collect();
                catalog::pages::drop_pages(st, org, &img.value.id, &pages);
                st.delete(&image_key)?;
            }
            Ok(_) => refresh_image(st, op, &[])?,
            other => finish(other)?,
        }
        return Ok(());
    }

    // A whole image's deletion shows on the image alone while it goes well: its versions
    // and copies are shown DELETING from the image (`catalog::deletion::shown_version`), so
    // such a transition costs O(1) however many versions the image holds. Only a retry or
    // its end in failure is written on every version and copy (each bounded by the quotas).
    let goes_well = op.phase != ops::Phase::RetryPending
        && !matches!(op.status, OpStatus::Failed | OpStatus::Cancelled)
        && view.new_error.is_none();
    if whole_image && goes_well {
        return refresh_image(st, op, &[]);
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
    let mut shown: Vec<(&str, AssetStatus, Option<&ops::OpError>)> = Vec::new();
    if let Some(status) = view.asset_status {
        let err = view.new_error.as_ref().map(|e| &e.0);
        shown.extend(asset_ids.iter().map(|aid| (aid.as_str(), status, err)));
    }
    for (aid, status, err) in &view.replica_statuses {
        let err = err.as_ref().filter(|_| view.new_error.is_some());
        shown.push((aid.as_str(), *status, err));
    }
    project_assets(st, op, &shown)?;
    // Whether the image needs a refresh. Not when the one version written was last written
    // by an earlier transition of this operation (which refreshed the image after it, or
    // its operation would not have moved on) and the image cannot tell its old status from
    // its new one (`catalog::same_for_image`). A repeated transition always refreshes: the
    // round before it may have died between the version and the image.
    let mut image_unchanged = op.target.version_id.is_some();
    for vid in &version_ids {
        let vkey = keys::version(org, vid);
        let mut unchanged_for_image = false;
        let r = st.update::<Version, Option<StoreError>>(&vkey, |v| {
            unchanged_for_image = false;
            let same_op = v.operation_id.as_deref() == Some(op.id.as_str());
            if same_op && v.op_seq > op.seq {
                return Change::Unchanged;
            }
            let earlier_transition = same_op && (1..op.seq).contains(&v.op_seq);
            let before = v.status;
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
                v.record_status(StatusEntry {
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
            unchanged_for_image = earlier_transition && catalog::same_for_image(before, v.status);
            Change::Write(v)
        });
        image_unchanged &= r.is_ok() && unchanged_for_image;
        finish(r)?;
    }
    if image_unchanged {
        return Ok(());
    }
    refresh_image(st, op, &version_ids)
}

/// The most asset keys one batch read takes (the store port's bound).
const ASSET_BATCH: usize = 100;

/// Shows `op`'s transition on each copy in `shown` (its status, and the error this
/// transition set). One copy is updated as any record is. More are read in batches, and
/// only those whose record would change are swapped, from the bytes the batch read: a
/// publish's replicas mostly keep their status from one transition to the next, so a
/// transition costs one read per batch and a swap per copy that moves (a copy changed
/// meanwhile costs its swap one read more).
fn project_assets(
    st: &Store<'_>,
    op: &Operation,
    shown: &[(&str, AssetStatus, Option<&ops::OpError>)],
) -> Result<(), StoreError> {
    if let [(id, status, err)] = shown {
        // One copy (most versions have one): its update reads it through the swap, so
        // an unchanged copy costs that read alone and a moved one a read less.
        let r = st.update::<Asset, Option<StoreError>>(&keys::asset(&op.org_id, id), |a| {
            match shown_asset(a, op, *status, *err) {
                Some(next) => Change::Write(next),
                None => Change::Unchanged,
            }
        });
        return finish(r);
    }
    for chunk in shown.chunks(ASSET_BATCH) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|(id, _, _)| keys::asset(&op.org_id, id))
            .collect();
        let raw = st.get_many_raw(&keys)?;
        for ((key, (_, status, err)), raw) in keys.iter().zip(chunk).zip(raw) {
            let Some(raw) = raw else { continue };
            let seen = decode_seen::<Asset>(key, raw)?;
            if shown_asset(&seen.stored.value, op, *status, *err).is_none() {
                continue;
            }
            let r = st.update_from::<Asset, Option<StoreError>>(key, Some(seen.raw), |a| {
                match shown_asset(a, op, *status, *err) {
                    Some(next) => Change::Write(next),
                    None => Change::Unchanged,
                }
            });
            finish(r)?;
        }
    }
    Ok(())
}

/// Copy `a` as `op`'s transition shows it, or `None` when that changes nothing a client
/// can see (the same status, no new error) or `a` already shows a later transition of `op`.
/// Skipping an unchanged copy leaves its `opSeq` behind, which is harmless: a later
/// transition of the same operation still counts as new to it.
fn shown_asset(
    a: &Asset,
    op: &Operation,
    status: AssetStatus,
    new_error: Option<&ops::OpError>,
) -> Option<Asset> {
    let same_op = a.operation_id.as_deref() == Some(op.id.as_str());
    if same_op && a.op_seq > op.seq {
        return None;
    }
    let first_time = !same_op || a.op_seq < op.seq;
    let mut next = a.clone();
    next.status = status;
    if let (Some(e), true) = (new_error, first_time) {
        next.error_code = Some(e.code.clone());
        next.error_details = Some(e.message.clone());
        next.errors_history.push(AssetError {
            error_code: e.code.clone(),
            error_details: e.message.clone(),
            status,
            attempt: op.attempt,
            at: op.updated_at,
        });
    }
    if next.status == AssetStatus::Available {
        next.state = Some(crate::vocab::VersionState::Published);
    }
    next.operation_id = Some(op.id.clone());
    if next == *a {
        return None;
    }
    next.op_seq = op.seq;
    next.updated_at = op.updated_at;
    Some(next)
}

/// Recomputes the image status from its versions' recorded statuses, after reading afresh the versions
/// `op` just changed and any without a recorded status (read inside the compare-and-swap loop, so a
/// concurrent change of another version is never overwritten with a stale status: whoever
/// changes a version refreshes after it). Never reads every version of a large image.
fn refresh_image(st: &Store<'_>, op: &Operation, touched: &[String]) -> Result<(), StoreError> {
    let org = op.org_id.as_str();
    let image_key = keys::image(org, &op.target.image_id);
    let whole_image_delete = op.kind == OpKind::Delete && op.target.version_id.is_none();
    // Whether the write below takes the image into `DELETING` (true) or out of it (false):
    // the org's index directory follows, so `ListImage` neither shows nor counts an image
    // being deleted (`catalog::index`). Set by the last run of the closure, the one written.
    let mut flip: Option<bool> = None;
    // Touched versions that left the tail are shown in their pages from inside the swap (a
    // page swap is idempotent, so a retried round repeats it harmlessly). The pages left
    // empty by the round that was written.
    let mut emptied = Vec::new();
    let r = st.update::<Image, Option<StoreError>>(&image_key, |img| {
        flip = None;
        emptied.clear();
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
        let paged: Vec<&String> = touched
            .iter()
            .filter(|id| !img.version_ids.contains(id))
            .filter(|_| !img.version_pages.is_empty())
            .collect();
        let keys: Vec<String> = stale
            .iter()
            .chain(paged.iter())
            .map(|v| keys::version(org, v))
            .collect();
        let mut fresh = match st.get_many::<Version>(&keys) {
            Ok(v) => v,
            Err(e) => return Change::Abort(Some(e)),
        };
        let fresh_paged = fresh.split_off(stale.len());
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
        let mut new = img.clone();
        new.version_statuses = known;
        if !paged.is_empty() {
            let moved: Vec<Moved<'_>> = paged
                .iter()
                .zip(&fresh_paged)
                .map(|(id, v)| {
                    let v = v.as_ref().filter(|v| v.value.stream_id == img.id);
                    Moved {
                        id,
                        status: v.map(|v| v.value.status),
                        created_at: v.map(|v| v.value.created_at),
                    }
                })
                .collect();
            match catalog::pages::refresh(st, &mut new, &moved) {
                Ok(e) => emptied = e,
                Err(e) => return Change::Abort(Some(e)),
            }
        }
        let unchanged_lists = new.version_statuses == img.version_statuses
            && new.version_pages == img.version_pages
            && new.paged_summary == img.paged_summary;
        let mut img = new;
        let status = catalog::derive_status(deleting, &catalog::pages::summary(&img));
        if status == img.status && unchanged_lists {
            return Change::Unchanged;
        }
        if status != img.status {
            let was = img.status == ImageStatus::Deleting;
            let is = status == ImageStatus::Deleting;
            flip = (was != is).then_some(is);
            img.status = status;
            img.updated_at = op.updated_at;
        }
        img.version_count = catalog::pages::count(&img);
        Change::Write(img)
    });
    if r.is_ok() {
        catalog::pages::drop_pages(st, org, &op.target.image_id, &emptied);
    }
    let written = r.is_ok();
    finish(r)?;
    if let Some(on) = flip.filter(|_| written) {
        // Best effort: a missed mark leaves a `ListImage` page one short (or one long)
        // while it lasts; the image's own status stays right.
        let _ = catalog::listing::mark_deleting(st, org, &op.target.image_id, on);
    }
    Ok(())
}
