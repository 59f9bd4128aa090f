//! Images the platform shares with every org (WUYING's system images; issue 10, item 3).
//!
//! They live under one reserved org, [`ORG`], which no tenant can be: admin ids are letters,
//! digits, `.`, `_` and `-`, and `~` is none of them. Both doors list them beside the org's
//! own images (REST: `orgId` [`ORG`]; RPC: `ImageType` `System`), and both read them (GET
//! image, versions, copies; RPC `ListImage` with `ImageId`). An org may copy from one (REST
//! `clone-image` makes an image of its own) but never modify, delete or distribute one:
//! REST PATCH/DELETE/Add Version/publish/republish/`clone-version` answer 403
//! `SHARED_IMAGE_READ_ONLY`; RPC `DeleteImage` and `StartTaskForDistributeImage` answer
//! `ImageUpdateSharedImageFailed.NotAllow` with HTTP 400, the status of every error in the
//! vendor's table for these actions. Seeded with `PUT /admin/v1/shared-images/{id}`.

use super::{Image, StatusEntry, Version, allowed_actions};
use crate::keys;
use crate::records::Store;
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::*;

/// The reserved org the shared images belong to.
pub const ORG: &str = "~platform";

/// Whether `img` is a platform-shared image.
pub fn is_shared(img: &Image) -> bool {
    img.org_id == ORG
}

/// The shared image `id`, unless absent or being deleted.
pub fn image(st: &Store<'_>, id: &str) -> Result<Option<Image>, StoreError> {
    if !keys::valid_id(id) {
        return Ok(None);
    }
    Ok(st
        .get::<Image>(&keys::image(ORG, id))?
        .map(|s| s.value)
        .filter(|i| is_shared(i) && i.status != ImageStatus::Deleting))
}

/// Every shared image.
pub fn images(st: &Store<'_>) -> Result<Vec<Image>, StoreError> {
    crate::catalog::org_images(st, ORG)
}

/// What the admin API says of a shared image.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedImage {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub os_type: OsType,
    pub gpu_type: GpuType,
}

/// Creates the shared image (with one `AVAILABLE` version `1.0.0`) or updates its name,
/// description and types. Returns the image and whether it was created.
pub fn put(st: &Store<'_>, s: &SharedImage) -> Result<(Image, bool), StoreError> {
    let now = Timestamp(st.now_ms());
    let key = keys::image(ORG, &s.id);
    if let Some(existing) = st.get::<Image>(&key)?.map(|x| x.value) {
        let img = Image {
            name: s.name.clone(),
            description: s.description.clone(),
            os_type: s.os_type,
            gpu_type: s.gpu_type,
            updated_at: now,
            ..existing
        };
        st.put_new(&key, &img)?;
        return Ok((img, false));
    }
    let status = VersionStatus::Available;
    let version = Version {
        id: format!("{}-v1", s.id),
        stream_id: s.id.clone(),
        org_id: ORG.to_owned(),
        name: "1.0.0".into(),
        description: s.description.clone(),
        os: None,
        version_type: VersionType::Major,
        version_history: vec![],
        source_type: SourceType::AzureMarketPlace,
        source_version_id: None,
        state: VersionState::Published,
        status,
        last_triggered_action: None,
        markers: vec![],
        created_at: now,
        updated_at: now,
        operation_id: None,
        status_history: vec![StatusEntry {
            status,
            asset_status: None,
            at: now,
        }],
        allowed_actions: allowed_actions(status),
        asset_ids: vec![],
        regions: vec![],
        partner_image: None,
        op_seq: 0,
    };
    let img = Image {
        id: s.id.clone(),
        org_id: ORG.to_owned(),
        name: s.name.clone(),
        description: s.description.clone(),
        os: None,
        os_type: s.os_type,
        gpu_type: s.gpu_type,
        multi_session: false,
        source_type: SourceType::AzureMarketPlace,
        source_stream_id: None,
        source_version_id: None,
        status: ImageStatus::Available,
        markers: vec![],
        version_count: 1,
        created_at: now,
        updated_at: now,
        version_ids: vec![version.id.clone()],
        version_statuses: [(version.id.clone(), status)].into_iter().collect(),
        distributed_version_ids: vec![],
        tail_span: Some([version.created_at; 2]),
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: vec![],
        extra: Default::default(),
    };
    st.put_new(&keys::version(ORG, &version.id), &version)?;
    st.put_new(&key, &img)?;
    // The index slot last: a listed id always names a written image.
    let slot = st.counter_next(&keys::image_count(ORG))?;
    st.put_new(&keys::image_slot(ORG, slot), &img.id)?;
    Ok((img, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::MemoryKv;

    pub(crate) fn seed(kv: &MemoryKv, env: &FakeEnv, id: &str) -> Image {
        put(
            &Store::new(kv, env),
            &SharedImage {
                id: id.into(),
                name: format!("{id}-name"),
                description: Some("platform".into()),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
            },
        )
        .unwrap()
        .0
    }

    #[test]
    fn a_shared_image_is_listed_for_every_org_once() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let img = seed(&kv, &env, "sys-1");
        assert!(is_shared(&img));
        assert_eq!(img.status, ImageStatus::Available);
        // A second PUT updates, never adds a second slot.
        let (again, created) = put(
            &Store::new(&kv, &env),
            &SharedImage {
                id: "sys-1".into(),
                name: "renamed".into(),
                description: None,
                os_type: OsType::Linux,
                gpu_type: GpuType::None,
            },
        )
        .unwrap();
        assert!(!created);
        assert_eq!(again.version_ids, img.version_ids);
        for org in ["o1", "o2"] {
            let all = crate::catalog::org_images(&Store::new(&kv, &env), org).unwrap();
            assert_eq!(all.len(), 1, "{org}");
            assert_eq!(
                (all[0].name.as_str(), all[0].org_id.as_str()),
                ("renamed", ORG)
            );
        }
        assert_eq!(images(&Store::new(&kv, &env)).unwrap().len(), 1);
        let versions = crate::catalog::image_versions(
            &Store::new(&kv, &env),
            ORG,
            &image(&Store::new(&kv, &env), "sys-1").unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!(versions[0].status, VersionStatus::Available);
        assert!(image(&Store::new(&kv, &env), "nope").unwrap().is_none());
        assert!(image(&Store::new(&kv, &env), "a b").unwrap().is_none());
    }

    #[test]
    fn no_admin_org_can_be_the_platform() {
        assert!(!keys::valid_id(ORG));
    }
}
