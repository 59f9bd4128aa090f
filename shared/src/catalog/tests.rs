use super::*;
use VersionStatus as V;
use serde_json::json;

fn ts() -> Timestamp {
    Timestamp(1_700_000_000_000)
}

pub(super) fn sample_image() -> Image {
    Image {
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
        tail_span: None,
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: vec![],
        extra: Default::default(),
    }
}

pub(super) fn sample_version() -> Version {
    Version {
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
    }
}

pub(super) fn sample_asset() -> Asset {
    Asset {
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
    }
}

#[test]
fn image_serializes_with_the_spec_field_names() {
    let img = sample_image();
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
    let ver = sample_version();
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

    let asset = sample_asset();
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

/// Every image rule gives the same answer when a version's status changes to one it cannot
/// tell apart (every list of up to three versions, every position, both `deleting` flags),
/// and the rule does tell apart the statuses the image shows differently.
#[test]
fn statuses_the_image_cannot_tell_apart_change_nothing_it_shows() {
    use crate::vocab::rpc_version_status;
    let mut lists: Vec<Vec<V>> = V::ALL.iter().map(|s| vec![*s]).collect();
    for _ in 0..2 {
        let longer: Vec<Vec<V>> = lists
            .iter()
            .flat_map(|l| V::ALL.iter().map(move |s| [l.clone(), vec![*s]].concat()))
            .collect();
        lists.extend(longer.into_iter().filter(|l| l.len() <= 3));
    }
    let shown = |deleting: bool, l: &[V]| {
        let mut summary = pages::Summary::default();
        for (i, s) in l.iter().enumerate() {
            summary.push(&i.to_string(), *s);
        }
        (derive_status(deleting, &summary), summary.newest_online)
    };
    let mut swaps = 0;
    for list in &lists {
        for i in 0..list.len() {
            for b in V::ALL.iter().filter(|b| same_for_image(list[i], **b)) {
                let mut other = list.clone();
                other[i] = *b;
                for deleting in [false, true] {
                    assert_eq!(
                        shown(deleting, list),
                        shown(deleting, &other),
                        "{list:?} {other:?}"
                    );
                }
                assert_eq!(rpc_version_status(list[i]), rpc_version_status(*b));
                swaps += 1;
            }
        }
    }
    assert!(swaps > lists.len(), "{swaps}");
    assert!(same_for_image(
        V::ReplicationInProgress,
        V::ValidationInProgress
    ));
    assert!(!same_for_image(V::Pending, V::ReplicationInProgress));
    assert!(!same_for_image(V::ValidationInProgress, V::Available));
    assert!(!same_for_image(V::ImportComplete, V::Available));
}

#[test]
fn allowed_actions_follow_status() {
    assert!(allowed_actions(V::ImportComplete).contains(&"PUBLISH".to_owned()));
    assert!(!allowed_actions(V::Available).contains(&"PUBLISH".to_owned()));
    assert!(allowed_actions(V::Deleting).is_empty());
    assert!(!allowed_actions(V::Pending).contains(&"DELETE".to_owned()));
}

#[test]
fn a_lineage_keeps_its_newest_ancestors_only() {
    let mut v = sample_version();
    assert_eq!(v.lineage(), vec!["1.0.0".to_owned()]);
    for n in 2..=2_000 {
        v.version_history = v.lineage();
        v.name = format!("{n}.0.0");
        assert!(v.version_history.len() <= MAX_VERSION_HISTORY);
    }
    let shown = v.lineage();
    assert_eq!(shown.len(), MAX_VERSION_HISTORY);
    assert_eq!(shown.last().map(String::as_str), Some("2000.0.0"));
    assert_eq!(shown.first().map(String::as_str), Some("1969.0.0"));
}

#[test]
fn a_shared_version_advertises_only_what_an_org_may_do() {
    let mut v = sample_version();
    v.status = V::Available;
    assert_eq!(org_actions(&v), allowed_actions(V::Available));
    v.org_id = platform::ORG.into();
    assert_eq!(org_actions(&v), vec!["CLONE".to_owned()]);
    v.status = V::Disabled;
    assert!(org_actions(&v).is_empty());
}

mod shared_writes {
    use super::*;
    use crate::catalog::deletion::{
        DeleteRefusal, shown_asset, shown_version, start_image_deletion,
    };
    use crate::catalog::write::{NewImage, first_major, write_new_image};
    use crate::env::FakeEnv;
    use crate::keys;
    use crate::ops::{OpKind, Settings, Target};
    use crate::records::Store;
    use crate::store::MemoryKv;

    fn written(st: &Store<'_>) -> (Image, Version) {
        let (mut img, mut ver, mut asset) = (sample_image(), sample_version(), sample_asset());
        ver.asset_ids = vec![asset.id.clone()];
        asset.operation_id = Some("tid-1".into());
        img.version_ids = vec![ver.id.clone()];
        let new = NewImage {
            org: "o1",
            image: &img,
            version: &ver,
            asset: &asset,
            op_id: "tid-1",
            kind: OpKind::CopyFromGallery,
            target: Target {
                image_id: img.id.clone(),
                version_id: Some(ver.id.clone()),
                ..Target::default()
            },
        };
        write_new_image(st, &Settings::default(), new).unwrap();
        (img, ver)
    }

    #[test]
    fn a_new_image_is_written_whole_and_listed() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(1_700_000_000_000));
        let st = Store::new(&kv, &env);
        assert_eq!(first_major(&st, "o1", "img-1").unwrap(), 1);
        assert_eq!(first_major(&st, "o1", "img-1").unwrap(), 2);
        let (img, ver) = written(&st);
        assert_eq!(org_images(&st, "o1").unwrap(), vec![img.clone()]);
        assert_eq!(image_versions(&st, "o1", &img).unwrap(), vec![ver]);
        assert!(
            st.get::<Asset>(&keys::asset("o1", "ast-1"))
                .unwrap()
                .is_some()
        );
        assert!(
            st.get::<crate::ops::Operation>(&keys::operation("o1", "tid-1"))
                .unwrap()
                .is_some()
        );
        assert!(org_images(&st, "o2").unwrap().is_empty());
    }

    #[test]
    fn deletion_writes_the_image_only_and_refuses_what_it_must() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(1_700_000_000_000));
        let st = Store::new(&kv, &env);
        let s = Settings::default();
        let (img, _) = written(&st);
        let mut other = img.clone();
        other.name = "changed meanwhile".into();
        assert_eq!(
            start_image_deletion(&st, &s, "o1", &img.id, Some(&other)),
            Err(DeleteRefusal::PreconditionFailed)
        );
        assert_eq!(
            start_image_deletion(&st, &s, "o1", "img-none", None),
            Err(DeleteRefusal::NotFound)
        );
        let read = |key: &str| crate::store::KeyValue::get(&kv, key).unwrap();
        let (ver_before, asset_before) = (
            read(&keys::version("o1", "ver-1")),
            read(&keys::asset("o1", "ast-1")),
        );
        start_image_deletion(&st, &s, "o1", &img.id, Some(&img)).unwrap();
        // The versions and copies are not rewritten (O(1) writes)...
        assert_eq!(read(&keys::version("o1", "ver-1")), ver_before);
        assert_eq!(read(&keys::asset("o1", "ast-1")), asset_before);
        // ...they are shown DELETING while their image is.
        let img = st
            .get::<Image>(&keys::image("o1", &img.id))
            .unwrap()
            .unwrap()
            .value;
        let ver = st
            .get::<Version>(&keys::version("o1", "ver-1"))
            .unwrap()
            .unwrap()
            .value;
        let shown = shown_version(&ver, &img);
        assert_eq!(shown.status, V::Deleting);
        assert!(shown.allowed_actions.is_empty());
        let asset = st
            .get::<Asset>(&keys::asset("o1", "ast-1"))
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(shown_asset(&asset, &img).status, AssetStatus::Deleting);
        assert_eq!(
            start_image_deletion(&st, &s, "o1", &img.id, None),
            Err(DeleteRefusal::AlreadyDeleting)
        );
    }

    #[test]
    fn a_bound_marker_keeps_the_image() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(1_700_000_000_000));
        let st = Store::new(&kv, &env);
        let (img, _) = written(&st);
        st.update::<Image, ()>(&keys::image("o1", &img.id), |i| {
            let mut i = i.clone();
            i.markers = vec![Marker {
                id: "mkr-1".into(),
                org_id: "o1".into(),
                image_id: i.id.clone(),
                version_id: "ver-1".into(),
                next_version_id: None,
                name: "prod".into(),
                status: "AVAILABLE".into(),
                template_count: 2,
                error_code: None,
                error_details: None,
                error_details_parameters: Default::default(),
                created_at: ts(),
                updated_at: ts(),
            }];
            crate::records::Change::Write(i)
        })
        .unwrap();
        assert_eq!(
            start_image_deletion(&st, &Settings::default(), "o1", &img.id, None),
            Err(DeleteRefusal::MarkerInUse("prod".into()))
        );
    }

    #[test]
    fn new_records_start_in_their_operations_first_statuses() {
        use crate::catalog::write::{
            Placement, VersionDraft, first_asset_status, new_asset, new_version,
        };
        for kind in [
            OpKind::CopyFromGallery,
            OpKind::ImportVm,
            OpKind::CaptureByInstance,
        ] {
            let at = Placement {
                org: "o1",
                image_id: "img-1",
                op_id: "tid-1",
                kind,
                now: ts(),
            };
            let draft = VersionDraft {
                name: "1.0.0".into(),
                description: None,
                os: None,
                version_type: VersionType::Major,
                history: vec![],
                source_type: SourceType::AzureSig,
                source_version_id: None,
                last_action: LastTriggeredAction::Import,
                partner_image: None,
            };
            let v = new_version(at, "ver-1".into(), "ast-1".into(), draft);
            let (vs, asset_status) = crate::ops::initial_statuses(kind);
            assert_eq!(v.status, vs.unwrap_or(V::Pending), "{kind:?}");
            assert_eq!(v.status_history[0].asset_status, asset_status);
            assert_eq!(v.allowed_actions, allowed_actions(v.status));
            assert_eq!(
                (v.stream_id.as_str(), v.asset_ids.as_slice()),
                ("img-1", &["ast-1".to_owned()][..])
            );
            let a = new_asset(at, "ast-1".into(), &v.id, first_asset_status(kind));
            assert_eq!(
                Some(a.status),
                asset_status.or(Some(AssetStatus::ImportPending))
            );
            assert_eq!(a.operation_id.as_deref(), Some("tid-1"));
        }
    }
}

mod lifetimes;
mod paging;
