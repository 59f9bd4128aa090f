use super::*;
use crate::api::Problem;
use crate::vocab::{AssetType, SourceType};
use serde_json::json;

fn fields_of(p: Problem) -> Vec<(String, String)> {
    p.errors.into_iter().map(|e| (e.field, e.code)).collect()
}

#[test]
fn names_follow_the_rule() {
    assert!(ImageName::parse("win-11_pro").is_ok());
    assert!(ImageName::parse("").is_err());
    assert!(ImageName::parse(&"a".repeat(65)).is_err());
    assert!(ImageName::parse(&"a".repeat(64)).is_ok());
    assert!(ImageName::parse("has space").is_err());
    assert!(MarkerName::parse("HRPro").is_ok());
    assert!(Description::parse(&"d".repeat(1024)).is_ok());
    assert!(Description::parse(&"d".repeat(1025)).is_err());
}

#[test]
fn version_numbers_parse_and_print() {
    let v: VersionNumber = "1.20.3".parse().unwrap();
    assert_eq!((v.major, v.minor, v.patch), (1, 20, 3));
    assert_eq!(v.to_string(), "1.20.3");
    for bad in ["1.2", "1.2.3.4", "a.b.c", "1..3", "-1.0.0"] {
        assert!(bad.parse::<VersionNumber>().is_err(), "{bad}");
    }
}

#[test]
fn add_version_rules_name_their_fields() {
    let p = VersionCreateTO::parse(&json!({
        "sourceType": "AZURE_MARKET_PLACE", "versionType": "PATCH",
        "providerInstanceId": "pi-1", "gpuType": 3, "osType": "windows"
    }))
    .unwrap_err();
    let f = fields_of(p);
    assert!(f.contains(&("sourceType".into(), "UNSUPPORTED_SOURCE_TYPE".into())));
    assert!(f.contains(&("versionType".into(), "UNSUPPORTED".into())));
    assert!(f.contains(&("gpuType".into(), "INVALID_TYPE".into())));
    assert!(f.contains(&("osType".into(), "UNKNOWN_VALUE".into())));

    let p = VersionCreateTO::parse(&json!({
        "sourceType": "AZURE_SIG", "versionType": "MINOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {}}
    }))
    .unwrap_err();
    let f = fields_of(p);
    assert!(f.contains(&("sourceVersionId".into(), "REQUIRED".into())));
    assert!(f.contains(&(
        "assetDetails.data.sourceImageVersionId".into(),
        "REQUIRED".into()
    )));
    assert!(f.contains(&(
        "assetDetails.data.isClientAccessLicenseApplicable".into(),
        "REQUIRED".into()
    )));
    assert!(f.contains(&("assetDetails.data.multiSession".into(), "REQUIRED".into())));

    let p = VersionCreateTO::parse(&json!({
        "sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1"
    }))
    .unwrap_err();
    assert_eq!(
        fields_of(p),
        vec![("assetDetails.data.vmId".into(), "REQUIRED".into())]
    );
}

#[test]
fn a_partner_prepared_sig_image_needs_no_licence_fields() {
    let v = VersionCreateTO::parse(&json!({
        "sourceType": "AZURE_SIG", "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG",
                         "data": {"sourceImageVersionId": "g-1", "mspOrgId": "partner"}},
        "unknownField": {"ignored": true},
        "markers": ["HRLite", {"name": "HRPro"}]
    }))
    .unwrap();
    assert_eq!(v.markers.len(), 2);
    assert_eq!(v.source.source_id().as_deref(), Some("g-1"));
    assert_eq!(v.asset_details.asset_type, Some(AssetType::AzureImageInSig));
}

#[test]
fn markers_are_validated_and_unique_in_a_request() {
    let p = VersionPatch::parse(&json!({"markers": ["a", "a", "bad name", 7]})).unwrap_err();
    let f = fields_of(p);
    assert!(f.contains(&("markers[1]".into(), "DUPLICATE".into())));
    assert!(f.contains(&("markers[2]".into(), "INVALID_VALUE".into())));
    assert!(f.contains(&("markers[3]".into(), "INVALID_TYPE".into())));
}

#[test]
fn create_action_must_agree_with_source_stream_type() {
    let body = json!({"streamName": "w", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
                      "providerInstanceId": "pi"});
    let p = ImageCatalogRequest::parse(&body, CreateAction::ImportCustomVm).unwrap_err();
    assert!(fields_of(p).contains(&("sourceStreamType".into(), "ACTION_MISMATCH".into())));
    let p = ImageCatalogRequest::parse(&json!({}), CreateAction::Import).unwrap_err();
    let f = fields_of(p);
    assert!(f.contains(&("streamName".into(), "REQUIRED".into())));
    assert!(f.contains(&("osType".into(), "REQUIRED".into())));
    let ok = ImageCatalogRequest::parse(
        &json!({"streamName": "w", "osType": "WINDOWS"}),
        CreateAction::Import,
    )
    .unwrap();
    assert_eq!(ok.source_type, SourceType::AzureMarketPlace);
    assert!(CreateAction::parse(Some("nope")).is_err());
}

#[test]
fn a_body_that_is_not_an_object_is_refused() {
    let p = ImagePatch::parse(&json!([1, 2])).unwrap_err();
    assert_eq!(fields_of(p), vec![("$".into(), "INVALID_TYPE".into())]);
}

#[test]
fn replicas_name_their_failing_element() {
    let p = PublishRequest::parse(&json!({"replicas": [{"providerInstanceId": "a"}, {}, 3]}))
        .unwrap_err();
    let f = fields_of(p);
    assert!(f.contains(&("replicas[1].providerInstanceId".into(), "REQUIRED".into())));
    assert!(f.contains(&("replicas[2]".into(), "INVALID_TYPE".into())));
    let r = PublishRequest::parse(&json!({"replicas": [{"providerInstanceId": "a"}]})).unwrap();
    assert_eq!(r.replicas, vec![Id::parse("a").unwrap()]);
}

#[test]
fn clone_image_requires_an_image_name() {
    let p = CloneRequest::parse(&json!({}), Some("clone-image")).unwrap_err();
    assert_eq!(fields_of(p), vec![("imageName".into(), "REQUIRED".into())]);
    let c = CloneRequest::parse(&json!({}), Some("clone-version")).unwrap();
    assert_eq!(c.target, CloneTarget::Version(Numbering::Major));
}
