//! Records as the API shows them: internal index fields dropped, markers projected from the
//! image, allowed actions from the status.

use crate::catalog::{Asset, Image, Marker, Version};
use crate::imagemgmt::names::rest_name;
use serde_json::{Value, json};

/// An image as the API shows it (internal index fields dropped).
pub fn image_json(img: &Image) -> Value {
    let mut v = serde_json::to_value(img).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for internal in [
            "versionIds",
            "versionStatuses",
            "distributedVersionIds",
            "tailSpan",
            "versionPages",
            "pagedSummary",
        ] {
            o.remove(internal);
        }
        // A name from the RPC door that the REST rules refuse is shown mapped (`names`).
        o.insert("name".into(), json!(rest_name(&img.name)));
    }
    v
}

/// The image's markers that point at version `version_id`.
pub(super) fn markers_of<'a>(img: &'a Image, version_id: &str) -> Vec<&'a Marker> {
    img.markers
        .iter()
        .filter(|m| m.version_id == version_id)
        .collect()
}

/// A version as the API shows it: markers projected from the image (their source of truth),
/// the actions the org may take (`catalog::org_actions`).
pub fn version_json(v: &Version, image: Option<&Image>) -> Value {
    let v = match image {
        Some(img) => crate::catalog::deletion::shown_version(v, img),
        None => std::borrow::Cow::Borrowed(v),
    };
    let v = v.as_ref();
    let mut val = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Some(o) = val.as_object_mut() {
        o.remove("assetIds");
        o.remove("opSeq");
        if let Some(img) = image {
            o.insert("markers".into(), json!(markers_of(img, &v.id)));
        }
        o.insert(
            "allowedActions".into(),
            json!(crate::catalog::org_actions(v)),
        );
    }
    val
}

/// An asset (copy) as the API shows it.
pub fn asset_json(a: &Asset) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("opSeq");
    }
    v
}

/// Add Version's 201 body: the new version with its asset and its image.
pub(super) fn added_version_json(
    org: &str,
    img: &Image,
    version: &Version,
    asset: &Asset,
    op_id: &str,
) -> Value {
    json!({
        "assetDetails": asset.asset_details,
        "assetId": asset.id,
        "assetStatus": asset.status,
        "assetType": asset.asset_details.asset_type,
        "imageDescription": img.description,
        "imageId": img.id,
        "imageName": rest_name(&img.name),
        "imageStatus": img.status,
        "markers": markers_of(img, &version.id),
        "orgId": org,
        "sourceAssetId": Value::Null,
        "sourceImageId": img.source_stream_id,
        "sourceImageType": img.source_type,
        "sourceType": version.source_type,
        "sourceVersionId": version.source_version_id,
        "versionDescription": version.description,
        "versionHistory": version.version_history,
        "versionId": version.id,
        "versionName": version.name,
        "versionStatus": version.status,
        "versionType": version.version_type,
        "operationId": op_id,
    })
}
