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

/// Every body parser on arbitrary JSON: a refusal is always a 4xx with a code, and each
/// field error it lists names its field and has a code.
mod refusals {
    use super::*;
    use crate::api::FieldError;
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::Value;

    /// Every field a request body of this door reads (nested ones included).
    const NAMES: &[&str] = &[
        "streamName",
        "streamDescription",
        "versionDescription",
        "versionType",
        "sourceStreamType",
        "sourceType",
        "sourceVersionId",
        "os",
        "osType",
        "gpuType",
        "multiSession",
        "providerLabel",
        "providerInstanceId",
        "orgId",
        "assetDetails",
        "assetType",
        "data",
        "sourceImageVersionId",
        "mspOrgId",
        "isClientAccessLicenseApplicable",
        "vmId",
        "markers",
        "name",
        "description",
        "replicas",
        "additionalReplicas",
        "imageName",
        "timeZone",
    ];

    /// Values a field may expect, so parsing often gets past the first check.
    const WORDS: &[&str] = &[
        "AZURE_SIG",
        "AZURE_MARKET_PLACE",
        "AZURE_CUSTOM_VM",
        "COPIED_FROM_VERSION",
        "MAJOR",
        "MINOR",
        "PATCH",
        "WINDOWS",
        "LINUX",
        "NVIDIA",
        "NONE",
        "AZURE",
        "AZURE_IMAGE_IN_SIG",
        "1.0.0",
        "iv-1",
        "pi-1",
        "g-1",
        "vm-1",
        "partner",
        "HRPro",
        "bad name",
        "",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => select(NAMES).prop_map(str::to_owned),
            1 => "\\PC{0,12}",
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<f64>().prop_map(Value::from),
            3 => select(WORDS).prop_map(Value::from),
            1 => "\\PC{0,80}".prop_map(Value::from),
            1 => "[A-Za-z0-9_.:-]{60,140}".prop_map(Value::from),
        ]
    }

    fn object(inner: impl Strategy<Value = Value>, n: usize) -> impl Strategy<Value = Value> {
        proptest::collection::vec((key(), inner), 0..n)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                object(inner, 8),
            ]
        })
    }

    /// Mostly an object of known fields; sometimes any JSON value.
    fn body() -> impl Strategy<Value = Value> {
        prop_oneof![4 => object(value(), 14), 1 => value()]
    }

    fn field_error_is_named(e: &FieldError) -> bool {
        !e.field.is_empty() && !e.code.is_empty()
    }

    /// A refusal: a 4xx with a code; a validation failure lists its fields, each with a code.
    fn refusal_ok(p: &Problem) -> Result<(), TestCaseError> {
        prop_assert!((400..500).contains(&p.status), "{p:?}");
        prop_assert!(!p.code.is_empty(), "{p:?}");
        prop_assert!(p.errors.iter().all(field_error_is_named), "{p:?}");
        if p.code == "VALIDATION_FAILED" {
            prop_assert!(!p.errors.is_empty(), "{p:?}");
        }
        Ok(())
    }

    fn check<T>(r: Result<T, Problem>) -> Result<(), TestCaseError> {
        match r {
            Ok(_) => Ok(()),
            Err(p) => refusal_ok(&p),
        }
    }

    proptest! {
        #[test]
        fn every_body_parser_refuses_with_a_4xx_and_a_code(
            body in body(),
            clone_action in proptest::option::of(prop_oneof![
                select(&["clone-version", "clone-image"][..]).prop_map(str::to_owned),
                "\\PC{0,16}",
            ]),
        ) {
            for action in [
                CreateAction::Import,
                CreateAction::CopyExistingImage,
                CreateAction::ImportCustomVm,
            ] {
                check(ImageCatalogRequest::parse(&body, action))?;
            }
            check(ImagePatch::parse(&body))?;
            check(VersionCreateTO::parse(&body))?;
            check(VersionPatch::parse(&body))?;
            check(PublishRequest::parse(&body))?;
            check(RepublishRequest::parse(&body))?;
            check(CloneRequest::parse(&body, clone_action.as_deref()))?;
        }

        #[test]
        fn the_create_action_refuses_with_a_4xx_and_a_code(
            action in proptest::option::of(prop_oneof![
                select(&["import", "copy-existing-image", "import-custom-vm"][..])
                    .prop_map(str::to_owned),
                "\\PC{0,24}",
            ]),
        ) {
            check(CreateAction::parse(action.as_deref()))?;
        }
    }
}
