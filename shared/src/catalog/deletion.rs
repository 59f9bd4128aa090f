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

/// Marks the image `DELETING` and starts the delete operation; returns its id. With
/// `expect`, the image must still be exactly that record. O(1) writes however many versions
/// the image holds (issue 24): its versions and copies are not rewritten, they are shown
/// `DELETING` while their image is ([`shown_version`], [`shown_asset`]) until the operation
/// removes them.
pub fn start_image_deletion(
    st: &Store<'_>,
    settings: &Settings,
    org: &str,
    id: &str,
    expect: Option<&Image>,
) -> Result<String, DeleteRefusal> {
    let now = st.now();
    let op_id = ops::new_op_id(st);
    st.update::<Image, DeleteRefusal>(&keys::image(org, id), |img| {
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

/// Version `v` of image `img` as clients see it: `DELETING` (with no action allowed) while
/// its image is being deleted, whatever its record last showed.
pub fn shown_version<'a>(v: &'a Version, img: &Image) -> std::borrow::Cow<'a, Version> {
    if img.status != ImageStatus::Deleting || v.status == VersionStatus::Deleting {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut shown = v.clone();
    shown.status = VersionStatus::Deleting;
    shown.last_triggered_action = Some(LastTriggeredAction::Delete);
    shown.allowed_actions = Vec::new();
    std::borrow::Cow::Owned(shown)
}

/// A copy of a version of image `img` as clients see it (as [`shown_version`]).
pub fn shown_asset<'a>(a: &'a Asset, img: &Image) -> std::borrow::Cow<'a, Asset> {
    if img.status != ImageStatus::Deleting || a.status == AssetStatus::Deleting {
        return std::borrow::Cow::Borrowed(a);
    }
    let mut shown = a.clone();
    shown.status = AssetStatus::Deleting;
    std::borrow::Cow::Owned(shown)
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
