//! Where a new version's bits come from: [`Source`], read from `assetDetails` under the
//! source rules of its source type (Add Version rules 3 and 4).

use super::fields::{Fields, id};
use super::values::Id;
use crate::catalog::AssetDetails;
use crate::vocab::{AssetType, SourceType};

/// Where a new version's bits come from (Add Version rules 3 and 4).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Copy an Azure gallery image version.
    Sig {
        source_image_version_id: Id,
        /// The partner org that prepared the image through this API.
        msp_org_id: Option<Id>,
        client_access_license: Option<bool>,
        multi_session: Option<bool>,
    },
    /// Import a customer VM.
    CustomVm { vm_id: Id },
    /// Import a marketplace image.
    MarketPlace,
}

impl Source {
    /// The provider source id the simulator knows (gallery image version or VM).
    pub fn source_id(&self) -> Option<String> {
        match self {
            Source::Sig {
                source_image_version_id,
                ..
            } => Some(source_image_version_id.to_string()),
            Source::CustomVm { vm_id } => Some(vm_id.to_string()),
            Source::MarketPlace => None,
        }
    }
}

/// Reads `assetDetails { assetType, data{} }` and the source rules for `source_type`.
/// `top_multi_session` is a top-level `multiSession` (create image has one).
pub(super) fn asset_details(
    f: &mut Fields<'_>,
    source_type: Option<SourceType>,
    top_multi_session: Option<bool>,
) -> (AssetDetails, Option<Source>) {
    let mut details = AssetDetails::default();
    let mut ad = f.object("assetDetails");
    if let Some(ad) = ad.as_mut() {
        details.asset_type = ad.enumerated::<AssetType>("assetType");
    }
    let mut data = ad.as_mut().and_then(|ad| ad.object("data"));
    if let Some(d) = data.as_ref() {
        details.data = d.map().clone();
    }
    let need = |f: &mut Fields<'_>, what: &str| {
        f.reject(
            &format!("assetDetails.data.{what}"),
            "REQUIRED",
            "is required",
        );
    };
    let source = match source_type {
        Some(SourceType::AzureSig) => {
            let src = data.as_mut().and_then(|d| id(d, "sourceImageVersionId"));
            let msp = data.as_mut().and_then(|d| id(d, "mspOrgId"));
            let cal = data
                .as_mut()
                .and_then(|d| d.bool("isClientAccessLicenseApplicable"));
            let ms = data
                .as_mut()
                .and_then(|d| d.bool("multiSession"))
                .or(top_multi_session);
            let has = |d: &Option<Fields<'_>>, k: &str| d.as_ref().is_some_and(|d| d.has(k));
            let mut ok = true;
            if src.is_none() && !has(&data, "sourceImageVersionId") {
                need(f, "sourceImageVersionId");
                ok = false;
            }
            // An externally prepared image (no partner org) must say how it is licensed.
            if msp.is_none() && !has(&data, "mspOrgId") {
                if cal.is_none() && !has(&data, "isClientAccessLicenseApplicable") {
                    need(f, "isClientAccessLicenseApplicable");
                    ok = false;
                }
                if ms.is_none() && !has(&data, "multiSession") {
                    need(f, "multiSession");
                    ok = false;
                }
            }
            match src {
                Some(s) if ok => Some(Source::Sig {
                    source_image_version_id: s,
                    msp_org_id: msp,
                    client_access_license: cal,
                    multi_session: ms,
                }),
                _ => None,
            }
        }
        Some(SourceType::AzureCustomVm) => {
            let vm = data.as_mut().and_then(|d| id(d, "vmId"));
            if vm.is_none() && !data.as_ref().is_some_and(|d| d.has("vmId")) {
                need(f, "vmId");
            }
            vm.map(|vm_id| Source::CustomVm { vm_id })
        }
        Some(SourceType::AzureMarketPlace) => Some(Source::MarketPlace),
        _ => None,
    };
    if let Some(d) = data {
        f.absorb(d);
    }
    if let Some(ad) = ad {
        f.absorb(ad);
    }
    (details, source)
}
