//! The catalog layer both doors stand on: the stored records (docs/contract/imagemgmt-api.md "Records"),
//! their status rules, and the reads and writes the two doors share ([`listing`], [`write`],
//! [`deletion`]).
//!
//! Records serialize in camelCase exactly as the contract names their fields; fields marked
//! "addition" are this service's own (the contract allows `operationId`, `statusHistory`,
//! `allowedActions`; the others are internal indexes kept on the parent record so nothing
//! ever lists keys).

use crate::time::Timestamp;
use crate::vocab::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod deletion;
pub mod index;
pub mod listing;
pub mod pages;
pub mod platform;
pub mod quota;
pub mod write;

pub use crate::vocab::{OrgId, RegionStatus};
pub use listing::{Ctx, image_versions, org_images};

/// Image (`StreamTO`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub id: String,
    pub org_id: OrgId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    pub os_type: OsType,
    pub gpu_type: GpuType,
    #[serde(default)]
    pub multi_session: bool,
    pub source_type: SourceType,
    #[serde(default)]
    pub source_stream_id: Option<String>,
    #[serde(default)]
    pub source_version_id: Option<String>,
    pub status: ImageStatus,
    /// The image's markers: the source of truth (names unique per image are enforced by the
    /// compare-and-swap on this record); versions carry a projection.
    #[serde(default)]
    pub markers: Vec<Marker>,
    #[serde(default)]
    pub version_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Addition: ids of the image's newest versions (the tail, at most [`pages::PAGE`]),
    /// oldest first; older ones are in [`Image::version_pages`] (listing without key scans).
    #[serde(default)]
    pub version_ids: Vec<String>,
    /// Addition: each tail version's status as of the advancer's last refresh of this image,
    /// so its status and the RPC listing never read every version. A version without an
    /// entry (just attached) is read when next refreshed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version_statuses: BTreeMap<String, VersionStatus>,
    /// Addition: the oldest and newest `createdAt` of the tail's versions (a page's span
    /// when sealed). Absent on records older than pages: their first page spans all time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_span: Option<[Timestamp; 2]>,
    /// Addition: the sealed pages of older versions, oldest first (at most
    /// [`pages::MAX_PAGES`]): each page's key, count and creation span.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version_pages: Vec<pages::PageRef>,
    /// Addition: the summary of every paged version's status, oldest page first.
    #[serde(default, skip_serializing_if = "pages::Summary::is_empty")]
    pub paged_summary: pages::Summary,
    /// Addition: the versions the RPC door has distributed to regions (ListImage reads
    /// these for `ImageRegionDistributeList`, not every version), at most
    /// [`MAX_DISTRIBUTED`], the most recently distributed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distributed_version_ids: Vec<String>,
    /// Addition: free-form tags (the RPC door's `TagList`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Addition: extra attributes a door needs (e.g. the RPC door's `ProductType`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Versions an image lists as distributed (a bound on its record's size).
pub const MAX_DISTRIBUTED: usize = 64;

/// A key/value tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Version (`VersionTO`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub id: String,
    /// The image id.
    pub stream_id: String,
    pub org_id: OrgId,
    /// The number, `major.minor.patch`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    pub version_type: VersionType,
    #[serde(default)]
    pub version_history: Vec<String>,
    pub source_type: SourceType,
    #[serde(default)]
    pub source_version_id: Option<String>,
    pub state: VersionState,
    pub status: VersionStatus,
    #[serde(default)]
    pub last_triggered_action: Option<LastTriggeredAction>,
    #[serde(default)]
    pub markers: Vec<Marker>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The operation currently (or last) working on this version.
    #[serde(default)]
    pub operation_id: Option<String>,
    #[serde(default)]
    pub status_history: Vec<StatusEntry>,
    #[serde(default)]
    pub allowed_actions: Vec<String>,
    /// Addition: ids of the version's assets (copies), in creation order.
    #[serde(default)]
    pub asset_ids: Vec<String>,
    /// Addition: per-region distribution state (RPC `StartTaskForDistributeImage`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionDistribution>,
    /// Addition: what the partner org (MSP) that prepared the source gallery image supplied,
    /// copied in when the version was made with `assetDetails.data.mspOrgId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_image: Option<PartnerImage>,
    /// Addition: the last transition of `operationId` projected here (the advancer's
    /// idempotence guard). Start at 0.
    #[serde(default)]
    pub op_seq: u32,
}

/// Entries a version's `statusHistory` keeps: the newest (a bound on its record's size,
/// however often it is republished).
pub const MAX_STATUS_HISTORY: usize = 64;

/// Markers an image holds (a bound on its record's size).
pub const MAX_MARKERS: usize = 64;
/// The most replicas (copies besides the source copy) one version may have, and so the most
/// one publish or republish may name: each is one record written on publishing and one
/// copy the advancer moves (docs/contract/imagemgmt-api.md, "Limits").
pub const MAX_REPLICAS: usize = 16;
/// Ancestors a version's `versionHistory` names: the newest, oldest first. Unbounded, a
/// lineage of N versions would store N² names over its records (issue 24).
pub const MAX_VERSION_HISTORY: usize = 32;

impl Version {
    /// The `versionHistory` of a version made from this one: its own history and its name,
    /// the newest [`MAX_VERSION_HISTORY`] kept.
    pub fn lineage(&self) -> Vec<String> {
        let mut history = self.version_history.clone();
        history.push(self.name.clone());
        let drop = history.len().saturating_sub(MAX_VERSION_HISTORY);
        history.drain(..drop);
        history
    }

    /// Appends to `statusHistory`, dropping the oldest entries past [`MAX_STATUS_HISTORY`].
    pub fn record_status(&mut self, entry: StatusEntry) {
        self.status_history.push(entry);
        let over = self.status_history.len().saturating_sub(MAX_STATUS_HISTORY);
        self.status_history.drain(..over);
    }
}

/// A partner-prepared gallery image's data, copied into a version (Add Version rule 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerImage {
    pub msp_org_id: String,
    pub source_image_version_id: String,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub app_scan: serde_json::Map<String, serde_json::Value>,
}

/// One entry of a version's `statusHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEntry {
    pub status: VersionStatus,
    #[serde(default)]
    pub asset_status: Option<AssetStatus>,
    pub at: Timestamp,
}

/// Distribution of a version to one region (the RPC door's `ImageRegionDistributeList`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionDistribution {
    pub region_id: String,
    pub status: RegionStatus,
    /// 0–100.
    pub progress: u8,
    #[serde(default)]
    pub operation_id: Option<String>,
}

/// Marker (`MarkerTO`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub id: String,
    pub org_id: OrgId,
    pub image_id: String,
    pub version_id: String,
    #[serde(default)]
    pub next_version_id: Option<String>,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub template_count: u32,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_details: Option<String>,
    /// The values named in `errorDetails` (the vendor's `MarkerTO` map of strings); empty
    /// while the marker has no error. Records written before it read as empty.
    #[serde(default)]
    pub error_details_parameters: std::collections::BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Asset (`AssetTO`): the provider resource backing a version in one provider instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: String,
    pub org_id: OrgId,
    pub image_id: String,
    pub version_id: String,
    #[serde(default)]
    pub provider_instance_id: Option<String>,
    #[serde(default)]
    pub provider_label: Option<ProviderLabel>,
    #[serde(default)]
    pub asset_details: AssetDetails,
    pub status: AssetStatus,
    #[serde(default)]
    pub state: Option<VersionState>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_details: Option<String>,
    #[serde(default)]
    pub errors_history: Vec<AssetError>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Addition: the operation that last drove this asset.
    #[serde(default)]
    pub operation_id: Option<String>,
    /// Addition: the last transition of `operationId` projected here. Start at 0.
    #[serde(default)]
    pub op_seq: u32,
}

/// `assetDetails { assetType, data{} }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetDetails {
    #[serde(default)]
    pub asset_type: Option<AssetType>,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// One entry of an asset's `errorsHistory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetError {
    pub error_code: String,
    pub error_details: String,
    /// The asset status the failure set.
    pub status: AssetStatus,
    pub attempt: u32,
    pub at: Timestamp,
}

/// Version statuses after which nothing runs on the version any more.
pub fn version_is_settled(s: VersionStatus) -> bool {
    use VersionStatus::*;
    matches!(
        s,
        Available
            | Disabled
            | Failed
            | FailedUnrecoverable
            | ImportComplete
            | PartiallyAvailable
            | ValidationFailed
    )
}

/// Version statuses that count as failed.
pub fn version_is_failed(s: VersionStatus) -> bool {
    matches!(
        s,
        VersionStatus::Failed
            | VersionStatus::FailedUnrecoverable
            | VersionStatus::ValidationFailed
    )
}

/// The actions a version allows in its status (`allowedActions`).
pub fn allowed_actions(status: VersionStatus) -> Vec<String> {
    use VersionStatus::*;
    let a: &[&str] = match status {
        ImportComplete => &["PUBLISH", "CLONE", "DELETE", "EDIT"],
        Available | PartiallyAvailable => &["REPUBLISH", "CLONE", "DELETE", "EDIT"],
        Failed | FailedUnrecoverable | ValidationFailed => &["DELETE", "EDIT"],
        Disabled => &["DELETE"],
        Deleting => &[],
        Pending
        | ImportInProgress
        | PublishInProgress
        | ReplicationInProgress
        | ValidationInProgress => &["EDIT"],
    };
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// The actions an org may take on version `v` (`allowedActions` as the API shows it): those
/// of its status, except on a platform-shared version, which an org may only copy from
/// (`clone-image`); every other action there answers 403 (`platform`).
pub fn org_actions(v: &Version) -> Vec<String> {
    let mut actions = allowed_actions(v.status);
    if v.org_id == platform::ORG {
        actions.retain(|a| a == "CLONE");
    }
    actions
}

/// The image status its versions imply (docs/contract/lifecycle.md), from a summary of their
/// statuses (`catalog::pages`, so an image of thousands of versions is judged from a bounded
/// record): `DELETING` while deleted (or while its only remaining versions are being
/// deleted: the last one takes the image along); `AVAILABLE` if any version is;
/// `IMPORT_COMPLETE` if its newest usable version is; `PARTIALLY_AVAILABLE` if any version
/// is; `FAILED` if every version failed; otherwise `PENDING` while the first version has not
/// started and `IN_PROGRESS` while it is made.
pub fn derive_status(deleting: bool, v: &pages::Summary) -> ImageStatus {
    use VersionStatus as V;
    let total = v.total();
    let all = |statuses: &[V]| total > 0 && v.count(statuses) == total;
    if deleting || all(&[V::Deleting]) {
        return ImageStatus::Deleting;
    }
    if v.count(&[V::Available]) > 0 {
        return ImageStatus::Available;
    }
    if v.newest_usable == Some(V::ImportComplete) {
        return ImageStatus::ImportComplete;
    }
    if v.count(&[V::PartiallyAvailable]) > 0 {
        return ImageStatus::PartiallyAvailable;
    }
    if v.count(&[V::ImportComplete]) > 0 {
        return ImageStatus::ImportComplete;
    }
    if all(&[V::Failed, V::FailedUnrecoverable, V::ValidationFailed]) {
        return ImageStatus::Failed;
    }
    if all(&[V::Disabled]) {
        return ImageStatus::Disabled;
    }
    match v.first {
        None | Some(V::Pending) => ImageStatus::Pending,
        Some(_) => ImageStatus::InProgress,
    }
}

/// Whether the image can tell a version in status `a` from one in `b`: the in-progress
/// statuses are one to every image rule ([`derive_status`] counts none of them, compares
/// `first` with `PENDING` only and `newest_usable` with `IMPORT_COMPLETE` only; the RPC
/// door shows each as `CREATING`). A transition between two statuses the image cannot tell
/// apart leaves the image record as it is, so it skips the image's refresh (the record
/// then keeps the earlier of the two).
pub fn same_for_image(a: VersionStatus, b: VersionStatus) -> bool {
    use VersionStatus::*;
    let in_progress = |s| {
        matches!(
            s,
            ImportInProgress | PublishInProgress | ReplicationInProgress | ValidationInProgress
        )
    };
    a == b || (in_progress(a) && in_progress(b))
}

/// [`derive_status`] of the statuses of `versions`, oldest first (the tests state the rule
/// over lists).
#[cfg(test)]
pub fn derive_image_status(deleting: bool, versions: &[VersionStatus]) -> ImageStatus {
    let mut summary = pages::Summary::default();
    for (i, s) in versions.iter().enumerate() {
        summary.push(&i.to_string(), *s);
    }
    derive_status(deleting, &summary)
}

#[cfg(test)]
mod tests;
