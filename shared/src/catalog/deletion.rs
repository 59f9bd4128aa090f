//! Starting an image's deletion, shared by both doors (REST `DELETE /images/{id}`, RPC
//! DeleteImage): the image and every version and asset show `DELETING` at once, and the
//! delete operation does the rest; at its end, [`release_image`] removes the keys the image
//! leaves besides its records.

use super::{Asset, Image, StatusEntry, Version, allowed_actions, listing};
use crate::keys;
use crate::ops::{self, OpKind, Settings, Target};
use crate::records::{Change, Store, UpdateError};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{AssetStatus, ImageStatus, LastTriggeredAction, VersionStatus};

/// Why a deletion did not start; each door words it in its own vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteRefusal {
    NotFound,
    /// The image is no longer the one the caller saw (`If-Match`, or a concurrent change).
    PreconditionFailed,
    AlreadyDeleting,
    /// A marker of the image is bound to desktop pools.
    MarkerInUse(String),
    Store(StoreError),
}

impl From<StoreError> for DeleteRefusal {
    fn from(e: StoreError) -> Self {
        DeleteRefusal::Store(e)
    }
}

/// Marks the image and all its versions `DELETING` and starts the delete operation; returns
/// its id. With `expect`, the image must still be exactly that record.
pub fn start_image_deletion(
    st: &Store<'_>,
    settings: &Settings,
    org: &str,
    id: &str,
    expect: Option<&Image>,
) -> Result<String, DeleteRefusal> {
    let now = st.now();
    let op_id = ops::new_op_id(st);
    let img = st
        .update::<Image, DeleteRefusal>(&keys::image(org, id), |img| {
            if expect.is_some_and(|e| e != img) {
                return Change::Abort(DeleteRefusal::PreconditionFailed);
            }
            if img.status == ImageStatus::Deleting {
                return Change::Abort(DeleteRefusal::AlreadyDeleting);
            }
            if let Some(m) = img.markers.iter().find(|m| m.template_count > 0) {
                return Change::Abort(DeleteRefusal::MarkerInUse(m.name.clone()));
            }
            let mut img = img.clone();
            img.status = ImageStatus::Deleting;
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| e.lift(|| DeleteRefusal::NotFound))?;
    for vid in &super::pages::all_ids(st, org, &img.value)? {
        mark_version_deleting(st, org, vid, &op_id, now)?;
    }
    let target = Target {
        image_id: id.to_owned(),
        ..Target::default()
    };
    ops::start(st, settings, &op_id, org, OpKind::Delete, target)?;
    // So ListImage neither shows nor counts it from now on, without reading it. Best
    // effort: without the mark, a page is one short until the deletion ends.
    let _ = listing::mark_deleting(st, org, id, true);
    Ok(op_id)
}

/// Shows a version and its assets as deleted by `op_id` (the operation's first statuses).
/// A version already gone is skipped.
fn mark_version_deleting(
    st: &Store<'_>,
    org: &str,
    vid: &str,
    op_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let r = st.update::<Version, StoreError>(&keys::version(org, vid), |v| {
        Change::Write(deleting(v, op_id, now))
    });
    match r {
        Ok(v) => mark_assets_deleting(st, org, &v.value, op_id, now),
        Err(e) => e.unless_missing().map_or(Ok(()), Err),
    }
}

/// Shows the assets of `v` as deleted by `op_id`; an asset already gone is skipped.
pub fn mark_assets_deleting(
    st: &Store<'_>,
    org: &str,
    v: &Version,
    op_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    for aid in &v.asset_ids {
        let r = st.update::<Asset, StoreError>(&keys::asset(org, aid), |a| {
            let mut a = a.clone();
            a.status = AssetStatus::Deleting;
            a.operation_id = Some(op_id.to_owned());
            a.op_seq = 0;
            a.updated_at = now;
            Change::Write(a)
        });
        if let Some(e) = r.err().and_then(UpdateError::unless_missing) {
            return Err(e);
        }
    }
    Ok(())
}

/// `v` as a delete operation `op_id` starting at `now` shows it.
pub fn deleting(v: &Version, op_id: &str, now: Timestamp) -> Version {
    let mut v = v.clone();
    v.status = VersionStatus::Deleting;
    v.last_triggered_action = Some(LastTriggeredAction::Delete);
    v.operation_id = Some(op_id.to_owned());
    v.op_seq = 0;
    v.allowed_actions = allowed_actions(v.status);
    v.record_status(StatusEntry {
        status: VersionStatus::Deleting,
        asset_status: Some(AssetStatus::Deleting),
        at: now,
    });
    v.updated_at = now;
    v
}

/// The name of the image counter (`keys::image_counter`) that elects major version numbers
/// (`catalog::write::first_major`, the REST door's Add Version).
pub const MAJOR_COUNTER: &str = "major";

/// The name of the image counter that elects the minor numbers under major `major` (the
/// REST door's Add Version of a MINOR version).
pub fn minor_counter(major: i64) -> String {
    format!("minor-{major}")
}

/// Removes what a deleted image leaves in the store besides its records, when its delete
/// operation ends (called by the projection just before the image record goes): its index
/// slot and slot-number counter ([`listing::unindex_image`]), and its version-number
/// counters (`major`, and `minor-<m>` for every major `m` up to the last one elected). Its
/// id is never used again, so nothing would ever count them again. Every step is a
/// deletion, so a crash before the image record is gone is repaired by the projection's
/// next attempt. Costs a few store calls plus one per major number the image elected.
pub fn release_image(st: &Store<'_>, org: &str, id: &str) -> Result<(), StoreError> {
    listing::unindex_image(st, org, id)?;
    let major = keys::image_counter(org, id, MAJOR_COUNTER);
    let majors = st.counter_read(&major)?;
    for m in 1..=majors {
        st.delete(&keys::image_counter(org, id, &minor_counter(m)))?;
    }
    st.delete(&major)
}
