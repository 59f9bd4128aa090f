//! The catalog's stored records (imagemgmt-api.md "Records") and the key layout.
//!
//! Records serialize in camelCase exactly as the spec names their fields; fields marked
//! "addition" are this service's own (the spec allows `operationId`, `statusHistory`,
//! `allowedActions`; the others are internal indexes kept on the parent record so nothing
//! ever lists keys).

use crate::keys;
use crate::records::Store;
use crate::time::Timestamp;
use crate::vocab::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An org id (the tenant).
pub type OrgId = String;

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
    /// Addition: ids of the image's versions, oldest first (listing without key scans).
    #[serde(default)]
    pub version_ids: Vec<String>,
    /// Addition: each version's status as of the advancer's last refresh of this image, so
    /// its status and the RPC listing never read every version (an image may have
    /// thousands). A version without an entry (just attached) is read when next refreshed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version_statuses: BTreeMap<String, VersionStatus>,
    /// Addition: the versions the RPC door has distributed to regions (ListImage reads
    /// these for `ImageRegionDistributeList`, not every version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distributed_version_ids: Vec<String>,
    /// Addition: free-form tags (the RPC door's `TagList`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Addition: extra attributes a door needs (e.g. the RPC door's `ProductType`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

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

/// Status of a region distribution (RPC vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegionStatus {
    Init,
    Distributing,
    Available,
    Failed,
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

/// The image status its versions imply (lifecycle.md): `DELETING` while deleted (or while its
/// only remaining versions are being deleted: the last one takes the image along); `AVAILABLE`
/// if any version is; `IMPORT_COMPLETE` if its newest usable version is;
/// `PARTIALLY_AVAILABLE` if any version is; `FAILED` if every version failed; otherwise
/// `PENDING` while the first version has not started and `IN_PROGRESS` while it is made.
/// `versions` is oldest first.
pub fn derive_image_status(deleting: bool, versions: &[VersionStatus]) -> ImageStatus {
    use VersionStatus as V;
    if deleting || (!versions.is_empty() && versions.iter().all(|s| *s == V::Deleting)) {
        return ImageStatus::Deleting;
    }
    if versions.contains(&V::Available) {
        return ImageStatus::Available;
    }
    let newest_usable = versions
        .iter()
        .rev()
        .find(|s| !version_is_failed(**s) && !matches!(s, V::Deleting | V::Disabled));
    if newest_usable == Some(&V::ImportComplete) {
        return ImageStatus::ImportComplete;
    }
    if versions.contains(&V::PartiallyAvailable) {
        return ImageStatus::PartiallyAvailable;
    }
    if versions.contains(&V::ImportComplete) {
        return ImageStatus::ImportComplete;
    }
    if !versions.is_empty() && versions.iter().all(|s| version_is_failed(*s)) {
        return ImageStatus::Failed;
    }
    if !versions.is_empty() && versions.iter().all(|s| *s == V::Disabled) {
        return ImageStatus::Disabled;
    }
    match versions.first() {
        None | Some(V::Pending) => ImageStatus::Pending,
        Some(_) => ImageStatus::InProgress,
    }
}

/// One request's view of one org's catalog: the ports, the door's settings `S` and the
/// caller's org. Each door adds its own reads (`impl Ctx<'_, ItsSettings>`).
pub struct Ctx<'a, S> {
    pub st: Store<'a>,
    pub settings: &'a S,
    pub org: String,
}

impl<S> Ctx<'_, S> {
    pub fn now(&self) -> Timestamp {
        self.st.now()
    }
}

/// The org's images, read through its index slots (`increment`-elected, never a key
/// scan), then the images the platform shares with every org (`crate::platform`); both
/// doors list from here. A slot whose image is gone, or repeated, is skipped.
pub fn org_images(st: &Store<'_>, org: &str) -> Result<Vec<Image>, crate::store::StoreError> {
    let mut out = indexed_images(st, org)?;
    if org != crate::platform::ORG {
        out.extend(indexed_images(st, crate::platform::ORG)?);
    }
    Ok(out)
}

fn indexed_images(st: &Store<'_>, org: &str) -> Result<Vec<Image>, crate::store::StoreError> {
    let count = st.counter_read(&keys::image_count(org))?;
    let slots: Vec<String> = (1..=count).map(|n| keys::image_slot(org, n)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut ids: Vec<String> = Vec::new();
    for chunk in slots.chunks(100) {
        for id in st.get_many::<String>(chunk)?.into_iter().flatten() {
            if seen.insert(id.value.clone()) {
                ids.push(id.value);
            }
        }
    }
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let keys: Vec<String> = chunk.iter().map(|i| keys::image(org, i)).collect();
        out.extend(
            st.get_many::<Image>(&keys)?
                .into_iter()
                .flatten()
                .map(|s| s.value)
                .filter(|i| i.org_id == org),
        );
    }
    Ok(out)
}

/// The versions of `img` that still exist, oldest first, in one batched read per hundred.
pub fn image_versions(
    st: &Store<'_>,
    org: &str,
    img: &Image,
) -> Result<Vec<Version>, crate::store::StoreError> {
    let keys: Vec<String> = img
        .version_ids
        .iter()
        .map(|v| keys::version(org, v))
        .collect();
    let mut out = Vec::new();
    for chunk in keys.chunks(100) {
        out.extend(
            st.get_many::<Version>(chunk)?
                .into_iter()
                .flatten()
                .map(|s| s.value)
                .filter(|v| v.stream_id == img.id && v.org_id == org),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionStatus as V;
    use serde_json::json;

    fn ts() -> Timestamp {
        Timestamp(1_700_000_000_000)
    }

    #[test]
    fn image_serializes_with_the_spec_field_names() {
        let img = Image {
            id: "img-1".into(),
            org_id: "o1".into(),
            name: "win".into(),
            description: None,
            os: Some("Windows 11".into()),
            os_type: OsType::Windows,
            gpu_type: GpuType::None,
            multi_session: true,
            source_type: SourceType::AzureSig,
            source_stream_id: None,
            source_version_id: None,
            status: ImageStatus::Pending,
            markers: vec![],
            version_count: 1,
            created_at: ts(),
            updated_at: ts(),
            version_ids: vec!["ver-1".into()],
            version_statuses: Default::default(),
            distributed_version_ids: vec![],
            tags: vec![],
            extra: Default::default(),
        };
        let v = serde_json::to_value(&img).unwrap();
        for f in [
            "id",
            "orgId",
            "name",
            "description",
            "os",
            "osType",
            "gpuType",
            "multiSession",
            "sourceType",
            "sourceStreamId",
            "sourceVersionId",
            "status",
            "markers",
            "versionCount",
            "createdAt",
            "updatedAt",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["osType"], json!("WINDOWS"));
        assert_eq!(v["createdAt"], json!("2023-11-14T22:13:20.000Z"));
        let back: Image = serde_json::from_value(v).unwrap();
        assert_eq!(back, img);
    }

    #[test]
    fn version_and_asset_serialize_with_the_spec_field_names() {
        let ver = Version {
            id: "ver-1".into(),
            stream_id: "img-1".into(),
            org_id: "o1".into(),
            name: "1.0.0".into(),
            description: None,
            os: None,
            version_type: VersionType::Major,
            version_history: vec![],
            source_type: SourceType::AzureSig,
            source_version_id: None,
            state: VersionState::NotReady,
            status: V::Pending,
            last_triggered_action: Some(LastTriggeredAction::Import),
            markers: vec![],
            created_at: ts(),
            updated_at: ts(),
            operation_id: Some("tid-1".into()),
            status_history: vec![StatusEntry {
                status: V::Pending,
                asset_status: Some(AssetStatus::CopyingImage),
                at: ts(),
            }],
            allowed_actions: allowed_actions(V::Pending),
            asset_ids: vec![],
            regions: vec![],
            partner_image: None,
            op_seq: 0,
        };
        let v = serde_json::to_value(&ver).unwrap();
        for f in [
            "streamId",
            "versionType",
            "versionHistory",
            "sourceVersionId",
            "state",
            "lastTriggeredAction",
            "operationId",
            "statusHistory",
            "allowedActions",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["statusHistory"][0]["assetStatus"], json!("COPYING_IMAGE"));
        assert_eq!(serde_json::from_value::<Version>(v).unwrap(), ver);

        let asset = Asset {
            id: "ast-1".into(),
            org_id: "o1".into(),
            image_id: "img-1".into(),
            version_id: "ver-1".into(),
            provider_instance_id: Some("pi-1".into()),
            provider_label: Some(ProviderLabel::Azure),
            asset_details: AssetDetails {
                asset_type: Some(AssetType::AzureImageInSig),
                data: Default::default(),
            },
            status: AssetStatus::CopyingImage,
            state: None,
            error_code: None,
            error_details: None,
            errors_history: vec![],
            created_at: ts(),
            updated_at: ts(),
            operation_id: None,
            op_seq: 0,
        };
        let a = serde_json::to_value(&asset).unwrap();
        for f in [
            "providerInstanceId",
            "providerLabel",
            "assetDetails",
            "errorCode",
            "errorDetails",
            "errorsHistory",
        ] {
            assert!(a.get(f).is_some(), "missing {f}");
        }
        assert_eq!(a["assetDetails"]["assetType"], json!("AZURE_IMAGE_IN_SIG"));
    }

    #[test]
    fn image_status_follows_its_versions() {
        assert_eq!(
            derive_image_status(false, &[V::Pending]),
            ImageStatus::Pending
        );
        assert_eq!(
            derive_image_status(false, &[V::ReplicationInProgress]),
            ImageStatus::InProgress
        );
        assert_eq!(
            derive_image_status(false, &[V::ImportInProgress]),
            ImageStatus::InProgress
        );
        assert_eq!(
            derive_image_status(false, &[V::Failed, V::Available, V::Pending]),
            ImageStatus::Available
        );
        assert_eq!(
            derive_image_status(false, &[V::PartiallyAvailable, V::ImportComplete]),
            ImageStatus::ImportComplete
        );
        assert_eq!(
            derive_image_status(false, &[V::ImportComplete, V::PartiallyAvailable]),
            ImageStatus::PartiallyAvailable
        );
        assert_eq!(
            derive_image_status(false, &[V::ImportComplete, V::Failed]),
            ImageStatus::ImportComplete
        );
        assert_eq!(
            derive_image_status(false, &[V::Failed, V::FailedUnrecoverable]),
            ImageStatus::Failed
        );
        assert_eq!(
            derive_image_status(true, &[V::Available]),
            ImageStatus::Deleting
        );
        assert_eq!(derive_image_status(false, &[]), ImageStatus::Pending);
        assert_eq!(
            derive_image_status(false, &[V::Deleting]),
            ImageStatus::Deleting
        );
        assert_eq!(
            derive_image_status(false, &[V::Deleting, V::Available]),
            ImageStatus::Available
        );
    }

    #[test]
    fn allowed_actions_follow_status() {
        assert!(allowed_actions(V::ImportComplete).contains(&"PUBLISH".to_owned()));
        assert!(!allowed_actions(V::Available).contains(&"PUBLISH".to_owned()));
        assert!(allowed_actions(V::Deleting).is_empty());
        assert!(!allowed_actions(V::Pending).contains(&"DELETE".to_owned()));
    }
}
