//! Version bodies: add (`VersionCreateTO`, endpoint 6, with its numbering) and patch, and the
//! `markers[]` both carry.

use super::fields::{Fields, description, id, os};
use super::source::{Source, asset_details};
use super::values::{Description, Id, MarkerName};
use crate::api::Problem;
use crate::catalog::AssetDetails;
use crate::vocab::{GpuType, OsType, ProviderLabel, SourceType, VersionType};
use serde_json::Value;

/// `markers[]`: names, as strings or as `{ "name": … }` objects; unique within the request.
fn markers(f: &mut Fields<'_>) -> Vec<MarkerName> {
    let mut out: Vec<MarkerName> = Vec::new();
    let Some(items) = f.array("markers") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let field = format!("markers[{i}]");
        let name = match item {
            Value::String(s) => Some((s.as_str(), field.clone())),
            Value::Object(o) => match o.get("name") {
                Some(Value::String(s)) => Some((s.as_str(), format!("{field}.name"))),
                _ => {
                    f.reject(
                        &format!("{field}.name"),
                        "REQUIRED",
                        "a marker needs a name",
                    );
                    None
                }
            },
            _ => {
                f.reject(&field, "INVALID_TYPE", "must be a marker name or object");
                None
            }
        };
        if let Some((s, path)) = name {
            match MarkerName::parse(s) {
                Ok(m) if out.contains(&m) => f.reject(&path, "DUPLICATE", "marker named twice"),
                Ok(m) => out.push(m),
                Err(e) => f.reject(&path, "INVALID_VALUE", e),
            }
        }
    }
    out
}

/// The number a new version takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Numbering {
    /// Next free major; `source` (optional) gives the history.
    Major,
    /// Next free minor in the source's major.
    Minor,
}

/// `VersionCreateTO` (endpoint 6).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionCreateTO {
    pub description: Option<Description>,
    pub gpu_type: Option<GpuType>,
    pub os_type: Option<OsType>,
    pub os: Option<String>,
    pub org_id: Option<String>,
    pub provider_instance_id: Id,
    pub provider_label: Option<ProviderLabel>,
    pub source_type: SourceType,
    pub source_version_id: Option<Id>,
    pub numbering: Numbering,
    pub markers: Vec<MarkerName>,
    pub asset_details: AssetDetails,
    pub source: Source,
}

impl VersionCreateTO {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let gpu_type = f.enumerated::<GpuType>("gpuType");
        let os_type = f.enumerated::<OsType>("osType");
        let os = os(&mut f);
        let org_id = f.str("orgId").map(str::to_owned);
        let provider_instance_id = id(&mut f, "providerInstanceId");
        let provider_instance_id = f.required("providerInstanceId", provider_instance_id);
        let provider_label = f.enumerated::<ProviderLabel>("providerLabel");
        // Rule 1: only gallery copies and VM imports add versions.
        let source_type = match f.enumerated::<SourceType>("sourceType") {
            Some(s @ (SourceType::AzureSig | SourceType::AzureCustomVm)) => Some(s),
            Some(s) => {
                f.reject(
                    "sourceType",
                    "UNSUPPORTED_SOURCE_TYPE",
                    format!("sourceType must be AZURE_SIG or AZURE_CUSTOM_VM, got {s}"),
                );
                None
            }
            None => f.required("sourceType", None),
        };
        let source_version_id = id(&mut f, "sourceVersionId");
        // Rule 2: MAJOR or MINOR; MINOR needs its source.
        let numbering = match f.enumerated::<VersionType>("versionType") {
            Some(VersionType::Major) => Some(Numbering::Major),
            Some(VersionType::Minor) => {
                if source_version_id.is_none() && !f.has("sourceVersionId") {
                    f.reject(
                        "sourceVersionId",
                        "REQUIRED",
                        "a MINOR version needs its source",
                    );
                }
                Some(Numbering::Minor)
            }
            Some(VersionType::Patch) => {
                f.reject(
                    "versionType",
                    "UNSUPPORTED",
                    "PATCH versions are not supported",
                );
                None
            }
            None => f.required("versionType", None),
        };
        let markers = markers(&mut f);
        let (asset_details, source) = asset_details(&mut f, source_type, None);
        f.finish()?;
        match (provider_instance_id, source_type, numbering, source) {
            (Some(provider_instance_id), Some(source_type), Some(numbering), Some(source)) => {
                Ok(Self {
                    description,
                    gpu_type,
                    os_type,
                    os,
                    org_id,
                    provider_instance_id,
                    provider_label,
                    source_type,
                    source_version_id,
                    numbering,
                    markers,
                    asset_details,
                    source,
                })
            }
            _ => Err(Problem::field("$", "INVALID_VALUE", "incomplete request")),
        }
    }
}

/// PATCH version body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionPatch {
    pub description: Option<Description>,
    pub markers: Vec<MarkerName>,
}

impl VersionPatch {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let markers = markers(&mut f);
        f.finish()?;
        Ok(Self {
            description,
            markers,
        })
    }
}
