//! The document's `components.schemas`: responses as the records render, requests exactly as
//! strict as the parsers.

use super::*;

pub(super) fn schemas() -> Value {
    let asset_details = json!({
        "type": "object",
        "properties": {
            "assetType": nullable_enum("AssetType"),
            "data": {"type": "object", "description":
                "AZURE_SIG: sourceImageVersionId, mspOrgId or (isClientAccessLicenseApplicable and multiSession); AZURE_CUSTOM_VM: vmId"}
        }
    });

    let mut s = serde_json::Map::new();
    s.insert(
        "SourceType".into(),
        json!({"type": "string", "enum": names(SourceType::ALL)}),
    );
    s.insert(
        "ImageStatus".into(),
        json!({"type": "string", "enum": names(ImageStatus::ALL)}),
    );
    s.insert(
        "VersionStatus".into(),
        json!({"type": "string", "enum": names(VersionStatus::ALL)}),
    );
    s.insert(
        "VersionState".into(),
        json!({"type": "string", "enum": names(VersionState::ALL)}),
    );
    s.insert(
        "AssetStatus".into(),
        json!({"type": "string", "enum": names(AssetStatus::ALL)}),
    );
    s.insert(
        "AssetType".into(),
        json!({"type": "string", "enum": names(AssetType::ALL)}),
    );
    s.insert(
        "OsType".into(),
        json!({"type": "string", "enum": names(OsType::ALL)}),
    );
    s.insert(
        "GpuType".into(),
        json!({"type": "string", "enum": names(GpuType::ALL)}),
    );
    s.insert(
        "ProviderLabel".into(),
        json!({"type": "string", "enum": names(ProviderLabel::ALL)}),
    );
    s.insert(
        "VersionType".into(),
        json!({"type": "string", "enum": names(VersionType::ALL)}),
    );
    s.insert(
        "LastTriggeredAction".into(),
        json!({"type": "string", "enum": names(LastTriggeredAction::ALL)}),
    );
    s.insert("Problem".into(), json!({
                    "type": "object",
                    "required": ["type", "title", "status", "detail", "code"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                        "errors": {"type": "array", "items": {
                            "type": "object", "required": ["field", "code", "message"],
                            "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}
                        }}
                    }
                }));
    s.insert("Marker".into(), json!({
                    "type": "object",
                    "required": ["id", "orgId", "imageId", "versionId", "name", "status", "templateCount", "errorDetailsParameters", "createdAt", "updatedAt"],
                    "properties": {
                        "id": {"type": "string"}, "orgId": {"type": "string"}, "imageId": {"type": "string"},
                        "versionId": {"type": "string"}, "nextVersionId": nullable("string"),
                        "name": {"type": "string"}, "status": {"type": "string"},
                        "templateCount": {"type": "integer", "minimum": 0},
                        "errorCode": nullable("string"), "errorDetails": nullable("string"),
                        "errorDetailsParameters": {
                            "type": "object", "additionalProperties": {"type": "string"},
                            "description": "the values named in errorDetails; empty while the marker has no error"
                        },
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"}
                    }
                }));
    s.insert("Image".into(), json!({
                    "type": "object",
                    "required": ["id", "orgId", "name", "osType", "gpuType", "multiSession", "sourceType", "status", "markers", "versionCount", "createdAt", "updatedAt"],
                    "properties": {
                        "id": {"type": "string"}, "orgId": {"type": "string"},
                        "name": merge(name_schema(), json!({"description": "an RPC-door name these rules refuse is shown mapped: every other character becomes -, cut to 64"})),
                        "description": nullable("string"), "os": nullable("string"),
                        "osType": r("OsType"), "gpuType": r("GpuType"), "multiSession": {"type": "boolean"},
                        "sourceType": r("SourceType"), "sourceStreamId": nullable("string"),
                        "sourceVersionId": nullable("string"), "status": r("ImageStatus"),
                        "markers": {"type": "array", "items": r("Marker")},
                        "versionCount": {"type": "integer", "minimum": 0},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"}
                    }
                }));
    s.insert("ImageWithVersions".into(), json!({
                    "allOf": [r("Image"), {"type": "object", "required": ["versions"], "properties": {"versions": {"type": "array", "items": r("Version")}}}]
                }));
    s.insert("Version".into(), json!({
                    "type": "object",
                    "required": ["id", "streamId", "orgId", "name", "versionType", "versionHistory", "sourceType", "state", "status", "markers", "createdAt", "updatedAt", "statusHistory", "allowedActions"],
                    "properties": {
                        "id": {"type": "string"}, "streamId": {"type": "string"}, "orgId": {"type": "string"},
                        "name": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$"},
                        "description": nullable("string"), "os": nullable("string"),
                        "versionType": r("VersionType"),
                        "versionHistory": {"type": "array", "items": {"type": "string"}},
                        "sourceType": r("SourceType"), "sourceVersionId": nullable("string"),
                        "state": r("VersionState"), "status": r("VersionStatus"),
                        "lastTriggeredAction": nullable_enum("LastTriggeredAction"),
                        "markers": {"type": "array", "items": r("Marker")},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"},
                        "operationId": nullable("string"),
                        "statusHistory": {"type": "array", "items": {
                            "type": "object", "required": ["status", "at"],
                            "properties": {"status": r("VersionStatus"), "assetStatus": nullable_enum("AssetStatus"), "at": {"type": "string", "format": "date-time"}}
                        }},
                        "allowedActions": {"type": "array", "items": {"type": "string"}},
                        "partnerImage": {
                            "type": "object",
                            "description": "present when the version was made with assetDetails.data.mspOrgId: the partner org's metadata and app-scan data, copied from the gallery image it prepared",
                            "required": ["mspOrgId", "sourceImageVersionId", "metadata", "appScan"],
                            "properties": {
                                "mspOrgId": {"type": "string"}, "sourceImageVersionId": {"type": "string"},
                                "metadata": {"type": "object"}, "appScan": {"type": "object"}
                            }
                        }
                    }
                }));
    s.insert("VersionCreate".into(), json!({
                    "type": "object",
                    "required": ["assetId", "assetStatus", "imageId", "imageName", "imageStatus", "markers", "orgId", "sourceType", "versionHistory", "versionId", "versionName", "versionStatus", "versionType"],
                    "properties": {
                        "assetDetails": asset_details.clone(), "assetId": {"type": "string"},
                        "assetStatus": r("AssetStatus"), "assetType": nullable_enum("AssetType"),
                        "imageDescription": nullable("string"), "imageId": {"type": "string"},
                        "imageName": name_schema(), "imageStatus": r("ImageStatus"),
                        "markers": {"type": "array", "items": r("Marker")}, "orgId": {"type": "string"},
                        "sourceAssetId": nullable("string"), "sourceImageId": nullable("string"),
                        "sourceImageType": r("SourceType"), "sourceType": r("SourceType"),
                        "sourceVersionId": nullable("string"), "versionDescription": nullable("string"),
                        "versionHistory": {"type": "array", "items": {"type": "string"}},
                        "versionId": {"type": "string"}, "versionName": {"type": "string"},
                        "versionStatus": r("VersionStatus"), "versionType": r("VersionType"),
                        "operationId": {"type": "string"}
                    }
                }));
    s.insert("Asset".into(), json!({
                    "type": "object",
                    "required": ["id", "orgId", "imageId", "versionId", "assetDetails", "status", "errorsHistory", "createdAt", "updatedAt"],
                    "properties": {
                        "id": {"type": "string"}, "orgId": {"type": "string"}, "imageId": {"type": "string"},
                        "versionId": {"type": "string"}, "providerInstanceId": nullable("string"),
                        "providerLabel": nullable_enum("ProviderLabel"), "assetDetails": asset_details.clone(),
                        "status": r("AssetStatus"), "state": nullable_enum("VersionState"),
                        "errorCode": nullable("string"), "errorDetails": nullable("string"),
                        "errorsHistory": {"type": "array", "items": {"type": "object"}},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"}
                    }
                }));
    s.insert("Operation".into(), json!({
                    "type": "object",
                    "required": ["id", "orgId", "kind", "target", "status", "step", "progress", "attempt", "dueAt", "createdAt", "updatedAt", "history"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^tid-"}, "orgId": {"type": "string"},
                        "kind": {"type": "string"}, "target": {"type": "object"},
                        "status": {"type": "string", "enum": ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]},
                        "step": {"type": "string"}, "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                        "attempt": {"type": "integer", "minimum": 1},
                        "dueAt": {"type": "string", "format": "date-time"},
                        "error": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["code", "message"]}]},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"},
                        "history": {"type": "array", "items": {"type": "object", "required": ["step", "at"]}}
                    }
                }));
    s.insert("ImagePage".into(), json!(page("Image")));
    s.insert("VersionPage".into(), json!(page("Version")));
    s.insert("AssetPage".into(), json!(page("Asset")));
    for (name, schema) in request_schemas() {
        s.insert(name.into(), schema);
    }
    Value::Object(s)
}

/// The request bodies, as strict as their parsers in `input`.
fn request_schemas() -> Vec<(&'static str, Value)> {
    let os = json!({"type": "string", "maxLength": 256});
    let markers = json!({
        "type": "array",
        "uniqueItems": true,
        "items": {"type": "object", "required": ["name"], "properties": {"name": name_schema()},
                  "additionalProperties": false},
        "description": "marker names, each once; a bare name string is accepted for an item too"
    });
    // At most `catalog::MAX_REPLICAS` a body (more is a 400 naming the field).
    let replicas = json!({"type": "array", "maxItems": crate::catalog::MAX_REPLICAS, "items": {
        "type": "object", "required": ["providerInstanceId"], "properties": {"providerInstanceId": id_schema()}
    }});
    // Add Version rules 3 and 4: what a gallery copy and a VM import must name.
    let sig_details = json!({
        "type": "object", "required": ["data"],
        "properties": {"assetType": r("AssetType"), "data": {
            "type": "object", "required": ["sourceImageVersionId"],
            "properties": {
                "sourceImageVersionId": id_schema(), "mspOrgId": id_schema(),
                "isClientAccessLicenseApplicable": {"type": "boolean"}, "multiSession": {"type": "boolean"}
            },
            "description": "a partner-prepared image names its mspOrgId (a partner org of the caller that prepared this gallery image, else 422 naming assetDetails.data.mspOrgId); any other says how it is licensed",
            "anyOf": [{"required": ["mspOrgId"]}, {"required": ["isClientAccessLicenseApplicable", "multiSession"]}]
        }}
    });
    let vm_details = json!({
        "type": "object", "required": ["data"],
        "properties": {"assetType": r("AssetType"), "data": {
            "type": "object", "required": ["vmId"], "properties": {"vmId": id_schema()}
        }}
    });
    let any_details = json!({"type": "object", "properties": {"assetType": r("AssetType"), "data": {"type": "object"}}});
    let source = |field: &str, value: &str, details: &Value| json!({"required": [field, "assetDetails"], "properties": {field: {"const": value}, "assetDetails": details}});
    vec![
        (
            "ImageCatalogRequest",
            json!({
                "type": "object",
                "required": ["streamName", "osType", "sourceStreamType"],
                "description": "sourceStreamType must agree with the action: AZURE_MARKET_PLACE for import, AZURE_SIG for copy-existing-image, AZURE_CUSTOM_VM for import-custom-vm; the two latter need providerInstanceId",
                "properties": {
                    "streamName": name_schema(),
                    "streamDescription": description_schema(),
                    "versionDescription": description_schema(),
                    "versionType": version_type_but_patch(),
                    "sourceStreamType": r("SourceType"),
                    "os": os, "osType": r("OsType"), "gpuType": r("GpuType"),
                    "multiSession": {"type": "boolean"}, "providerLabel": r("ProviderLabel"),
                    "providerInstanceId": id_schema(),
                    "orgId": {"type": "string"},
                    "assetDetails": any_details
                },
                "oneOf": [
                    {"properties": {"sourceStreamType": {"const": "AZURE_MARKET_PLACE"}}},
                    {"required": ["providerInstanceId"], "allOf": [source("sourceStreamType", "AZURE_SIG", &sig_details)]},
                    {"required": ["providerInstanceId"], "allOf": [source("sourceStreamType", "AZURE_CUSTOM_VM", &vm_details)]}
                ]
            }),
        ),
        (
            "VersionCreateTO",
            json!({
                "type": "object",
                "required": ["sourceType", "versionType", "providerInstanceId", "assetDetails"],
                "properties": {
                    "description": description_schema(),
                    "gpuType": r("GpuType"), "osType": r("OsType"), "os": os,
                    "orgId": {"type": "string"}, "providerInstanceId": id_schema(),
                    "providerLabel": r("ProviderLabel"),
                    "sourceType": merge(r("SourceType"), json!({"description": ADD_VERSION_SOURCES})),
                    "sourceVersionId": id_schema(),
                    "versionType": {"enum": names(VersionType::ALL), "description": PATCH_REFUSED},
                    "markers": markers,
                    "assetDetails": any_details
                },
                "oneOf": [
                    source("sourceType", "AZURE_SIG", &sig_details),
                    source("sourceType", "AZURE_CUSTOM_VM", &vm_details)
                ],
                "anyOf": [
                    {"properties": {"versionType": {"const": "MAJOR"}}},
                    {"required": ["sourceVersionId"], "properties": {"versionType": {"const": "MINOR"}}}
                ]
            }),
        ),
        (
            "ImagePatch",
            json!({"type": "object", "properties": {
                "name": name_schema(),
                "description": description_schema()
            }}),
        ),
        (
            "VersionPatch",
            json!({"type": "object", "properties": {
                "description": description_schema(),
                "markers": markers
            }}),
        ),
        (
            "PublishRequest",
            json!({"type": "object", "properties": {
                "description": description_schema(),
                "timeZone": {"type": "string", "minLength": 1, "maxLength": 64},
                "replicas": replicas,
                "orgId": {"type": "string"}
            }}),
        ),
        (
            "RepublishRequest",
            json!({"type": "object", "properties": {
                "additionalReplicas": replicas,
                "orgId": {"type": "string"}
            }}),
        ),
        (
            "CloneRequest",
            json!({"type": "object", "properties": {
                "imageName": merge(name_schema(), json!({"description": "required for clone-image"})),
                "description": description_schema(),
                "versionType": version_type_but_patch(),
                "orgId": {"type": "string"}
            }}),
        ),
    ]
}

/// `base` with `extra`'s keys added.
pub(super) fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}
