//! `assetDetails.data.mspOrgId` (docs/contract/imagemgmt-api.md, Add Version rule 3): "If the image was
//! prepared by a partner org through this API, pass `mspOrgId` to copy that image's metadata
//! and app-scan data". Image creation (`copy-existing-image`) takes the same data.
//!
//! Two admin-managed facts decide it: the calling org's `partners` (`PUT /admin/v1/orgs/{id}`)
//! and the gallery image's `preparedBy` (`PUT /admin/v1/orgs/{id}/gallery-images/{gid}`).
//! `mspOrgId` must name one of the org's partners, and the gallery image (in the calling
//! org's inventory) must have been prepared by that partner; otherwise the request is a 422
//! whose `errors[]` names `assetDetails.data.mspOrgId`, before anything is recorded. The
//! new version then shows `partnerImage { mspOrgId, sourceImageVersionId, metadata, appScan }`.

use crate::api::Problem;
use crate::catalog::PartnerImage;
use crate::imagemgmt::input::Source;
use crate::records::Store;
use crate::store::StoreError;

/// The field a refusal names.
pub const FIELD: &str = "assetDetails.data.mspOrgId";

/// Why `mspOrgId` was refused.
#[derive(Debug)]
pub enum PartnerError {
    /// The org is not a partner of the calling org.
    NotPartner {
        msp: String,
        org: String,
    },
    /// The gallery image is unknown, or was not prepared by that partner.
    NotPreparedBy {
        msp: String,
        image: String,
    },
    Store(StoreError),
}

impl From<PartnerError> for Problem {
    fn from(e: PartnerError) -> Self {
        let (code, message) = match e {
            PartnerError::NotPartner { msp, org } => (
                "MSP_ORG_NOT_PARTNER",
                format!("mspOrgId {msp} is not a partner org of org {org}"),
            ),
            PartnerError::NotPreparedBy { msp, image } => (
                "MSP_IMAGE_NOT_FOUND",
                format!("mspOrgId {msp} prepared no gallery image {image} for this org"),
            ),
            PartnerError::Store(e) => return Problem::store(&e),
        };
        Problem::unprocessable(FIELD, code, message)
    }
}

/// The partner data a new version made from `source` carries: `None` without `mspOrgId`.
pub fn resolve(
    st: &Store<'_>,
    org: &str,
    source: &Source,
) -> Result<Option<PartnerImage>, PartnerError> {
    let Source::Sig {
        source_image_version_id,
        msp_org_id: Some(msp),
        ..
    } = source
    else {
        return Ok(None);
    };
    let (msp, image) = (msp.to_string(), source_image_version_id.to_string());
    let partners = crate::admin::org(st, org)
        .map_err(PartnerError::Store)?
        .map(|o| o.partners)
        .unwrap_or_default();
    if !partners.contains(&msp) {
        return Err(PartnerError::NotPartner {
            msp,
            org: org.to_owned(),
        });
    }
    match crate::sim::gallery_image(st, org, &image).map_err(PartnerError::Store)? {
        Some(g) if g.prepared_by.as_deref() == Some(msp.as_str()) => Ok(Some(PartnerImage {
            msp_org_id: msp,
            source_image_version_id: image,
            metadata: g.metadata,
            app_scan: g.app_scan,
        })),
        _ => Err(PartnerError::NotPreparedBy { msp, image }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Org;
    use crate::env::FakeEnv;
    use crate::imagemgmt::input::Id;
    use crate::keys;

    use crate::sim::GalleryImage;
    use crate::store::MemoryKv;
    use crate::time::Timestamp;
    use crate::vocab::{GpuType, OsType};
    use serde_json::json;

    fn sig(image: &str, msp: Option<&str>) -> Source {
        Source::Sig {
            source_image_version_id: Id::parse(image).unwrap(),
            msp_org_id: msp.map(|m| Id::parse(m).unwrap()),
            client_access_license: None,
            multi_session: None,
        }
    }

    fn world() -> (MemoryKv, FakeEnv) {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let org = Org::new("o1", None, vec!["msp-1".into()], Timestamp(0));
        let st = Store::new(&kv, &env);
        st.put_new(&keys::org("o1"), &org).unwrap();
        for (id, by) in [
            ("g-msp", Some("msp-1")),
            ("g-other", Some("msp-2")),
            ("g-own", None),
        ] {
            let g = GalleryImage {
                id: id.into(),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
                granted_to: vec![],
                prepared_by: by.map(str::to_owned),
                metadata: json!({"vendor": "acme"}).as_object().unwrap().clone(),
                app_scan: json!({"apps": ["office"]}).as_object().unwrap().clone(),
            };
            st.put_new(&keys::gallery_image("o1", id), &g).unwrap();
        }
        (kv, env)
    }

    #[test]
    fn a_partner_image_has_its_data_copied() {
        let (kv, env) = world();
        let p = resolve(&Store::new(&kv, &env), "o1", &sig("g-msp", Some("msp-1")))
            .unwrap()
            .unwrap();
        assert_eq!(p.msp_org_id, "msp-1");
        assert_eq!(p.source_image_version_id, "g-msp");
        assert_eq!(p.metadata["vendor"], "acme");
        assert_eq!(p.app_scan["apps"], json!(["office"]));
    }

    #[test]
    fn without_msp_org_id_there_is_nothing_to_copy() {
        let (kv, env) = world();
        assert!(
            resolve(&Store::new(&kv, &env), "o1", &sig("g-own", None))
                .unwrap()
                .is_none()
        );
        assert!(
            resolve(&Store::new(&kv, &env), "o1", &Source::MarketPlace)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_wrong_partner_is_a_422_naming_the_field() {
        let (kv, env) = world();
        for (image, msp, code) in [
            ("g-msp", "msp-2", "MSP_ORG_NOT_PARTNER"),
            ("g-msp", "nobody", "MSP_ORG_NOT_PARTNER"),
            ("g-own", "msp-1", "MSP_IMAGE_NOT_FOUND"),
            ("g-other", "msp-1", "MSP_IMAGE_NOT_FOUND"),
            ("g-missing", "msp-1", "MSP_IMAGE_NOT_FOUND"),
        ] {
            let e = resolve(&Store::new(&kv, &env), "o1", &sig(image, Some(msp))).unwrap_err();
            let p = Problem::from(e);
            assert_eq!((p.status, p.code.as_str()), (422, code), "{image} {msp}");
            assert_eq!(p.errors[0].field, FIELD);
            assert!(p.detail.contains(msp), "{}", p.detail);
        }
    }

    #[test]
    fn an_org_without_a_record_has_no_partners() {
        let (kv, env) = world();
        let e = resolve(&Store::new(&kv, &env), "o9", &sig("g-msp", Some("msp-1"))).unwrap_err();
        assert!(matches!(e, PartnerError::NotPartner { .. }));
    }
}
