//! Image bodies: create (`ImageCatalogRequest`, endpoint 1, with its `action`) and patch.

use super::fields::{Fields, description, id, os};
use super::source::{Source, asset_details};
use super::values::{Description, Id, ImageName};
use crate::api::Problem;
use crate::catalog::AssetDetails;
use crate::vocab::{GpuType, OsType, ProviderLabel, SourceType, VersionType};
use serde_json::Value;

/// The `action` of endpoint 1 and the source type it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAction {
    Import,
    CopyExistingImage,
    ImportCustomVm,
}

impl CreateAction {
    pub fn parse(s: Option<&str>) -> Result<Self, Problem> {
        match s {
            None | Some("import") => Ok(CreateAction::Import),
            Some("copy-existing-image") => Ok(CreateAction::CopyExistingImage),
            Some("import-custom-vm") => Ok(CreateAction::ImportCustomVm),
            Some(other) => Err(Problem::field(
                "action",
                "UNKNOWN_VALUE",
                format!(
                    "unknown action {other:?}: import, copy-existing-image or import-custom-vm"
                ),
            )),
        }
    }

    pub fn source_type(self) -> SourceType {
        match self {
            CreateAction::Import => SourceType::AzureMarketPlace,
            CreateAction::CopyExistingImage => SourceType::AzureSig,
            CreateAction::ImportCustomVm => SourceType::AzureCustomVm,
        }
    }
}

/// `ImageCatalogRequest` (endpoint 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCatalogRequest {
    pub stream_name: ImageName,
    pub stream_description: Option<Description>,
    pub version_description: Option<Description>,
    pub source_type: SourceType,
    pub os: Option<String>,
    pub os_type: OsType,
    pub gpu_type: GpuType,
    pub multi_session: bool,
    pub provider_label: Option<ProviderLabel>,
    pub provider_instance_id: Option<Id>,
    pub org_id: Option<String>,
    pub asset_details: AssetDetails,
    pub source: Source,
}

impl ImageCatalogRequest {
    pub fn parse(body: &Value, action: CreateAction) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let stream_name = f.parsed("streamName", ImageName::parse);
        let stream_name = f.required("streamName", stream_name);
        let stream_description = description(&mut f, "streamDescription");
        let version_description = description(&mut f, "versionDescription");
        // Only MAJOR makes sense for a first version; PATCH is never server-side.
        if let Some(t) = f.enumerated::<VersionType>("versionType")
            && t == VersionType::Patch
        {
            f.reject(
                "versionType",
                "UNSUPPORTED",
                "PATCH versions are not supported",
            );
        }
        let wanted = action.source_type();
        let source_type = match f.enumerated::<SourceType>("sourceStreamType") {
            Some(s) if s != wanted => {
                f.reject(
                    "sourceStreamType",
                    "ACTION_MISMATCH",
                    format!("the action needs sourceStreamType {wanted}, got {s}"),
                );
                None
            }
            _ => Some(wanted),
        };
        let os = os(&mut f);
        let os_type = f.enumerated::<OsType>("osType");
        let os_type = f.required("osType", os_type);
        let gpu_type = f.enumerated::<GpuType>("gpuType").unwrap_or(GpuType::None);
        let multi_session = f.bool("multiSession");
        let provider_label = f.enumerated::<ProviderLabel>("providerLabel");
        let provider_instance_id = id(&mut f, "providerInstanceId");
        if provider_instance_id.is_none()
            && !f.has("providerInstanceId")
            && wanted != SourceType::AzureMarketPlace
        {
            f.reject(
                "providerInstanceId",
                "REQUIRED",
                "is required for this action",
            );
        }
        let org_id = f.str("orgId").map(str::to_owned);
        let (asset_details, source) = asset_details(&mut f, source_type, multi_session);
        f.finish()?;
        match (stream_name, os_type, source_type, source) {
            (Some(stream_name), Some(os_type), Some(source_type), Some(source)) => Ok(Self {
                stream_name,
                stream_description,
                version_description,
                source_type,
                os,
                os_type,
                gpu_type,
                multi_session: multi_session.unwrap_or(false),
                provider_label,
                provider_instance_id,
                org_id,
                asset_details,
                source,
            }),
            // Every None above recorded an error, so finish() returned; keep it total anyway.
            _ => Err(Problem::field("$", "INVALID_VALUE", "incomplete request")),
        }
    }
}

/// PATCH image body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImagePatch {
    pub name: Option<ImageName>,
    pub description: Option<Description>,
}

impl ImagePatch {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let name = f.parsed("name", ImageName::parse);
        let description = description(&mut f, "description");
        f.finish()?;
        Ok(Self { name, description })
    }
}
