//! The one write path of a new image, shared by both doors (REST create-image, RPC
//! CreateImageByInstance): records are created under fresh ids (R1), in an order that never
//! lets a reader see a record naming a missing one.

use super::{Asset, AssetDetails, Image, PartnerImage, StatusEntry, Version, allowed_actions};
use crate::keys;
use crate::ops::{self, OpKind, Settings, Target};
use crate::records::Store;
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{
    AssetStatus, LastTriggeredAction, SourceType, VersionState, VersionStatus, VersionType,
};

/// Where new records go and what provisions them: the org, the image, the operation that
/// will move them, and the time they are made.
#[derive(Clone, Copy)]
pub struct Placement<'a> {
    pub org: &'a str,
    pub image_id: &'a str,
    pub op_id: &'a str,
    pub kind: OpKind,
    pub now: Timestamp,
}

/// What a door says about a new version; the rest follows from its [`Placement`].
pub struct VersionDraft {
    pub name: String,
    pub description: Option<String>,
    pub os: Option<String>,
    pub version_type: VersionType,
    pub history: Vec<String>,
    pub source_type: SourceType,
    pub source_version_id: Option<String>,
    pub last_action: LastTriggeredAction,
    pub partner_image: Option<PartnerImage>,
}

/// A new version `id` with its one asset `asset_id`, in the first status of the operation
/// that provisions it (both doors build their new versions here).
pub fn new_version(at: Placement<'_>, id: String, asset_id: String, d: VersionDraft) -> Version {
    let (vs, asset_status) = ops::initial_statuses(at.kind);
    let status = vs.unwrap_or(VersionStatus::Pending);
    Version {
        id,
        stream_id: at.image_id.to_owned(),
        org_id: at.org.to_owned(),
        name: d.name,
        description: d.description,
        os: d.os,
        version_type: d.version_type,
        version_history: d.history,
        source_type: d.source_type,
        source_version_id: d.source_version_id,
        state: VersionState::NotReady,
        status,
        last_triggered_action: Some(d.last_action),
        markers: vec![],
        created_at: at.now,
        updated_at: at.now,
        operation_id: Some(at.op_id.to_owned()),
        status_history: vec![StatusEntry {
            status,
            asset_status,
            at: at.now,
        }],
        allowed_actions: allowed_actions(status),
        asset_ids: vec![asset_id],
        regions: vec![],
        partner_image: d.partner_image,
        op_seq: 0,
    }
}

/// A new asset `id` of version `version_id` in `status`, with no provider details yet
/// (callers add them with struct update syntax).
pub fn new_asset(at: Placement<'_>, id: String, version_id: &str, status: AssetStatus) -> Asset {
    Asset {
        id,
        org_id: at.org.to_owned(),
        image_id: at.image_id.to_owned(),
        version_id: version_id.to_owned(),
        provider_instance_id: None,
        provider_label: None,
        asset_details: AssetDetails::default(),
        status,
        state: Some(VersionState::NotReady),
        error_code: None,
        error_details: None,
        errors_history: vec![],
        created_at: at.now,
        updated_at: at.now,
        operation_id: Some(at.op_id.to_owned()),
        op_seq: 0,
    }
}

/// The status a new version's asset starts in under operation `kind`.
pub fn first_asset_status(kind: OpKind) -> AssetStatus {
    ops::initial_statuses(kind)
        .1
        .unwrap_or(AssetStatus::ImportPending)
}

/// A new image with its first version and the version's asset, built by a door.
pub struct NewImage<'a> {
    pub org: &'a str,
    pub image: &'a Image,
    pub version: &'a Version,
    pub asset: &'a Asset,
    /// The operation that provisions the version (its id is already on the records).
    pub op_id: &'a str,
    pub kind: OpKind,
    pub target: Target,
}

/// The major number of a new image's first version, elected through the image's major
/// counter that Add Version continues from (a fresh image id: 1).
pub fn first_major(st: &Store<'_>, org: &str, image_id: &str) -> Result<u64, StoreError> {
    let n = st.counter_next(&keys::image_counter(org, image_id, "major"))?;
    Ok(u64::try_from(n).unwrap_or(1))
}

/// Writes the asset, the version, the image, the operation and its due entry in one
/// batch (`ops::start_with`), and indexes the image last: nothing visible names any of
/// them before the index does, so a batch cut short leaves only unlisted records (an
/// operation without its entry never advances, and no client got its id), and a listed
/// id always names a written image whose operation is scheduled.
pub fn write_new_image(
    st: &Store<'_>,
    settings: &Settings,
    n: NewImage<'_>,
) -> Result<(), StoreError> {
    let along = vec![
        st.new_entry(&keys::asset(n.org, &n.asset.id), n.asset)?,
        st.new_entry(&keys::version(n.org, &n.version.id), n.version)?,
        st.new_entry(&keys::image(n.org, &n.image.id), n.image)?,
    ];
    ops::start_with(st, settings, n.op_id, n.org, n.kind, n.target, along)?;
    super::listing::index_image(st, n.org, &n.image.id)?;
    Ok(())
}
